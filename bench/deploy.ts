// bench/deploy: static deployments of a 1,000-file, 10 MiB site — PUT to active beside the raw
// Docker operations for the same files, a rollback, and the healing of `current` — in one run.
//
//   node --import tsx bench/deploy.ts [--samples=N]      (N = 8; heal samples: BENCH_HEAL_SAMPLES, 12)
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir, a free
// loopback port) and removes it at the end; with DATABASE_URL (a user who may CREATE DATABASE)
// it uses that server. Either way it works in a fresh database that it drops at the end. It
// needs the Docker engine (DOCKER_HOST as a unix socket, or /var/run/docker.sock), the host's
// static busybox (deployer/static) and caddy (deployer/caddy). The projectserver, route and
// deployment controllers and the HTTP API run in this process (deploy-env.ts). One static
// ProjectServer, `bench/web`, with a Route `web.bench.test`, receives every release.
//
// Measures:
//   (1) N Deployments with source.archive (a .tar.gz on 127.0.0.1 with its sha256; the site of
//       deploy-site.ts, a new index.html each), PUT through the API → status.phase active (as
//       a store watch delivers it). Goal: p50 ≤ 2 s and ≤ 1.5× the raw operations. Interleaved
//       round by round (order alternating) with the raw operations for the same files
//       (deploy-copy.ts): upload, rename, link in the running server container, and the same
//       after creating and starting a helper container. Where the time goes: every phase as the
//       watch saw it, the steps cut by the reconciler's own calls, and the controllers' Docker
//       calls (deploy-trace.ts). Then the in-process work alone: fetchSource, packTar.
//   (2) N rollbacks, alternating between the last two releases of (1): a Deployment with
//       source.fromDeployment, PUT → active, and PUT → the proxy serving the older index.html.
//       Goal: ≤ 1 s.
//   (3) `current` damaged from inside the server container (docker exec): `rm current`, and
//       `ln -sfn <an older release dir> current`, alternating, BENCH_HEAL_SAMPLES of each;
//       from the damage (seen on the volume from this host) until `current` points at the live
//       release again. Goal: p50 ≤ 2 s.
// A sample starts once the traced controllers have made no Docker call for QUIET_MS. Prints
// tables; writes bench/out/deploy.json. Everything it made in Docker carries the labels of
// this run's installation and is removed at the end, also on failure or a signal.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { guardRun, runMain } from './lib-env.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fetchSource } from '../controllers/deployment/sources.js';
import { parseTar } from '../controllers/deployment/release-tar.js';
import { deployOnce, pruneRaw, rawHelper, rawRunning, releaseTar, Samples, type Series } from './deploy-copy.js';
import { DeployBenchEnv, HOST } from './deploy-env.js';
import { healOnce, LinkObserver, rollbackOnce } from './deploy-heal.js';
import { BYTES, FILES, indexHtml, releaseText, siteFiles, tarGz, type ServedArchive } from './deploy-site.js';
import { now, sleep } from './health-docker.js';
import { fmt, summarize, table } from './lib-report.js';
import { CpuMeter, findProcesses, getOnce, processesCpu, type CpuWindow } from './route-load.js';

const samplesArg = process.argv.find((a) => a.startsWith('--samples='));
const SAMPLES = samplesArg ? Number(samplesArg.slice('--samples='.length)) : 8;
if (!Number.isInteger(SAMPLES) || SAMPLES < 5) throw new Error(`--samples must be an integer ≥ 5 (got ${samplesArg})`);
const HEALS = Number(process.env.BENCH_HEAL_SAMPLES ?? 12);
if (!Number.isInteger(HEALS) || HEALS < 1) throw new Error(`BENCH_HEAL_SAMPLES must be a positive integer`);
const QUIET_MS = 300;
const DEADLINE_MS = 600_000;
const GOALS = { deployP50Ms: 2000, deployRatio: 1.5, rollbackMs: 1000, healP50Ms: 2000 };
const cpuLine = (w: CpuWindow) =>
  `CPU, cores: machine ${w.machine.toFixed(2)}, this process (controllers, API, bench) ${w.self.toFixed(2)}, dockerd + containerd ${w.named.engine!.toFixed(2)}, other ${w.other.toFixed(2)} (shims, runc, caddy, httpd, Postgres, others' work)`;
const name = (prefix: string, i: number) => `${prefix}-${String(i).padStart(2, '0')}`;

const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`bench/deploy [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);

interface Stat {
  n: number;
  p50: number;
  p90: number;
  min: number;
  max: number;
}
const stat = (v: number[] = []): Stat => {
  const s = summarize(v);
  const finite = v.filter(Number.isFinite);
  return { n: s.n, p50: s.p50, p90: s.p90, min: finite.length ? Math.min(...finite) : NaN, max: s.max };
};
const stats = (s: Series) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, stat(v)]));
/** Step rows grouped by their phase (a row first seen in a later sample lands beside its phase, not last). */
const byStep = (s: Series): Series => {
  const phase = (k: string) => /^step ([a-z_]+)/.exec(k)?.[1] ?? '';
  const order = [...new Set(Object.keys(s).map(phase))];
  return Object.fromEntries(Object.entries(s).sort(([a], [b]) => order.indexOf(phase(a)) - order.indexOf(phase(b))));
};
const rowsOf = (s: Series, filter: (k: string) => boolean = () => true) =>
  table([['ms', 'n', 'p50', 'p90', 'min', 'max'], ...Object.entries(s).filter(([k]) => filter(k)).map(([k, v]) => { const x = stat(v); return [k, String(x.n), fmt(x.p50), fmt(x.p90), fmt(x.min), fmt(x.max)]; })]);

async function main(): Promise<void> {
  const env = new DeployBenchEnv(log);
  const clearWatchdog = guardRun(() => env.close(), log, DEADLINE_MS);
  const started = new Date();
  const loadBefore = os.loadavg();
  let observer: LinkObserver | undefined;
  try {
    await env.setUp();
    const site = await env.site();
    log(`controllers leading, API up, server and Route ready; installation ${env.installation}; volume ${site.mountpoint ?? '(not readable here)'}`);

    const files = siteFiles();
    const versions = ['warm', ...Array.from({ length: SAMPLES }, (_, i) => name('d', i + 1))];
    const archives = new Map<string, ServedArchive>();
    for (const v of versions) archives.set(v, env.archives.add(v, await tarGz([{ path: 'index.html', data: indexHtml(v) }, ...files])));
    const entries = await parseTar(await tarGz([{ path: 'index.html', data: indexHtml('raw') }, ...files]));
    const archiveBytes = archives.get('warm')!.bytes;
    const uploadBytes = (await releaseTar(entries, 'raw', 'x')).length;
    log(`site: ${FILES} files, ${BYTES} bytes; .tar.gz ${archiveBytes} bytes, the uploaded tar ${uploadBytes} bytes`);

    const src = (v: string) => ({ archive: { url: archives.get(v)!.url, sha256: archives.get(v)!.sha256 } });
    // warm-up (JIT, page cache, the first config with a release): not measured
    await deployOnce(env, 'warm', src('warm'), archives.get('warm'));
    await rawRunning(env, site, entries, 'r-warm');
    await rawHelper(env, site, entries, 'h-warm');
    const rawNames = ['r-warm', 'h-warm'];

    const measuring = performance.now() / 1000;
    const cpu = new CpuMeter({ engine: processesCpu([...findProcesses(['dockerd']), ...findProcesses(['containerd', '--config'])]) });
    const cpuWindows: Record<string, CpuWindow> = {};
    let mark = cpu.mark();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    log(`(1) ${SAMPLES} rounds of: raw in the running container, raw with a helper, a Deployment (order alternating)`);
    const lastTimeline: { deploy?: string[]; rollback?: string[] } = {};
    const rawS = new Samples();
    const helperS = new Samples();
    const deployS = new Samples();
    const stepsS = new Samples();
    const [raw, helper, deploy, steps] = [rawS.series, helperS.series, deployS.series, stepsS.series];
    for (let i = 1; i <= SAMPLES; i++) {
      const tasks: [string, () => Promise<void>][] = [
        ['raw', async () => rawS.add(await rawRunning(env, site, entries, name('r', i)))],
        ['helper', async () => helperS.add(await rawHelper(env, site, entries, name('h', i)))],
        ['deploy', async () => {
          const d = name('d', i);
          const r = await deployOnce(env, d, src(d), archives.get(d));
          deployS.add(r.times);
          lastTimeline.deploy = r.timeline;
          stepsS.add(r.steps);
        }],
      ];
      if (i % 2 === 0) tasks.reverse();
      for (const [, run] of tasks) {
        await env.quiet(QUIET_MS);
        await run();
      }
      rawNames.push(name('r', i), name('h', i));
      await env.quiet(QUIET_MS);
      await pruneRaw(env, site, rawNames);
      const served = await getOnce({ address: '127.0.0.1', port: site.proxyPort, path: '/', host: HOST });
      if (!served.body.includes(releaseText(name('d', i)))) throw new Error(`after ${name('d', i)} the proxy serves ${served.status} ${served.body.slice(0, 100)}`);
      log(`(1) round ${i}: raw ${fmt(raw.total.at(-1)!)} ms, helper ${fmt(helper.total.at(-1)!)} ms, deploy ${fmt(deploy['PUT sent → active (seen by a watch)'].at(-1)!)} ms`);
    }

    cpuWindows['(1)'] = cpu.since(mark);
    loopDelay.disable();
    const eld = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    const aloneS = new Samples();
    const alone = aloneS.series;
    for (let i = 0; i < 5; i++) {
      const a = archives.get(name('d', SAMPLES))!;
      const f0 = now();
      const got = await fetchSource({ archive: { url: a.url, sha256: a.sha256 } }, {});
      const f1 = now();
      await releaseTar(got.entries, 'site', 'x');
      const f2 = now();
      aloneS.add({ 'fetchSource (GET, sha256, gunzip, parse, digest)': f1 - f0, 'packTar of the release': f2 - f1 });
    }

    log(`(2) ${SAMPLES} rollbacks between ${name('d', SAMPLES - 1)} and ${name('d', SAMPLES)}`);
    const rollbackS = new Samples();
    const rbStepsS = new Samples();
    const [rollback, rbSteps] = [rollbackS.series, rbStepsS.series];
    mark = cpu.mark();
    for (let i = 1; i <= SAMPLES; i++) {
      await env.quiet(QUIET_MS);
      const from = i % 2 === 1 ? name('d', SAMPLES - 1) : name('d', SAMPLES);
      const r = await rollbackOnce(env, site, name('rb', i), from, releaseText(from));
      rollbackS.add(r.times);
      lastTimeline.rollback = r.timeline;
      rbStepsS.add(r.steps);
    }

    cpuWindows['(2)'] = cpu.since(mark);
    await sleep(200);
    const eventsBefore3 = await env.eventReasons();
    log(`(3) ${HEALS} × rm current and ${HEALS} × current pointed elsewhere`);
    observer = new LinkObserver(env, site);
    observer.start();
    await env.quiet(QUIET_MS);
    await sleep(50);
    const live = observer.current();
    const dirs = site.mountpoint ? readdirSync(`${site.mountpoint}/site`).filter((d) => d.startsWith('deployment-')) : [];
    const other = dirs.find((d) => d !== live) ?? 'deployment-elsewhere';
    if (!live) throw new Error('current points nowhere before (3)');
    const healS = { rm: new Samples(), elsewhere: new Samples() };
    const heal: Record<'rm' | 'elsewhere', Series> = { rm: healS.rm.series, elsewhere: healS.elsewhere.series };
    mark = cpu.mark();
    for (let i = 0; i < HEALS; i++)
      for (const kind of ['rm', 'elsewhere'] as const) {
        await env.quiet(QUIET_MS);
        healS[kind].add(await healOnce(env, site, observer, kind, live, other));
      }
    observer.stop();
    await sleep(200);
    const eventsAfter3 = await env.eventReasons();
    cpuWindows['(3)'] = cpu.since(mark);

    const loadAfter = os.loadavg();
    const deployP50 = stat(deploy['PUT sent → active (seen by a watch)']).p50;
    const rawP50 = stat(raw.total).p50;
    const helperP50 = stat(helper.total).p50;
    const rbActive = stat(rollback['PUT sent → active (seen by a watch)']);
    const rbServed = stat(rollback['PUT sent → the proxy serves the older release (GET every 5 ms)']);
    const healRm = stat(heal.rm['damage seen on the host → current back']);
    const healElse = stat(heal.elsewhere['damage seen on the host → current back']);
    const goals = [
      { goal: `PUT → active, p50 ≤ ${GOALS.deployP50Ms} ms`, value: deployP50, met: deployP50 <= GOALS.deployP50Ms },
      { goal: `PUT → active ≤ ${GOALS.deployRatio}× the raw operations with a helper (p50 / p50)`, value: deployP50 / helperP50, met: deployP50 / helperP50 <= GOALS.deployRatio, ratio: true },
      { goal: `the same against the raw operations in the running container`, value: deployP50 / rawP50, met: deployP50 / rawP50 <= GOALS.deployRatio, ratio: true },
      { goal: `rollback PUT → active ≤ ${GOALS.rollbackMs} ms (p50; max)`, value: rbActive.p50, met: rbActive.p50 <= GOALS.rollbackMs, max: rbActive.max },
      { goal: `rollback PUT → the proxy serves it ≤ ${GOALS.rollbackMs} ms (p50; max)`, value: rbServed.p50, met: rbServed.p50 <= GOALS.rollbackMs, max: rbServed.max },
      { goal: `heal after rm current, p50 ≤ ${GOALS.healP50Ms} ms`, value: healRm.p50, met: healRm.p50 <= GOALS.healP50Ms },
      { goal: `heal after current pointed elsewhere, p50 ≤ ${GOALS.healP50Ms} ms`, value: healElse.p50, met: healElse.p50 <= GOALS.healP50Ms },
    ];
    const out = {
      started: started.toISOString(),
      durationS: Math.round((Date.now() - T0) / 100) / 10,
      samples: SAMPLES,
      healSamples: HEALS,
      site: { files: FILES, bytes: BYTES, archiveBytes, uploadBytes },
      machine: { cpus: os.cpus().length, loadBefore, loadAfter, node: process.version, dockerEngine: env.engineVersion, database: env.db?.embedded ? 'embedded' : 'DATABASE_URL', volumeReadable: observer.local },
      lastTimeline,
      events: { before3: eventsBefore3, after3: eventsAfter3 },
      cpu: cpuWindows,
      eventLoopDelay1: eld,
      controllerLog: env.controllerLog,
      summary: { raw: stats(raw), helper: stats(helper), deploy: stats(deploy), steps: stats(steps), alone: stats(alone), rollback: stats(rollback), rollbackSteps: stats(rbSteps), healRm: stats(heal.rm), healElsewhere: stats(heal.elsewhere) },
      ratios: { deployOverHelper: deployP50 / helperP50, deployOverRunning: deployP50 / rawP50 },
      goals,
      series: { raw, helper, deploy, steps, alone, rollback, rollbackSteps: rbSteps, heal },
    };
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/deploy.json', JSON.stringify(out, null, 2) + '\n');

    const L: string[] = [];
    L.push(`bench/deploy — ${started.toISOString()}, ${os.cpus().length} CPUs, Docker ${env.engineVersion}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after`);
    L.push(`site: ${FILES} files, ${BYTES} bytes; archive (.tar.gz) ${archiveBytes} bytes; uploaded tar ${uploadBytes} bytes`);
    L.push('');
    L.push(`(1) raw Docker operations, running server container, ${SAMPLES} samples`);
    L.push(rowsOf(raw));
    L.push('');
    L.push(`(1) raw Docker operations with a new helper container, ${SAMPLES} samples`);
    L.push(rowsOf(helper));
    L.push('');
    L.push(`(1) Deployment (source.archive), PUT → active, ${SAMPLES} samples`);
    L.push(rowsOf(deploy));
    L.push('');
    L.push(`(1) the steps: from each phase's sighting to the next one's, with the Docker calls that ended in between`);
    L.push(rowsOf(byStep(steps), (k) => !k.endsWith(' (calls)')));
    L.push('');
    L.push('(1) in-process work alone, 5 samples');
    L.push(rowsOf(alone));
    L.push('');
    L.push(cpuLine(cpuWindows['(1)']!));
    L.push(`event-loop delay of this process over (1): p99 ${fmt(eld.p99)} ms, max ${fmt(eld.max)} ms`);
    L.push('');
    L.push(`the last sample, ms from the PUT: ${lastTimeline.deploy!.join('; ')}`);
    L.push('');
    L.push(`ratio of p50s: deploy / raw with a helper ${(deployP50 / helperP50).toFixed(2)}×; deploy / raw in the running container ${(deployP50 / rawP50).toFixed(2)}×`);
    L.push('');
    L.push(`(2) rollback (source.fromDeployment), ${SAMPLES} samples alternating`);
    L.push(rowsOf(rollback));
    L.push('');
    L.push(`(2) the steps, as in (1)`);
    L.push(rowsOf(byStep(rbSteps), (k) => !k.endsWith(' (calls)')));
    L.push(cpuLine(cpuWindows['(2)']!));
    L.push(`the last sample, ms from the PUT: ${lastTimeline.rollback!.join('; ')}`);
    for (const kind of ['rm', 'elsewhere'] as const) {
      L.push('');
      L.push(`(3) ${kind === 'rm' ? 'rm current' : `ln -sfn ${other} current`}, ${HEALS} samples (current read ${observer.local ? 'on the host: inotify + every 5 ms' : 'by exec every 20 ms'})`);
      L.push(rowsOf(heal[kind]));
    }
    L.push(cpuLine(cpuWindows['(3)']!));
    const repaired = (e: Record<string, number>) => e.SymlinkRepaired ?? 0;
    L.push(`Warning Events SymlinkRepaired: ${repaired(eventsBefore3)} during (1) and (2), where nobody damaged current; ${repaired(eventsAfter3) - repaired(eventsBefore3)} during (3), for ${2 * HEALS} acts of damage. Events by reason at the end: ${JSON.stringify(eventsAfter3)}`);
    L.push('');
    for (const g of goals) L.push(`Goal: ${g.goal}: ${'ratio' in g ? `${g.value.toFixed(2)}×` : `${fmt(g.value)} ms${g.max !== undefined ? `, max ${fmt(g.max)} ms` : ''}`} — ${g.met ? 'met' : 'NOT met'}`);
    const lost = env.controllerLog.filter((l) => /stopped leading/.test(l) && Number(/^\[([\d.]+) s\]/.exec(l)?.[1]) >= measuring);
    if (lost.length) L.push(`WARNING: a controller lost its lease while measuring, so some samples include a failover: ${lost.join('; ')}`);
    L.push(`(controller log lines: ${env.controllerLog.length}; JSON: bench/out/deploy.json; run took ${out.durationS} s)`);
    process.stdout.write(L.join('\n') + '\n');
  } finally {
    observer?.stop();
    await env.close();
    clearWatchdog();
  }
}

runMain(main, log);
