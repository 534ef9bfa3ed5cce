// What bench/scale runs against and reads: deployer as a process (server.ts, as `npm start`
// runs it) on a given database, its /metrics as numbers, its RSS and CPU time from /proc, and
// the seed of a populated installation (ProjectServers, Routes, Deployments with a terminal
// status, Events) written through the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { API_BASE, type BenchApi } from './lib-env.js';
import { inParallel, sleep } from './health-docker.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TICK_MS = 10; // USER_HZ

export interface DeployerProcess {
  pid: number;
  url: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  startedAt: number;
  /** Resolves when /readyz answers 200; rejects if the process exits first. */
  waitReady(ms: number): Promise<number>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node [nodeArgs] start.mjs` (as `npm start` does) with `env`; its output goes to `logFile` (appended). */
export function startDeployer(env: Record<string, string>, port: number, logFile: string, nodeArgs: string[] = []): DeployerProcess {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, DEPLOYER_TLS_PORT: 'off', ...env, PORT: String(port), HOST: '127.0.0.1' }))
    if (v !== undefined && !k.startsWith('NODE_V8_COVERAGE')) childEnv[k] = v;
  const startedAt = performance.now();
  const proc = spawn(process.execPath, [...nodeArgs, 'start.mjs'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile, { flags: 'a' });
  proc.stdout!.pipe(out, { end: false });
  proc.stderr!.pipe(out, { end: false });
  let done = false;
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { done = true; resolve(code); }));
  // never leave a deployer behind, whatever ends this process
  const orphanGuard = () => { if (!done) proc.kill('SIGKILL'); };
  process.on('exit', orphanGuard);
  void exited.then(() => process.off('exit', orphanGuard));
  const url = `http://127.0.0.1:${port}`;
  return {
    pid: proc.pid!,
    url,
    proc,
    exited,
    startedAt,
    async waitReady(ms) {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        if (done) throw new Error(`deployer exited before it was ready (see ${logFile})`);
        try {
          const res = await fetch(`${url}/readyz`);
          if (res.status === 200) return performance.now();
        } catch {
          // not listening yet
        }
        await sleep(25);
      }
      throw new Error(`deployer was not ready within ${ms} ms (see ${logFile})`);
    },
    async kill(signal) {
      if (!done) proc.kill(signal);
      return exited;
    },
  };
}

/** Samples of a Prometheus text exposition: `name{labels}` → value. */
export type Samples = Map<string, number>;

export async function scrape(api: BenchApi): Promise<Samples> {
  const r = await api.request('GET', '/metrics');
  if (r.status !== 200 || typeof r.body !== 'string') throw new Error(`GET /metrics: HTTP ${r.status}`);
  const out: Samples = new Map();
  for (const line of r.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** deployer_controller_reconciles_total of one controller, all results summed. */
export function reconciles(s: Samples, controller: string): number {
  let n = 0;
  for (const [k, v] of s) if (k.startsWith('deployer_controller_reconciles_total{') && k.includes(`controller="${controller}"`)) n += v;
  return n;
}

export const gauge = (s: Samples, name: string, controller: string): number => s.get(`${name}{controller="${controller}"}`) ?? NaN;

export interface ProcFigures {
  rssMiB: number;
  hwmMiB: number;
  /** utime + stime, ms. */
  cpuMs: number;
  threads: number;
}

export function procFigures(pid: number): ProcFigures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
  return {
    rssMiB: kb('VmRSS') / 1024,
    hwmMiB: kb('VmHWM') / 1024,
    cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
  };
}

/** Machine-wide busy time (ms summed over CPUs) from /proc/stat. */
export function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) * TICK_MS;
}

export interface Mix {
  namespaces: number;
  servers: number;
  routes: number;
  deployments: number;
  events: number;
}

/**
 * The mix for `total` objects and `servers` ProjectServers: 10 servers per namespace, two
 * Routes per server (the name and www.), 20 Deployments of history per server (at most half of
 * what is left), and Events for the rest.
 */
export function mixFor(total: number, servers: number): Mix {
  const routes = 2 * servers;
  const rest = total - servers - routes;
  if (rest < 0) throw new Error(`${total} objects cannot hold ${servers} servers and their ${routes} Routes`);
  const deployments = Math.min(20 * servers, Math.floor(rest / 2));
  return { namespaces: Math.max(1, Math.ceil(servers / 10)), servers, routes, deployments, events: rest - deployments };
}

export const nsOf = (i: number) => `scale-${String(Math.floor(i / 10)).padStart(2, '0')}`;
export const serverName = (i: number) => `site-${String(i).padStart(4, '0')}`;

/**
 * Writes the mix through the API (`concurrency` requests at a time). Deployments are created,
 * then given a terminal status (the newest of each server `active`, the others `superseded`)
 * by a PATCH of the status subresource, as the deployment controller would have left them:
 * this runs while no controller does, so no release is built. Returns ms taken.
 */
/** `serverSpec` is merged into each ProjectServer's spec (e.g. a slower health check). */
export async function seed(api: BenchApi, mix: Mix, concurrency: number, log: (m: string) => void, serverSpec: Record<string, unknown> = {}): Promise<number> {
  const t0 = performance.now();
  const servers = Array.from({ length: mix.servers }, (_, i) => i);
  await inParallel(servers, concurrency, (i) =>
    api.put(nsOf(i), 'projectservers', { kind: 'ProjectServer', metadata: { name: serverName(i) }, spec: { serviceType: 'static', ...serverSpec } }),
  );
  log(`seed: ${mix.servers} ProjectServers`);
  const routes = Array.from({ length: mix.routes }, (_, j) => j);
  await inParallel(routes, concurrency, (j) => {
    const i = j % mix.servers;
    const www = j >= mix.servers;
    return api.put(nsOf(i), 'routes', {
      kind: 'Route',
      metadata: { name: `${serverName(i)}${www ? '-www' : ''}` },
      spec: { host: `${www ? 'www.' : ''}${serverName(i)}.scale.test`, projectServer: serverName(i) },
    });
  });
  log(`seed: ${mix.routes} Routes`);
  const perServer = Math.ceil(mix.deployments / mix.servers);
  const deployments = Array.from({ length: mix.deployments }, (_, k) => k);
  const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await inParallel(deployments, concurrency, async (k) => {
    const i = k % mix.servers;
    const n = Math.floor(k / mix.servers);
    const name = `${serverName(i)}-r${String(n).padStart(3, '0')}`;
    await api.put(nsOf(i), 'deployments', {
      kind: 'Deployment',
      metadata: { name },
      spec: { projectServer: serverName(i), source: { inline: { files: { 'index.html': `<h1>${name}</h1>\n` } } } },
    });
    const last = n === perServer - 1 || k + mix.servers >= mix.deployments;
    const r = await api.request('PATCH', `${API_BASE}/namespaces/${nsOf(i)}/deployments/${name}/status`, {
      status: { phase: last ? 'active' : 'superseded', phaseProgress: 100, startedAt: stamp, phaseUpdatedAt: stamp, message: last ? 'active' : 'superseded by a newer deployment', attempts: 1 },
    }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`PATCH deployments/${name}/status: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  });
  log(`seed: ${mix.deployments} Deployments (terminal)`);
  const events = Array.from({ length: mix.events }, (_, e) => e);
  const reasons = ['Created', 'Started', 'DeploymentActive', 'Pulled', 'Scheduled'];
  await inParallel(events, concurrency, async (e) => {
    const i = e % mix.servers;
    const name = `${serverName(i)}-e${String(Math.floor(e / mix.servers)).padStart(4, '0')}`;
    const reason = reasons[e % reasons.length];
    const r = await api.request('POST', `${API_BASE}/namespaces/${nsOf(i)}/events`, {
      apiVersion: 'deployer.dev/v1',
      kind: 'Event',
      metadata: { name },
      involvedObject: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', namespace: nsOf(i), name: serverName(i) },
      reason,
      message: `${reason} for ${serverName(i)} (seeded by bench/scale)`,
      type: 'Normal',
      count: 1,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      source: { component: 'bench-scale' },
    });
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST events/${name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  });
  log(`seed: ${mix.events} Events`);
  return performance.now() - t0;
}
