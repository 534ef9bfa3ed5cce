// A whole deployer process with controllers on a fresh database, for end-to-end tests: its own
// data dir, the static and proxy images built once, a free proxy port; everything it made in
// Docker is removed at teardown (installationOf).
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { DockerRuntime } from '../../docker/index.js';
import { caddyImage, staticImage } from '../../images/index.js';
import { freePort } from '../../store/index.js';
import { installationOf } from './installation.js';
import { freshDatabase } from './pg.js';
import { spawnServer, type ServerProcess } from './process.js';

export interface Deployer {
  server: ServerProcess;
  db: string;
  installation: string;
  docker: DockerRuntime;
  /** A temp dir removed at teardown; the data dir is `<dir>/data`. */
  dir: string;
  proxyPort: number;
  staticImage: string;
}

/** Spawns deployer (not yet ready: call `server.waitReady()`) running `controllers`. */
export async function spawnDeployer(t: Test, opts: { token: string; controllers: readonly string[]; tmpPrefix: string; env?: Record<string, string> }): Promise<Deployer> {
  const db = await freshDatabase(t);
  const { installation, docker } = await installationOf(t, db);
  const dir = await mkdtemp(join(tmpdir(), opts.tmpPrefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [staticTag, caddyTag] = [await docker.ensureImage(staticImage()), await docker.ensureImage(caddyImage())];
  const proxyPort = await freePort();
  const server = await spawnServer(t, {
    DATABASE_URL: db,
    DEPLOYER_DATA_DIR: join(dir, 'data'),
    DEPLOYER_ADMIN_TOKEN: opts.token,
    DEPLOYER_CONTROLLERS: opts.controllers.join(','),
    DEPLOYER_PROXY_PORT: String(proxyPort),
    DEPLOYER_PROXY_HTTPS_PORT: '0',
    DEPLOYER_STATIC_IMAGE: staticTag,
    DEPLOYER_PROXY_IMAGE: caddyTag,
    ...opts.env,
  });
  return { server, db, installation, docker, dir, proxyPort, staticImage: staticTag };
}

/** An archive URL that answers 404 (on every interface, so containers reach it), for deployments that fail. */
export async function missingArchive(t: Test): Promise<string> {
  const missing = createServer((_req, res) => res.writeHead(404).end('no such archive'));
  await new Promise<void>((r) => missing.listen(0, '0.0.0.0', r));
  t.teardown(() => new Promise((r) => missing.close(r)));
  return `http://127.0.0.1:${(missing.address() as { port: number }).port}/site.tar.gz`;
}
