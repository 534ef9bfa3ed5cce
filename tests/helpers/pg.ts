// Per-test PostgreSQL databases.
//
// `npm test` starts one embedded PostgreSQL for the whole run and exports
// DATABASE_URL (an admin connection to its `postgres` database). Each test
// that needs a database calls freshDatabase(t): it gets an empty database of
// its own, dropped again when the test ends.
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';

/** The admin connection string from DATABASE_URL; throws a clear error if unset. */
export function adminUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'DATABASE_URL is not set. Run the tests with `npm test` (it starts a PostgreSQL ' +
        'for the run), or set DATABASE_URL to a server where this user may CREATE DATABASE.',
    );
  }
  return url;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The same server and credentials as `base`, but database `name`. */
export function databaseUrl(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Create a new, empty database for this test and return its connection
 * string. It is dropped (WITH (FORCE), so open connections do not block it)
 * when `t` tears down.
 */
export async function freshDatabase(t: Test): Promise<string> {
  const base = adminUrl();
  const name = `t_${process.pid}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}`);
  t.teardown(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  });
  return databaseUrl(base, name);
}
