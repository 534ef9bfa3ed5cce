// The projectserver reconciler: makes a ProjectServer's volume and container exist with the
// spec's configuration, keeps it running and healthy, and reports what it saw in status.
//
// Level-based: every call reads the object and inspects the container, whatever woke it (a
// change, a Docker event, a resync). What it does, in order:
// - deleted (deletionTimestamp): remove the container, then the volume unless
//   spec.retainVolumeOnDelete, then the finalizer;
// - otherwise the finalizer first (so nothing is created that a delete could miss), then the
//   volume, then the container: created when missing, recreated when its spec-hash label
//   differs, adopted as it is when it matches (a restart of deployer restarts nothing);
// - stopped on purpose (spec.stopped): stopped, and never restarted;
// - exited and Docker will not restart it (`docker kill`, `docker stop`, on-failure retries
//   exhausted): started; running but unhealthy (Docker never restarts those): restarted.
//   Deployer's restarts back off per server (restarts.ts), and a crash loop becomes the
//   Degraded condition (CrashLoopBackOff) with a Warning Event holding the last 100 log lines.
import { DockerError, installationOwner, LABELS, managedLabels, managedOf, type ContainerRuntime, type ContainerState } from '../../docker/index.js';
import { ApiError, jsonEqual, kindByName, redactDeep, redactError, secretValues, type ResourceObject } from '../../resources/index.js';
import type { Deployment, ProjectServer } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { involvedObjectOf } from '../runtime/event-recorder.js';
import type { ReconcileContext, Reconciler, ReconcileResult } from '../runtime/controller.js';
import { parseKey } from '../runtime/informer.js';
import type { Clock } from '../runtime/clock.js';
import { desiredContainer, type DesiredContainer, type ServerSettings } from './container-spec.js';
import { seedHealth, type HttpProber } from './prober.js';
import { crashLooping, crashLoopRecheckMs, observeDocker, recordRestart, restartWaitMs, type Bookkeeping } from './restarts.js';
import { Mountpoints } from '../releases/volume.js';
import { healReleases } from './releases.js';
import { computeStatus, outageStatus, waitsForDocker } from './status.js';
import { DOCKER_AVAILABLE, DOCKER_UNAVAILABLE, DockerRetry, dockerBackMessage, dockerOutageMessage, isDockerUnavailable } from '../docker-outage.js';

export const FINALIZER = 'deployer.dev/cleanup';
const KIND = kindByName('ProjectServer')!;
const DEPLOYMENT = kindByName('Deployment')!;
/** How often a server whose image is missing is looked at again. */
const MISSING_IMAGE_RETRY_MS = 30_000;
const LOG_LINES = 100;

export interface ProjectServerReconcilerOptions {
  store: Store;
  docker: ContainerRuntime;
  settings: ServerSettings;
  events: EventRecorder;
  clock: Clock;
  /**
   * Asks to be woken (the key enqueued) when an entry of one of these service dirs of the
   * volume changes; [] stops watching. Optional: the resync is the backstop.
   */
  watchReleases?(key: string, volume: string, services: string[]): void;
  /**
   * Probes httpGet health checks over HTTP (those containers have no Docker health check); its
   * changed verdicts wake the controller.
   */
  prober: HttpProber;
}

/** How soon a failed release check is tried again. */
const HEAL_RETRY_MS = 1000;
/**
 * A static server whose volume this process cannot read on the host (deployer not on the Docker
 * host) has no inotify watch on its releases: its releases are checked again this often, since
 * the controller's own resync (index.ts RESYNC_MS) is far longer.
 */
export const UNWATCHED_RELEASES_RECHECK_MS = 120_000;

type Action = { kind: 'created' | 'recreated' | 'started' | 'restarted' | 'stopped'; reason: string };

export class ProjectServerReconciler implements Reconciler {
  private readonly mountpoints: Mountpoints;
  /** Retry delays of the keys whose last pass found Docker not answering. */
  private readonly dockerRetry = new DockerRetry();
  private readonly prober: HttpProber;

  constructor(private readonly o: ProjectServerReconcilerOptions) {
    this.mountpoints = new Mountpoints(o.docker);
    this.prober = o.prober;
  }

  async reconcile(key: string, signal: AbortSignal, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { namespace, name } = parseKey(key);
    let ps: ProjectServer;
    try {
      ps = (await this.o.store.resources.get(KIND, namespace, name)) as unknown as ProjectServer;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) {
        this.dockerRetry.forget(key);
        this.prober.forget(key);
        return; // gone: its finalizer ran; zombies are the cleanup controller's
      }
      throw err;
    }
    // Secrets (env values) never leave in an Event, a status message or a thrown error (which is logged).
    const secrets = secretValues(ps.spec);
    let result: ReconcileResult | void;
    try {
      result = ps.metadata.deletionTimestamp ? await this.finalize(ps, ctx) : await this.converge(ps, key, signal, ctx, secrets);
    } catch (err) {
      if (isDockerUnavailable(err) && !signal.aborted) return this.dockerDown(ps, key, err, ctx);
      throw redactError(err, secrets);
    }
    this.dockerRetry.forget(key);
    // converge wrote the status from what Docker says now, which replaced the outage's conditions
    if (waitsForDocker(ps.status))
      void this.o.events.record(involvedObjectOf(ps as unknown as ResourceObject), 'Normal', DOCKER_AVAILABLE, dockerBackMessage('the server is looked after again'), { fence: ctx.fence });
    return result;
  }

  /**
   * The engine does not answer: the status says so (Ready and Healthy Unknown, reason
   * DockerUnavailable, health unknown), one Warning Event when the outage starts for this server,
   * and the key comes back within DOCKER_RETRY_MAX_MS (sooner when the event stream reconnects).
   * Not a thrown error: an outage is not this server's failure, and a log line per server and
   * retry would bury the event stream's own.
   */
  private async dockerDown(ps: ProjectServer, key: string, err: unknown, ctx: ReconcileContext): Promise<ReconcileResult> {
    const message = dockerOutageMessage(err, 'what the container does is unknown until then');
    const was = waitsForDocker(ps.status);
    const written = await this.writeStatus(ps, outageStatus(ps, message, this.o.clock.now()), ctx, []);
    if (written && !was) void this.o.events.record(involvedObjectOf(ps as unknown as ResourceObject), 'Warning', DOCKER_UNAVAILABLE, message, { fence: ctx.fence });
    return { requeueAfterMs: this.dockerRetry.next(key) };
  }

  private async converge(ps: ProjectServer, key: string, signal: AbortSignal, ctx: ReconcileContext, secrets: string[]): Promise<ReconcileResult | void> {
    if (!(ps.metadata.finalizers ?? []).includes(FINALIZER)) {
      ps = await this.addFinalizer(ps, ctx);
    }
    if (signal.aborted) return;

    const desired = desiredContainer(ps, this.o.settings);
    const docker = this.o.docker;
    const now = () => this.o.clock.now();
    const prevBook: Bookkeeping = { ...(ps.status ?? {}), restartHistory: ps.status?.restartHistory ?? [] };
    let state = await docker.inspect(desired.spec.name);
    let book = observeDocker(prevBook, state, now());
    const actions: Action[] = [];

    if (state) {
      const managed = managedOf(state.labels);
      if (!managed || managed.installation !== this.o.settings.installation) {
        this.prober.forget(key);
        return this.fail(ps, ctx, book, desired.spec.image, 'NameTaken', `a container named "${desired.spec.name}" exists that deployer does not manage; remove or rename it`, secrets);
      }
      if (managed.owner.uid !== ps.metadata.uid) {
        // left by an earlier server of the same name: ours to remove
        await docker.remove(state.id);
        state = null;
      } else if (managed.specHash !== desired.hash) {
        await docker.remove(state.id);
        state = null;
        actions.push({ kind: 'recreated', reason: 'the spec changed' });
      }
    }
    // ours and as specified: its health (deployer's own probe for an httpGet check) decides below
    state = await this.probed(key, ps, desired, state);

    let waitingMs = 0;
    try {
      if (!state) {
        // only here: while the container exists, its volume cannot be removed
        await docker.ensureVolume(desired.volume, desired.volumeLabels);
        if (this.o.settings.network)
          await docker.ensureNetwork(this.o.settings.network, managedLabels(this.o.settings.installation, installationOwner(this.o.settings.installation, 'network'), 'proxy'));
        const id = await docker.create(desired.spec);
        if (!ps.spec.stopped) await docker.start(id);
        if (!actions.length) actions.push({ kind: 'created', reason: 'the container was missing' });
        book = { ...book, containerId: id, dockerRestartCount: 0 };
      } else if (ps.spec.stopped) {
        if (state.running || state.restarting) {
          await docker.stop(state.id);
          actions.push({ kind: 'stopped', reason: 'stopped on purpose (spec.stopped)' });
        }
      } else {
        const reason = !state.running && !state.restarting
          ? `it exited with code ${state.exitCode}${state.oomKilled ? ' (out of memory)' : ''} and Docker will not restart it`
          : state.running && state.health?.status === 'unhealthy'
            ? `its health check failed ${state.health.failingStreak} times in a row${state.health.lastOutput ? `: ${state.health.lastOutput.trim().slice(0, 500)}` : ''}`
            : undefined;
        if (reason) {
          waitingMs = restartWaitMs(book.restartHistory, now());
          if (waitingMs === 0) {
            if (state.running) await docker.restart(state.id, 2);
            else await docker.start(state.id);
            actions.push({ kind: state.running ? 'restarted' : 'started', reason });
            book = recordRestart(book, reason, now());
          }
        }
      }
    } catch (err: unknown) {
      if (err instanceof DockerError && err.kind === 'not_found' && /image/i.test(err.message) && !/no such container/i.test(err.message)) {
        await this.fail(ps, ctx, book, desired.spec.image, 'ImageNotFound', `image "${desired.spec.image}" is not on this Docker host: ${err.message}`, secrets);
        return { requeueAfterMs: MISSING_IMAGE_RETRY_MS };
      }
      // `docker rm -f` in progress: its kill and die events arrive before destroy, and Docker
      // refuses to start a container marked for removal. The destroy event brings us back.
      if (err instanceof DockerError && err.kind === 'conflict' && /removal|being removed/i.test(err.message))
        return { requeueAfterMs: 500 };
      // Docker cannot start it because its runtime kept the container's task from before dockerd
      // stopped ("task …: already exists", seen after an engine restart): only a new container
      // gets past that; the volume keeps the data.
      if (state && err instanceof DockerError && /task .* already exists/i.test(err.message)) {
        await docker.remove(state.id);
        void this.o.events.record(involvedObjectOf(ps as unknown as ResourceObject), 'Warning', 'Recreated', `Docker could not start container ${desired.spec.name} (${err.message.slice(0, 500)}); removed it, a new one is made`, { fence: ctx.fence, secrets });
        return { requeueAfterMs: 50 };
      }
      // removed between our inspect and our call: look again at once
      if (err instanceof DockerError && err.kind === 'not_found' && /no such container/i.test(err.message)) return { requeueAfterMs: 50 };
      throw err;
    }

    if (actions.length) state = await this.probed(key, ps, desired, await docker.inspect(desired.spec.name));
    book = observeDocker(book, state, now());
    let healRetry: number | undefined;
    if (ps.spec.serviceType === 'docker') await this.removeStraySlots(ps, desired.spec.name);
    if (ps.spec.serviceType === 'static' && !ps.spec.stopped) {
      const services = Object.keys(ps.status?.services ?? {});
      this.o.watchReleases?.(key, desired.volume, services);
      if (state?.running && services.length)
        try {
          const mountpoint = await this.mountpoints.of(desired.volume);
          if (!mountpoint) healRetry = UNWATCHED_RELEASES_RECHECK_MS;
          const healed = await healReleases(ps, state.id, mountpoint, { store: this.o.store, docker, events: this.o.events, fence: ctx.fence, now: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z') });
          if (healed.services) ps = { ...ps, status: { ...ps.status, services: healed.services, ...(healed.currentDeployment ? { currentDeployment: healed.currentDeployment } : {}) } };
        } catch {
          healRetry = HEAL_RETRY_MS; // an exec into a container that just (re)started: look again soon
        }
    }
    const status = computeStatus(ps, { state, book, image: desired.spec.image, now: now(), waitingMs });
    const wasLooping = crashLooping(ps.status?.restartHistory, now());
    const written = await this.writeStatus(ps, status, ctx, secrets);

    const involved = involvedObjectOf(ps as unknown as ResourceObject);
    for (const a of actions) {
      const reason = { created: 'Created', recreated: 'Recreated', started: 'Started', restarted: 'Restarted', stopped: 'Stopped' }[a.kind];
      const type = a.kind === 'restarted' || (a.kind === 'started' && !/missing/.test(a.reason)) ? 'Warning' : 'Normal';
      void this.o.events.record(involved, type, reason, `${reason} container ${desired.spec.name}: ${a.reason}`, { fence: ctx.fence, secrets });
    }
    if (written && !wasLooping && crashLooping(book.restartHistory, now()) && state) {
      const logs = await docker.logs(state.id, { tail: LOG_LINES }).catch((e: unknown) => `(logs unavailable: ${(e as Error).message})`);
      void this.o.events.record(
        involved,
        'Warning',
        'CrashLoopBackOff',
        `${desired.spec.name} restarted ${book.restartHistory.length} times recently; last ${LOG_LINES} log lines:\n${logs}`,
        { fence: ctx.fence, secrets },
      );
    }
    const requeue = [waitingMs || undefined, crashLoopRecheckMs(book.restartHistory, now()), healRetry].filter((x): x is number => x !== undefined);
    return requeue.length ? { requeueAfterMs: Math.min(...requeue) } : undefined;
  }

  /**
   * The container's state with the health deployer's own probe reports, for a server whose
   * httpGet check deployer makes (desired.probe); probing starts for a running container
   * and stops otherwise. Other containers: as Docker reports them.
   */
  private async probed(key: string, ps: ProjectServer, desired: DesiredContainer, state: ContainerState | null): Promise<ContainerState | null> {
    const spec = desired.probe;
    if (!spec || !state?.running || !state.startedAt || ps.spec.stopped) {
      this.prober.forget(key);
      return state;
    }
    const network = this.o.settings.network;
    const addresses = state.addresses ?? {};
    const address = ps.spec.securityContext?.hostNetwork ? '127.0.0.1' : ((network ? addresses[network] : undefined) ?? Object.values(addresses)[0]);
    if (!address) {
      this.prober.forget(key);
      return { ...state, health: { status: 'starting', failingStreak: 0, lastOutput: 'the container has no network address yet' } };
    }
    const target = { ...spec, containerId: state.id, startedAt: state.startedAt, address };
    return { ...state, health: await this.prober.observe(key, target, seedHealth(ps.status, state)) };
  }

  /**
   * A docker server's container in the slot that is not live, when no Deployment of the server
   * is in progress (a blue/green run interrupted, then deleted or failed without its cleanup).
   */
  private async removeStraySlots(ps: ProjectServer, live: string): Promise<void> {
    const mine = await this.o.docker.listContainers([`${LABELS.installation}=${this.o.settings.installation}`, `${LABELS.ownerUid}=${ps.metadata.uid}`, `${LABELS.role}=server`]);
    const stray = mine.filter((c) => c.name !== live);
    if (stray.length === 0) return;
    const { items } = await this.o.store.resources.list(DEPLOYMENT, { namespace: ps.metadata.namespace! });
    const busy = (items as unknown as Deployment[]).some(
      (d) => d.spec.projectServer === ps.metadata.name && !d.metadata.deletionTimestamp && !['active', 'superseded', 'failed'].includes(d.status?.phase ?? 'queued'),
    );
    if (busy) return;
    for (const c of stray) await this.o.docker.remove(c.id);
  }

  private async fail(ps: ProjectServer, ctx: ReconcileContext, book: Required<Bookkeeping>, image: string, reason: string, message: string, secrets: string[]): Promise<void> {
    const status = computeStatus(ps, { state: null, book, image, now: this.o.clock.now(), failure: { reason, message } });
    await this.writeStatus(ps, status, ctx, secrets);
  }

  /**
   * Writes status when it changed; false when it did not (or the object moved on: a later
   * reconcile follows). Every string in it is redacted of `secrets` first: restart reasons and
   * health issues quote a health check's output, failures Docker's words.
   */
  private async writeStatus(ps: ProjectServer, computed: NonNullable<ProjectServer['status']>, ctx: ReconcileContext, secrets: string[]): Promise<boolean> {
    const status = redactDeep(computed, secrets);
    if (jsonEqual(status, ps.status ?? {})) return false;
    try {
      await this.o.store.resources.patch(
        KIND,
        ps.metadata.namespace!,
        ps.metadata.name!,
        'merge',
        { metadata: { resourceVersion: ps.metadata.resourceVersion }, status: { ...status, containerId: status.containerId ?? null } },
        { subresource: 'status', fence: ctx.fence },
      );
      return true;
    } catch (err) {
      // Conflict: someone wrote in between; the watch brings this key back with fresh state.
      if (err instanceof ApiError && (err.code === 409 || err.code === 404)) return false;
      throw err;
    }
  }

  private async addFinalizer(ps: ProjectServer, ctx: ReconcileContext): Promise<ProjectServer> {
    const finalizers = [...(ps.metadata.finalizers ?? []), FINALIZER];
    return (await this.o.store.resources.patch(
      KIND,
      ps.metadata.namespace!,
      ps.metadata.name!,
      'merge',
      { metadata: { resourceVersion: ps.metadata.resourceVersion, finalizers } },
      { fence: ctx.fence },
    )) as unknown as ProjectServer;
  }

  private async finalize(ps: ProjectServer, ctx: ReconcileContext): Promise<void> {
    this.prober.forget(`ProjectServer/${ps.metadata.namespace}/${ps.metadata.name}`);
    this.o.watchReleases?.(`ProjectServer/${ps.metadata.namespace}/${ps.metadata.name}`, '', []);
    if (!(ps.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const desired = desiredContainer(ps, this.o.settings);
    const docker = this.o.docker;
    // every container of the server: both blue/green slots of a docker server
    const mine = await docker.listContainers([`${LABELS.installation}=${this.o.settings.installation}`, `${LABELS.ownerUid}=${ps.metadata.uid}`, `${LABELS.role}=server`]);
    for (const c of mine) await docker.remove(c.id);
    const state: ContainerState | null = await docker.inspect(desired.spec.name);
    if (state && managedOf(state.labels)?.owner.uid === ps.metadata.uid) await docker.remove(state.id);
    if (!ps.spec.retainVolumeOnDelete) await docker.removeVolume(desired.volume);
    const finalizers = (ps.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    await this.o.store.resources.patch(
      KIND,
      ps.metadata.namespace!,
      ps.metadata.name!,
      'merge',
      { metadata: { resourceVersion: ps.metadata.resourceVersion, finalizers } },
      { fence: ctx.fence },
    );
    void this.o.events.record(
      { kind: 'ProjectServer', namespace: ps.metadata.namespace!, name: ps.metadata.name! },
      'Normal',
      'Deleted',
      `removed container ${desired.spec.name}${ps.spec.retainVolumeOnDelete ? `; kept volume ${desired.volume}` : ` and volume ${desired.volume}`}`,
      { fence: ctx.fence },
    );
  }
}
