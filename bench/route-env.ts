// What bench/route runs against, as `npm start` runs it but in one process: a fresh database
// (bench/database.ts: embedded PostgreSQL unless DATABASE_URL is set), the store, the real
// Docker engine and its events stream, the projectserver and route controllers under a
// ControllerManager (short leases), and the HTTP API (buildApi) on 127.0.0.1 with an admin
// token. The proxy is published on host ports Docker picks (0), as the integration tests do.
//
// close() undoes whatever setUp() got to, in reverse, and can be called at any point — also
// while setUp() is still running (after a signal): every container, volume and network
// labelled with this run's installation is removed, twice (before the database goes, and
// after it, for what a step still running made meanwhile).
import { randomBytes } from 'node:crypto';
import { BenchApi, pollUntil, sweepInstallation, type ApiReply } from './lib-env.js';
import { buildApi, type Api } from '../api/app.js';
import { CONTROLLERS, type DockerDeps } from '../controllers/index.js';
import { ControllerManager } from '../controllers/runtime/manager.js';
import { DockerEventStream, DockerRuntime, installationFilter, networkName, proxyContainerName } from '../docker/index.js';
import { caddyImage, staticImage } from '../images/index.js';
import { openStore, type Store } from '../store/index.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { engine } from './health-docker.js';
import { traceFetch, TracedRuntime, type Call } from './route-trace.js';

/** Short leases, as the integration tests use: the bench waits for leadership only once. */
const LEASES = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };
export { API_BASE, type ApiReply } from './lib-env.js';

export class RouteBenchEnv {
  /** The bench's own Docker calls. */
  readonly docker = new DockerRuntime();
  /** The route controller's Docker calls, timed (the projectserver controller gets `docker`). */
  readonly traced = new TracedRuntime();
  /** The route controller's admin API calls, timed. */
  readonly adminCalls: Call[] = [];
  db?: BenchDatabase;
  store?: Store;
  installation?: string;
  engineVersion = '';
  controllerLogLines = 0;
  private events?: DockerEventStream;
  private manager?: ControllerManager;
  private api?: Api;
  private client?: BenchApi;
  private untraceFetch?: () => void;
  private closing?: Promise<void>;

  constructor(private readonly log: (msg: string) => void) {}

  async setUp(): Promise<void> {
    await this.docker.ping();
    this.engineVersion = ((await engine('GET', '/version')) as { Version: string }).Version;
    this.db = await openBenchDatabase({ prefix: 'bench_route', log: this.log });
    const store = (this.store = await openStore({ connectionString: this.db.url, hubPollIntervalMs: 200, maintenance: false }));
    const installation = (this.installation = await store.records.installation());
    const [staticTag, caddyTag] = await Promise.all([this.docker.ensureImage(staticImage()), this.docker.ensureImage(caddyImage())]);
    const events = (this.events = new DockerEventStream({ labelFilters: installationFilter(installation), log: (m, e) => this.log(`events: ${m}${e ? `: ${(e as Error).message}` : ''}`) }));
    events.start();
    this.untraceFetch = traceFetch(this.adminCalls);
    const controllerLog = (msg: string, err?: unknown) => {
      this.controllerLogLines++;
      if (process.env.BENCH_LOG) this.log(`controller: ${msg}${err ? `: ${(err as Error).message}` : ''}`);
    };
    const identity = `bench-route-${process.pid}`;
    const deps: Omit<DockerDeps, 'runtime'> = {
      events,
      installation,
      staticImage: staticTag,
      network: networkName(installation),
      proxy: { image: caddyTag, httpPort: 0, httpsPort: 0, adminPort: 0 },
    };
    this.manager = new ControllerManager({
      store,
      identity,
      controllers: [
        CONTROLLERS.projectserver({ store, identity, log: controllerLog, docker: { ...deps, runtime: this.docker } }),
        CONTROLLERS.route({ store, identity, log: controllerLog, docker: { ...deps, runtime: this.traced } }),
      ],
      timings: LEASES,
      log: controllerLog,
    });
    this.manager.start();
    const api = (this.api = await buildApi({ store, shutdownGraceMs: 300 }));
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = api.app.server.address();
    const token = `bench-${randomBytes(12).toString('hex')}`;
    await store.tokens.create({ name: 'bench', role: 'admin', namespaces: ['*'] }, token);
    this.client = new BenchApi(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, token);
    await this.until(async () => events.connected && this.manager!.leadership().every((l) => l.leading), 'the events stream and leadership', 15_000);
  }

  /** One request to the API as an admin, over a keep-alive socket. */
  request(method: string, path: string, body?: unknown): Promise<ApiReply> {
    return this.client!.request(method, path, body);
  }

  /** PUT of a whole object; rejects unless the API created or replaced it. */
  put(namespace: string, plural: string, obj: { kind: string; metadata: { name: string }; spec: unknown }): Promise<ApiReply> {
    return this.client!.put(namespace, plural, obj);
  }

  status(namespace: string, plural: string, name: string): Promise<Record<string, any>> {
    return this.client!.status(namespace, plural, name);
  }

  /** The proxy container's id and the host port its HTTP server is published on, once it runs. */
  async proxy(): Promise<{ id: string; httpPort: number }> {
    const st = await this.until(async () => {
      const s = await this.docker.inspect(proxyContainerName(this.installation!));
      return s?.running && s.ports.some((p) => p.container === 80) && s;
    }, 'the proxy container', 30_000);
    return { id: st.id, httpPort: st.ports.find((p) => p.container === 80)!.hostPort };
  }

  /** Polls `fn` every 20 ms until it returns a truthy value. */
  until<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms: number): Promise<T> {
    return pollUntil(fn, what, ms);
  }

  /** Idempotent; every caller awaits the same cleanup. */
  close(): Promise<void> {
    return (this.closing ??= this.cleanup());
  }

  private async cleanup(): Promise<void> {
    const warn = (what: string) => (err: Error) => this.log(`${what}: ${err.message}`);
    this.client?.close();
    await this.api?.app.close().catch(warn('closing the API'));
    await this.manager?.stop().catch(warn('stopping the manager'));
    await this.events?.stop().catch(warn('stopping the events stream'));
    this.untraceFetch?.();
    await this.sweep();
    await this.store?.close().catch(warn('closing the store'));
    await this.db?.cleanup();
    await this.sweep();
  }

  private sweep(): Promise<void> {
    return sweepInstallation(this.docker, this.installation, (m) => this.log(m));
  }
}
