// An in-memory lease table for unit tests of the lease batch and the leader elector. Its
// clock is the test's fake clock, standing in for Postgres' clock_timestamp(); it follows the
// rule of store/leases.ts: free or expired → taken (token + 1), held by the caller → renewed.
import type { BatchLeaseClient, LeaseOutcome } from '../../controllers/runtime/lease-batch.js';
import type { FakeClock } from './fake-clock.js';

interface Row {
  holder: string | null;
  token: number;
  expiresAt: number;
}

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

  constructor(private readonly clock: FakeClock) {}

  row(name: string): Row {
    let r = this.rows.get(name);
    if (!r) this.rows.set(name, (r = { holder: null, token: 0, expiresAt: 0 }));
    return r;
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
    return names.map((name) => {
      const r = this.row(name);
      const valid = r.holder !== null && r.expiresAt > now;
      if (valid && r.holder !== identity) return { name, acquired: false, token: r.token, holder: r.holder };
      if (!(valid && r.holder === identity)) r.token++;
      r.holder = identity;
      r.expiresAt = now + durationMs;
      return { name, acquired: true, token: r.token, holder: identity };
    });
  }

  async releaseMany(names: readonly string[], identity: string): Promise<void> {
    this.releaseStatements++;
    for (const name of names) {
      const r = this.row(name);
      if (r.holder === identity) {
        r.holder = null;
        r.expiresAt = this.clock.now();
        this.releases++;
      }
    }
  }
}
