// The deployment reconciler: drives one Deployment through its phases (pipeline.ts), writing
// status after every phase, so that whoever holds the lease next — this process after a
// restart, or another after a failover — resumes at the recorded phase. No stuck threshold:
// the lease says nobody else works on it.
//
// Each pass: re-read the Deployment; count an attempt the first time this leadership term
// sees it; then, phase by phase, check (superseded? past the deadline? the server there and
// running? an older one switching?), run the step, record it. Terminal outcomes:
// - active: the previous active release of the target becomes superseded, old dirs are pruned,
//   the server's status names it.
// - failed (the phase it failed in is kept in phaseMetadata.failedPhase): its temporaries and
//   helpers go; if it had switched `current`, the previous release is put back (a Warning
//   Event says so) — a failed deployment never leaves the site worse.
// - superseded before its switch: its temporaries and dir go.
// Docker not answering is none of these: the deployment waits in its phase (docker-wait.ts), and
// fail() asks the engine first, so what an outage breaks is judged once Docker is back.
import { containerName, proxyContainerName, volumeName, type ContainerRuntime, type ContainerState } from '../../docker/index.js';
import { ApiError, kindByName, setCondition, type ResourceObject } from '../../resources/index.js';
import type { Condition, Deployment, ProjectServer } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileContext, Reconciler, ReconcileResult } from '../runtime/controller.js';
import { involvedObjectOf, type EventRecorder } from '../runtime/event-recorder.js';
import type { FaultHook } from '../runtime/fault.js';
import { parseKey } from '../runtime/informer.js';
import type { LogFn } from '../runtime/log.js';
import { buildDir, linkTmp, releaseDir, tmpDir } from '../releases/layout.js';
import { Mountpoints, ReleaseVolume } from '../releases/volume.js';
import { deadlineOf, dirOf, inSwitchZone, isTerminal, mustWaitFor, PROGRESS, prunable, strayTemporaries, supersededBy, targetOf, DEFAULT_HISTORY_LIMIT } from './logic.js';
import { DockerPipeline } from './docker-pipeline.js';
import { StaticPipeline, type LiveEntry, type Run, type Step } from './pipeline.js';
import { PROXY_PORTS } from '../route/proxy-container.js';
import { isDockerUnavailable } from '../docker-outage.js';
import { DeploymentDockerWait } from './docker-wait.js';

const DEPLOYMENT = kindByName('Deployment')!;
const SERVER = kindByName('ProjectServer')!;
const WAIT_SERVER_MS = 1000;
const WAIT_TURN_MS = 250;

type Status = NonNullable<Deployment['status']>;

export interface DeploymentReconcilerOptions {
  store: Store;
  docker: ContainerRuntime;
  installation: string;
  staticImage: string;
  network: string;
  events: EventRecorder;
  clock: Clock;
  fault: FaultHook;
  log: LogFn;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** phaseUpdatedAt keeps milliseconds: phase durations (metrics) are often under a second. */
const isoMs = (ms: number) => new Date(ms).toISOString();

export class DeploymentReconciler implements Reconciler {
  private readonly pipeline: StaticPipeline;
  private readonly docker: DockerPipeline;
  private readonly mountpoints: Mountpoints;
  /** `uid@leaseToken` of the deployments whose attempt this leadership term has counted. */
  private readonly counted = new Set<string>();
  private readonly dockerWait: DeploymentDockerWait;

  constructor(private readonly o: DeploymentReconcilerOptions) {
    const common = { store: o.store, docker: o.docker, installation: o.installation, staticImage: o.staticImage, network: o.network, proxyPort: () => this.proxyPort() };
    this.pipeline = new StaticPipeline(common);
    this.docker = new DockerPipeline(common);
    this.mountpoints = new Mountpoints(o.docker);
    this.dockerWait = new DeploymentDockerWait({
      docker: o.docker,
      events: o.events,
      get: (namespace, name) => this.get(namespace, name),
      write: (d, ctx, status) => this.write(d, ctx, status),
      progressing: (d, reason, message) => this.conditions(d, 'Progressing', 'True', reason, message),
    });
  }

  async reconcile(key: string, signal: AbortSignal, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    return this.dockerWait.guard(key, signal, ctx, () => this.pass(key, signal, ctx));
  }

  private async pass(key: string, signal: AbortSignal, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { namespace, name } = parseKey(key);
    // A finished Deployment stays finished, and the cache is updated before its key is handed
    // out: every resync (each minute) would otherwise read each one of them from the store.
    const cached = ctx.cached(key) as unknown as Deployment | undefined;
    if (cached && isTerminal(cached.status?.phase)) {
      this.pipeline.forget(cached.metadata.uid!);
      return;
    }
    let d = await this.get(namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    if (isTerminal(d.status?.phase)) {
      this.pipeline.forget(d.metadata.uid!);
      return;
    }
    const attempt = `${d.metadata.uid}@${ctx.fence.token}`;
    if (!this.counted.has(attempt)) {
      const now = this.o.clock.now();
      d = await this.write(d, ctx, {
        phase: d.status?.phase ?? 'queued',
        attempts: (d.status?.attempts ?? 0) + 1,
        startedAt: d.status?.startedAt ?? iso(now),
        ...(d.status?.phase ? {} : { phaseProgress: 0, phaseUpdatedAt: isoMs(now), message: 'queued' }),
      });
      this.counted.add(attempt);
    }
    const fault: FaultHook = d.status?.attempts === 1 ? this.o.fault : async () => undefined;

    d = await this.dockerWait.resume(d, ctx, signal);

    let container: ContainerState | null = null;
    while (!signal.aborted) {
      const phase = d.status!.phase!;
      const all = (await this.o.store.resources.list(DEPLOYMENT, { namespace })).items as unknown as Deployment[];
      const newer = supersededBy(d, all);
      if (newer) return this.supersede(d, newer, ctx);
      const now = this.o.clock.now();
      const ps = await this.server(d);
      if (now > deadlineOf(d, now)) return this.fail(d, ps, ctx, 'ProgressDeadlineExceeded', `not active within ${d.spec.progressDeadlineSeconds ?? 600} s (spec.progressDeadlineSeconds); it stopped in ${phase}`);
      if (!ps) return this.waitFor(d, ctx, `waiting for ProjectServer "${d.spec.projectServer}" to exist in namespace "${namespace}"`, WAIT_SERVER_MS);
      if (ps.spec.serviceType === 'static' && d.spec.source.image)
        return this.fail(d, ps, ctx, 'InvalidSource', `ProjectServer "${ps.metadata.name}" serves static files; an image source needs a "docker" server`);
      const isDocker = ps.spec.serviceType === 'docker';
      // inspected once a pass: its id does not change while it runs (an exec into a replaced one fails, and the pass is retried)
      if (!isDocker && !container?.running) container = await this.o.docker.inspect(containerName(this.o.installation, { namespace, name: ps.metadata.name! }));
      if (!isDocker && !container?.running) return this.waitFor(d, ctx, `waiting for the container of ProjectServer "${ps.metadata.name}" to run`, WAIT_SERVER_MS);
      if (phase === 'creating_symlinks' || (isDocker && phase === 'updating_routes')) {
        const older = mustWaitFor(d, all);
        if (older) return this.waitFor(d, ctx, `waiting for Deployment "${older.metadata.name}" to finish switching`, WAIT_TURN_MS);
      }
      let step: Step;
      try {
        if (isDocker) {
          step = await this.docker.step(phase, { d, ps, signal, fault, now: this.o.clock.now(), setLive: (entry) => this.setLive(ps, 'site', entry, ctx) });
        } else {
          const run = this.runOf(d, ps, container!, await this.hostRoot(ps), signal, fault, ctx);
          step = await this.pipeline.step(phase, run);
          d = run.d; // a step may have written metadata
        }
      } catch (err) {
        if (signal.aborted) return;
        if (!isDockerUnavailable(err)) await this.note(d, ctx, `retrying ${phase}: ${(err as Error).message}`);
        throw err;
      }
      if (step.kind === 'fail') return this.fail(d, ps, ctx, step.reason, step.message, container);
      if (step.kind === 'wait') return this.waitFor(d, ctx, step.message, step.ms);
      if (step.kind === 'active') return this.activate(d, ps, ctx, container);
      if (isDocker && step.kind === 'next' && step.phase === 'copying_files') d = await this.write(d, ctx, { phaseMetadata: step.metadata ?? {} });
      d = await this.write(d, ctx, {
        phase: step.phase,
        phaseProgress: PROGRESS[step.phase],
        phaseUpdatedAt: isoMs(this.o.clock.now()),
        ...(step.metadata ? { phaseMetadata: step.metadata } : {}),
        ...(step.message ? { message: step.message } : {}),
        conditions: this.conditions(d, 'Progressing', 'True', step.phase, step.message ?? step.phase),
      });
    }
  }

  private runOf(d: Deployment, ps: ProjectServer, container: ContainerState, hostRoot: string | null, signal: AbortSignal, fault: FaultHook, ctx: ReconcileContext): Run {
    const run: Run = {
      d,
      ps,
      service: d.spec.service ?? 'site',
      container,
      vol: new ReleaseVolume(this.o.docker, container.id, hostRoot),
      signal,
      fault,
      now: this.o.clock.now(),
      setLive: (entry) => this.setLive(ps, run.service, entry, ctx),
      saveMetadata: async (m) => {
        run.d = await this.write(run.d, ctx, { phaseMetadata: m });
      },
    };
    return run;
  }

  private async activate(d: Deployment, ps: ProjectServer, ctx: ReconcileContext, container: ContainerState | null): Promise<void> {
    const now = this.o.clock.now();
    const service = d.spec.service ?? 'site';
    const m = d.status?.phaseMetadata ?? {};
    const image = ps.spec.serviceType === 'docker' ? { image: String(m.image), slot: m.slot as 'a' | 'b' } : undefined;
    const dir = image ? `${image.image} (slot ${image.slot})` : dirOf(d);
    d = await this.write(d, ctx, {
      phase: 'active',
      phaseProgress: 100,
      phaseUpdatedAt: isoMs(now),
      finishedAt: iso(now),
      message: `live: ${dir}`,
      conditions: this.conditions(d, 'Progressing', 'False', 'Complete', `live since ${iso(now)}`, { type: 'Ready', status: 'True', reason: 'Active', message: `serving ${dir}` }),
    });
    this.pipeline.forget(d.metadata.uid!);
    await this.setLive(ps, service, image ? { deployment: d.metadata.name!, ...image } : { deployment: d.metadata.name!, dir }, ctx, true);
    const all = (await this.o.store.resources.list(DEPLOYMENT, { namespace: d.metadata.namespace! })).items as unknown as Deployment[];
    for (const o of all)
      if (o.metadata.uid !== d.metadata.uid && targetOf(o) === targetOf(d) && o.status?.phase === 'active')
        await this.write(o, ctx, {
          phase: 'superseded',
          phaseUpdatedAt: isoMs(now),
          message: `superseded by Deployment "${d.metadata.name}"`,
          conditions: this.conditions(o, 'Ready', 'False', 'Superseded', `Deployment "${d.metadata.name}" is live instead`),
        }).catch((err: unknown) => this.o.log('could not mark a deployment superseded', err as Error, { key: `${o.metadata.namespace}/${o.metadata.name}` }));
    const seconds = ((now - (Date.parse(d.status?.startedAt ?? '') || now)) / 1000).toFixed(1);
    void this.o.events.record(involvedObjectOf(d as unknown as ResourceObject), 'Normal', 'Active', `${dir} is live on ProjectServer "${ps.metadata.name}" (service ${service}) after ${seconds} s`, { fence: ctx.fence });
    if (container) await this.tidy(d, ps, container, all).catch((err: unknown) => this.o.log('pruning failed', err as Error, { key: `${d.metadata.namespace}/${d.metadata.name}` }));
  }

  /** Prunes release dirs beyond the history limit and temporaries nobody owns. */
  private async tidy(d: Deployment, ps: ProjectServer, container: ContainerState, all: Deployment[]): Promise<void> {
    const service = d.spec.service ?? 'site';
    const vol = new ReleaseVolume(this.o.docker, container.id, await this.hostRoot(ps));
    const listing = await vol.list(service);
    const names = listing.entries.map((e) => e.name);
    const fresh = all.map((o) => (o.metadata.uid === d.metadata.uid ? d : o));
    const dirs = names.filter((n) => n.startsWith('deployment-'));
    const remove = [...prunable(dirs, dirOf(d), targetOf(d), fresh, ps.spec.revisionHistoryLimit ?? DEFAULT_HISTORY_LIMIT), ...strayTemporaries(names, targetOf(d), fresh)];
    await vol.remove(service, remove);
  }

  private async supersede(d: Deployment, newer: Deployment, ctx: ReconcileContext): Promise<void> {
    await this.abandon(d, await this.server(d), false);
    await this.write(d, ctx, {
      phase: 'superseded',
      phaseUpdatedAt: isoMs(this.o.clock.now()),
      finishedAt: iso(this.o.clock.now()),
      message: `superseded by the newer Deployment "${newer.metadata.name}" before it went live`,
      conditions: this.conditions(d, 'Progressing', 'False', 'Superseded', `superseded by Deployment "${newer.metadata.name}"`),
    });
    void this.o.events.record(involvedObjectOf(d as unknown as ResourceObject), 'Normal', 'Superseded', `superseded by the newer Deployment "${newer.metadata.name}" before it went live`, { fence: ctx.fence });
  }

  private async fail(d: Deployment, ps: ProjectServer | undefined, ctx: ReconcileContext, reason: string, message: string, container?: ContainerState | null): Promise<void> {
    // What looks like a failure while the engine is gone (a build killed by dockerd's shutdown,
    // probes of a stopped server, a deadline passed meanwhile) is judged again once it is back,
    // when the cleanup below can run too. Throws DockerError(unavailable) to reconcile().
    await this.o.docker.ping();
    const phase = d.status?.phase ?? 'queued';
    const rolledBack = await this.abandon(d, ps, true, ctx, container).catch((err: unknown) => {
      this.o.log('cleanup after a failure failed', err as Error, { key: `${d.metadata.namespace}/${d.metadata.name}` });
      return undefined;
    });
    await this.write(d, ctx, {
      phase: 'failed',
      phaseUpdatedAt: isoMs(this.o.clock.now()),
      finishedAt: iso(this.o.clock.now()),
      phaseMetadata: { failedPhase: phase },
      message: `${reason}: ${message}`.slice(0, 32000),
      conditions: this.conditions(d, 'Progressing', 'False', reason, `failed in ${phase}: ${message}`, { type: 'Ready', status: 'False', reason, message: message.slice(0, 4000) }),
    });
    const involved = involvedObjectOf(d as unknown as ResourceObject);
    void this.o.events.record(involved, 'Warning', reason, `failed in ${phase}: ${message}`, { fence: ctx.fence });
    if (rolledBack !== undefined)
      void this.o.events.record(involved, 'Warning', 'RolledBack', rolledBack ? `current put back to ${rolledBack} after the failure` : 'current removed after the failure (there was no earlier release)', { fence: ctx.fence });
    this.pipeline.forget(d.metadata.uid!);
  }

  /**
   * Removes what this deployment made that is not live; with `rollback`, puts `current` back
   * when this deployment had switched it. Resolves to the dir put back ('' when the link was
   * removed) when it rolled back, else undefined.
   */
  private async abandon(d: Deployment, ps: ProjectServer | undefined, rollback: boolean, ctx?: ReconcileContext, container?: ContainerState | null): Promise<string | undefined> {
    await this.pipeline.removeHelpers(d);
    if (!ps) return undefined;
    if (ps.spec.serviceType === 'docker') return this.abandonDocker(d, ps, rollback, ctx);
    container ??= await this.o.docker.inspect(containerName(this.o.installation, { namespace: ps.metadata.namespace!, name: ps.metadata.name! }));
    if (!container?.running) return undefined; // the server's controller puts `current` back from its status
    const service = d.spec.service ?? 'site';
    const name = d.metadata.name!;
    const vol = new ReleaseVolume(this.o.docker, container.id, await this.hostRoot(ps));
    const listing = await vol.list(service);
    let result: string | undefined;
    const mine = dirOf(d);
    const switched = inSwitchZone(d.status?.phase) && (listing.current === mine || ps.status?.services?.[service]?.deployment === name);
    if (rollback && ctx && switched) {
      const prev = d.status?.phaseMetadata?.previous as { dir: string; deployment: string } | null | undefined;
      if (prev) {
        await this.setLive(ps, service, prev, ctx);
        await vol.switchCurrent(service, prev.dir, `${name}-back`);
        result = prev.dir;
      } else {
        await this.setLive(ps, service, null, ctx);
        await vol.remove(service, ['current']);
        result = '';
      }
    }
    const own = mine === releaseDir(name) && !(listing.current === mine && result === undefined) ? [mine] : [];
    const names = new Set(listing.entries.map((e) => e.name));
    await vol.remove(service, [tmpDir(name), buildDir(name), linkTmp(name), linkTmp(`${name}-back`), ...own].filter((n) => names.has(n)));
    return result;
  }

  /** A docker server: the route back to the previous slot (if this one had switched it), the new container removed. */
  private async abandonDocker(d: Deployment, ps: ProjectServer, rollback: boolean, ctx?: ReconcileContext): Promise<string | undefined> {
    let result: string | undefined;
    if (rollback && ctx && ps.status?.services?.site?.deployment === d.metadata.name) {
      const prev = d.status?.phaseMetadata?.previous as { deployment: string | null; image: string; slot: 'a' | 'b' } | undefined;
      await this.setLive(ps, 'site', prev?.deployment ? { deployment: prev.deployment, image: prev.image, slot: prev.slot } : null, ctx);
      await this.docker.waitRoutesBack(d, ps, new AbortController().signal);
      result = prev ? `${prev.image} (slot ${prev.slot})` : '';
    }
    const fresh = (await this.server(d)) ?? ps;
    await this.docker.removeCandidate(d, fresh);
    return result;
  }

  /** Records on the server which release `current` must show (null: none). Retries write conflicts. */
  private async setLive(ps: ProjectServer, service: string, entry: LiveEntry | null, ctx: ReconcileContext, isCurrent = false): Promise<void> {
    for (let i = 0; ; i++) {
      const fresh = i === 0 ? ps : await this.serverNamed(ps.metadata.namespace!, ps.metadata.name!);
      if (!fresh) return;
      const was = fresh.status?.services?.[service];
      const same = entry
        ? was?.deployment === entry.deployment && was.dir === entry.dir && was.image === entry.image && was.slot === entry.slot && !was.fallbackFrom
        : was === undefined;
      if (same && (!isCurrent || fresh.status?.currentDeployment === entry?.deployment)) return;
      const patch = {
        metadata: { resourceVersion: fresh.metadata.resourceVersion },
        status: {
          services: {
            [service]: entry
              ? { deployment: entry.deployment, dir: entry.dir ?? null, image: entry.image ?? null, slot: entry.slot ?? null, since: iso(this.o.clock.now()), fallbackFrom: null }
              : null,
          },
          ...(isCurrent && entry ? { currentDeployment: entry.deployment } : {}),
        },
      };
      try {
        await this.o.store.resources.patch(SERVER, fresh.metadata.namespace!, fresh.metadata.name!, 'merge', patch, { subresource: 'status', fence: ctx.fence });
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409) || i >= 10) throw err;
        if (/fenc/i.test(err.message)) throw err;
      }
    }
  }

  private async waitFor(d: Deployment, ctx: ReconcileContext, message: string, ms: number): Promise<ReconcileResult> {
    await this.note(d, ctx, message);
    return { requeueAfterMs: ms };
  }

  private async note(d: Deployment, ctx: ReconcileContext, message: string): Promise<void> {
    if (d.status?.message === message) return;
    await this.write(d, ctx, { message: message.slice(0, 32000) }).catch(() => undefined);
  }

  private conditions(d: Deployment, type: string, status: Condition['status'], reason: string, message: string, extra?: Omit<Condition, 'observedGeneration'>): Condition[] {
    const gen = d.metadata.generation ?? 0;
    const now = iso(this.o.clock.now());
    let list = setCondition(d.status?.conditions, { type, status, reason: camel(reason), message: message.slice(0, 4000), observedGeneration: gen }, now);
    if (extra) list = setCondition(list, { ...extra, reason: camel(extra.reason ?? ''), observedGeneration: gen }, now);
    return list;
  }

  private async write(d: Deployment, ctx: ReconcileContext, status: Partial<Status> & Record<string, unknown>): Promise<Deployment> {
    const written = (await this.o.store.resources.patch(
      DEPLOYMENT,
      d.metadata.namespace!,
      d.metadata.name!,
      'merge',
      { metadata: { resourceVersion: d.metadata.resourceVersion }, status: { observedGeneration: d.metadata.generation ?? 0, ...status } },
      { subresource: 'status', fence: ctx.fence },
    )) as unknown as Deployment;
    // Left a phase: observed once, by the write that changed it (resourceVersion-checked), from
    // the recorded timestamps, so a phase a failover interrupted still counts whole.
    const was = d.status?.phase;
    if (ctx.metrics && status.phase && was && status.phase !== was) {
      const since = Date.parse(d.status?.phaseUpdatedAt ?? '');
      const until = Date.parse(written.status?.phaseUpdatedAt ?? '');
      if (since && until >= since) ctx.metrics.phaseDuration.observe({ phase: was }, (until - since) / 1000);
    }
    return written;
  }

  private async get(namespace: string, name: string): Promise<Deployment | undefined> {
    try {
      return (await this.o.store.resources.get(DEPLOYMENT, namespace, name)) as unknown as Deployment;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  private server(d: Deployment): Promise<ProjectServer | undefined> {
    return this.serverNamed(d.metadata.namespace!, d.spec.projectServer);
  }

  private async serverNamed(namespace: string, name: string): Promise<ProjectServer | undefined> {
    try {
      const ps = (await this.o.store.resources.get(SERVER, namespace, name)) as unknown as ProjectServer;
      return ps.metadata.deletionTimestamp ? undefined : ps;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** The server's volume as this host sees it, when it can (listings without exec). */
  private hostRoot(ps: ProjectServer): Promise<string | null> {
    return this.mountpoints.of(volumeName(this.o.installation, { namespace: ps.metadata.namespace!, name: ps.metadata.name! }));
  }

  private async proxyPort(): Promise<number | undefined> {
    const st = await this.o.docker.inspect(proxyContainerName(this.o.installation));
    return st?.running ? st.ports.find((p) => p.container === PROXY_PORTS.http)?.hostPort : undefined;
  }
}

/** Condition reasons are CamelCase words. */
function camel(reason: string): string {
  return reason.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

