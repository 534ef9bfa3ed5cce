// Real controllers for integration tests: a fresh database (the installation id comes from
// it, so the Docker objects of each test are labelled apart), the real Docker engine and the
// deployer/static image, the Docker events stream, and a ControllerManager running the named
// controllers with short lease timings. At teardown everything stops and every container,
// volume and network of the installation is removed; `leaks()` lists what is still there.
import type { Test } from 'tap';
import { CONTROLLERS, type DockerDeps } from '../../controllers/index.js';
import { ControllerManager } from '../../controllers/runtime/manager.js';
import { DockerEventStream, DockerRuntime, installationFilter, networkName } from '../../docker/index.js';
import { caddyImage, staticImage } from '../../images/index.js';
import { kindByName, type ResourceObject } from '../../resources/index.js';
import { openStore, type Store } from '../../store/index.js';
import { removeInstallation } from './installation.js';
import { freshDatabase } from './pg.js';

export const PS_KIND = kindByName('ProjectServer')!;
export const EVENT_KIND = kindByName('Event')!;
export const FAST_LEASES = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ControllerHarness {
  store: Store;
  /** The database the controllers use (an API in the same test can share it). */
  connectionString: string;
  docker: DockerRuntime;
  deps: DockerDeps;
  manager: ControllerManager;
  installation: string;
  /** Polls `fn` every 50 ms until it returns a truthy value; throws with `what` after `ms`. */
  until<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, ms?: number): Promise<T>;
  get(namespace: string, name: string): Promise<ResourceObject | null>;
  events(namespace: string, involvedName: string): Promise<ResourceObject[]>;
  /** Names of the installation's containers and volumes still in Docker. */
  leaks(): Promise<string[]>;
}

let staticTag: Promise<string> | undefined;
let caddyTag: Promise<string> | undefined;

export async function startControllers(t: Test, names: string[], opts: { connectionString?: string } = {}): Promise<ControllerHarness> {
  const connectionString = opts.connectionString ?? (await freshDatabase(t));
  const store = await openStore({ connectionString, hubPollIntervalMs: 200 });
  const docker = new DockerRuntime();
  await docker.ping(); // never skip: the test command starts Docker
  const installation = await store.records.installation();
  staticTag ??= docker.ensureImage(staticImage());
  const events = new DockerEventStream({ labelFilters: installationFilter(installation) });
  events.start();
  caddyTag ??= docker.ensureImage(caddyImage());
  const deps: DockerDeps = {
    runtime: docker,
    events,
    installation,
    staticImage: await staticTag,
    network: networkName(installation),
    // host ports 0: Docker picks free ones, so test files run side by side
    // the drift check every 2 s, not every 30: route.test.ts waits for it to repair a hand edit
    proxy: { image: await caddyTag, httpPort: 0, httpsPort: 0, adminPort: 0, driftCheckMs: 2000 },
  };
  const log = (msg: string, err?: unknown) => {
    if (process.env.TEST_LOG) console.error(msg, err ?? '');
  };
  const manager = new ControllerManager({
    store,
    identity: `test-${process.pid}`,
    controllers: names.map((n) => CONTROLLERS[n]({ store, identity: `test-${process.pid}`, log, docker: deps })),
    timings: FAST_LEASES,
    log,
  });
  manager.start();
  const leaks = async () => [
    ...(await docker.listContainers(installationFilter(installation))).map((c) => `container ${c.name}`),
    ...(await docker.listVolumes(installationFilter(installation))).map((v) => `volume ${v.name}`),
  ];
  t.teardown(async () => {
    await manager.stop();
    await events.stop();
    await store.close();
    await removeInstallation(docker, installation);
  });
  const until: ControllerHarness['until'] = async (fn, what, ms = 20_000) => {
    const end = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v) return v as never;
      } catch (err) {
        last = err;
      }
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
      await sleep(50);
    }
  };
  const get = async (namespace: string, name: string) => {
    try {
      return await store.resources.get(PS_KIND, namespace, name);
    } catch (err) {
      if ((err as { code?: number }).code === 404) return null;
      throw err;
    }
  };
  const eventsOf = async (namespace: string, involvedName: string) =>
    (await store.resources.list(EVENT_KIND, { namespace })).items.filter(
      (e) => (e as unknown as { involvedObject: { name: string } }).involvedObject.name === involvedName,
    );
  return { store, connectionString, docker, deps, manager, installation, until, get, events: eventsOf, leaks };
}
