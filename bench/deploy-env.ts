// What bench/deploy runs against, as `npm start` runs it but in one process: a fresh database
// (bench/database.ts: embedded PostgreSQL unless DATABASE_URL is set), the store, the real
// Docker engine and its events stream, the projectserver, route and deployment controllers
// under a ControllerManager (short leases), and the HTTP API on 127.0.0.1 with an admin token.
// The proxy is published on host ports Docker picks (0). The deployment and projectserver
// controllers each get their own TracedRuntime (deploy-trace.ts), so their Docker calls can be
// told apart; the route controller and the bench's own calls use plain DockerRuntimes.
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
import { containerName, DockerEventStream, DockerRuntime, installationFilter, networkName, proxyContainerName, volumeName } from '../docker/index.js';
import { caddyImage, staticImage } from '../images/index.js';
import { kindByName } from '../resources/index.js';
import { openStore, type Store } from '../store/index.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { ArchiveServer } from './deploy-site.js';
import { PhaseLog, TracedRuntime } from './deploy-trace.js';
import { engine, now, sleep } from './health-docker.js';

const LEASES = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };
export const NS = 'bench';
export const SERVER = 'web';
export const HOST = 'web.bench.test';

export interface Site {
  /** The server's container, its volume and that volume's directory on this host (null: not readable here). */
  containerId: string;
  volume: string;
  mountpoint: string | null;
  proxyPort: number;
}

export class DeployBenchEnv {
  /** The bench's own Docker calls (the raw operations, the damage done to `current`). */
  readonly docker = new DockerRuntime();
  readonly deployment = new TracedRuntime();
  readonly projectserver = new TracedRuntime();
  readonly phases = new PhaseLog();
  readonly archives = new ArchiveServer();
  db?: BenchDatabase;
  store?: Store;
  installation?: string;
  staticImage = '';
  engineVersion = '';
  /** The controllers' log lines, each with this process' uptime (s). */
  controllerLog: string[] = [];
  private events?: DockerEventStream;
  private manager?: ControllerManager;
  private api?: Api;
  private client?: BenchApi;
  private closing?: Promise<void>;

  constructor(private readonly log: (msg: string) => void) {}

  async setUp(): Promise<void> {
    await this.docker.ping();
    this.engineVersion = ((await engine('GET', '/version')) as { Version: string }).Version;
    await this.archives.listen();
    this.db = await openBenchDatabase({ prefix: 'bench_deploy', log: this.log });
    const store = (this.store = await openStore({ connectionString: this.db.url, hubPollIntervalMs: 200, maintenance: false }));
    const installation = (this.installation = await store.records.installation());
    const [staticTag, caddyTag] = await Promise.all([this.docker.ensureImage(staticImage()), this.docker.ensureImage(caddyImage())]);
    this.staticImage = staticTag;
    const events = (this.events = new DockerEventStream({ labelFilters: installationFilter(installation), log: (m, e) => this.log(`events: ${m}${e ? `: ${(e as Error).message}` : ''}`) }));
    events.start();
    await this.phases.start(store, NS);
    const controllerLog = (msg: string, err?: unknown) => {
      const line = `[${(performance.now() / 1000).toFixed(1)} s] ${msg}${err ? `: ${(err as Error).message}` : ''}`;
      this.controllerLog.push(line);
      if (process.env.BENCH_LOG) this.log(`controller: ${line}`);
    };
    const identity = `bench-deploy-${process.pid}`;
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
        CONTROLLERS.projectserver({ store, identity, log: controllerLog, docker: { ...deps, runtime: this.projectserver } }),
        CONTROLLERS.route({ store, identity, log: controllerLog, docker: { ...deps, runtime: new DockerRuntime() } }),
        CONTROLLERS.deployment({ store, identity, log: controllerLog, docker: { ...deps, runtime: this.deployment } }),
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

  /** The static server SERVER and a Route HOST to it, both ready. */
  async site(): Promise<Site> {
    await this.put('projectservers', { kind: 'ProjectServer', metadata: { name: SERVER }, spec: { serviceType: 'static' } });
    await this.put('routes', { kind: 'Route', metadata: { name: SERVER }, spec: { host: HOST, projectServer: SERVER } });
    const owner = { namespace: NS, name: SERVER };
    const st = await this.until(async () => {
      const s = await this.docker.inspect(containerName(this.installation!, owner));
      return s?.running && s;
    }, `server ${SERVER} to run`, 60_000);
    await this.until(async () => (await this.status('routes', SERVER)).ready === true, `Route ${SERVER} to be ready`, 30_000);
    const proxy = await this.until(async () => {
      const s = await this.docker.inspect(proxyContainerName(this.installation!));
      return s?.running && s.ports.some((p) => p.container === 80) && s;
    }, 'the proxy container', 30_000);
    const volume = volumeName(this.installation!, owner);
    return { containerId: st.id, volume, mountpoint: await this.docker.volumeMountpoint(volume), proxyPort: proxy.ports.find((p) => p.container === 80)!.hostPort };
  }

  /** One request to the API as an admin, over a keep-alive socket. */
  request(method: string, path: string, body?: unknown): Promise<ApiReply> {
    return this.client!.request(method, path, body);
  }

  /** PUT of a whole object in NS; rejects unless the API created or replaced it. */
  put(plural: string, obj: { kind: string; metadata: { name: string }; spec: unknown }): Promise<ApiReply> {
    return this.client!.put(NS, plural, obj);
  }

  status(plural: string, name: string): Promise<Record<string, any>> {
    return this.client!.status(NS, plural, name);
  }

  /** How many Events of NS, by reason (deployer records them without waiting: give it a moment). */
  async eventReasons(): Promise<Record<string, number>> {
    const { items } = await this.store!.resources.list(kindByName('Event')!, { namespace: NS });
    const out: Record<string, number> = {};
    // a repeated Event is one object with a count
    for (const e of items as unknown as { reason?: string; count?: number }[]) out[e.reason ?? ''] = (out[e.reason ?? ''] ?? 0) + (e.count ?? 1);
    return out;
  }

  /** Waits until neither traced controller has made a Docker call for `ms` (at most 15 s). */
  async quiet(ms: number): Promise<void> {
    const end = now() + 15_000;
    while (now() - Math.max(this.deployment.lastEnd(), this.projectserver.lastEnd()) < ms && now() < end) await sleep(20);
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
    this.phases.close();
    await this.api?.app.close().catch(warn('closing the API'));
    await this.manager?.stop().catch(warn('stopping the manager'));
    await this.events?.stop().catch(warn('stopping the events stream'));
    await this.archives.close().catch(warn('closing the archive server'));
    await this.sweep();
    await this.store?.close().catch(warn('closing the store'));
    await this.db?.cleanup();
    await this.sweep();
  }

  private sweep(): Promise<void> {
    return sweepInstallation(this.docker, this.installation, (m) => this.log(m));
  }
}
