// Leases for leader election, one row per controller. Postgres' clock decides expiry; the
// token (the fencing token) goes up on every change of holder, and on every new session of the
// same holder. A holder's rounds run on its own session (lease-session.ts), whose advisory lock
// tells competitors whether the holder is still connected: a lease whose holder's session is
// gone is free before it expires. What this does not do: keep time for the holder — the caller
// renews before `expiresAt`, stops its work when it cannot, and stops at once when its session
// is lost (see controllers/runtime).
import type pg from 'pg';
import { mapPgError } from './pg-errors.js';
import { LEASE_LOCK_CLASS, LeaseSession, RELEASE_CHANNEL, type SessionEvents } from './lease-session.js';

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

// Each named lease is taken when it is free, expired or its holder's session is gone (the lock on
// its holder_key can be taken: pg_try_advisory_xact_lock, let go at the statement's commit), or
// renewed when `identity` holds it (the token goes up on every change of holder or of the
// holder's session), for many leases at once (one process' leases, every retry period) in one
// statement. Names are taken in sorted order so that two processes lock the rows in the same
// order (no deadlock). The refused names are read in the same statement: the outer SELECT sees
// the rows as they were before the upsert, which for a refused lease is its holder now — except
// a row another process inserted after this statement's snapshot: such a name is missing from
// the answer, and counts as refused.
const ACQUIRE_MANY = `
WITH up AS (
  INSERT INTO leases AS l (name, holder, holder_key, token, acquired_at, renewed_at, expires_at)
  SELECT n, $2, $4::int, 1, clock_timestamp(), clock_timestamp(), clock_timestamp() + make_interval(secs => $3 / 1000.0)
  FROM unnest($1::text[]) AS n ORDER BY n
  ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    holder_key = EXCLUDED.holder_key,
    token = CASE WHEN l.holder = EXCLUDED.holder AND l.holder_key = EXCLUDED.holder_key AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.holder_key = EXCLUDED.holder_key AND l.expires_at > clock_timestamp() THEN l.acquired_at ELSE clock_timestamp() END,
    renewed_at = clock_timestamp(),
    expires_at = EXCLUDED.expires_at
  WHERE l.holder = EXCLUDED.holder OR l.holder IS NULL OR l.expires_at <= clock_timestamp()
    OR (l.holder_key IS NOT NULL AND pg_try_advisory_xact_lock(${LEASE_LOCK_CLASS}, l.holder_key))
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

const RELEASE_MANY = `WITH r AS (
  UPDATE leases SET holder = NULL, holder_key = NULL, expires_at = clock_timestamp() WHERE name = ANY($1::text[]) AND holder = $2 RETURNING name
) SELECT pg_notify('${RELEASE_CHANNEL}', string_agg(name, ',')) FROM r HAVING count(*) > 0`;

interface Holder {
  session: LeaseSession | null;
  opening: Promise<LeaseSession> | null;
  watchers: Set<SessionEvents>;
}

export class LeaseStore {
  /** Each holder identity's session and who listens to it. */
  private readonly holders = new Map<string, Holder>();
  private closed = false;

  /** `session` configures the holders' own connections (the pool's database). */
  constructor(
    private readonly pool: pg.Pool,
    private readonly session: pg.ClientConfig,
  ) {}

  /**
   * Hears of `identity`'s session: `lost` when its connection ends (its leases may be taken
   * from then on: stop leading at once), `released` when any lease is released. Returns the
   * unsubscribe.
   */
  watchSession(identity: string, events: SessionEvents): () => void {
    const h = this.holder(identity);
    h.watchers.add(events);
    return () => h.watchers.delete(events);
  }

  /** Ends every holder's session (at shutdown, after the leases were released). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.holders.values()];
    await Promise.all(all.map(async (h) => (h.session ?? (await h.opening?.catch(() => null)))?.close()));
  }

  private holder(identity: string): Holder {
    let h = this.holders.get(identity);
    if (!h) this.holders.set(identity, (h = { session: null, opening: null, watchers: new Set() }));
    return h;
  }

  /** The identity's live session, opened when it has none. */
  private async sessionOf(identity: string): Promise<LeaseSession> {
    if (this.closed) throw new Error('the lease store is closed');
    const h = this.holder(identity);
    if (h.session?.alive) return h.session;
    h.opening ??= LeaseSession.open(this.session, {
      lost: (reason) => {
        for (const w of h.watchers) w.lost(reason);
      },
      released: (names) => {
        for (const w of h.watchers) w.released(names);
      },
    }).finally(() => (h.opening = null));
    const s = await h.opening;
    h.session = s;
    return s;
  }

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
    let hung: NodeJS.Timeout | undefined;
    try {
      const s = await this.sessionOf(identity);
      // a round unanswered for a whole lease is of no use to anyone, and the next would queue
      // behind it on this connection: cut the session (its leases are lost anyway by now)
      hung = setTimeout(() => s.abort(`a lease round went unanswered for ${durationMs} ms`), durationMs);
      const res = await s.client.query<Row & { acquired: boolean }>({ name: 'leaseAcquireMany', text: ACQUIRE_MANY, values: [[...new Set(names)], identity, durationMs, s.key] });
      return res.rows.map((r) => ({ ...toState(r), acquired: r.acquired }));
    } catch (err) {
      throw mapPgError(err);
    } finally {
      clearTimeout(hung);
    }
  }

  /**
   * Gives up those of the named leases that `identity` holds, in one statement, and announces
   * it on `deployer_leases` so competitors try at once.
   */
  async releaseMany(names: readonly string[], identity: string): Promise<void> {
    if (names.length === 0) return;
    try {
      await this.pool.query(RELEASE_MANY, [[...names], identity]);
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /** Gives the lease up at once (graceful shutdown), if `identity` holds it. */
  release(name: string, identity: string): Promise<void> {
    return this.releaseMany([name], identity);
  }

  async list(): Promise<LeaseState[]> {
    try {
      return (await this.pool.query<Row>(`${READ} ORDER BY name`)).rows.map(toState);
    } catch (err) {
      throw mapPgError(err);
    }
  }
}
