// Acceptance 2 of the Deployments issue: for every phase, deployer is SIGKILLed while a
// deployment is in that phase and started again; the deployment ends active, exactly one
// release dir holds it, no helper container or temporary is left, `current` points at it and
// the site serves it through the proxy. One more case kills deployer from outside while a
// build's helper container runs, which the restarted process must remove. Then the same phases
// with three deployer processes, where the leader of the deployment controller is killed while
// it is paused in the phase and another process finishes the deployment: three phases there
// (a build with its helper, the switch of `current`, the health check through the proxy), as a
// failover resumes through the same code as a restart and each case costs three process starts.
//
// The fault hook (controllers/runtime/fault.ts, DEPLOYER_FAULT=<phase>:crash|pause) stops a
// process half-way through the phase, on a deployment's first attempt only; the process that
// resumes counts attempt 2 and runs through. One ProjectServer and one Route serve the whole
// file; each case deploys a new release into it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { installationFilter, LABELS } from '../../docker/index.js';
import { caddyImage, staticImage } from '../../images/index.js';
import { kindByName } from '../../resources/index.js';
import { freePort, openStore } from '../../store/index.js';
import {
  DEPLOYMENT,
  helperContainers,
  releaseMarkers,
  SERVER,
  serviceDir,
  settled,
  site,
  st,
  type DeployEnv,
} from '../helpers/deployments.js';
import { installationOf, sleep, until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';
import { api, spawnServer, type ServerProcess } from '../helpers/process.js';

const EVENT = kindByName('Event')!;
const NS = 'crash';
const API = `/apis/deployer.dev/v1/namespaces/${NS}`;
const SITE = 'site';
const HOST = 'crash.test';
const TOKEN = 'deployment-crash-admin-token';
const PHASES = ['pulling_source', 'building', 'copying_files', 'creating_symlinks', 'updating_routes', 'health_check'] as const;
type FaultPhase = (typeof PHASES)[number];
const FAILOVER_PHASES: FaultPhase[] = ['building', 'creating_symlinks', 'health_check'];

/** A Deployment for one case and what the site must serve once it is live. */
interface Release {
  name: string;
  spec: Record<string, unknown>;
  serves: string;
}

function releaseFor(prefix: string, phase: FaultPhase): Release {
  const name = `${prefix}-${phase.replace(/_/g, '-')}`;
  if (phase === 'building')
    // the build rewrites the page, so what is served proves the build's output went live
    return {
      name,
      spec: {
        projectServer: SITE,
        source: { inline: { files: { 'index.html': `source of ${name}\n` } } },
        build: { command: ['sh', '-c', 'mkdir out && sed "s/^source of /built from /" index.html > out/index.html'], outputDir: 'out' },
      },
      serves: `built from ${name}\n`,
    };
  return { name, spec: { projectServer: SITE, source: { inline: { files: { 'index.html': `release ${name}\n` } } } }, serves: `release ${name}\n` };
}

/**
 * A build that runs for seconds, so that deployer can be killed from outside while its helper
 * container runs (the fault hook stops a build before its helper starts).
 */
function slowBuild(name: string): Release {
  return {
    name,
    spec: {
      projectServer: SITE,
      source: { inline: { files: { 'index.html': `source of ${name}\n` } } },
      build: { command: ['sh', '-c', 'sleep 4 && mkdir out && sed "s/^source of /built from /" index.html > out/index.html'], outputDir: 'out' },
    },
    serves: `built from ${name}\n`,
  };
}

/** The single-process cases: the fault hook in each phase, then a SIGKILL during a build's helper run. */
const ONE_PROCESS: { phase: FaultPhase; by: 'hook' | 'outside' }[] = [...PHASES.map((phase) => ({ phase, by: 'hook' as const })), { phase: 'building', by: 'outside' }];

const faultLine = (action: 'crash' | 'pause', phase: FaultPhase) => `fault hook: ${action} at ${phase}`;

async function exitWithin(p: ServerProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), ms)));
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// About 2 to 3 minutes on a busy 2-core machine (twenty-three process starts); the runner's
// default of 300 s is too close, and a timeout leaves the test's containers behind.
t.setTimeout(420_000);

t.test('a deployment interrupted in any phase finishes after a restart or a failover', async (t) => {
  const begin = Date.now();
  const db = await freshDatabase(t);
  const { installation, docker } = await installationOf(t, db);
  const store = await openStore({ connectionString: db, maintenance: false });
  t.teardown(() => store.close());
  const e: DeployEnv = { store, docker, installation, until };
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-deploy-crash-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const proxyPort = await freePort();
  // images by name, as production may set them: each process then skips hashing the binaries
  const [staticTag, caddyTag] = [await docker.ensureImage(staticImage()), await docker.ensureImage(caddyImage())];
  const env = (fault: string) => ({
    DATABASE_URL: db,
    DEPLOYER_DATA_DIR: dataDir,
    DEPLOYER_ADMIN_TOKEN: TOKEN,
    DEPLOYER_CONTROLLERS: 'projectserver,route,deployment',
    DEPLOYER_PROXY_PORT: String(proxyPort),
    DEPLOYER_PROXY_HTTPS_PORT: '0',
    DEPLOYER_STATIC_IMAGE: staticTag,
    DEPLOYER_PROXY_IMAGE: caddyTag,
    DEPLOYER_FAULT: fault,
  });
  const put = async (p: ServerProcess, plural: string, name: string, spec: Record<string, unknown>) => {
    const res = await api(p.url, TOKEN, 'PUT', `${API}/${plural}/${name}`, { metadata: { name }, spec });
    if (res.status !== 201) throw new Error(`PUT ${plural}/${name}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const stored = async (name: string) => st(await store.resources.get(DEPLOYMENT, NS, name));
  const leadsDeployment = async (p: ServerProcess) =>
    ((await api(p.url, TOKEN, 'GET', '/api/monitoring/leaders')).body.items as any[]).some((l) => l.name === 'deployment' && l.heldByThisProcess);

  // The projectserver controller's SymlinkRepaired Event (name, count, message). A repair in a
  // case (after a crash between the server's status and the switch) may only put `current` on
  // the case's release, never back on an older one. Repeats aggregate into one Event whose
  // message is the latest, so this sees the case's last repair.
  const repairs = async () =>
    new Set(
      ((await store.resources.list(EVENT, { namespace: NS })).items as any[])
        .filter((ev) => ev.reason === 'SymlinkRepaired' && ev.involvedObject?.name === SITE)
        .map((ev) => `${ev.metadata.name} ×${ev.count ?? 1}: ${ev.message}`),
    );

  /** The checks of the acceptance, once `r` was interrupted and resumed; `repairsBefore` from the case's start. */
  const finished = async (t: Test, r: Release, repairsBefore: Set<string>) => {
    const d = await settled(e, NS, r.name, 90_000);
    t.equal(st(d).phase, 'active', `active (${st(d).message})`);
    t.equal(st(d).attempts, 2, 'resumed once: two attempts');
    const uid = d.metadata.uid!;
    const markers = await releaseMarkers(e, NS, SITE);
    const holding = [...markers].filter(([, m]) => m === `${r.name} ${uid}`).map(([dir]) => dir);
    t.same(holding, [`deployment-${r.name}`], `exactly one release dir holds it (dirs: ${[...markers.keys()].join(', ')})`);
    const dir = await serviceDir(e, NS, SITE);
    t.equal(dir.current, `deployment-${r.name}`, 'current points at it');
    if (dir.current !== `deployment-${r.name}`) {
      const healed = await until(async () => (await serviceDir(e, NS, SITE)).current === `deployment-${r.name}`, 'current to come back', 10_000).then(() => true, () => false);
      t.comment(`current pointed at ${dir.current || '(nothing)'} after ${r.name} went active; ${healed ? 'it came back within 10 s' : 'still wrong 10 s later'}`);
    }
    const back = [...(await repairs())].filter((m) => !repairsBefore.has(m) && !m.endsWith(`put back to deployment-${r.name}`));
    t.same(back, [], 'no repair by the projectserver controller put current on another release meanwhile');
    t.same(dir.entries.filter((n) => /^\.(tmp-|build-|current-)/.test(n)), [], 'no temporary dir or link is left');
    t.same(await helperContainers(e), [], 'no helper container is left');
    t.equal(st(await store.resources.get(SERVER, NS, SITE)).currentDeployment, r.name, "the server's status names it");
    // the health check went through the proxy once the Route was ready; the first case may
    // have gone live before that, so wait for the Route rather than assert at once
    const got = await until(async () => {
      const res = await site(proxyPort, HOST);
      return res.body === r.serves && res;
    }, `the proxy to serve ${r.name}`, 15_000).catch(async () => site(proxyPort, HOST));
    t.same({ status: got.status, body: got.body }, { status: 200, body: r.serves }, 'the site serves it through the proxy');
  };

  const ALL = ['projectserver', 'route', 'deployment'];
  /** Waits until `p` holds the leases of every controller (nothing else can start its work then). */
  const leadingAll = (p: ServerProcess, what: string) =>
    until(async () => {
      const items = (await api(p.url, TOKEN, 'GET', '/api/monitoring/leaders')).body.items as any[];
      return ALL.every((n) => items.some((l) => l.name === n && l.heldByThisProcess));
    }, what, 20_000);
  // Process starts cost seconds, so the process of the next case is started as a standby while
  // this case's process leads (it cannot take any work until that one is stopped).
  const spawned: { label: string; p: ServerProcess }[] = [];
  const spawn = async (fault: string) => {
    const p = await spawnServer(t, env(fault));
    spawned.push({ label: `${spawned.length + 1}-${fault.replace(':', '-') || 'plain'}`, p });
    return p;
  };
  const spawnAll = (n: number, fault: string) => Array.from({ length: n }, () => spawn(fault));
  // if tap gives up on this file (timeout), its teardowns do not run: no process may outlive it
  const killOnExit = () => spawned.forEach(({ p }) => p.proc.exitCode === null && p.proc.signalCode === null && p.proc.kill('SIGKILL'));
  process.on('exit', killOnExit);
  t.teardown(() => void process.off('exit', killOnExit));
  // DEPLOYER_TEST_LOG_DIR=<dir>: every process's output is written there at the end
  const logDir = process.env.DEPLOYER_TEST_LOG_DIR;
  if (logDir)
    t.teardown(async () => {
      await mkdir(logDir, { recursive: true });
      for (const { label, p } of spawned) await writeFile(join(logDir, `${label}.log`), p.output());
    });

  let running: ServerProcess[] = [];
  let next: Promise<ServerProcess>[] = spawnAll(1, `${ONE_PROCESS[0]!.phase}:crash`);
  const stopRunning = async (t: Test) => {
    if (!running.length) return;
    const codes = await Promise.all(running.map((p) => p.kill('SIGTERM')));
    t.same(codes, running.map(() => 0), 'the processes of the case before shut down cleanly');
    running = [];
  };

  for (const [i, c] of ONE_PROCESS.entries()) {
    const { phase } = c;
    const title = c.by === 'hook' ? `one process: SIGKILL in ${phase}, start again` : `one process: SIGKILL from outside while the build's helper container runs, start again`;
    await t.test(title, async (t) => {
      const t0 = Date.now();
      const r = c.by === 'hook' ? releaseFor('one', phase) : slowBuild('one-helper');
      const [s1] = await Promise.all(next);
      await stopRunning(t);
      await s1!.waitReady();
      if (i === 0) {
        await put(s1!, 'projectservers', SITE, { serviceType: 'static' });
        await put(s1!, 'routes', SITE, { host: HOST, projectServer: SITE });
      }
      const repairsBefore = await repairs();
      const put0 = Date.now();
      await put(s1!, 'deployments', r.name, r.spec);
      if (c.by === 'hook') {
        const code = await exitWithin(s1!, 90_000);
        t.equal(code, null, 'the process killed itself (SIGKILL)');
        // the hook logs a line just before the SIGKILL, but pino writes stderr asynchronously and
        // the kill can drop it; the stored phase below is the proof of where it stopped
        if (!s1!.output().includes(faultLine('crash', phase))) t.comment(`(the fault hook's log line was lost in the kill)`);
      } else {
        await until(async () => (await docker.listContainers(installationFilter(installation, 'helper'))).some((h) => h.state === 'running'), "the build's helper container to run", 60_000);
        t.equal(await s1!.kill('SIGKILL'), null, 'deployer killed while the helper runs');
      }
      const before = await stored(r.name);
      t.equal(before.phase, phase, `the stored phase is ${phase}`);
      t.equal(before.attempts, 1, 'on its first attempt');
      const crashed = Date.now();

      const s2 = await spawn('');
      await s2.waitReady();
      await leadingAll(s2, 'the restarted process to lead');
      running = [s2];
      const after = ONE_PROCESS[i + 1];
      next = after ? spawnAll(1, after.by === 'hook' ? `${after.phase}:crash` : '') : spawnAll(3, `${FAILOVER_PHASES[0]}:pause`);
      await finished(t, r, repairsBefore);
      t.comment(`${title}: killed ${crashed - put0} ms after the PUT, active ${Date.now() - crashed} ms after the kill; case ${Date.now() - t0} ms`);
    });
  }
  t.comment(`one process, all cases: ${Math.round((Date.now() - begin) / 1000)} s`);

  for (const [i, phase] of FAILOVER_PHASES.entries()) {
    await t.test(`three processes: SIGKILL the leader paused in ${phase}`, async (t) => {
      const t0 = Date.now();
      const r = releaseFor('three', phase);
      const procs = await Promise.all(next);
      await stopRunning(t);
      await Promise.all(procs.map((p) => p.waitReady()));
      await until(async () => (await Promise.all(procs.map(leadsDeployment))).some(Boolean), 'a leader of the deployment controller', 20_000);
      const repairsBefore = await repairs();
      const put0 = Date.now();
      await put(procs[0]!, 'deployments', r.name, r.spec);
      const paused = await until(async () => procs.find((p) => p.output().includes(faultLine('pause', phase))), `a process to pause in ${phase}`, 60_000);
      t.ok(await leadsDeployment(paused), 'the paused process leads the deployment controller');
      const before = await stored(r.name);
      t.equal(before.phase, phase, `the stored phase is ${phase}`);
      t.equal(before.attempts, 1, 'on its first attempt');
      await sleep(300); // it stays paused: nothing moves the phase on
      t.equal((await stored(r.name)).phase, phase, 'still paused there');

      t.equal(await paused.kill('SIGKILL'), null, 'the leader killed');
      const killed = Date.now();
      const rest = procs.filter((p) => p !== paused);
      await until(async () => {
        for (const p of rest) if (await leadsDeployment(p)) return p;
        return undefined;
      }, 'a surviving process to lead the deployment controller', 15_000);
      const took = Date.now() - killed;
      // the standbys of the next case start once the survivors hold every lease
      await until(async () => {
        const held = await Promise.all(rest.map(async (p) => ((await api(p.url, TOKEN, 'GET', '/api/monitoring/leaders')).body.items as any[]).filter((l) => ALL.includes(l.name) && l.heldByThisProcess).length));
        return held.reduce((a, b) => a + b, 0) === ALL.length;
      }, 'the survivors to hold every lease', 15_000);
      running = rest;
      next = i + 1 < FAILOVER_PHASES.length ? spawnAll(3, `${FAILOVER_PHASES[i + 1]}:pause`) : [];
      await finished(t, r, repairsBefore);
      t.comment(`${phase}: paused ${killed - put0} ms after the PUT, a survivor led ${took} ms after the kill, active ${Date.now() - killed} ms after it; case ${Date.now() - t0} ms`);

      if (i === FAILOVER_PHASES.length - 1) {
        // nothing deployer made outlives its owner: delete the Route and the server
        for (const plural of ['routes', 'projectservers']) t.equal((await api(rest[0]!.url, TOKEN, 'DELETE', `${API}/${plural}/${SITE}`)).status < 300, true, `DELETE ${plural}/${SITE}`);
        const mine = async () => ({
          containers: (await docker.listContainers(installationFilter(installation))).filter((c) => c.labels[LABELS.role] !== 'proxy').map((c) => c.name),
          volumes: (await docker.listVolumes(installationFilter(installation))).filter((v) => v.labels[LABELS.ownerKind] !== 'Installation').map((v) => v.name),
        });
        const left = await until(async () => {
          const m = await mine();
          return m.containers.length + m.volumes.length === 0 && m;
        }, 'the server and its volume to go', 30_000).catch(mine);
        t.same(left, { containers: [], volumes: [] }, 'nothing but the proxy is left in Docker');
        await stopRunning(t);
      }
    });
  }
  t.comment(`whole file: ${Math.round((Date.now() - begin) / 1000)} s`);
});
