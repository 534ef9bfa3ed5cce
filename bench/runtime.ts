// bench/runtime: how fast the controller runtime reacts, in one run.
//
//   node --import tsx bench/runtime.ts
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir under /tmp,
// a free port on the loopback interface) and removes it at the end; with DATABASE_URL (a user
// who may CREATE DATABASE) it uses that server. Either way it works in a fresh database that
// it drops at the end. Only the loopback interface is spoken to (plus DATABASE_URL's host).
//
// Measures:
//   (a) change → reconcile: the real API (openStore + buildApi, in process, 127.0.0.1) and a
//       ControllerManager running one controller in the same process (as `npm start` runs
//       them). An open-loop client PUTs changed ProjectServers (50 objects round-robin) at
//       BENCH_RATE/s; the reconciler records when it starts and the resourceVersion it sees
//       in its cache. For each change: the first reconcile start of its key that sees its
//       revision, minus the PUT's response (the ack, after the commit: can be negative when
//       the notification beats the response) and minus the PUT's send (before the commit: an
//       upper bound of commit → reconcile). Goal: p99 ≤ 50 ms.
//   (b) failover after SIGKILL of the leader: controller processes
//       (tests/fixtures/controller-process.ts) in "lanes", each lane its own controller (lease)
//       and namespace, 3 processes. A trial kills the lane's leader (at a random point of
//       its renew cycle, once a follower is past its first retry) and measures until another
//       process of the lane leads (its polled "leading" line, ≤ 20 ms late) and until its
//       first reconcile starts; a replacement process is spawned at once. The processes run
//       the fixture bundled by esbuild (same code, a fifth of the start-up CPU of tsx, which
//       matters with ~55 process starts on a small machine). Median of 10 with
//       the default timings (DEFAULT_TIMINGS, 5000/4000/1000; two lanes of 5 run side by side
//       to save time), and 10 each with 2000/1500/250 and 1000/700/100. The killed leader's
//       database session ends with it (store/lease-session.ts), so a follower takes over on
//       its next round rather than after the lease expires. Goal: ≤ 3 s.
//   (c) handover after SIGTERM of the leader (graceful: the lease is released and the release
//       announced), default timings, median of 10. Goal: ≤ 1 s.
// The lanes of (b) and (c) run at the same time, after (a). Prints a table; writes
// bench/out/runtime.json.
//
// Settings (environment): BENCH_RATE (100 PUTs/s), BENCH_CHANGES (600 measured, after 100 of
// warm-up), BENCH_TRIALS (10).
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { measureIdleCpu } from './runtime-idle.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { runMain } from './lib-env.js';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildApi, type Api } from '../api/app.js';
import { Controller } from '../controllers/runtime/controller.js';
import { DEFAULT_TIMINGS } from '../controllers/runtime/leader-elector.js';
import { ControllerManager } from '../controllers/runtime/manager.js';
import { kindByName } from '../resources/index.js';
import { newSecret, openStore, type Store } from '../store/index.js';
import { bundleFixture, ControllerProcess, killAll, waitForAny } from './runtime-processes.js';

const env = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const RATE = env('BENCH_RATE', 100);
const CHANGES = env('BENCH_CHANGES', 600);
const WARMUP_CHANGES = 100;
const TRIALS = env('BENCH_TRIALS', 10);
const OBJECTS = 50;
const DEADLINE_MS = 180_000;
const GOALS = { reconcileP99Ms: 50, failoverMedianMs: 3000, handoverMedianMs: 1000 };

const PS = kindByName('ProjectServer')!;
const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`bench/runtime [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms: number, what: string, explain: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${explain()}`);
    await sleep(20);
  }
}

interface Summary {
  n: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}

function summarize(values: number[]): Summary {
  const a = [...values].sort((x, y) => x - y);
  const n = a.length;
  if (n === 0) return { n: 0, min: NaN, p50: NaN, p99: NaN, max: NaN };
  const rank = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  const r = (x: number) => Math.round(x * 100) / 100;
  return { n, min: r(a[0]), p50: r(rank(0.5)), p99: r(rank(0.99)), max: r(a[n - 1]) };
}

function median(values: number[]): number {
  const a = [...values].sort((x, y) => x - y);
  const n = a.length;
  return n === 0 ? NaN : n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const openDatabase = () => openBenchDatabase({ prefix: 'bench_rt', log });
type Database = BenchDatabase;

// ---------------------------------------------------------------------------------------------
// (a) change → reconcile, in process

interface ReconcileFigure {
  rate: number;
  changes: number;
  /** Changes whose revision no reconcile saw (should be 0). */
  missed: number;
  startMinusAckMs: Summary;
  startMinusSendMs: Summary;
  putLatencyMs: Summary;
  reconciles: number;
  eventLoopDelayMs: { p99: number; max: number };
}

function psBody(name: string, port: number): string {
  return JSON.stringify({ apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static', port } });
}

async function measureReconcileLatency(url: string): Promise<ReconcileFigure> {
  let store: Store | undefined;
  let api: Api | undefined;
  let manager: ControllerManager | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    store = await openStore({ connectionString: url, log: (m, e) => log(`store: ${m}${e ? `: ${(e as Error).message}` : ''}`) });
    api = await buildApi({ store });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (api.app.server.address() as { port: number }).port;
    const token = newSecret();
    await store.tokens.create({ name: 'bench', role: 'admin', namespaces: ['*'] }, token);
    const ns = 'bench-a';
    const names = Array.from({ length: OBJECTS }, (_, i) => `obj-${i}`);

    const put = (name: string, body: string) =>
      new Promise<{ status: number; rv: number }>((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: '127.0.0.1',
            port,
            method: 'PUT',
            path: `/apis/deployer.dev/v1/namespaces/${ns}/projectservers/${name}`,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode !== 200 && res.statusCode !== 201) return reject(new Error(`PUT ${name}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
              resolve({ status: res.statusCode, rv: Number((JSON.parse(text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion) });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    for (const [i, name] of names.entries()) await put(name, psBody(name, i + 1));

    // Reconcile starts per key: when, and which revision its cache held.
    const starts = new Map<string, { t: number; rv: number }[]>();
    let reconciles = 0;
    const controller = new Controller({
      name: 'bench-latency',
      kind: PS,
      store,
      workers: 2,
      reconciler: {
        async reconcile(key, _signal, ctx) {
          const t = performance.timeOrigin + performance.now();
          reconciles++;
          const rv = Number(ctx.cached(key)?.metadata.resourceVersion ?? 0);
          let list = starts.get(key);
          if (!list) starts.set(key, (list = []));
          list.push({ t, rv });
        },
      },
    });
    manager = new ControllerManager({ store, identity: 'bench', controllers: [controller] });
    manager.start();
    await until(() => manager!.leadership()[0].leading, 10_000, 'leadership');
    await until(() => starts.size === OBJECTS, 10_000, 'the initial list to be reconciled');

    const total = WARMUP_CHANGES + CHANGES;
    const changes: { key: string; send: number; ack: number; rv: number }[] = [];
    const loop = monitorEventLoopDelay({ resolution: 1 });
    const now = () => performance.timeOrigin + performance.now();
    const begin = now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      if (i === WARMUP_CHANGES) loop.enable();
      const due = begin + (i * 1000) / RATE;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      const name = names[i % OBJECTS];
      const send = now();
      pending.push(
        put(name, psBody(name, 1000 + i)).then((r) => {
          if (i >= WARMUP_CHANGES) changes.push({ key: `ProjectServer/${ns}/${name}`, send, ack: now(), rv: r.rv });
        }),
      );
    }
    await Promise.all(pending);
    await sleep(500);
    loop.disable();

    const ack: number[] = [];
    const sent: number[] = [];
    let missed = 0;
    for (const c of changes) {
      const s = (starts.get(c.key) ?? []).find((x) => x.rv >= c.rv);
      if (!s) {
        missed++;
        continue;
      }
      ack.push(s.t - c.ack);
      sent.push(s.t - c.send);
    }
    return {
      rate: RATE,
      changes: changes.length,
      missed,
      startMinusAckMs: summarize(ack),
      startMinusSendMs: summarize(sent),
      putLatencyMs: summarize(changes.map((c) => c.ack - c.send)),
      reconciles,
      eventLoopDelayMs: { p99: Math.round(loop.percentile(99) / 1e4) / 100, max: Math.round(loop.max / 1e4) / 100 },
    };
  } finally {
    await manager?.stop().catch((err: Error) => log(`stopping the manager: ${err.message}`));
    await api?.app.close().catch((err: Error) => log(`closing the API: ${err.message}`));
    agent.destroy();
    await store?.close().catch((err: Error) => log(`closing the store: ${err.message}`));
  }
}

// ---------------------------------------------------------------------------------------------
// (b), (c) failover and handover between processes

interface Timings {
  LEASE_MS: number;
  RENEW_DEADLINE_MS: number;
  RETRY_MS: number;
}

interface LaneSpec {
  name: string;
  signal: 'SIGKILL' | 'SIGTERM';
  trials: number;
  processes: number;
  timings: Timings;
}

interface Trial {
  lane: string;
  /** Signal → another process' "leading" line (polled every 20 ms). */
  leadingMs: number;
  /** Signal → the start of the new leader's first reconcile. */
  reconcileMs: number;
  from: string;
  to: string;
  token: number;
}

const DEFAULT: Timings = { LEASE_MS: DEFAULT_TIMINGS.leaseDurationMs, RENEW_DEADLINE_MS: DEFAULT_TIMINGS.renewDeadlineMs, RETRY_MS: DEFAULT_TIMINGS.retryPeriodMs };

const lastLeading = (p: ControllerProcess) => [...p.lines].reverse().find((l) => l.event === 'leading');
const readyAt = (p: ControllerProcess) => p.lines.find((l) => l.event === 'ready')?.t;

async function runLane(store: Store, url: string, spec: LaneSpec, all: Set<ControllerProcess>, command?: string[]): Promise<Trial[]> {
  const ns = `lane-${spec.name}`;
  await store.resources.create(PS, ns, JSON.parse(psBody('obj', 1)));
  let seq = 0;
  const spawn = () => {
    const p = new ControllerProcess(`${spec.name}-${++seq}`, { DATABASE_URL: url, CONTROLLER_NAME: `bench-${spec.name}`, NAMESPACE: ns, ...spec.timings }, command);
    all.add(p);
    return p;
  };
  const lane = Array.from({ length: spec.processes }, spawn);
  const trials: Trial[] = [];
  // A follower has made its first attempt when it says it is ready; past one retry period it
  // is in the steady follower loop.
  const warmMs = spec.timings.RETRY_MS * 1.2 + 200;
  try {
    for (let i = 0; i < spec.trials; i++) {
      // A leader that has reconciled under its current token, and a follower past its first
      // retry (so no trial measures a process' start-up).
      let leader: ControllerProcess | undefined;
      await until(
        () => {
          const live = lane.filter((p) => p.running);
          const leaders = live.filter((p) => p.leading);
          if (leaders.length !== 1) return false;
          const token = lastLeading(leaders[0])?.token;
          const done = leaders[0].lines.some((l) => l.event === 'reconcile' && l.token === token && (l.write === 'accepted' || l.write === 'none'));
          const warm = live.some((p) => p !== leaders[0] && Date.now() - (readyAt(p) ?? Infinity) >= warmMs);
          leader = leaders[0];
          return done && warm;
        },
        90_000,
        `lane ${spec.name}: a leader that reconciled and a warm follower`,
        () => lane.map((p) => `--- ${p.identity} (${p.running ? 'running' : `exited ${p.exitCode}`}):\n${p.output().slice(-1500)}`).join('\n'),
      );
      await sleep(Math.random() * spec.timings.RETRY_MS); // a random point of the renew cycle
      const from = leader!;
      const tokenBefore = lastLeading(from)!.token!;
      const t0 = Date.now();
      from.kill(spec.signal);
      lane.push(spawn());
      const others = lane.filter((p) => p !== from);
      const led = await waitForAny(others, (l) => l.event === 'leading' && l.t >= t0, 15_000, `lane ${spec.name}: a new leader`);
      const rec = await led.proc.waitFor((l) => l.event === 'reconcile' && (l.t0 ?? 0) >= t0 && l.write !== 'error', 15_000, `lane ${spec.name}: a reconcile`);
      if (led.line.token! <= tokenBefore) throw new Error(`lane ${spec.name}: the token did not go up (${tokenBefore} → ${led.line.token})`);
      trials.push({ lane: spec.name, leadingMs: led.line.t - t0, reconcileMs: rec.t0! - t0, from: from.identity, to: led.proc.identity, token: led.line.token! });
      log(`${spec.name} #${i + 1}: ${spec.signal} ${from.identity} → ${led.proc.identity} leads after ${led.line.t - t0} ms, reconciles after ${rec.t0! - t0} ms`);
      if (spec.signal === 'SIGTERM') {
        const code = await from.exited;
        if (code !== 0) throw new Error(`lane ${spec.name}: ${from.identity} exited ${code} after SIGTERM:\n${from.output().slice(-2000)}`);
      }
    }
    return trials;
  } finally {
    await killAll(lane);
  }
}

interface FailoverFigure {
  signal: 'SIGKILL' | 'SIGTERM';
  timings: { leaseMs: number; renewDeadlineMs: number; retryMs: number };
  trials: number;
  leadingMs: { median: number; min: number; max: number };
  reconcileMs: { median: number; min: number; max: number };
  raw: Trial[];
}

function figure(signal: 'SIGKILL' | 'SIGTERM', timings: Timings, trials: Trial[]): FailoverFigure {
  const pick = (f: (t: Trial) => number) => {
    const v = trials.map(f);
    return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
  };
  return {
    signal,
    timings: { leaseMs: timings.LEASE_MS, renewDeadlineMs: timings.RENEW_DEADLINE_MS, retryMs: timings.RETRY_MS },
    trials: trials.length,
    leadingMs: pick((t) => t.leadingMs),
    reconcileMs: pick((t) => t.reconcileMs),
    raw: trials,
  };
}

// ---------------------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

async function main(): Promise<void> {
  let db: Database | undefined;
  let store: Store | undefined;
  const procs = new Set<ControllerProcess>();
  let bundleDir: string | undefined;
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    await killAll(procs);
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
    await store?.close().catch((err: Error) => log(`closing the store: ${err.message}`));
    await db?.cleanup();
  };
  const watchdog = setTimeout(() => {
    log(`the run took longer than ${DEADLINE_MS / 1000} s; aborting`);
    void shutdown().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();
  process.once('SIGINT', () => void shutdown().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void shutdown().finally(() => process.exit(143)));
  const started = new Date();
  try {
    db = await openDatabase();
    log(`(a) ${WARMUP_CHANGES} + ${CHANGES} PUTs at ${RATE}/s, reconciled in process`);
    const latency = await measureReconcileLatency(db.url);

    log('(a) done');
    store = await openStore({ connectionString: db.url, maintenance: false });
    const half = Math.ceil(TRIALS / 2);
    const fast2: Timings = { LEASE_MS: 2000, RENEW_DEADLINE_MS: 1500, RETRY_MS: 250 };
    const fast1: Timings = { LEASE_MS: 1000, RENEW_DEADLINE_MS: 700, RETRY_MS: 100 };
    const lanes: LaneSpec[] = [
      { name: 'kill-default-a', signal: 'SIGKILL', trials: half, processes: 3, timings: DEFAULT },
      { name: 'kill-default-b', signal: 'SIGKILL', trials: TRIALS - half, processes: 3, timings: DEFAULT },
      { name: 'kill-2000', signal: 'SIGKILL', trials: TRIALS, processes: 3, timings: fast2 },
      { name: 'kill-1000', signal: 'SIGKILL', trials: TRIALS, processes: 3, timings: fast1 },
      { name: 'term-default', signal: 'SIGTERM', trials: TRIALS, processes: 3, timings: DEFAULT },
    ];
    log(`(b), (c) ${lanes.length} lanes of controller processes side by side`);
    bundleDir = mkdtempSync(join(os.tmpdir(), 'deployer-bench-rt-fixture-'));
    const command = await bundleFixture(bundleDir);
    log(command ? `the fixture bundled into ${command[1]}` : 'esbuild not found: starting the fixture through tsx (slower start-up)');
    const results = await Promise.all(lanes.map((l) => runLane(store!, db!.url, l, procs, command)));
    log('lanes done');
    const byName = new Map(lanes.map((l, i) => [l.name, results[i]]));
    const failover = [
      figure('SIGKILL', DEFAULT, [...byName.get('kill-default-a')!, ...byName.get('kill-default-b')!]),
      figure('SIGKILL', fast2, byName.get('kill-2000')!),
      figure('SIGKILL', fast1, byName.get('kill-1000')!),
    ];
    const handover = figure('SIGTERM', DEFAULT, byName.get('term-default')!);
    // nothing else may run in this process while its idle CPU is measured
    await killAll(procs);
    await store.close();
    store = undefined;
    const idle = await measureIdleCpu(db.url, log);

    const goals = [
      { goal: `change → reconcile start p99 ≤ ${GOALS.reconcileP99Ms} ms (from the PUT's response)`, value: latency.startMinusAckMs.p99, met: latency.startMinusAckMs.p99 <= GOALS.reconcileP99Ms },
      { goal: `the same, from the PUT's send`, value: latency.startMinusSendMs.p99, met: latency.startMinusSendMs.p99 <= GOALS.reconcileP99Ms },
      ...failover.map((f) => ({
        goal: `failover after SIGKILL, median ≤ ${GOALS.failoverMedianMs} ms (lease ${f.timings.leaseMs}/${f.timings.renewDeadlineMs}/${f.timings.retryMs})`,
        value: f.reconcileMs.median,
        met: f.reconcileMs.median <= GOALS.failoverMedianMs,
      })),
      { goal: `handover after SIGTERM, median ≤ ${GOALS.handoverMedianMs} ms (default timings)`, value: handover.reconcileMs.median, met: handover.reconcileMs.median <= GOALS.handoverMedianMs },
      { goal: `idle CPU, 3 controllers over ${idle.resources} resources ≤ 1% of a core (value in %)`, value: idle.cpuPercentOfCore, met: idle.cpuPercentOfCore <= 1 },
    ];
    const out = {
      started: started.toISOString(),
      durationS: Math.round((Date.now() - started.getTime()) / 100) / 10,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      database: db.embedded ? 'embedded' : 'DATABASE_URL',
      latency,
      failover,
      handover,
      idle,
      goals,
    };
    mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
    writeFileSync(new URL('./out/runtime.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');

    const f = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));
    const lines: string[] = [];
    lines.push(`bench/runtime — ${started.toISOString()}, ${out.machine.cpus} CPUs, Node ${process.version}, ${out.database} PostgreSQL`);
    lines.push('');
    lines.push(`(a) change → reconcile start: ${latency.changes} PUTs at ${RATE}/s over ${OBJECTS} objects (after ${WARMUP_CHANGES} of warm-up); missed ${latency.missed}; ${latency.reconciles} reconciles in all`);
    lines.push(
      table([
        ['ms', 'min', 'p50', 'p99', 'max'],
        ...(
          [
            ['reconcile start − PUT response', latency.startMinusAckMs],
            ['reconcile start − PUT send', latency.startMinusSendMs],
            ['PUT latency', latency.putLatencyMs],
          ] as const
        ).map(([name, s]) => [name, f(s.min), f(s.p50), f(s.p99), f(s.max)]),
      ]),
    );
    lines.push(`event-loop delay of the process (API + controller + client): p99 ${latency.eventLoopDelayMs.p99} ms, max ${latency.eventLoopDelayMs.max} ms`);
    lines.push('');
    lines.push('(b) failover after SIGKILL of the leader, (c) handover after SIGTERM — ms from the signal');
    lines.push(
      table([
        ['signal', 'lease/deadline/retry', 'trials', 'leading: median', 'min', 'max', 'reconcile: median', 'min', 'max'],
        ...[...failover, handover].map((x) => [
          x.signal,
          `${x.timings.leaseMs}/${x.timings.renewDeadlineMs}/${x.timings.retryMs}`,
          String(x.trials),
          f(x.leadingMs.median),
          f(x.leadingMs.min),
          f(x.leadingMs.max),
          f(x.reconcileMs.median),
          f(x.reconcileMs.min),
          f(x.reconcileMs.max),
        ]),
      ]),
    );
    lines.push('');
    lines.push(`(d) idle: ${idle.controllers} controllers over ${idle.resources} ProjectServers (first reconcile of all in ${idle.syncMs} ms), then ${idle.idleSeconds} s with no change: ${idle.cpuPercentOfCore}% of one core`);
    lines.push('');
    lines.push('Goals');
    lines.push(table([['goal', 'value (ms)', 'met'], ...goals.map((g) => [g.goal, f(g.value), g.met ? 'yes' : 'NO'])]));
    lines.push('');
    lines.push(`(JSON: bench/out/runtime.json; run took ${out.durationS} s)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await shutdown();
    clearTimeout(watchdog);
  }
}

runMain(main, log);
