// deployer's entry point: reads the settings, starts (or connects to) Postgres, opens the
// store, serves the API, and shuts down cleanly on SIGTERM.
//   HOST, PORT               where the API listens (127.0.0.1:8080)
//   DATABASE_URL             an existing PostgreSQL; without it deployer runs its own
//   DEPLOYER_DATA_DIR        where data lives (.deployer)
//   DEPLOYER_ADMIN_TOKEN     the bootstrap admin token (else generated on first start)
//   DEPLOYER_CONTROLLERS     which controllers run here (default all, or none); or --controllers=a,b
//   DEPLOYER_STATIC_IMAGE    the image static servers run (default: deployer/static, built
//                            here FROM scratch from the host's busybox)
//   DOCKER_HOST              the Docker engine (default the local socket)
//   DEPLOYER_PROXY_PORT, DEPLOYER_PROXY_HTTPS_PORT   the proxy's host ports (8081, 8443)
//   DEPLOYER_PROXY_ADMIN_PORT  the proxy admin API's port on 127.0.0.1 (0: Docker picks)
//   DEPLOYER_PROXY_IMAGE     the proxy's image (default: deployer/caddy, built here from the
//                            host's caddy and its shared libraries)
//   DEPLOYER_TLS_PORT        the API over HTTPS too, for kubectl (6443; `off`: none)
//   DEPLOYER_TLS_CERT, DEPLOYER_TLS_KEY  PEM files for it (default: a self-signed pair made
//                            with openssl and kept in <data dir>/tls)
//   --no-api                 run controllers only
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { join, resolve } from 'node:path';
import { buildApi, type Api } from './api/app.js';
import type { TlsInfo } from './api/routes/tls-info.js';
import { loadOrCreateCertificate, serveTls, type TlsMaterial } from './api/tls.js';
import { CONTROLLERS, NEEDS_DOCKER, selectControllers, type DockerDeps } from './controllers/index.js';
import { containerLogSource, DockerEventStream, DockerRuntime, installationFilter, networkName } from './docker/index.js';
import { caddyImage, staticImage } from './images/index.js';
import { createMetrics } from './metrics/index.js';
import type { LogFn } from './controllers/runtime/log.js';
import { ControllerManager, processIdentity } from './controllers/runtime/manager.js';
import { ApiError } from './resources/index.js';
import { newSecret, openStore, startEmbedded, type EmbeddedDatabase } from './store/index.js';

// Structured JSON log lines on stderr (pino, as Fastify uses), with the controller, key or
// kind a runtime message is about.
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
const log: LogFn = (msg, err, fields) => {
  if (err) logger.warn({ ...fields, err }, msg);
  else logger.info({ ...fields }, msg);
};

async function bootstrapAdmin(store: Awaited<ReturnType<typeof openStore>>, dataDir: string): Promise<void> {
  const admin = { name: 'admin', role: 'admin' as const, namespaces: ['*'] };
  const given = process.env.DEPLOYER_ADMIN_TOKEN;
  if (given) {
    await store.tokens.upsert(admin, given);
    return;
  }
  if (await store.tokens.exists('admin')) return;
  const secret = newSecret();
  try {
    await store.tokens.create(admin, secret);
  } catch (err) {
    if (err instanceof ApiError && err.code === 409) return; // another process made it first
    throw err;
  }
  const file = join(dataDir, 'admin-token');
  try {
    await writeFile(file, secret + '\n', { mode: 0o600 });
  } catch (err) {
    // The secret is shown nowhere else: take the token back, so the next start makes a new
    // one instead of leaving an admin whose secret nobody has (a full disk, for one).
    await rm(file, { force: true }).catch(() => undefined);
    await store.tokens.delete('admin').catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    throw new Error(
      `cannot write the admin token to ${file} (${e.code === 'ENOSPC' ? 'no space left on the device' : e.message}); ${e.code === 'ENOSPC' ? 'free space in the data directory' : 'fix the data directory'} and start again, or set DEPLOYER_ADMIN_TOKEN`,
    );
  }
  process.stdout.write(`deployer: admin token (shown once, also in ${file}):\n${secret}\n`);
}

async function tlsMaterial(dataDir: string, host: string): Promise<TlsMaterial> {
  const certFile = process.env.DEPLOYER_TLS_CERT;
  const keyFile = process.env.DEPLOYER_TLS_KEY;
  if (!certFile !== !keyFile) throw new Error('set both DEPLOYER_TLS_CERT and DEPLOYER_TLS_KEY, or neither');
  if (certFile && keyFile) return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  return loadOrCreateCertificate(join(dataDir, 'tls'), host);
}

function parseArgs(argv: string[]): { api: boolean; controllers: string | undefined } {
  let api = true;
  let controllers = process.env.DEPLOYER_CONTROLLERS;
  for (const a of argv) {
    if (a === '--no-api') api = false;
    else if (a.startsWith('--controllers=')) controllers = a.slice('--controllers='.length);
    else throw new Error(`unknown argument "${a}"; deployer takes --controllers=a,b and --no-api`);
  }
  return { api, controllers };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const names = selectControllers(args.controllers);
  const identity = processIdentity();
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8080);
  const dataDir = resolve(process.env.DEPLOYER_DATA_DIR ?? '.deployer');
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  // Docker first: without it, say so in one line before starting anything.
  const runtime = names.some((n) => NEEDS_DOCKER.includes(n)) ? new DockerRuntime() : undefined;
  if (runtime) {
    try {
      await runtime.ping();
    } catch (err) {
      process.stderr.write(
        `deployer: Docker is not reachable (${(err as Error).message}); start Docker (npm start does so where it may), or run only controllers that need none (--controllers=none)\n`,
      );
      process.exit(1);
    }
  }

  let embedded: EmbeddedDatabase | undefined;
  let connectionString = process.env.DATABASE_URL;
  if (!connectionString) {
    embedded = await startEmbedded(dataDir, (m) => log(m));
    connectionString = embedded.connectionString;
    log(`started PostgreSQL in ${join(dataDir, 'postgres')}`);
  }
  const store = await openStore({ connectionString, log });
  await bootstrapAdmin(store, dataDir);
  // one registry for the process: the API counts requests into it, the controllers reconciles
  const metrics = createMetrics();
  let api: Api | undefined;
  let tls: Awaited<ReturnType<typeof serveTls>> | undefined;
  if (args.api) {
    // container logs: through the controllers' engine, or (API only) a client made for them
    const logs = containerLogSource(runtime ?? new DockerRuntime(), () => store.records.installation());
    let tlsInfo: TlsInfo | undefined;
    api = await buildApi({ store, identity, logs, metrics, loggerInstance: logger.child({ component: 'api' }), tls: () => tlsInfo });
    // HTTPS first: once /readyz answers on HTTP, /api/tls already tells where HTTPS is
    const tlsPort = process.env.DEPLOYER_TLS_PORT ?? '6443';
    if (tlsPort !== 'off') {
      const material = await tlsMaterial(dataDir, host);
      try {
        tls = await serveTls(api.app, material, host, Number(tlsPort));
      } catch (err) {
        throw new Error(`cannot serve HTTPS on ${host}:${tlsPort} (${(err as Error).message}); set DEPLOYER_TLS_PORT to a free port, or to off`);
      }
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      tlsInfo = { url: `https://${shown}:${tls.port}`, certificate: material.cert };
      log(`serving the API on ${tlsInfo.url} (kubectl sends tokens only over TLS)`);
    }
    await api.app.listen({ host, port });
    log(`serving the API on http://${host}:${port}`);
  }
  let events: DockerEventStream | undefined;
  let docker: DockerDeps | undefined;
  if (runtime) {
    const installation = await store.records.installation();
    const image = process.env.DEPLOYER_STATIC_IMAGE || (await runtime.ensureImage(staticImage()));
    events = new DockerEventStream({ labelFilters: installationFilter(installation), log: (m, e) => log(m, e) });
    events.start();
    const proxyImage = names.includes('route') ? process.env.DEPLOYER_PROXY_IMAGE || (await runtime.ensureImage(caddyImage())) : '';
    docker = {
      runtime,
      events,
      installation,
      staticImage: image,
      network: networkName(installation),
      proxy: {
        image: proxyImage,
        httpPort: Number(process.env.DEPLOYER_PROXY_PORT ?? 8081),
        httpsPort: Number(process.env.DEPLOYER_PROXY_HTTPS_PORT ?? 8443),
        adminPort: Number(process.env.DEPLOYER_PROXY_ADMIN_PORT ?? 0),
      },
    };
    log(`Docker connected; installation ${installation}; static image ${image}`);
  }
  const deps = { store, identity, log, docker };
  const manager = new ControllerManager({ store, identity, controllers: names.map((n) => CONTROLLERS[n](deps)), log, metrics });
  manager.start();
  log(`identity ${identity}; controllers: ${names.length ? names.join(', ') : 'none'}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    const force = setTimeout(() => {
      log('shutdown took longer than 20 s; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    try {
      await api?.app.close(); // stops accepting, finishes in-flight requests, ends watches
      await tls?.close();
      await manager.stop(); // aborts reconciles, releases every lease at once
      await events?.stop();
      await store.close();
      await embedded?.stop();
    } catch (err) {
      log('error during shutdown', err);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  log('failed to start', err);
  process.exit(1);
});
