// The phases of bench/health (see there for what each measures). Each returns named series of
// milliseconds, one value per sample; bench/health summarises and prints them.
import { desiredContainer } from '../controllers/projectserver/index.js';
import { containerName, LABELS, managedLabels, type ContainerSpec, type DockerRuntime } from '../docker/index.js';
import { kindByName } from '../resources/index.js';
import type { ProjectServer } from '../schemas/index.js';
import type { Store } from '../store/index.js';
import { containerIp, inParallel, killContainer, now, sleep, untilServing, type EventLog, type LoggedEvent, type TimedRuntime } from './health-docker.js';

const PS = kindByName('ProjectServer')!;
const NS = 'bench';
const SAMPLE_TIMEOUT_MS = 20_000;
/**
 * How many servers with a 1-second health check exist at a time in (c). One: every check is a
 * `docker exec`, and 5 of them a second made Docker's start ~0.15–0.2 s slower on a 2-vCPU VM.
 */
const HEALTH_ROUND = Number(process.env.BENCH_HEALTH_ROUND) || 1;
/** Allowed disagreement between the engine's clock and ours when an event is matched to a request. */
const SKEW_MS = 5;
/** A pause before each sample, so the previous one's status writes and events are over. */
const QUIET_MS = 200;

export interface Bench {
  store: Store;
  /** The bench's own Docker calls. */
  docker: DockerRuntime;
  /** The controller's Docker calls, timed. */
  timed: TimedRuntime;
  events: EventLog;
  installation: string;
  staticImage: string;
  samples: number;
  log: (msg: string) => void;
}

export type Series = Record<string, number[]>;

function push(s: Series, name: string, v: number | undefined): void {
  (s[name] ??= []).push(v === undefined ? NaN : v);
}

async function until<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms = SAMPLE_TIMEOUT_MS): Promise<T> {
  const end = now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

const status = async (b: Bench, name: string) => ((await b.store.resources.get(PS, NS, name)) as unknown as ProjectServer).status ?? {};

/** Creates the servers and waits until each container runs and the server's status names it (the controller is idle). */
async function createServers(b: Bench, names: string[], spec: ProjectServer['spec'], healthy = false): Promise<Map<string, string>> {
  for (const name of names) await b.store.resources.create(PS, NS, { metadata: { name }, spec });
  const ids = new Map<string, string>();
  await inParallel(names, 4, async (name) => {
    const cname = containerName(b.installation, { namespace: NS, name });
    const st = await until(async () => {
      const c = await b.docker.inspect(cname);
      if (!c?.running || (healthy && c.health?.status !== 'healthy')) return undefined;
      const s = await status(b, name);
      return s.containerId === c.id && s.phase === 'Running' && (!healthy || s.health === 'healthy') && c;
    }, `server ${name} to run${healthy ? ' healthy' : ''}`, 60_000);
    ids.set(name, st.id);
  });
  return ids;
}

/** Deletes the servers and waits until the controller has removed their containers. */
async function deleteServers(b: Bench, names: string[]): Promise<void> {
  for (const name of names) await b.store.resources.delete(PS, NS, name);
  const cnames = new Set(names.map((name) => containerName(b.installation, { namespace: NS, name })));
  await until(async () => (await b.docker.listContainers([`${LABELS.installation}=${b.installation}`])).every((c) => !cnames.has(c.name)), 'the servers to be removed', 60_000);
}

const eventOf = (id: string, action: string, after: number) => (e: LoggedEvent) => e.id === id && e.action === action && e.t >= after;

/**
 * (a) and (b), interleaved: Docker's restart policy after the main process died, and deployer
 * after `docker kill`.
 */
export async function runRestartPhases(b: Bench): Promise<{ docker: Series; deployer: Series }> {
  const n = b.samples;
  const docker: Series = {};
  const deployer: Series = {};
  // (a)'s containers: labelled with this installation (so they are cleaned up) but with an owner
  // kind and role the projectserver controller ignores.
  const dockerIds = await inParallel(Array.from({ length: n }, (_, i) => i), 4, async (i) => {
    const owner = { kind: 'Bench', namespace: NS, name: `docker-${i}`, uid: `bench-docker-${i}` };
    const id = await b.docker.create({
      name: containerName(b.installation, owner),
      image: b.staticImage,
      cmd: ['sh', '-c', 'echo $$ > /tmp/pid; exec sleep 100000'],
      labels: managedLabels(b.installation, owner, 'helper'),
      restartPolicy: { name: 'unless-stopped' },
      init: true,
    });
    await b.docker.start(id);
    return id;
  });
  const names = Array.from({ length: n }, (_, i) => `kill-${i}`);
  const ids = await createServers(b, names, { serviceType: 'static' });
  b.log(`(a), (b): ${n} containers and ${n} servers running`);

  for (let i = 0; i < n; i++) {
    // (a): SIGKILL the process that docker-init runs; init exits with its status, Docker restarts.
    await sleep(QUIET_MS);
    const id = dockerIds[i];
    const t0 = now();
    await b.docker.exec(id, ['sh', '-c', 'kill -9 $(cat /tmp/pid)']);
    const die = await b.events.waitFor(eventOf(id, 'die', t0 - SKEW_MS), SAMPLE_TIMEOUT_MS, `(a) die of ${id}`);
    const start = await b.events.waitFor(eventOf(id, 'start', die.t), SAMPLE_TIMEOUT_MS, `(a) Docker's restart of ${id}`);
    push(docker, 'die → start', start.t - die.t);
    const st = await b.docker.inspect(id);
    if (st?.restartCount !== 1) throw new Error(`(a) expected Docker's first restart of ${id}, its RestartCount is ${st?.restartCount}`);

    // (b): docker kill; the controller starts it again.
    await sleep(QUIET_MS);
    const name = names[i];
    const cname = containerName(b.installation, { namespace: NS, name });
    const sid = ids.get(name)!;
    const k0 = now();
    await killContainer(sid);
    const kdie = await b.events.waitFor(eventOf(sid, 'die', k0 - SKEW_MS), SAMPLE_TIMEOUT_MS, `(b) die of ${name}`);
    const kstart = await b.events.waitFor(eventOf(sid, 'start', kdie.t), SAMPLE_TIMEOUT_MS, `(b) deployer's restart of ${name}`);
    push(deployer, 'die → start', kstart.t - kdie.t);
    push(deployer, 'kill request → start', kstart.t - k0);
    // Written after the start call returned: from here on the call's end is known.
    const s = await until(async () => {
      const s = await status(b, name);
      return s.restartCount === 1 && s.phase === 'Running' && s;
    }, `(b) ${name}'s status to count the restart`);
    if (s.restartHistory?.at(-1)?.by !== 'deployer') throw new Error(`(b) ${name}: the restart was not deployer's`);
    // The controller hears `kill` before `die`, so its reconcile often begins before the die.
    const call = b.timed.first('start', [sid], k0);
    const inspects = b.timed.calls.filter((c) => c.op === 'inspect' && c.target === cname && c.t0 >= k0 && call && c.t0 < call.t0);
    const inspect = inspects.at(-1); // the one of the reconcile that started it
    push(deployer, 'kill request → die event', kdie.t - k0);
    push(deployer, 'kill request → the inspect before the start', inspect && inspect.t0 - k0);
    push(deployer, 'that inspect call', inspect && inspect.t1 - inspect.t0);
    push(deployer, 'die event → start call', call && call.t0 - kdie.t);
    push(deployer, 'die event → that inspect returned', inspect && inspect.t1 - kdie.t);
    push(deployer, 'that inspect returned → start call', inspect && call && call.t0 - inspect.t1);
    push(deployer, 'start call', call && call.t1 - call.t0);
    push(deployer, 'start call → start event', call && kstart.t - call.t0);
    push(deployer, 'inspects from the kill to the start call', inspects.length);
  }
  await deleteServers(b, names);
  for (const id of dockerIds) await b.docker.remove(id);
  return { docker, deployer };
}

/** (c) `health_status: unhealthy` → start, HEALTH_ROUND servers at a time. */
export async function runHealthPhase(b: Bench): Promise<Series> {
  const out: Series = {};
  const spec: ProjectServer['spec'] = {
    serviceType: 'docker',
    image: b.staticImage,
    command: ['sh', '-c', 'touch /tmp/ok && exec sleep 100000'],
    healthCheck: { exec: { command: ['test', '-f', '/tmp/ok'] }, intervalSeconds: 1, timeoutSeconds: 1, retries: 1 },
  };
  for (let first = 0; first < b.samples; first += HEALTH_ROUND) {
    const names = Array.from({ length: Math.min(HEALTH_ROUND, b.samples - first) }, (_, i) => `probe-${first + i}`);
    const ids = await createServers(b, names, spec, true);
    for (const name of names) {
      await sleep(QUIET_MS);
      const id = ids.get(name)!;
      const t0 = now();
      await b.docker.exec(id, ['rm', '/tmp/ok']);
      const bad = await b.events.waitFor((e) => e.id === id && e.action === 'health_status' && e.health === 'unhealthy' && e.t >= t0 - SKEW_MS, SAMPLE_TIMEOUT_MS, `(c) ${name} unhealthy`);
      const start = await b.events.waitFor(eventOf(id, 'start', bad.t), SAMPLE_TIMEOUT_MS, `(c) ${name} restarted`);
      await until(async () => (await status(b, name)).restartCount === 1, `(c) ${name}'s status to count the restart`);
      const die = b.events.events.find((e) => e.id === id && e.action === 'die' && e.t >= bad.t && e.t <= start.t);
      const call = b.timed.first('restart', [id], t0);
      push(out, 'unhealthy → start', start.t - bad.t);
      push(out, 'rm → unhealthy (detection)', bad.t - t0);
      push(out, 'unhealthy → restart call', call && call.t0 - bad.t);
      push(out, 'restart call → die (stop)', call && die && die.t - call.t0);
      push(out, 'die → start (start)', die && start.t - die.t);
      push(out, 'restart call', call && call.t1 - call.t0);
    }
    await deleteServers(b, names);
  }
  return out;
}

/** (d) `docker rm -f` → the new container serves, interleaved with a plain create + start of the same spec. */
export async function runRemovePhase(b: Bench): Promise<{ deployer: Series; baseline: Series }> {
  const n = b.samples;
  const deployer: Series = {};
  const baseline: Series = {};
  const names = Array.from({ length: n }, (_, i) => `rm-${i}`);
  const ids = await createServers(b, names, { serviceType: 'static' });
  b.log(`(d): ${n} servers running`);
  const settings = { installation: b.installation, staticImage: b.staticImage };
  for (let i = 0; i < n; i++) {
    // Baseline: what a ProjectServer named base-i would run, made directly.
    await sleep(QUIET_MS);
    const owner = { kind: 'Bench', namespace: NS, name: `base-${i}`, uid: `bench-base-${i}` };
    const ps = { metadata: { namespace: NS, name: owner.name, uid: owner.uid }, spec: { serviceType: 'static' } } as unknown as ProjectServer;
    const desired = desiredContainer(ps, settings);
    const labels = managedLabels(b.installation, owner, 'helper');
    await b.docker.ensureVolume(desired.volume, labels);
    const spec: ContainerSpec = { ...desired.spec, labels };
    const c0 = now();
    const bid = await b.docker.create(spec);
    const c1 = now();
    await b.docker.start(bid);
    const c2 = now();
    const served = await untilServing(`http://${await containerIp(bid)}:80/.deployer-health`, c0 + SAMPLE_TIMEOUT_MS, `baseline ${owner.name}`);
    push(baseline, 'create → serves HTTP', served - c0);
    push(baseline, 'create call', c1 - c0);
    push(baseline, 'start call', c2 - c1);
    push(baseline, 'start returned → serves', served - c2);
    await b.docker.remove(bid);
    await b.docker.removeVolume(desired.volume);

    // deployer: rm -f, the controller makes a new container.
    await sleep(QUIET_MS);
    const name = names[i];
    const cname = containerName(b.installation, { namespace: NS, name });
    const old = ids.get(name)!;
    const r0 = now();
    await b.docker.remove(old);
    const r1 = now();
    const start = await b.events.waitFor(
      (e) => e.action === 'start' && e.id !== old && e.labels[LABELS.ownerName] === name && e.labels[LABELS.ownerNamespace] === NS && e.t >= r0 - SKEW_MS,
      SAMPLE_TIMEOUT_MS,
      `(d) the new container of ${name}`,
    );
    const url = `http://${await containerIp(start.id)}:80/.deployer-health`;
    const ok = await untilServing(url, r0 + SAMPLE_TIMEOUT_MS, `(d) ${name}`);
    await until(async () => (await status(b, name)).containerId === start.id, `(d) ${name}'s status to name the new container`);
    const destroy = b.events.events.find((e) => e.id === old && e.action === 'destroy');
    const create = b.timed.first('create', [cname], r0);
    const startCall = b.timed.first('start', [start.id], r0);
    push(deployer, 'rm request → serves HTTP', ok - r0);
    push(deployer, 'rm call', r1 - r0);
    push(deployer, 'destroy event → create call', destroy && create && create.t0 - destroy.t);
    push(deployer, 'create call', create && create.t1 - create.t0);
    push(deployer, 'start call', startCall && startCall.t1 - startCall.t0);
    push(deployer, 'start call → start event', startCall && start.t - startCall.t0);
    push(deployer, 'start event → serves', ok - start.t);
    // Reconciles woken by the kill and die of `rm -f` find the old container exited and try to start it.
    push(deployer, 'start calls on the removed container', b.timed.calls.filter((c) => c.op === 'start' && c.target === old && c.t0 >= r0).length);
  }
  await deleteServers(b, names);
  return { deployer, baseline };
}
