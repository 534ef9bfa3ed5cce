// The phases of a docker server's deployment (source.image): blue/green. The new release
// starts in the slot the live one does not use, beside it; only once it answers does the
// server's status name it, which switches the Routes (the route controller follows); once the
// proxy sends traffic to it and it passes through the proxy, the old container goes.
//
//   pulling_source     the image and the slots recorded (previous: what runs now)
//   copying_files      the new container created and started (the server's exact container
//                      spec with the new image, so the projectserver controller adopts it) and
//                      waited for: running, passing its health check if it has one (Docker's
//                      for exec, a GET for httpGet), answering HTTP
//   creating_symlinks  nothing to link (skipped)
//   updating_routes    status.services.site names the new image and slot; wait until the
//                      proxy's config dials the new container for every Route of the server
//   health_check       through the proxy (and straight to the container); then, after a short
//                      drain, the old container is removed
//
// A new container that fails never takes traffic: it is removed and the old one kept serving.
import { containerName, proxyContainerName, type ContainerRuntime, type ContainerState } from '../../docker/index.js';
import { kindByName, redactError, redactText, secretValues } from '../../resources/index.js';
import { CaddyProxy, dialsByRoute } from '../../proxy/index.js';
import type { Deployment, ProjectServer, Route } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import { desiredContainer, liveRelease, slotName, type Release } from '../projectserver/container-spec.js';
import { probeOnce, type ProbeSpec } from '../projectserver/prober.js';
import { routeId } from '../route/desired.js';
import { PROXY_PORTS } from '../route/proxy-container.js';
import type { FaultHook } from '../runtime/fault.js';
import { probe, type ProbeTarget } from './health.js';
import { deadlineOf } from './logic.js';
import { HEALTH_WINDOW_MS, sleep, type Metadata, type Step } from './pipeline.js';

const ROUTE = kindByName('Route')!;
const POLL_MS = 100;
/** After the proxy switched, how long requests already on their way to the old container get to finish. */
export const DRAIN_MS = 1500;

export interface DockerRun {
  d: Deployment;
  ps: ProjectServer;
  signal: AbortSignal;
  fault: FaultHook;
  now: number;
  setLive(entry: { deployment: string; image: string; slot: 'a' | 'b' } | null): Promise<void>;
}

export interface DockerPipelineOptions {
  store: Store;
  docker: ContainerRuntime;
  installation: string;
  staticImage: string;
  network: string;
  proxyPort(): Promise<number | undefined>;
}

interface Plan {
  image: string;
  slot: 'a' | 'b';
  previous: { deployment: string | null; image: string; slot: 'a' | 'b' };
}

const planOf = (d: Deployment): Plan | undefined => {
  const m = d.status?.phaseMetadata ?? {};
  return typeof m.image === 'string' && (m.slot === 'a' || m.slot === 'b') && m.previous ? (m as unknown as Plan) : undefined;
};

export class DockerPipeline {
  constructor(private readonly o: DockerPipelineOptions) {}

  private settings() {
    return { installation: this.o.installation, staticImage: this.o.staticImage, network: this.o.network };
  }

  /** The container name of a slot of the server. */
  nameOf(ps: ProjectServer, slot: 'a' | 'b'): string {
    return slotName(containerName(this.o.installation, { namespace: ps.metadata.namespace!, name: ps.metadata.name! }), slot);
  }

  /**
   * One phase. Its message and any error it throws are redacted of the server's env values:
   * they quote the new container's log lines and Docker's words, and end up in the
   * Deployment's status, its Events and deployer's log.
   */
  async step(phase: string, run: DockerRun): Promise<Step> {
    const secrets = secretValues(run.ps.spec);
    try {
      const step = await this.phase(phase, run);
      return 'message' in step && typeof step.message === 'string' ? { ...step, message: redactText(step.message, secrets) } : step;
    } catch (err) {
      throw redactError(err, secrets);
    }
  }

  private async phase(phase: string, run: DockerRun): Promise<Step> {
    const { d, ps } = run;
    if (phase === 'queued') return { kind: 'next', phase: 'pulling_source' };
    if (phase === 'pulling_source') {
      if (!d.spec.source.image) return { kind: 'fail', reason: 'InvalidSource', message: `ProjectServer "${ps.metadata.name}" is a "docker" server: a Deployment into it needs source.image (files go to "static" servers)` };
      if ((d.spec.service ?? 'site') !== 'site') return { kind: 'fail', reason: 'InvalidSource', message: 'a docker server runs one service: leave spec.service unset (or "site")' };
      const live: Release = liveRelease(ps) ?? { image: ps.spec.image!, slot: 'a' };
      const plan: Plan = {
        image: d.spec.source.image.name,
        slot: live.slot === 'a' ? 'b' : 'a',
        previous: { deployment: ps.status?.services?.site?.deployment ?? null, image: live.image, slot: live.slot },
      };
      await run.fault('pulling_source', run.signal);
      return { kind: 'next', phase: 'copying_files', metadata: plan as unknown as Metadata, message: `${plan.image} will start in slot ${plan.slot}` };
    }
    const plan = planOf(d);
    if (!plan) return { kind: 'next', phase: 'pulling_source', message: 'no plan recorded; planning again' };
    if (phase === 'copying_files') return this.start(run, plan);
    if (phase === 'creating_symlinks') return { kind: 'next', phase: 'updating_routes' };
    if (phase === 'updating_routes') return this.switchRoutes(run, plan);
    if (phase === 'health_check') return this.check(run, plan);
    throw new Error(`no docker step for phase ${phase}`);
  }

  /** Starts the new container (or finds it started) and waits until it answers. */
  private async start(run: DockerRun, plan: Plan): Promise<Step> {
    const { ps, d } = run;
    const desired = desiredContainer(ps, this.settings(), { image: plan.image, slot: plan.slot });
    let st = await this.o.docker.inspect(desired.spec.name);
    if (st && (st.labels['deployer.dev/spec-hash'] !== desired.hash || st.labels['deployer.dev/owner-uid'] !== ps.metadata.uid)) {
      await this.o.docker.remove(st.id);
      st = null;
    }
    if (!st) {
      try {
        await this.o.docker.create(desired.spec);
      } catch (err) {
        if ((err as { kind?: string }).kind === 'not_found') return { kind: 'fail', reason: 'ImageNotFound', message: `image "${plan.image}" is not on this Docker host: ${(err as Error).message}` };
        throw err;
      }
    }
    await this.o.docker.start(desired.spec.name);
    await run.fault('copying_files', run.signal);
    const until = Math.min(Date.now() + HEALTH_WINDOW_MS, deadlineOf(d, run.now));
    let problem = 'not checked yet';
    for (;;) {
      st = await this.o.docker.inspect(desired.spec.name);
      problem = await this.containerProblem(run, st, desired.probe);
      if (!problem) return { kind: 'next', phase: 'updating_routes', message: `${desired.spec.name} runs ${plan.image} and answers` };
      if (st && (!st.running || st.restartCount > 0)) break; // it exited once: it is not ready, whatever Docker does next
      if (Date.now() >= until) break;
      await sleep(POLL_MS, run.signal);
    }
    const logs = st ? await this.o.docker.logs(st.id, { tail: 20 }).catch(() => '') : '';
    return { kind: 'fail', reason: 'ContainerUnhealthy', message: `the new container never became ready (${problem}); it took no traffic${logs ? `; last log lines:\n${logs}` : ''}` };
  }

  /**
   * What keeps the new container from taking traffic ('' when nothing): not running, its Docker
   * health check (exec) not healthy, its httpGet health check (which deployer probes, so Docker
   * has none) not passing, or the Deployment's own check not answered.
   */
  private async containerProblem(run: DockerRun, st: ContainerState | null, serverProbe: ProbeSpec | undefined): Promise<string> {
    if (!st) return 'the container is gone';
    if (!st.running) return `it exited with code ${st.exitCode}`;
    if (st.health && st.health.status !== 'healthy') return `its health check is ${st.health.status}`;
    const address = st.addresses?.[this.o.network];
    if (!address) return 'no address yet';
    if (serverProbe) {
      const problem = await probeOnce(address, serverProbe, run.signal);
      if (problem) return `its health check does not pass (${problem})`;
    }
    const port = run.ps.spec.port;
    if (!port) return '';
    const problem = await probe({ label: 'the new container', base: `http://${address}:${port}` }, this.expectation(run.d), run.signal);
    return problem ?? '';
  }

  private expectation(d: Deployment) {
    const hc = d.spec.healthCheck;
    return { check: { path: hc?.path ?? '/', expectStatus: hc?.expectStatus ?? 200, ...(hc?.contains !== undefined ? { contains: hc.contains } : {}) } };
  }

  /** Names the new release on the server (the Routes follow) and waits until the proxy dials it. */
  private async switchRoutes(run: DockerRun, plan: Plan): Promise<Step> {
    await run.setLive({ deployment: run.d.metadata.name!, image: plan.image, slot: plan.slot });
    await run.fault('updating_routes', run.signal);
    const routes = await this.routesOf(run);
    const want = this.nameOf(run.ps, plan.slot);
    const until = Math.min(Date.now() + HEALTH_WINDOW_MS, deadlineOf(run.d, run.now));
    const admin = {};
    for (;;) {
      const pending = await this.notSwitched(routes, want, admin);
      if (pending.length === 0) break;
      if (Date.now() >= until) return { kind: 'fail', reason: 'RouteNotSwitched', message: `the proxy did not switch Route ${pending.join(', ')} to ${want}` };
      await sleep(POLL_MS, run.signal);
    }
    return { kind: 'next', phase: 'health_check', metadata: { routes: routes.map((r) => r.metadata.name!) }, message: routes.length ? `Routes ${routes.map((r) => r.metadata.name).join(', ')} send traffic to ${want}` : 'no Route serves this server' };
  }

  /**
   * The Routes whose proxy config does not dial `container` yet. `admin` caches the proxy's
   * admin client across the polls of one wait (found again when the proxy was not running).
   */
  private async notSwitched(routes: Route[], container: string, admin: { caddy?: CaddyProxy }): Promise<string[]> {
    if (routes.length === 0) return [];
    if (!admin.caddy) {
      const proxy = await this.o.docker.inspect(proxyContainerName(this.o.installation));
      const port = proxy?.running ? proxy.ports.find((p) => p.container === PROXY_PORTS.admin)?.hostPort : undefined;
      if (port === undefined) return routes.map((r) => r.metadata.name!);
      admin.caddy = new CaddyProxy({ adminUrl: `http://127.0.0.1:${port}`, ports: { http: PROXY_PORTS.http, https: PROXY_PORTS.https }, adminListen: `0.0.0.0:${PROXY_PORTS.admin}` });
    }
    const config = await admin.caddy.readConfig().catch(() => {
      admin.caddy = undefined; // the proxy moved (restarted with another port): look again
      return null;
    });
    const dials = dialsByRoute(config);
    return routes.filter((r) => !(dials.get(routeId(r)) ?? []).every((dial) => dial.startsWith(`${container}:`)) || !dials.has(routeId(r))).map((r) => r.metadata.name!);
  }

  private async routesOf(run: DockerRun): Promise<Route[]> {
    const { items } = await this.o.store.resources.list(ROUTE, { namespace: run.d.metadata.namespace! });
    return (items as unknown as Route[]).filter((r) => !r.metadata.deletionTimestamp && r.spec.projectServer === run.d.spec.projectServer && !r.status?.conflicts?.length);
  }

  /** Through the proxy and straight to the container; then the old container is drained and removed. */
  private async check(run: DockerRun, plan: Plan): Promise<Step> {
    await run.fault('health_check', run.signal);
    const st = await this.o.docker.inspect(this.nameOf(run.ps, plan.slot));
    const targets: ProbeTarget[] = [];
    const address = st?.addresses?.[this.o.network];
    if (address && run.ps.spec.port) targets.push({ label: 'the new container', base: `http://${address}:${run.ps.spec.port}` });
    const proxyPort = await this.o.proxyPort();
    for (const r of await this.routesOf(run))
      if (proxyPort !== undefined && !r.spec.tls)
        targets.push({ label: `Route "${r.metadata.name}" (through the proxy)`, base: `http://127.0.0.1:${proxyPort}${(r.spec.pathPrefix ?? '/').replace(/\/+$/, '')}`, host: r.spec.host });
    const until = Math.min(Date.now() + HEALTH_WINDOW_MS, deadlineOf(run.d, run.now));
    let problems: string[] = [];
    for (;;) {
      problems = (await Promise.all(targets.map((t) => probe(t, this.expectation(run.d), run.signal)))).filter((p): p is string => p !== undefined);
      if (!st?.running) problems.push('the new container stopped');
      if (problems.length === 0) break;
      if (Date.now() >= until) return { kind: 'fail', reason: 'HealthCheckFailed', message: `the health check failed: ${problems.join('; ')}` };
      await sleep(POLL_MS, run.signal);
    }
    if (plan.previous.slot !== plan.slot) {
      const old = await this.o.docker.inspect(this.nameOf(run.ps, plan.previous.slot));
      if (old) {
        await sleep(DRAIN_MS, run.signal);
        await this.o.docker.remove(old.id);
      }
    }
    return { kind: 'active' };
  }

  /** After a rollback of the server's status: waits (bounded) until the proxy dials the old slot again, then drains. */
  async waitRoutesBack(d: Deployment, ps: ProjectServer, signal: AbortSignal): Promise<void> {
    const plan = planOf(d);
    if (!plan) return;
    const routes = await this.routesOf({ d, ps, signal, fault: async () => undefined, now: Date.now(), setLive: async () => undefined });
    const want = this.nameOf(ps, plan.previous.slot);
    const until = Date.now() + 10_000;
    const admin = {};
    while ((await this.notSwitched(routes, want, admin)).length > 0 && Date.now() < until) await sleep(POLL_MS, signal);
    await sleep(DRAIN_MS, signal);
  }

  /** After a failure or a supersede: the new container goes unless it is the live one. */
  async removeCandidate(d: Deployment, ps: ProjectServer): Promise<void> {
    const plan = planOf(d);
    if (!plan) return;
    const live = liveRelease(ps)?.slot ?? 'a';
    if (live === plan.slot) return;
    const st = await this.o.docker.inspect(this.nameOf(ps, plan.slot));
    if (st && st.labels['deployer.dev/owner-uid'] === ps.metadata.uid) await this.o.docker.remove(st.id);
  }
}
