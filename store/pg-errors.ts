// Database errors become domain errors at the edge of the store (as kine does).
import { ApiError, unavailable } from '../resources/index.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

/** True for errors that mean "the database cannot be reached right now". */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  // 08xxx connection exceptions, 57P01-57P03 shutdown / cannot connect now.
  if (e.code && (/^08/.test(e.code) || /^57P0[123]$/.test(e.code))) return true;
  const msg = e.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|Connection refused/i.test(msg);
}

/** Turns an error from pg into an ApiError when it is one a client should see as such. */
export function mapPgError(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; message?: string };
  if (isConnectionError(err)) return unavailable('the database is unavailable; retry shortly', 2);
  if (e?.code === '53100')
    // the database's disk: deployer's data directory for the embedded one, the server's own otherwise
    return unavailable("the database is out of disk space: the write was not made; free space on the database's disk (deployer's data directory when it runs the embedded database)", 5);
  if (e?.code && /^53/.test(e.code)) return unavailable(`the database is out of resources (${e.code}); retry shortly`, 2);
  if (e?.code === '40001' || e?.code === '40P01') return unavailable('the database aborted a conflicting transaction; retry', 1);
  return err;
}
