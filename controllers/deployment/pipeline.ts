// The phases of a static server's deployment. Each step is idempotent and resumable: it
// looks at what the volume holds (one listing) and at what status.phaseMetadata recorded,
// and does only what is missing. A step returns what comes next; the reconciler records it.
//
//   pulling_source     fetch inline/archive/git into memory (digest, files, bytes, commit
//                      recorded); a rollback (fromDeployment) checks the older release's files
//   building           source uploaded to `.build-<name>`, the build run in a helper container
//   copying_files      upload (or copy of the build output) into `.tmp-deployment-<name>`, with
//                      the marker; then renamed to `deployment-<name>` — a release dir is
//                      complete or absent
//   creating_symlinks  the previous release recorded, the server's status told, `current`
//                      switched by rename
//   updating_routes    the Routes serving this service recorded (they route to `current`)
//   health_check       the server, and the proxy for each ready Route, answer with this
//                      release's marker (and spec.healthCheck passes)
import { setTimeout as delay } from 'node:timers/promises';
import { LABELS, volumeName, type ContainerRuntime, type ContainerState } from '../../docker/index.js';
import { ApiError, kindByName } from '../../resources/index.js';
import type { Deployment, ProjectServer, Route } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import type { FaultHook } from '../runtime/fault.js';
import { buildDir, deploymentOfDir, markerOf, MARKER_FILE, NOT_INTACT, releaseDir, serviceDir, STATIC_ROOT, tmpDir, type ServiceListing } from '../releases/layout.js';
import { VolumeOpError, type ReleaseVolume } from '../releases/volume.js';
import { probe, type ProbeTarget } from './health.js';
import { deadlineOf, dirOf, routesMessage, type Phase } from './logic.js';
import { packTar } from './release-tar.js';
import { fetchSource, SourceError, type SourceContent } from './sources.js';

const DEPLOYMENT = kindByName('Deployment')!;
const ROUTE = kindByName('Route')!;
/** How long a failing health check is retried before the deployment fails (within its deadline). */
export const HEALTH_WINDOW_MS = 30_000;
const HEALTH_RETRY_MS = 150;
const BUILD_OUTPUT_TAIL = 20;

export type Metadata = Record<string, unknown>;

/** What a server's status.services entry says is live: a static release dir, or a docker image and slot. */
export interface LiveEntry {
  deployment: string;
  dir?: string;
  image?: string;
  slot?: 'a' | 'b';
}

export type Step =
  | { kind: 'next'; phase: Phase; metadata?: Metadata; message?: string }
  | { kind: 'wait'; ms: number; message: string }
  | { kind: 'fail'; reason: string; message: string }
  | { kind: 'active' };

/** Everything one step may use. */
export interface Run {
  d: Deployment;
  ps: ProjectServer;
  service: string;
  container: ContainerState;
  vol: ReleaseVolume;
  signal: AbortSignal;
  /** The fault hook applies (first attempt only). */
  fault: FaultHook;
  now: number;
  /** Records the intent on the server's status: `current` must point at `dir` (for `deployment`). */
  setLive(entry: LiveEntry | null): Promise<void>;
  /** Writes phaseMetadata without changing phase. */
  saveMetadata(m: Metadata): Promise<void>;
}

export interface PipelineOptions {
  store: Store;
  docker: ContainerRuntime;
  installation: string;
  staticImage: string;
  network: string;
  /** Host port of the proxy's HTTP server, or undefined when it is not running. */
  proxyPort(): Promise<number | undefined>;
}

/** `{ previous }`: the release `current` shows now, unless it is `dir` (then what was recorded stays). */
function previousOf(run: Run, listing: ServiceListing, dir: string): Metadata {
  if ('previous' in meta(run.d)) return {};
  const cur = listing.current && listing.current !== dir ? listing.current : undefined;
  const live = run.ps.status?.services?.[run.service];
  return { previous: cur && deploymentOfDir(cur) ? { dir: cur, deployment: live?.dir === cur ? live.deployment : deploymentOfDir(cur)! } : null };
}

/** Files get the Deployment's creation time: a changed file of the same size must not keep its ETag. */
const mtimeOf = (d: Deployment) => new Date(d.metadata.creationTimestamp ?? Date.now());
const meta = (d: Deployment): Metadata => d.status?.phaseMetadata ?? {};
const marker = (d: Deployment) => markerOf({ name: d.metadata.name!, uid: d.metadata.uid! });

export class StaticPipeline {
  /** Fetched sources by Deployment uid, kept until the deployment ends (a crash refetches). */
  private readonly contents = new Map<string, SourceContent>();

  constructor(private readonly o: PipelineOptions) {}

  forget(uid: string): void {
    this.contents.delete(uid);
  }

  async step(phase: Phase, run: Run): Promise<Step> {
    switch (phase) {
      case 'queued':
        return { kind: 'next', phase: 'pulling_source' };
      case 'pulling_source':
        return this.pull(run);
      case 'building':
        return this.build(run);
      case 'copying_files':
        return this.copy(run);
      case 'creating_symlinks':
        return this.link(run);
      case 'updating_routes':
        return this.routes(run);
      case 'health_check':
        return this.health(run);
      default:
        throw new Error(`no step for phase ${phase}`);
    }
  }

  private async pull(run: Run): Promise<Step> {
    const { d } = run;
    const from = d.spec.source.fromDeployment;
    if (from) return this.pullFrom(run, from.name);
    const got = await this.content(run);
    if ('kind' in got) return got;
    await run.fault('pulling_source', run.signal);
    return {
      kind: 'next',
      phase: d.spec.build ? 'building' : 'copying_files',
      metadata: { digest: got.digest, files: got.files, bytes: got.bytes, ...(got.commit ? { commit: got.commit } : {}), dir: releaseDir(d.metadata.name!), marker: marker(d) },
      message: `fetched ${got.files} files (${got.bytes} bytes)${got.commit ? ` at commit ${got.commit.slice(0, 12)}` : ''}`,
    };
  }

  /** A rollback: the older release's files must still be there, intact. */
  private async pullFrom(run: Run, name: string): Promise<Step> {
    const { d } = run;
    let ref: Deployment;
    try {
      ref = (await this.o.store.resources.get(DEPLOYMENT, d.metadata.namespace!, name)) as unknown as Deployment;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return { kind: 'fail', reason: 'SourceNotFound', message: `spec.source.fromDeployment: Deployment "${name}" does not exist` };
      throw err;
    }
    if (ref.spec.projectServer !== d.spec.projectServer || (ref.spec.service ?? 'site') !== run.service)
      return { kind: 'fail', reason: 'InvalidSource', message: `spec.source.fromDeployment: Deployment "${name}" is a release of ${ref.spec.projectServer}/${ref.spec.service ?? 'site'}, not of ${d.spec.projectServer}/${run.service}` };
    const dir = dirOf(ref);
    const want = typeof meta(ref).marker === 'string' ? (meta(ref).marker as string) : marker(ref);
    const listing = await run.vol.list(run.service);
    const entry = listing.entries.find((e) => e.name === dir);
    if (!entry || entry.marker !== want)
      return { kind: 'fail', reason: 'SourceNotFound', message: `spec.source.fromDeployment: the files of Deployment "${name}" are no longer on the server (${dir}${entry ? ' belongs to another release' : ' was pruned or removed'})` };
    await run.fault('pulling_source', run.signal);
    return {
      kind: 'next',
      phase: 'creating_symlinks',
      metadata: { dir, marker: want, reusedFrom: name, files: meta(ref).files ?? null, ...previousOf(run, listing, dir) },
      message: `reusing the files of Deployment "${name}"`,
    };
  }

  /** The fetched source: from memory, or fetched again after a crash (the same content, or a failure). */
  private async content(run: Run): Promise<SourceContent | Step> {
    const uid = run.d.metadata.uid!;
    const have = this.contents.get(uid);
    if (have) return have;
    let got: SourceContent;
    try {
      got = await fetchSource(run.d.spec.source, { signal: run.signal });
    } catch (err) {
      if (err instanceof SourceError && err.terminal) return { kind: 'fail', reason: err.reason, message: err.message };
      throw err;
    }
    const digest = meta(run.d).digest;
    if (typeof digest === 'string' && digest !== got.digest)
      return { kind: 'fail', reason: 'SourceChanged', message: `the source changed since it was first fetched (digest ${digest.slice(0, 12)} then, ${got.digest.slice(0, 12)} now); create a new Deployment` };
    this.contents.set(uid, got);
    return got;
  }

  private async build(run: Run): Promise<Step> {
    const { d, service, vol } = run;
    const name = d.metadata.name!;
    const listing = await vol.list(service);
    if (listing.entries.some((e) => e.name === releaseDir(name) && e.marker === marker(d))) return { kind: 'next', phase: 'creating_symlinks' };
    await this.removeHelpers(d);
    const got = await this.content(run);
    if ('kind' in got) return got;
    if (listing.entries.some((e) => e.name === buildDir(name))) await vol.remove(service, [buildDir(name)]);
    await vol.upload(await packTar(got.entries, { prefix: `${service}/${buildDir(name)}`, mtime: mtimeOf(d) }), run.signal);
    await run.fault('building', run.signal);
    const build = d.spec.build!;
    const r = await this.o.docker.run({
      image: build.image ?? this.o.staticImage,
      argv: build.command,
      labels: this.helperLabels(d),
      mounts: [{ volume: this.volumeOf(run), target: STATIC_ROOT }],
      workingDir: `${serviceDir(service)}/${buildDir(name)}`,
      timeoutMs: Math.max(1000, deadlineOf(d, run.now) - run.now),
      signal: run.signal,
    });
    if (r.exitCode !== 0 || r.timedOut) {
      await vol.remove(service, [buildDir(name)]);
      const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-BUILD_OUTPUT_TAIL).join('\n');
      return r.timedOut
        ? { kind: 'fail', reason: 'ProgressDeadlineExceeded', message: `the build ran past the deadline (spec.progressDeadlineSeconds); last output:\n${tail}` }
        : { kind: 'fail', reason: 'BuildFailed', message: `the build (${build.command.join(' ').slice(0, 200)}) exited with code ${r.exitCode}; last output:\n${tail}` };
    }
    return { kind: 'next', phase: 'copying_files', metadata: { built: true }, message: 'the build succeeded' };
  }

  private async copy(run: Run): Promise<Step> {
    const { d, service, vol } = run;
    const name = d.metadata.name!;
    const listing = await vol.list(service);
    if (!listing.entries.some((e) => e.name === releaseDir(name) && e.marker === marker(d))) {
      if (d.spec.build) {
        try {
          await vol.copyBuildOutput(service, buildDir(name), d.spec.build.outputDir ?? '.', tmpDir(name), marker(d));
        } catch (err) {
          if (err instanceof VolumeOpError && err.exitCode === 3) return { kind: 'fail', reason: 'BuildOutputMissing', message: err.message };
          if (err instanceof VolumeOpError && err.exitCode === 2) return { kind: 'next', phase: 'building', message: 'the build workspace is gone; building again' };
          throw err;
        }
      } else {
        const got = await this.content(run);
        if ('kind' in got) return got;
        const tar = await packTar(got.entries, {
          prefix: `${service}/${tmpDir(name)}`,
          mtime: mtimeOf(d),
          extra: [{ path: MARKER_FILE, type: 'file', mode: 0o644, data: Buffer.from(`${marker(d)}\n`) }],
        });
        if (listing.entries.some((e) => e.name === tmpDir(name))) await vol.remove(service, [tmpDir(name)]); // a crashed copy
        await vol.upload(tar, run.signal);
      }
      await run.fault('copying_files', run.signal);
      await vol.promote(service, tmpDir(name), releaseDir(name));
    }
    if (d.spec.build) await vol.remove(service, [buildDir(name)]);
    return { kind: 'next', phase: 'creating_symlinks', metadata: previousOf(run, listing, releaseDir(name)), message: `files in ${releaseDir(name)}` };
  }

  private async link(run: Run): Promise<Step> {
    const { d, service, vol } = run;
    const dir = dirOf(d);
    const want = typeof meta(d).marker === 'string' ? (meta(d).marker as string) : marker(d);
    // what to roll back to: recorded before anything changes (copying_files or the rollback's
    // pulling_source did), so a resumed run still knows it
    if (!('previous' in meta(d))) await run.saveMetadata(previousOf(run, await vol.list(service), dir));
    await run.setLive({ deployment: d.metadata.name!, dir });
    await run.fault('creating_symlinks', run.signal);
    try {
      await vol.switchCurrent(service, dir, d.metadata.name!, want);
    } catch (err) {
      if (!(err instanceof VolumeOpError && err.exitCode === NOT_INTACT)) throw err;
      if (meta(d).reusedFrom) return { kind: 'fail', reason: 'SourceNotFound', message: `the files in ${dir} went away before the switch` };
      return { kind: 'next', phase: 'copying_files', message: `${dir} went away before the switch; copying again` };
    }
    return { kind: 'next', phase: 'updating_routes', message: `current -> ${dir}` };
  }

  private async routes(run: Run): Promise<Step> {
    const routes = await this.routesOf(run);
    await run.fault('updating_routes', run.signal);
    return {
      kind: 'next',
      phase: 'health_check',
      metadata: { routes: routes.map((r) => r.metadata.name!) },
      message: routesMessage(routes),
    };
  }

  private async routesOf(run: Run): Promise<Route[]> {
    const { items } = await this.o.store.resources.list(ROUTE, { namespace: run.d.metadata.namespace! });
    return (items as unknown as Route[]).filter(
      (r) => !r.metadata.deletionTimestamp && r.spec.projectServer === run.d.spec.projectServer && (r.spec.service ?? 'site') === run.service,
    );
  }

  private async health(run: Run): Promise<Step> {
    const { d, service } = run;
    await run.fault('health_check', run.signal);
    const address = run.container.addresses?.[this.o.network];
    const port = run.ps.spec.port ?? 80;
    if (!address) throw new Error(`the server's container has no address on network ${this.o.network}`);
    const targets: ProbeTarget[] = [{ label: 'the server', base: `http://${address}:${port}/${service}/current` }];
    const proxyPort = await this.o.proxyPort();
    for (const r of await this.routesOf(run))
      if (r.status?.ready && proxyPort !== undefined && !r.spec.tls)
        targets.push({ label: `Route "${r.metadata.name}" (through the proxy)`, base: `http://127.0.0.1:${proxyPort}${(r.spec.pathPrefix ?? '/').replace(/\/+$/, '')}`, host: r.spec.host });
    const hc = d.spec.healthCheck;
    const expect = {
      marker: { path: `/${MARKER_FILE}`, content: typeof meta(d).marker === 'string' ? (meta(d).marker as string) : marker(d) },
      ...(hc ? { check: { path: hc.path ?? '/', expectStatus: hc.expectStatus ?? 200, ...(hc.contains !== undefined ? { contains: hc.contains } : {}) } } : {}),
    };
    const until = Math.min(Date.now() + HEALTH_WINDOW_MS, deadlineOf(d, run.now));
    let problems: string[] = [];
    for (;;) {
      problems = (await Promise.all(targets.map((t) => probe(t, expect, run.signal)))).filter((p): p is string => p !== undefined);
      if (problems.length === 0) return { kind: 'active' };
      // a server that stopped answering because the engine went away: no use probing on
      await this.o.docker.ping(run.signal);
      if (Date.now() >= until) break;
      await sleep(HEALTH_RETRY_MS, run.signal);
    }
    return { kind: 'fail', reason: 'HealthCheckFailed', message: `the health check failed for ${Math.round(HEALTH_WINDOW_MS / 1000)} s: ${problems.join('; ')}` };
  }

  private volumeOf(run: Run): string {
    const ps = run.ps.metadata;
    return volumeName(this.o.installation, { namespace: ps.namespace!, name: ps.name! });
  }

  helperLabels(d: Deployment): Record<string, string> {
    return {
      [LABELS.managed]: 'true',
      [LABELS.installation]: this.o.installation,
      [LABELS.ownerKind]: 'Deployment',
      [LABELS.ownerNamespace]: d.metadata.namespace!,
      [LABELS.ownerName]: d.metadata.name!,
      [LABELS.ownerUid]: d.metadata.uid!,
    };
  }

  /** Removes helper containers a crashed run of this deployment left. */
  async removeHelpers(d: Deployment): Promise<void> {
    const left = await this.o.docker.listContainers([`${LABELS.installation}=${this.o.installation}`, `${LABELS.ownerUid}=${d.metadata.uid}`, `${LABELS.role}=helper`]);
    for (const c of left) await this.o.docker.remove(c.id);
  }
}

/** Waits `ms`; rejects when `signal` aborts. */
export const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal });
