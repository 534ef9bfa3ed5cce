// bench/deploy (1): a Deployment of the 1,000-file site from PUT to active, against the raw
// Docker operations that put the same files in place, sample by sample in the same run.
//
// The raw operations go through DockerRuntime as the controller's do (controllers/releases),
// with the tar the controller would upload (packTar of the same entries, with a marker file)
// and the same scripts (layout.ts PROMOTE_SCRIPT, SWITCH_SCRIPT), into service dir `raw` of
// the server's volume, which no Deployment and no watcher touches:
//   - in the running server container: putArchive, exec rename, exec link;
//   - in a helper: create a container mounting the server's volume, start it, then the same
//     three (its removal is timed apart, not in the total).
// The tar's packing is timed apart: it is work in this process, not a Docker operation.
import { containerName, managedLabels } from '../docker/index.js';
import { linkTmp, MARKER_FILE, PROMOTE_SCRIPT, releaseDir, REMOVE_SCRIPT, serviceDir, STATIC_ROOT, SWITCH_SCRIPT, tmpDir } from '../controllers/releases/layout.js';
import { packTar, type ReleaseEntry } from '../controllers/deployment/release-tar.js';
import { NS, SERVER, type DeployBenchEnv, type Site } from './deploy-env.js';
import type { ServedArchive } from './deploy-site.js';
import { byOp, overlapMs, stepSplit } from './deploy-trace.js';
import { now } from './health-docker.js';

export type Series = Record<string, number[]>;

/**
 * Samples as series of equal length, one value per sample for every measure seen in any: a
 * measure a sample lacks is 0 when it sums Docker calls (no such call then), else NaN (not
 * seen; summaries leave it out).
 */
export class Samples {
  readonly series: Series = {};
  private n = 0;

  add(r: Record<string, number>): void {
    for (const [k, v] of Object.entries(r)) (this.series[k] ??= Array<number>(this.n).fill(fillOf(k))).push(v);
    this.n++;
    for (const [k, v] of Object.entries(this.series)) if (v.length < this.n) v.push(fillOf(k));
  }
}
/** Measures that sum Docker calls by op (deploy-trace byOp): `…: <op>` after a controller or a step. */
const fillOf = (k: string) => (/(controller, (all steps|meanwhile)|^step [a-z_]+): (?!outside)/.test(k) ? 0 : NaN);

const RAW = 'raw';
const DEPLOY_TIMEOUT_MS = 60_000;
const MTIME = new Date('2026-12-01T00:00:00Z');

async function sh(env: DeployBenchEnv, id: string, script: string, args: string[]): Promise<void> {
  const r = await env.docker.exec(id, ['sh', '-c', script, 'sh', ...args]);
  if (r.exitCode !== 0) throw new Error(`exec ${script.slice(0, 40)}… failed (${r.exitCode}): ${r.stderr.trim()}`);
}

/** The tar the controller uploads for a release `name` of service `service`. */
export function releaseTar(entries: readonly ReleaseEntry[], service: string, name: string): Promise<Buffer> {
  return packTar(entries, {
    prefix: `${service}/${tmpDir(name)}`,
    mtime: MTIME,
    extra: [{ path: MARKER_FILE, type: 'file', mode: 0o644, data: Buffer.from(`${name} raw\n`) }],
  });
}

/** Upload, rename, link in container `id`; ms of each. */
async function place(env: DeployBenchEnv, id: string, tar: Buffer, name: string): Promise<Record<string, number>> {
  const t0 = now();
  await env.docker.putArchive(id, STATIC_ROOT, tar);
  const t1 = now();
  await sh(env, id, PROMOTE_SCRIPT, [serviceDir(RAW), tmpDir(name), releaseDir(name)]);
  const t2 = now();
  await sh(env, id, SWITCH_SCRIPT, [serviceDir(RAW), releaseDir(name), linkTmp(name)]);
  const t3 = now();
  return { 'putArchive (upload)': t1 - t0, 'exec rename (mv)': t2 - t1, 'exec link (ln + mv)': t3 - t2 };
}

/** The raw operations in the running server container. */
export async function rawRunning(env: DeployBenchEnv, site: Site, entries: readonly ReleaseEntry[], name: string): Promise<Record<string, number>> {
  const p0 = now();
  const tar = await releaseTar(entries, RAW, name);
  const p1 = now();
  const noop0 = now();
  await sh(env, site.containerId, 'true', []);
  const noop1 = now();
  const steps = await place(env, site.containerId, tar, name);
  const total = Object.values(steps).reduce((a, b) => a + b, 0);
  return { ...steps, total, 'packTar (in this process; not in the total)': p1 - p0, 'exec of `true` (the cost of any exec)': noop1 - noop0 };
}

/** The raw operations in a new helper container that mounts the server's volume. */
export async function rawHelper(env: DeployBenchEnv, site: Site, entries: readonly ReleaseEntry[], name: string): Promise<Record<string, number>> {
  const tar = await releaseTar(entries, RAW, name);
  const owner = { kind: 'Bench', namespace: NS, name, uid: `bench-${name}` };
  const c0 = now();
  const id = await env.docker.create({
    name: containerName(env.installation!, owner),
    image: env.staticImage,
    cmd: ['sleep', '3600'],
    labels: managedLabels(env.installation!, owner, 'helper'),
    mounts: [{ volume: site.volume, target: STATIC_ROOT }],
    restartPolicy: { name: 'no' },
    init: true,
  });
  const c1 = now();
  await env.docker.start(id);
  const c2 = now();
  const steps = await place(env, id, tar, name);
  const r0 = now();
  await env.docker.remove(id);
  const r1 = now();
  const total = c2 - c0 + Object.values(steps).reduce((a, b) => a + b, 0);
  return { 'create helper': c1 - c0, 'start helper': c2 - c1, ...steps, total, 'remove helper (not in the total)': r1 - r0 };
}

/** Removes the raw release dirs but the newest `keep` (untimed; the controller prunes too, after active). */
export async function pruneRaw(env: DeployBenchEnv, site: Site, names: string[], keep = 2): Promise<void> {
  const old = names.slice(0, Math.max(0, names.length - keep)).map(releaseDir);
  if (old.length) await sh(env, site.containerId, REMOVE_SCRIPT, [serviceDir(RAW), ...old]);
  names.splice(0, old.length);
}

export interface DeployResult {
  times: Record<string, number>;
  /** What happened, ms from the PUT: phases seen and both controllers' calls (`[begin, end] who op`). */
  timeline: string[];
  /** Step split (deploy-trace stepSplit). */
  steps: Record<string, number>;
  put: number;
  active: number;
}

/** One Deployment of `source`, from the PUT until the watch sees it active; where the time went. */
export async function deployOnce(env: DeployBenchEnv, name: string, source: Record<string, unknown>, archive?: ServedArchive): Promise<DeployResult> {
  const put = now();
  await env.put('deployments', { kind: 'Deployment', metadata: { name }, spec: { projectServer: SERVER, source } });
  const ack = now();
  const end = await env.phases.waitFor(name, ['active', 'failed', 'superseded'], DEPLOY_TIMEOUT_MS);
  if (end.phase !== 'active') throw new Error(`Deployment ${name} ended ${end.phase}: ${end.message}`);
  const times: Record<string, number> = { 'PUT sent → active (seen by a watch)': end.t - put, 'PUT sent → API answered': ack - put };
  const tl = env.phases.timeline(name);
  const order = [...tl.keys()];
  for (let i = 0; i < order.length; i++) {
    const at = tl.get(order[i]!)!;
    if (i === 0) times[`PUT sent → ${order[i]} seen`] = at - put;
    else times[`${order[i - 1]} seen → ${order[i]} seen`] = at - tl.get(order[i - 1]!)!;
  }
  const calls = env.deployment.between(put, end.t);
  const serverName = containerName(env.installation!, { namespace: NS, name: SERVER });
  const firstInspect = calls.find((c) => c.op === 'inspect' && c.target === serverName);
  if (firstInspect) times['PUT sent → the reconciler\'s first inspect (queue, attempt write, reads)'] = firstInspect.t0 - put;
  for (const [op, v] of Object.entries(byOp(calls, end.t))) times[`deployment controller, all steps: ${op}`] = v;
  const theirs = env.projectserver.between(put, end.t);
  for (const [op, v] of Object.entries(byOp(theirs, end.t))) times[`projectserver controller, meanwhile: ${op}`] = v;
  for (const op of new Set(calls.map((c) => c.op)))
    if (op !== 'inspect') times[`deployment controller: ${op}, of it while a projectserver call ran`] = overlapMs(calls.filter((c) => c.op === op), theirs, end.t);
  if (archive) {
    const req = env.archives.first(archive.url, put);
    const pulling = tl.get('pulling_source');
    const copying = tl.get('copying_files');
    if (req && pulling !== undefined && copying !== undefined) {
      times['pulling_source seen → archive GET arrives'] = req.t0 - pulling;
      times['archive GET: arrives → response written'] = req.t1 - req.t0;
      times['archive response written → copying_files seen (sha256, gunzip, parse, digest, status write)'] = copying - req.t1;
    }
  }
  const steps = stepSplit(calls, order.filter((p) => p !== 'active').map((p) => [p, tl.get(p)!]), end.t);
  const rel = (t: number) => (Number.isNaN(t) ? '…' : String(Math.round(t - put)));
  const timeline = [
    ...order.map((p) => ({ t: tl.get(p)!, line: `${rel(tl.get(p)!)} ${p} seen` })),
    ...calls.map((c) => ({ t: c.t0, line: `[${rel(c.t0)}, ${rel(c.t1)}] deployment ${c.op}` })),
    ...theirs.map((c) => ({ t: c.t0, line: `[${rel(c.t0)}, ${rel(c.t1)}] projectserver ${c.op}` })),
  ]
    .sort((a, b) => a.t - b.t)
    .map((x) => x.line);
  return { times, steps, timeline, put, active: end.t };
}
