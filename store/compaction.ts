// Compaction of the events log: keeps at least `minAgeSeconds` of history and at least
// `minRevisions` revisions, and always the newest row of every live object (so that a
// continue token at any revision after the compacted one can still be served).
import type pg from 'pg';
import { SQL } from './sql.js';

export interface CompactionOptions {
  minAgeSeconds?: number;
  minRevisions?: number;
}

/** Compacts once. Returns the compacted revision (unchanged when there was nothing to do). */
export async function compactOnce(pool: pg.Pool, opts: CompactionOptions = {}): Promise<number> {
  const minAge = opts.minAgeSeconds ?? 300;
  const minRevs = opts.minRevisions ?? 1000;
  const client = await pool.connect();
  try {
    const target = Number((await client.query<{ target: string }>(SQL.compactTarget, [minAge, minRevs])).rows[0].target);
    const current = Number((await client.query<{ revision: string }>(SQL.compactedRevision)).rows[0].revision);
    if (target <= current) return current;
    await client.query('BEGIN');
    try {
      // Mark first, in the same transaction: a reader sees both changes or neither.
      await client.query(SQL.compactSet, [target]);
      await client.query(SQL.compactDelete, [target]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return target;
  } finally {
    client.release();
  }
}
