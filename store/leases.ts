// Leases for leader election, one row per controller. Postgres' clock decides expiry; the
// token (the fencing token) goes up on every change of holder. What this does not do: keep
// time for the holder — the caller renews before `expiresAt` and stops its work when it
// cannot (see controllers/runtime).
import type pg from 'pg';
import { mapPgError } from './pg-errors.js';

export interface LeaseState {
  name: string;
  /** The holder now, or null when released or never taken. */
  holder: string | null;
  token: number;
  acquiredAt: string | null;
  renewedAt: string | null;
  /** By the database's clock. */
  expiresAt: string | null;
  /** Whether the lease is held by someone at the database's current time. */
  valid: boolean;
}

export interface AcquireResult extends LeaseState {
  /** True when `identity` holds the lease after the call. */
  acquired: boolean;
}

// Each named lease is taken when it is free or expired, or renewed when `identity` holds it (the
// token goes up on every change of holder), for many leases at once (one process' leases,
// every retry period) in one statement. Names are taken in sorted order so that two processes
// lock the rows in the same order (no deadlock). The refused names are read in the same statement: the outer SELECT
// sees the rows as they were before the upsert, which for a refused lease is its holder now —
// except a row another process inserted after this statement's snapshot: such a name is
// missing from the answer, and counts as refused.
const ACQUIRE_MANY = `
WITH up AS (
  INSERT INTO leases AS l (name, holder, token, acquired_at, renewed_at, expires_at)
  SELECT n, $2, 1, clock_timestamp(), clock_timestamp(), clock_timestamp() + make_interval(secs => $3 / 1000.0)
  FROM unnest($1::text[]) AS n ORDER BY n
  ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.acquired_at ELSE clock_timestamp() END,
    renewed_at = clock_timestamp(),
    expires_at = EXCLUDED.expires_at
  WHERE l.holder = EXCLUDED.holder OR l.holder IS NULL OR l.expires_at <= clock_timestamp()
  RETURNING name, holder, token, acquired_at, renewed_at, expires_at, expires_at > clock_timestamp() AS valid
)
SELECT *, true AS acquired FROM up
UNION ALL
SELECT name, holder, token, acquired_at, renewed_at, expires_at, (holder IS NOT NULL AND expires_at > clock_timestamp()) AS valid, false AS acquired
FROM leases WHERE name = ANY($1::text[]) AND name NOT IN (SELECT name FROM up)`;

const READ = `SELECT name, holder, token, acquired_at, renewed_at, expires_at,
  (holder IS NOT NULL AND expires_at > clock_timestamp()) AS valid FROM leases`;

type Row = { name: string; holder: string | null; token: string; acquired_at: Date | null; renewed_at: Date | null; expires_at: Date | null; valid: boolean };

const toState = (r: Row): LeaseState => ({
  name: r.name,
  holder: r.holder,
  token: Number(r.token),
  acquiredAt: r.acquired_at?.toISOString() ?? null,
  renewedAt: r.renewed_at?.toISOString() ?? null,
  expiresAt: r.expires_at?.toISOString() ?? null,
  valid: r.valid,
});

export class LeaseStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Takes the lease when it is free or expired, or renews it when `identity` holds it.
   * One statement: two processes racing for a free lease cannot both win.
   */
  async tryAcquireOrRenew(name: string, identity: string, durationMs: number): Promise<AcquireResult> {
    const [r] = await this.tryAcquireOrRenewMany([name], identity, durationMs);
    if (r) return r;
    // another process inserted the row after the statement's snapshot: it holds the lease
    try {
      const cur = await this.pool.query<Row>(`${READ} WHERE name = $1`, [name]);
      return { ...toState(cur.rows[0]), acquired: false };
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /**
   * tryAcquireOrRenew for many leases in ONE statement (a process renews all of its leases
   * together). The answer has a row per name that exists after the call (`acquired` as
   * above); a name without a row was refused by a holder this statement could not read —
   * count it as refused. Duplicate names are taken once.
   */
  async tryAcquireOrRenewMany(names: readonly string[], identity: string, durationMs: number): Promise<AcquireResult[]> {
    if (names.length === 0) return [];
    try {
      const res = await this.pool.query<Row & { acquired: boolean }>({ name: 'leaseAcquireMany', text: ACQUIRE_MANY, values: [[...new Set(names)], identity, durationMs] });
      return res.rows.map((r) => ({ ...toState(r), acquired: r.acquired }));
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /** Gives up those of the named leases that `identity` holds, in one statement. */
  async releaseMany(names: readonly string[], identity: string): Promise<void> {
    if (names.length === 0) return;
    try {
      await this.pool.query('UPDATE leases SET holder = NULL, expires_at = clock_timestamp() WHERE name = ANY($1::text[]) AND holder = $2', [[...names], identity]);
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /** Gives the lease up at once (graceful shutdown), if `identity` holds it. */
  async release(name: string, identity: string): Promise<void> {
    try {
      await this.pool.query('UPDATE leases SET holder = NULL, expires_at = clock_timestamp() WHERE name = $1 AND holder = $2', [name, identity]);
    } catch (err) {
      throw mapPgError(err);
    }
  }

  async list(): Promise<LeaseState[]> {
    try {
      return (await this.pool.query<Row>(`${READ} ORDER BY name`)).rows.map(toState);
    } catch (err) {
      throw mapPgError(err);
    }
  }
}
