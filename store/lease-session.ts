// A lease holder's database session: one dedicated connection per holder identity, on which its
// lease rounds run. The session holds a session-level advisory lock on a key of its own, and every
// lease it takes or renews records that key (leases.holder_key). The lock lives exactly as long as
// the connection: when the holder's process dies (SIGKILL, a crash, its host's kernel closing the
// socket), Postgres ends the backend and the lock is free at once. A competitor that can take the
// key's lock (pg_try_advisory_xact_lock in its own round) therefore knows the holder's session is
// gone and may take the lease before it expires — failover after a crash waits for a competitor's
// next round, not for the lease's expiry. A holder that is alive but stalled (SIGSTOP, a long
// pause) keeps its connection and its lock: then the lease's expiry decides, as before.
//
// The other side of that bargain: a holder whose session ends while it lives must stop leading at
// once, since a competitor may take its leases on its next round. `lost` reports it; the session
// is opened again by the next round, under a new key (a new term: the token goes up).
//
// The session also LISTENs on `deployer_leases`, where a release is announced (store/leases.ts),
// so competitors try at once instead of at their next round.
import pg from 'pg';

/** The advisory-lock class (the first int4 of the two-key form) of lease sessions: "dply". */
export const LEASE_LOCK_CLASS = 0x64706c79;
export const RELEASE_CHANNEL = 'deployer_leases';

export interface SessionEvents {
  /** The session's connection ended (the leases it held may be taken by anyone now). */
  lost(reason: string): void;
  /** Leases were released somewhere (their names). */
  released(names: string[]): void;
}

export class LeaseSession {
  /** The advisory-lock key this session holds (leases.holder_key); set once the lock is taken. */
  key = 0;
  private ended = false;
  private ready = false;
  private lastError = 'the connection ended';
  private abortReason: string | null = null;

  private constructor(
    readonly client: pg.Client,
    events: SessionEvents,
  ) {
    client.on('error', (err) => (this.lastError = err.message));
    client.on('end', () => {
      const report = this.ready && !this.ended;
      this.ended = true;
      if (report) events.lost(this.abortReason ?? this.lastError);
    });
    client.on('notification', (msg) => {
      if (msg.channel === RELEASE_CHANNEL && this.ready && !this.ended) events.released((msg.payload ?? '').split(',').filter(Boolean));
    });
  }

  get alive(): boolean {
    return this.ready && !this.ended;
  }

  /** Connects, takes a free key's lock and LISTENs; `events` hear of the session's end and of releases. */
  static async open(config: pg.ClientConfig, events: SessionEvents): Promise<LeaseSession> {
    const s = new LeaseSession(new pg.Client({ ...config, keepAlive: true, application_name: 'deployer-lease-session' }), events);
    try {
      await s.client.connect();
      // a key nobody holds: two live sessions never share one (a clash just draws again)
      for (let attempt = 0; attempt < 8 && !s.key; attempt++) {
        const key = 1 + Math.floor(Math.random() * 0x7ffffffe);
        const res = await s.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [LEASE_LOCK_CLASS, key]);
        if (res.rows[0].ok) s.key = key;
      }
      if (!s.key) throw new Error('no free lease-session key after 8 draws');
      await s.client.query(`LISTEN ${RELEASE_CHANNEL}`);
    } catch (err) {
      s.ended = true;
      s.client.end().catch(() => undefined);
      throw err;
    }
    if (s.ended) throw new Error(`the lease session ended as it opened: ${s.lastError}`);
    s.ready = true;
    return s;
  }

  /** Ends the session (its lock goes with it); not reported as lost. */
  async close(): Promise<void> {
    this.ended = true;
    await this.client.end().catch(() => undefined);
  }

  /** Cuts the connection now (a round that hangs): reported as lost, with `reason`. */
  abort(reason: string): void {
    if (this.ended) return;
    this.abortReason = reason;
    (this.client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  }
}
