// bench/scale: deployer with 10,000 objects and 200 real containers — paged list, watch
// latency, full resync, RSS, idle CPU, and reconvergence after a SIGKILL restart.
//
//   node --import tsx bench/scale.ts [--containers=200] [--resources=10000] [--settle-seconds=60] [--idle-seconds=120] [--watch-writes=200]
//                                     [--probe-interval=N]   (the servers' health check every N s instead of the static default, 30)
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir, a free
// loopback port); with DATABASE_URL (a user who may CREATE DATABASE) it uses that server.
// Either way it works in a fresh database that it drops at the end. It needs the Docker
// engine and the host's busybox and caddy (deployer/static, deployer/caddy). deployer runs as
// a process (`node --import tsx server.ts`, as `npm start`), every controller on, API on
// 127.0.0.1, an admin token given by DEPLOYER_ADMIN_TOKEN, its log in the run's temp dir.
//
// The objects (scale-env.ts mixFor): N static ProjectServers (10 per namespace, each a real
// container serving files with caddy, probed over HTTP by deployer every 10 s), 2 Routes per
// server, 20 Deployments of history per server (the newest `active`, the others `superseded`,
// written by a seeding deployer without controllers, so no release is built), and Events for
// the rest. Then, in order:
//   (0) seed through the API (controllers off), restart deployer with all controllers, and
//       wait until N containers run, all are healthy, every Route is ready and the queues
//       are empty (convergence);
//   (1) idle, after --settle-seconds (the garbage of 200 container starts is collected, Docker's
//       load falls): RSS (VmRSS, VmHWM) and CPU time of the deployer process over
//       --idle-seconds — by default long enough to hold each controller's periodic resync, whose
//       cost belongs to idle — with the reconciles that ran in that window;
//   (2) paged list of every object (each kind, all namespaces, limit=500 + continue), 3 times;
//   (3) watch latency: an all-namespaces watch of Events; --watch-writes merge PATCHes of an
//       Event's labels, 20/s; write sent → the event at the watcher, and the writes' own
//       response time as the baseline;
//   (4) full resync: POST /api/monitoring/reconcile → every controller has reconciled each of
//       its objects once more (deployer_controller_reconciles_total) and its queue is empty;
//   (5) SIGKILL deployer, start it again: → ready, → leading, → every ProjectServer reconciled
//       (adopted), and no container recreated or restarted (Id, State.StartedAt, RestartCount).
// Goals (issue 9): list ≤ 1 s, resync ≤ 5 s, RSS ≤ 300 MB, idle CPU ≤ 1% of a core, adoption
// ≤ 10 s with none restarted. Prints a report; writes bench/out/scale.json. Everything it made
// in Docker carries the labels of this run's installation and is removed at the end, also on
// failure or a signal.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { STATIC_DEFAULT_INTERVAL_SECONDS } from '../controllers/projectserver/container-spec.js';
import { RESYNC_MS as PROJECTSERVER_RESYNC_MS } from '../controllers/projectserver/index.js';
import { DockerRuntime, installationFilter } from '../docker/index.js';
import { caddyImage, staticImage } from '../images/index.js';
import { freePort, migrate } from '../store/index.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { engine, sleep } from './health-docker.js';
import { API_BASE, BenchApi, guardRun, pollUntil, runMain, sweepInstallation } from './lib-env.js';
import { fmt, summarize, table } from './lib-report.js';
import { gauge, machineBusyMs, mixFor, procFigures, reconciles, scrape, seed, startDeployer, type DeployerProcess, type Samples } from './scale-env.js';

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer (got ${a})`);
  return v;
};
const CONTAINERS = arg('containers', 200);
const RESOURCES = arg('resources', 10_000);
const IDLE_S = arg('idle-seconds', 120);
const SETTLE_S = arg('settle-seconds', 60);
/** 0: the servers' default health check (deployer's HTTP probe every 10 s); N: every N s. */
const PROBE_S = process.argv.some((x) => x.startsWith('--probe-interval=')) ? arg('probe-interval', 10) : 0;
const WATCH_WRITES = arg('watch-writes', 200);
const DEADLINE_MS = 45 * 60_000;
const GOALS = { listMs: 1000, resyncMs: 5000, rssMB: 300, idleCpuPct: 1, adoptMs: 10_000 };
const CONTROLLERS = ['projectserver', 'route', 'deployment', 'cleanup'];
const PLURALS = ['projectservers', 'routes', 'deployments', 'events'];
/** What one static server costs the host (caddy ~20 MB, its shim ~10 MB), with a margin. */
const MB_PER_CONTAINER = 40;

const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`bench/scale [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const now = () => performance.now();

interface Inspected {
  id: string;
  name: string;
  startedAt: string;
  restartCount: number;
  running: boolean;
}

async function inspectAll(docker: DockerRuntime, installation: string): Promise<Map<string, Inspected>> {
  const out = new Map<string, Inspected>();
  for (const c of await docker.listContainers(installationFilter(installation))) {
    const j = (await engine('GET', `/containers/${c.id}/json`)) as { Id: string; Name: string; RestartCount: number; State: { StartedAt: string; Running: boolean } };
    out.set(c.name, { id: j.Id, name: c.name, startedAt: j.State.StartedAt, restartCount: j.RestartCount, running: j.State.Running });
  }
  return out;
}

/** Every object of `plural`, all namespaces, 500 a page. */
async function pagedList(api: BenchApi, plural: string): Promise<{ items: number; pages: number; bytes: number; ms: number }> {
  const t0 = now();
  let cont = '';
  let items = 0;
  let pages = 0;
  let bytes = 0;
  do {
    const r = await api.request('GET', `${API_BASE}/${plural}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    if (r.status !== 200) throw new Error(`list ${plural}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    pages++;
    items += r.body.items.length;
    bytes += JSON.stringify(r.body).length;
    cont = r.body.metadata?.continue ?? '';
  } while (cont);
  return { items, pages, bytes, ms: now() - t0 };
}

/** A newline-delimited JSON watch; `onEvent` gets each event with its arrival time. */
function openWatch(url: string, token: string, path: string, onEvent: (ev: any, at: number) => void): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url + path);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        const at = now();
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) onEvent(JSON.parse(line), at);
        }
      });
      res.on('error', () => undefined);
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = os.loadavg();
  const memAvailableMiB = Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;
  if (CONTAINERS * MB_PER_CONTAINER > memAvailableMiB / 2)
    throw new Error(`${CONTAINERS} static servers need about ${CONTAINERS * MB_PER_CONTAINER} MiB; ${memAvailableMiB.toFixed(0)} MiB are available: run with --containers=${Math.floor(memAvailableMiB / 2 / MB_PER_CONTAINER)} or fewer`);
  const mix = mixFor(RESOURCES, CONTAINERS);
  const docker = new DockerRuntime();
  const token = `bench-scale-${randomBytes(12).toString('hex')}`;
  const dir = mkdtempSync(join(os.tmpdir(), 'deployer-bench-scale-'));
  const logFile = join(dir, 'deployer.log');
  let db: BenchDatabase | undefined;
  let installation: string | undefined;
  let deployer: DeployerProcess | undefined;
  let api: BenchApi | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      api?.close();
      await deployer?.kill('SIGKILL');
      await sweepInstallation(docker, installation, log);
      await db?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    })());
  const clearWatchdog = guardRun(close, log, DEADLINE_MS);
  try {
    await docker.ping();
    const engineVersion = ((await engine('GET', '/version')) as { Version: string }).Version;
    const [staticTag, caddyTag] = [await docker.ensureImage(staticImage()), await docker.ensureImage(caddyImage())];
    db = await openBenchDatabase({ prefix: 'bench_scale', log });
    await migrate(db.url);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    installation = (await c.query<{ id: string }>('SELECT id FROM installation')).rows[0].id;
    await c.end();
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url,
      DEPLOYER_DATA_DIR: join(dir, 'data'),
      DEPLOYER_ADMIN_TOKEN: token,
      DEPLOYER_STATIC_IMAGE: staticTag,
      DEPLOYER_PROXY_IMAGE: caddyTag,
      DEPLOYER_PROXY_PORT: String(await freePort()),
      DEPLOYER_PROXY_HTTPS_PORT: '0',
    };
    log(`installation ${installation}; ${JSON.stringify(mix)}; deployer log ${logFile}; load ${load()}`);

    // (0) seed with no controllers, then the real start
    deployer = startDeployer({ ...env, DEPLOYER_CONTROLLERS: 'none' }, port, logFile);
    await deployer.waitReady(120_000);
    api = new BenchApi(deployer.url, token);
    const seedMs = await seed(api, mix, 8, log, PROBE_S ? { healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: PROBE_S } } : {});
    log(`seeded ${RESOURCES} objects in ${(seedMs / 1000).toFixed(1)} s; restarting deployer with every controller`);
    await deployer.kill('SIGTERM');
    const t0 = now();
    deployer = startDeployer(env, port, logFile);
    const conv: Record<string, number> = {};
    conv.ready = (await deployer.waitReady(120_000)) - t0;
    const inst = installation;
    const running = async () => (await docker.listContainers(installationFilter(inst, 'server'))).filter((x) => x.state === 'running').length;
    await pollUntil(async () => (await running()) >= CONTAINERS, `${CONTAINERS} containers running`, 900_000);
    conv.running = now() - t0;
    log(`${CONTAINERS} containers run after ${(conv.running / 1000).toFixed(1)} s; load ${load()}`);
    await pollUntil(async () => {
      const r = await api!.request('GET', '/api/monitoring/health');
      return r.status === 200 && r.body.containers.healthy >= CONTAINERS;
    }, 'every container healthy', 300_000);
    conv.healthy = now() - t0;
    await pollUntil(async () => {
      const r = await api!.request('GET', `${API_BASE}/routes`);
      return r.status === 200 && r.body.items.length === mix.routes && r.body.items.every((x: any) => x.status?.ready === true);
    }, 'every Route ready', 300_000);
    conv.routesReady = now() - t0;
    let quietScrapes = 0;
    await pollUntil(async () => {
      const s = await scrape(api!);
      quietScrapes = CONTROLLERS.every((n) => gauge(s, 'deployer_controller_queue_depth', n) === 0) ? quietScrapes + 1 : 0;
      return quietScrapes >= 3;
    }, 'empty work queues', 300_000);
    conv.quiet = now() - t0;
    log(`converged: ${JSON.stringify(Object.fromEntries(Object.entries(conv).map(([k, v]) => [k, Math.round(v)])))}; settling ${SETTLE_S} s`);
    await sleep(SETTLE_S * 1000);

    // (1) idle
    const loadIdle = load();
    const p0 = procFigures(deployer.pid);
    const m0 = machineBusyMs();
    const s0 = await scrape(api);
    const i0 = now();
    await sleep(IDLE_S * 1000);
    const p1 = procFigures(deployer.pid);
    const m1 = machineBusyMs();
    const i1 = now();
    const s1 = await scrape(api);
    const idle = {
      seconds: (i1 - i0) / 1000,
      cpuPctOfCore: ((p1.cpuMs - p0.cpuMs) / (i1 - i0)) * 100,
      machineCores: (m1 - m0) / (i1 - i0),
      rssMiB: p1.rssMiB,
      hwmMiB: p1.hwmMiB,
      threads: p1.threads,
      reconciles: Object.fromEntries(CONTROLLERS.map((n) => [n, reconciles(s1, n) - reconciles(s0, n)])),
      load: loadIdle,
    };
    log(`idle ${IDLE_S} s: ${fmt(idle.cpuPctOfCore, 2)}% of a core, RSS ${fmt(idle.rssMiB)} MiB; reconciles ${JSON.stringify(idle.reconciles)}`);

    // (1b) the projectserver controller's periodic resync, asked for now: its CPU, spread over its
    // period, belongs to idle too. Counted in the goal unless the window above already held one.
    const pr0 = procFigures(deployer.pid);
    const sr0 = await scrape(api);
    const tResync = now();
    const asked = await api.request('POST', '/api/monitoring/reconcile?controller=projectserver');
    if (asked.status !== 202) throw new Error(`POST /api/monitoring/reconcile?controller=projectserver: HTTP ${asked.status}`);
    await pollUntil(async () => {
      await sleep(1000); // a scrape costs the deployer CPU too: not too many of them
      const s = await scrape(api!);
      return reconciles(s, 'projectserver') - reconciles(sr0, 'projectserver') >= mix.servers && gauge(s, 'deployer_controller_queue_depth', 'projectserver') === 0;
    }, 'the projectserver resync', 300_000);
    const pr1 = procFigures(deployer.pid);
    const psResync = { ms: now() - tResync, cpuMs: pr1.cpuMs - pr0.cpuMs, periodMs: PROJECTSERVER_RESYNC_MS, amortizedPct: ((pr1.cpuMs - pr0.cpuMs) / PROJECTSERVER_RESYNC_MS) * 100, inWindow: idle.reconciles.projectserver >= mix.servers };
    const idleGoalPct = idle.cpuPctOfCore + (psResync.inWindow ? 0 : psResync.amortizedPct);
    log(`projectserver resync: ${fmt(psResync.ms)} ms, ${fmt(psResync.cpuMs)} ms of CPU = ${fmt(psResync.amortizedPct, 2)}% of a core over its ${PROJECTSERVER_RESYNC_MS / 60_000} min period${psResync.inWindow ? ' (the idle window held one already)' : ''}`);

    // (2) paged list
    const lists: { load: string; total: number; kinds: Record<string, Awaited<ReturnType<typeof pagedList>>> }[] = [];
    for (let round = 0; round < 3; round++) {
      const l = load();
      const kinds: Record<string, Awaited<ReturnType<typeof pagedList>>> = {};
      const t = now();
      for (const p of PLURALS) kinds[p] = await pagedList(api, p);
      lists.push({ load: l, total: now() - t, kinds });
      const n = Object.values(kinds).reduce((a, k) => a + k.items, 0);
      // the controllers' own Events (Created, …) come on top of the seeded objects
      if (n < RESOURCES) throw new Error(`the paged lists returned ${n} objects, fewer than the ${RESOURCES} seeded`);
      log(`list round ${round + 1}: ${fmt(now() - t)} ms`);
    }

    // (3) watch latency
    const loadWatch = load();
    const rvNow = (await api.request('GET', `${API_BASE}/events?limit=1`)).body.metadata.resourceVersion as string;
    const sent = new Map<string, number>();
    const seen = new Map<string, number>();
    const stopWatch = await openWatch(deployer.url, token, `${API_BASE}/events?watch=true&resourceVersion=${rvNow}`, (ev, at) => {
      const seq = ev.object?.metadata?.labels?.['bench-seq'];
      if (seq !== undefined && !seen.has(seq)) seen.set(seq, at);
    });
    const ack: number[] = [];
    for (let k = 0; k < WATCH_WRITES; k++) {
      const tick = now();
      const i = k % mix.servers;
      const ns = `scale-${String(Math.floor(i / 10)).padStart(2, '0')}`;
      const name = `site-${String(i).padStart(4, "0")}-e0000`;
      sent.set(String(k), now());
      const r = await api.request('PATCH', `${API_BASE}/namespaces/${ns}/events/${name}`, { metadata: { labels: { 'bench-seq': String(k) } } }, 'application/merge-patch+json');
      if (r.status !== 200) throw new Error(`PATCH events/${name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      ack.push(now() - sent.get(String(k))!);
      await sleep(Math.max(0, 50 - (now() - tick)));
    }
    await pollUntil(async () => seen.size >= WATCH_WRITES, 'every write at the watcher', 10_000).catch((err: Error) => log(err.message));
    stopWatch();
    const watchLat = [...sent].map(([k, t]) => (seen.has(k) ? seen.get(k)! - t : NaN));
    const watch = { load: loadWatch, writes: WATCH_WRITES, delivered: seen.size, latency: summarize(watchLat), ack: summarize(ack), p95: p95(watchLat), ackP95: p95(ack) };
    log(`watch: p50 ${fmt(watch.latency.p50, 1)} ms, p95 ${fmt(watch.p95, 1)} ms, ${seen.size}/${WATCH_WRITES} delivered`);

    // (4) full resync
    await sleep(3000);
    const resyncs: { load: string; ms: number; perController: Record<string, number>; reconciled: Record<string, number> }[] = [];
    const keys: Record<string, number> = { projectserver: mix.servers, route: mix.routes, deployment: mix.deployments, cleanup: 1 };
    for (let round = 0; round < 3; round++) {
      const l = load();
      const before = await scrape(api);
      const t = now();
      const r = await api.request('POST', '/api/monitoring/reconcile');
      if (r.status !== 202) throw new Error(`POST /api/monitoring/reconcile: HTTP ${r.status}`);
      const done: Record<string, number> = {};
      let last: Samples = before;
      await pollUntil(async () => {
        last = await scrape(api!);
        const at = now() - t;
        for (const n of CONTROLLERS)
          if (done[n] === undefined && reconciles(last, n) - reconciles(before, n) >= keys[n] && gauge(last, 'deployer_controller_queue_depth', n) === 0) done[n] = at;
        return CONTROLLERS.every((n) => done[n] !== undefined);
      }, 'the resync to finish', 120_000);
      const ms = Math.max(...Object.values(done));
      resyncs.push({ load: l, ms, perController: done, reconciled: Object.fromEntries(CONTROLLERS.map((n) => [n, reconciles(last, n) - reconciles(before, n)])) });
      log(`resync round ${round + 1}: ${fmt(ms)} ms ${JSON.stringify(Object.fromEntries(Object.entries(done).map(([k, v]) => [k, Math.round(v)])))}`);
      await sleep(3000);
    }

    // (5) SIGKILL and restart
    await sleep(3000);
    const loadRestart = load();
    const before = await inspectAll(docker, inst);
    const rssBeforeKill = procFigures(deployer.pid).rssMiB;
    const tk = now();
    await deployer.kill('SIGKILL');
    const killedMs = now() - tk;
    const tr = now();
    deployer = startDeployer(env, port, logFile);
    const restart: Record<string, number> = { killToExit: killedMs };
    restart.ready = (await deployer.waitReady(120_000)) - tr;
    await pollUntil(async () => gauge(await scrape(api!), 'deployer_controller_leader', 'projectserver') === 1, 'leadership', 60_000);
    restart.leading = now() - tr;
    await pollUntil(async () => {
      const s = await scrape(api!);
      return reconciles(s, 'projectserver') >= mix.servers && gauge(s, 'deployer_controller_queue_depth', 'projectserver') === 0;
    }, `${mix.servers} ProjectServers reconciled`, 120_000);
    restart.adopted = now() - tr;
    const after = await inspectAll(docker, inst);
    const changed = [...before.values()].filter((b) => {
      const a = after.get(b.name);
      return !a || a.id !== b.id || a.startedAt !== b.startedAt || a.restartCount !== b.restartCount || !a.running;
    });
    const restartFig = { load: loadRestart, ms: restart, containers: before.size, changed: changed.map((x) => x.name), rssBeforeKillMiB: rssBeforeKill };
    log(`restart: ${JSON.stringify(Object.fromEntries(Object.entries(restart).map(([k, v]) => [k, Math.round(v)])))}; ${changed.length} of ${before.size} containers changed`);
    await sleep(5000);
    const rssAfterRestart = procFigures(deployer.pid);

    const loadAfter = os.loadavg();
    const best = (xs: number[]) => Math.min(...xs);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const listMed = median(lists.map((l) => l.total));
    const resyncMed = median(resyncs.map((r) => r.ms));
    const goals = [
      { goal: `paged list of ${RESOURCES} ≤ ${GOALS.listMs} ms (median of 3)`, value: `${fmt(listMed)} ms`, met: listMed <= GOALS.listMs },
      { goal: `full resync ≤ ${GOALS.resyncMs} ms (median of 3)`, value: `${fmt(resyncMed)} ms`, met: resyncMed <= GOALS.resyncMs },
      { goal: `RSS at idle ≤ ${GOALS.rssMB} MB`, value: `${fmt(idle.rssMiB * 1.048576)} MB`, met: idle.rssMiB * 1.048576 <= GOALS.rssMB },
      {
        goal: `idle CPU ≤ ${GOALS.idleCpuPct}% of a core (${IDLE_S} s${psResync.inWindow ? '' : ', plus the projectserver resync spread over its period'})`,
        value: psResync.inWindow ? `${fmt(idleGoalPct, 2)}%` : `${fmt(idleGoalPct, 2)}% (${fmt(idle.cpuPctOfCore, 2)} + ${fmt(psResync.amortizedPct, 2)})`,
        met: idleGoalPct <= GOALS.idleCpuPct,
      },
      { goal: `${mix.servers} containers adopted ≤ ${GOALS.adoptMs} ms after the restart`, value: `${fmt(restart.adopted)} ms`, met: restart.adopted <= GOALS.adoptMs },
      { goal: 'none recreated or restarted', value: `${changed.length} of ${before.size}`, met: changed.length === 0 },
    ];
    const out = {
      started: started.toISOString(),
      durationS: Math.round((Date.now() - T0) / 100) / 10,
      args: { containers: CONTAINERS, resources: RESOURCES, idleSeconds: IDLE_S, watchWrites: WATCH_WRITES },
      machine: { cpus: os.cpus().length, memAvailableMiB: Math.round(memAvailableMiB), loadBefore, loadAfter, node: process.version, dockerEngine: engineVersion, database: db.embedded ? 'embedded' : 'DATABASE_URL' },
      mix,
      seedMs,
      convergenceMs: conv,
      idle,
      projectserverResync: psResync,
      lists,
      watch,
      resyncs,
      restart: restartFig,
      rssAfterRestartMiB: rssAfterRestart.rssMiB,
      goals,
    };
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/scale.json', JSON.stringify(out, null, 2) + '\n');

    const L: string[] = [];
    L.push(`bench/scale — ${started.toISOString()}, ${os.cpus().length} CPUs, Docker ${engineVersion}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after`);
    L.push(`objects: ${mix.servers} ProjectServers in ${mix.namespaces} namespaces, ${mix.routes} Routes, ${mix.deployments} Deployments (terminal), ${mix.events} Events = ${RESOURCES}; seeded in ${fmt(seedMs / 1000, 1)} s`);
    L.push(`convergence after the start with controllers, s: ready ${fmt(conv.ready / 1000, 1)}, ${mix.servers} running ${fmt(conv.running / 1000, 1)}, all healthy ${fmt(conv.healthy / 1000, 1)}, all Routes ready ${fmt(conv.routesReady / 1000, 1)}, queues empty ${fmt(conv.quiet / 1000, 1)}`);
    L.push('');
    L.push(`(1) idle ${fmt(idle.seconds, 1)} s (load ${idle.load}; health probes every ${PROBE_S || STATIC_DEFAULT_INTERVAL_SECONDS} s): deployer ${fmt(idle.cpuPctOfCore, 2)}% of a core; machine ${fmt(idle.machineCores, 2)} cores; RSS ${fmt(idle.rssMiB)} MiB (peak ${fmt(idle.hwmMiB)}), ${idle.threads} threads; reconciles in the window ${JSON.stringify(idle.reconciles)}`);
    L.push(`(1b) a projectserver resync asked for: ${fmt(psResync.ms)} ms, ${fmt(psResync.cpuMs)} ms of deployer CPU = ${fmt(psResync.amortizedPct, 2)}% of a core spread over its ${psResync.periodMs / 60_000}-minute period${psResync.inWindow ? ' (the idle window held one already: not added)' : ' (added to the idle figure for the goal)'}`);
    L.push('');
    L.push('(2) paged list, all namespaces, limit=500, ms');
    L.push(table([['round (load)', 'total', ...PLURALS], ...lists.map((l, i) => [`${i + 1} (${l.load.split(' ')[0]})`, fmt(l.total), ...PLURALS.map((p) => `${fmt(l.kinds[p].ms)} (${l.kinds[p].items} in ${l.kinds[p].pages})`)])]));
    L.push(`bytes: ${PLURALS.map((p) => `${p} ${lists[0].kinds[p].bytes}`).join(', ')}; best total ${fmt(best(lists.map((l) => l.total)))} ms`);
    L.push('');
    L.push(`(3) watch of all Events, ${watch.writes} label PATCHes at 20/s (load ${watch.load}): ${watch.delivered} delivered`);
    L.push(table([['ms', 'n', 'p50', 'p95', 'max'], ['write sent → event at the watcher', String(watch.latency.n), fmt(watch.latency.p50, 1), fmt(watch.p95, 1), fmt(watch.latency.max, 1)], ['baseline: write sent → its response', String(watch.ack.n), fmt(watch.ack.p50, 1), fmt(watch.ackP95, 1), fmt(watch.ack.max, 1)]]));
    L.push('');
    L.push('(4) full resync (POST /api/monitoring/reconcile → each controller reconciled all its keys, queue empty), ms');
    L.push(table([['round (load)', 'total', ...CONTROLLERS.map((n) => `${n} (${keys[n]})`)], ...resyncs.map((r, i) => [`${i + 1} (${r.load.split(' ')[0]})`, fmt(r.ms), ...CONTROLLERS.map((n) => `${fmt(r.perController[n])} [${r.reconciled[n]}]`)])]));
    L.push('');
    L.push(`(5) SIGKILL and restart (load ${restartFig.load}), ms from the new process' spawn: ready ${fmt(restart.ready)}, leading ${fmt(restart.leading)}, ${mix.servers} ProjectServers reconciled ${fmt(restart.adopted)}; containers changed: ${changed.length} of ${before.size}${changed.length ? ` (${changed.map((x) => x.name).join(', ')})` : ''}; RSS before the kill ${fmt(rssBeforeKill)} MiB, 5 s after adoption ${fmt(rssAfterRestart.rssMiB)} MiB`);
    L.push('');
    for (const g of goals) L.push(`Goal: ${g.goal}: ${g.value} — ${g.met ? 'met' : 'NOT met'}`);
    L.push(`(JSON: bench/out/scale.json; run took ${out.durationS} s)`);
    process.stdout.write(L.join('\n') + '\n');
  } catch (err) {
    log(`the deployer log's tail:\n${(() => { try { return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n'); } catch { return '(none)'; } })()}`);
    throw err;
  } finally {
    await close();
    clearWatchdog();
  }
}

function p95(values: number[]): number {
  const a = values.filter(Number.isFinite).sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.ceil(0.95 * a.length) - 1)] : NaN;
}

runMain(main, log);
