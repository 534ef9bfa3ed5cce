// The lease batch: one per process. Every retry period it acquires or renews ALL of the
// process's leases in one statement (store/leases.ts tryAcquireOrRenewMany) and hands each
// LeaderElector its lease's outcome. Why: with one elector per controller each renewing on
// its own, an idle deployer spent most of its CPU on lease round trips (4 controllers, 13
// UPDATEs a second). The rounds run on the process' own database session, whose end frees its
// leases for the others (store/lease-session.ts): failover after a crash does not wait for the
// lease to expire, so the lease can be long and the rounds slow (DEFAULT_TIMINGS).
//
// Caveats first: the batch keeps no lease itself and decides nothing about leadership; each
// elector judges its outcomes against its own renew deadline (see leader-elector.ts). A round
// that fails fails for every lease at once — they share one database anyway.
//
// Cadence: a round starts every `retryPeriodMs` while this process leads anything (start to
// start, so a round trip does not stretch the period); while it leads nothing, every
// retryPeriod × [1, JITTER_FACTOR), so followers of several processes do not retry in
// lockstep. A slow round is not waited for: the next starts on time, with at most
// MAX_IN_FLIGHT rounds outstanding; a round unanswered after `renewDeadlineMs` no longer
// counts as outstanding (an answer that late is of no use to anyone), so a hung connection
// cannot stall the rounds.
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { LogFn } from './log.js';

/** One lease's answer in a round. */
export interface LeaseOutcome {
  /** True when this process holds the lease after the round. */
  acquired: boolean;
  /** The fencing token: goes up on every change of holder. */
  token: number;
  holder: string | null;
}

/** What the batch needs of the store (store/leases.ts). */
export interface BatchLeaseClient {
  /**
   * One statement: each named lease is taken when free or expired, renewed when `identity`
   * holds it, refused otherwise. A name missing from the answer counts as refused.
   */
  tryAcquireOrRenewMany(names: readonly string[], identity: string, durationMs: number): Promise<Array<LeaseOutcome & { name: string }>>;
  /** Gives up those of the named leases that `identity` holds, in one statement. */
  releaseMany(names: readonly string[], identity: string): Promise<void>;
  /**
   * Hears of `identity`'s database session (store/lease-session.ts): `lost` when it ended —
   * from then on its leases may be taken before they expire —, `released` when leases were
   * given up anywhere. Returns the unsubscribe. Optional: without it, only expiry frees a lease.
   */
  watchSession?(identity: string, events: { lost(reason: string): void; released(names: string[]): void }): () => void;
}

/** A lease's side of the rounds: its LeaderElector. */
export interface RoundParticipant {
  /** Whether it leads now: decides whether the rounds run at the leaders' pace. */
  readonly isLeader: boolean;
  /**
   * A round's answer for this lease. `startedAt` is when the round began, before the
   * statement was sent: the database's expiry is at least leaseDuration after it. `seq` goes
   * up with every round; answers can arrive out of order when a round was slow.
   */
  onOutcome(outcome: LeaseOutcome, startedAt: number, seq: number): void;
  /** The round failed (the database did not answer as it should). */
  onFailure(err: Error, startedAt: number, seq: number): void;
  /** The batch stopped: step down now (the batch releases the lease right after). */
  onBatchStopped(): void;
  /** The session the rounds run on ended: anyone may take the lease now, so step down at once. */
  onSessionLost(reason: string): void;
}

export interface LeaseTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Retries of followers are spread by up to this factor, so processes do not retry in lockstep. */
export const JITTER_FACTOR = 1.2;

/**
 * A killed leader releases nothing, but its database session ends with it (store/lease-session.ts),
 * so a follower takes the lease on its next round: within retryPeriod × JITTER_FACTOR (1.2 s),
 * not after the lease's expiry. A leader shut down gracefully releases its leases and announces
 * it, so followers take them at once. Only a leader that is alive but stalled (SIGSTOP, a long
 * pause) holds its leases until they expire: leaseDuration + a round (≤ 6.2 s). A leader steps
 * down after renewDeadline without a successful renew: long enough that a busy database or a GC
 * pause does not make it flap (four rounds), short of the lease by a second. A round a second is
 * what an idle deployer pays for leadership (BENCHMARKS.md, "Lease sessions").
 */
export const DEFAULT_TIMINGS: LeaseTimings = { leaseDurationMs: 5000, renewDeadlineMs: 4000, retryPeriodMs: 1000 };

/** Rounds outstanding at once, at most (a slow database gets one more, not a pile). */
export const MAX_IN_FLIGHT = 2;

/** How often the same failing round is logged while it keeps failing (the database is away). */
const FAILURE_LOG_EVERY_MS = 60_000;

/** Throws RangeError unless leaseDuration > renewDeadline > retryPeriod × JITTER_FACTOR > 0. */
export function checkTimings({ leaseDurationMs: l, renewDeadlineMs: d, retryPeriodMs: r }: LeaseTimings): void {
  if (!(r > 0 && d > 0 && l > 0)) throw new RangeError('lease duration, renew deadline and retry period must all be > 0');
  if (!(l > d)) throw new RangeError(`leaseDurationMs (${l}) must be greater than renewDeadlineMs (${d})`);
  if (!(d > r * JITTER_FACTOR)) throw new RangeError(`renewDeadlineMs (${d}) must be greater than retryPeriodMs × ${JITTER_FACTOR} (${r * JITTER_FACTOR})`);
}

export interface LeaseBatchOptions {
  leases: BatchLeaseClient;
  /** This process' identity as a lease holder (hostname + pid + random). */
  identity: string;
  clock?: Clock;
  timings?: Partial<LeaseTimings>;
  log?: LogFn;
  /** Draws the followers' jitter, in [0, 1) (tests pass a fixed one). */
  random?: () => number;
}

export class LeaseBatch {
  readonly timings: LeaseTimings;
  readonly clock: Clock;
  readonly identity: string;
  /** Every lease in the rounds, by name. A participant that left gets no more answers. */
  private readonly participants = new Map<string, RoundParticipant>();
  private seq = 0;
  /** Rounds started and neither answered nor older than renewDeadline. */
  private inFlight = 0;
  /** Every round not yet answered (also the abandoned ones): stop() gives them a moment. */
  private readonly unanswered = new Set<Promise<void>>();
  /** The timers that give up on the rounds in flight (cleared by stop(): no timer outlives the batch). */
  private readonly abandonTimers = new Set<TimerHandle>();
  /** The next round's timer; null while idle (no participant) or while a round waits for room. */
  private timer: TimerHandle | null = null;
  /** A round came due while MAX_IN_FLIGHT were outstanding: start it when one settles. */
  private due = false;
  private stopped = false;
  private failures = { message: '', count: 0, loggedAt: -Infinity };
  private readonly unwatch: () => void;

  constructor(private readonly opts: LeaseBatchOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    checkTimings(this.timings);
    this.clock = opts.clock ?? systemClock;
    this.identity = opts.identity;
    this.unwatch =
      opts.leases.watchSession?.(opts.identity, {
        lost: (reason) => this.sessionLost(reason),
        released: (names) => this.released(names),
      }) ?? (() => undefined);
  }

  /** Adds a lease to the rounds; a batch that was idle starts a round at once. */
  join(name: string, p: RoundParticipant): void {
    if (this.stopped) throw new Error(`the lease batch is stopped; "${name}" cannot join`);
    if (this.participants.has(name)) throw new Error(`the lease "${name}" is in the batch already`);
    this.participants.set(name, p);
    if (this.timer === null && !this.due) this.schedule(0);
  }

  /** Takes a lease out of the rounds (its elector stops); it is not released here. */
  leave(name: string, p: RoundParticipant): void {
    if (this.participants.get(name) === p) this.participants.delete(name);
  }

  /** Gives up the named leases, if this process holds them: one statement. */
  release(names: readonly string[]): Promise<void> {
    if (names.length === 0) return Promise.resolve();
    return this.opts.leases.releaseMany(names, this.identity);
  }

  /**
   * Stops the rounds: every participant steps down first (its controller is aborted), then
   * every lease one of them held is released in one statement. Rounds still unanswered get
   * up to a retry period, so a renew that lands late does not take a released lease back.
   * Never waits longer on a database that hangs.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    for (const timer of this.abandonTimers) this.clock.clearTimeout(timer);
    this.abandonTimers.clear();
    const held = [...this.participants].filter(([, p]) => p.isLeader).map(([name]) => name);
    for (const p of this.participants.values()) p.onBatchStopped();
    this.participants.clear();
    if (this.unanswered.size > 0) {
      let timer: TimerHandle | undefined;
      await Promise.race([
        Promise.all(this.unanswered),
        new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, this.timings.retryPeriodMs))),
      ]);
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
    await this.release(held).catch((err) => this.opts.log?.('lease: release failed', err));
    this.unwatch();
  }

  /** The session ended: every leader steps down now; the next round opens another. */
  private sessionLost(reason: string): void {
    if (this.stopped) return;
    const leading = [...this.participants].filter(([, p]) => p.isLeader);
    if (leading.length > 0) this.opts.log?.(`lease: the database session holding ${leading.map(([n]) => n).join(', ')} ended (${reason}); stepping down`);
    for (const [name, p] of leading) this.call(name, () => p.onSessionLost(reason));
  }

  /** Leases were released somewhere: a follower of one of them tries now, not at its next round. */
  private released(names: string[]): void {
    if (this.stopped || this.timer === null) return; // idle, or a round is waiting for room already
    if (!names.some((n) => this.participants.has(n) && !this.participants.get(n)!.isLeader)) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.round();
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.round();
    }, ms);
  }

  private interval(): number {
    const r = this.timings.retryPeriodMs;
    for (const p of this.participants.values()) if (p.isLeader) return r;
    return r * (1 + (this.opts.random ?? Math.random)() * (JITTER_FACTOR - 1));
  }

  private round(): void {
    if (this.stopped || this.participants.size === 0) return; // idle until the next join
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.due = true;
      return;
    }
    const seq = ++this.seq;
    const startedAt = this.clock.now();
    // sorted: two processes lock the rows in the same order, so their statements cannot deadlock
    const names = [...this.participants.keys()].sort();
    this.inFlight++;
    let counted = true;
    const settleCount = () => {
      if (!counted) return;
      counted = false;
      this.clock.clearTimeout(abandon);
      this.abandonTimers.delete(abandon);
      this.inFlight--;
      if (this.due && !this.stopped) {
        this.due = false;
        this.round();
      }
    };
    const abandon = this.clock.setTimeout(settleCount, this.timings.renewDeadlineMs);
    this.abandonTimers.add(abandon);
    const answered: Promise<void> = this.opts.leases.tryAcquireOrRenewMany(names, this.identity, this.timings.leaseDurationMs).then(
      (rows) => this.deliver(names, rows, startedAt, seq),
      (err: unknown) => this.failed(names, err instanceof Error ? err : new Error(String(err)), startedAt, seq),
    ).finally(() => {
      this.unanswered.delete(answered);
      settleCount();
    });
    this.unanswered.add(answered);
    this.schedule(this.interval());
  }

  private deliver(names: string[], rows: Array<LeaseOutcome & { name: string }>, startedAt: number, seq: number): void {
    if (this.failures.count > 0 || this.failures.message) {
      this.opts.log?.(`lease: rounds succeed again${this.failures.count > 0 ? ` (after ${this.failures.count} more failures)` : ''}`);
      this.failures = { message: '', count: 0, loggedAt: -Infinity };
    }
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const name of names) {
      const p = this.participants.get(name);
      if (!p) continue;
      const r = byName.get(name);
      this.call(name, () => p.onOutcome(r ? { acquired: r.acquired, token: r.token, holder: r.holder } : { acquired: false, token: 0, holder: null }, startedAt, seq));
    }
  }

  private failed(names: string[], err: Error, startedAt: number, seq: number): void {
    const f = this.failures;
    const now = this.clock.now();
    if (err.message === f.message && now - f.loggedAt < FAILURE_LOG_EVERY_MS) f.count++;
    else {
      const again = f.count > 0 && err.message === f.message ? ` (${f.count} more times since the last report)` : '';
      this.opts.log?.(`lease: acquire/renew round for ${names.join(', ')} failed${again}`, err);
      this.failures = { message: err.message, count: 0, loggedAt: now };
    }
    for (const name of names) {
      const p = this.participants.get(name);
      if (p) this.call(name, () => p.onFailure(err, startedAt, seq));
    }
  }

  /** A participant that throws must not keep the others from their answer. */
  private call(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log?.('lease: elector threw on a round', err, { controller: name });
    }
  }
}
