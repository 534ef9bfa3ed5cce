// An in-memory lease table for unit tests of the lease batch and the leader elector. Its
// clock is the test's fake clock, standing in for Postgres' clock_timestamp(); it follows the
// rule of store/leases.ts: free, expired or held by an ended session → taken (token + 1), held
// by the caller's session → renewed; a caller whose session ended gets a new one (a new term).
import type { BatchLeaseClient, LeaseOutcome } from '../../controllers/runtime/lease-batch.js';
import type { FakeClock } from './fake-clock.js';

interface Row {
  holder: string | null;
  token: number;
  expiresAt: number;
  /** The holder's session when it took or renewed the row. */
  session: number;
}

type SessionEvents = { lost(reason: string): void; released(names: string[]): void };

export class FakeLeases implements BatchLeaseClient {
  readonly rows = new Map<string, Row>();
  /** Statements run (one per round; releases not counted). */
  statements = 0;
  /** The names of each statement, in order. */
  readonly rounds: string[][] = [];
  /** 'fail': the database is down; 'hang': it never answers. */
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  /** Identities whose statements never answer (a frozen process). */
  readonly frozen = new Set<string>();
  /** > 0: every statement answers this long after it was sent (taking effect then, as a slow database would). */
  delayMs = 0;
  /** Leases released, counted per name. */
  releases = 0;
  releaseStatements = 0;
  /** Statements sent and not answered yet; the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;

  /** Each identity's current session (a counter) and whether it has ended. */
  private readonly sessions = new Map<string, { n: number; ended: boolean }>();
  private readonly watchers = new Map<string, Set<SessionEvents>>();

  constructor(private readonly clock: FakeClock) {}

  row(name: string): Row {
    let r = this.rows.get(name);
    if (!r) this.rows.set(name, (r = { holder: null, token: 0, expiresAt: 0, session: 0 }));
    return r;
  }

  watchSession(identity: string, events: SessionEvents): () => void {
    let set = this.watchers.get(identity);
    if (!set) this.watchers.set(identity, (set = new Set()));
    set.add(events);
    return () => set.delete(events);
  }

  /** `identity`'s session ends (its process' connection was cut): its leases are free from now on. */
  endSession(identity: string, reason: string): void {
    const s = this.session(identity);
    s.ended = true;
    for (const w of this.watchers.get(identity) ?? []) w.lost(reason);
  }

  private session(identity: string): { n: number; ended: boolean } {
    let s = this.sessions.get(identity);
    if (!s) this.sessions.set(identity, (s = { n: 1, ended: false }));
    return s;
  }

  private alive(holder: string, session: number): boolean {
    const s = this.session(holder);
    return !s.ended && s.n === session;
  }

  async tryAcquireOrRenewMany(names: readonly string[], identity: string, durationMs: number): Promise<Array<LeaseOutcome & { name: string }>> {
    this.statements++;
    this.rounds.push([...names]);
    if (this.mode === 'fail') throw new Error('database unavailable');
    if (this.mode === 'hang' || this.frozen.has(identity)) return new Promise<never>(() => undefined);
    if (this.delayMs > 0) {
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.delayMs));
      this.inFlight--;
    }
    const now = this.clock.now();
    const mine = this.session(identity);
    if (mine.ended) this.sessions.set(identity, { n: mine.n + 1, ended: false }); // the next round opens a new one
    const session = this.session(identity).n;
    return names.map((name) => {
      const r = this.row(name);
      const valid = r.holder !== null && r.expiresAt > now && this.alive(r.holder, r.session);
      if (valid && r.holder !== identity) return { name, acquired: false, token: r.token, holder: r.holder };
      if (!(valid && r.holder === identity)) r.token++;
      r.holder = identity;
      r.session = session;
      r.expiresAt = now + durationMs;
      return { name, acquired: true, token: r.token, holder: identity };
    });
  }

  async releaseMany(names: readonly string[], identity: string): Promise<void> {
    this.releaseStatements++;
    const released: string[] = [];
    for (const name of names) {
      const r = this.row(name);
      if (r.holder === identity) {
        r.holder = null;
        r.expiresAt = this.clock.now();
        this.releases++;
        released.push(name);
      }
    }
    if (released.length > 0) for (const set of this.watchers.values()) for (const w of set) w.released(released);
  }
}
