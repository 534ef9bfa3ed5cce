// Leader election for one controller, through a lease row in Postgres.
//
// Caveats first (as client-go's leaderelection says of itself): this does not guarantee
// that only one process *believes* it leads at every instant — a paused process can wake up
// still believing it. What makes that safe is fencing: every status write carries the lease
// token, and the store refuses it once the lease has passed on. What this does guarantee: a
// leader stops its controller (aborts the signal it was given) once it has gone
// `renewDeadlineMs` without a successful renew — before the lease, which the database
// expires `leaseDurationMs` after the last renew began, can pass to anyone else; and it
// holds the lease continuously while it can renew (never released between reconciles).
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { LogFn } from './log.js';

/** What the elector needs of the store (store/leases.ts). */
export interface LeaseClient {
  tryAcquireOrRenew(name: string, identity: string, durationMs: number): Promise<{ acquired: boolean; token: number; holder: string | null }>;
  release(name: string, identity: string): Promise<void>;
}

export interface Leadership {
  token: number;
  /** Aborted when leadership is lost or the elector stops. */
  signal: AbortSignal;
}

export interface LeaderElectorOptions {
  /** The lease's name: one per controller. */
  name: string;
  /** This process' identity (hostname + pid + random). */
  identity: string;
  leases: LeaseClient;
  clock?: Clock;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Called when this process becomes leader; must not block (start workers and return). */
  onStartedLeading: (lead: Leadership) => void;
  /** Called after leadership was lost or given up (the signal is already aborted). */
  onStoppedLeading?: (reason: string) => void;
  log?: LogFn;
}

/** Retries are spread by up to this factor, so processes do not retry in lockstep. */
export const JITTER_FACTOR = 1.2;
/** How often the same failed acquire is logged while it keeps failing (the database is away). */
const ACQUIRE_LOG_EVERY_MS = 60_000;

/**
 * A killed leader releases nothing, so failover waits for its lease to expire, then for a
 * follower's next retry: about leaseDuration + retryPeriod at worst (≤ 3 s here). A leader
 * steps down after renewDeadline without a successful renew: long enough that a busy
 * database or a GC pause does not make it flap.
 */
export const DEFAULT_TIMINGS = { leaseDurationMs: 2500, renewDeadlineMs: 1800, retryPeriodMs: 300 } as const;

export class LeaderElector {
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  /** Set while leading; its signal is the one handed to onStartedLeading. */
  private lead: { token: number; controller: AbortController; lastRenewStart: number } | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Ends a lease call in progress (stop() must not wait on a database that hangs). */
  private cancelAttempt: ((err: Error) => void) | null = null;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.leaseDurationMs = opts.leaseDurationMs ?? DEFAULT_TIMINGS.leaseDurationMs;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? DEFAULT_TIMINGS.renewDeadlineMs;
    this.retryPeriodMs = opts.retryPeriodMs ?? DEFAULT_TIMINGS.retryPeriodMs;
    const { leaseDurationMs: l, renewDeadlineMs: d, retryPeriodMs: r } = this;
    if (!(r > 0 && d > 0 && l > 0)) throw new RangeError('lease duration, renew deadline and retry period must all be > 0');
    if (!(l > d)) throw new RangeError(`leaseDurationMs (${l}) must be greater than renewDeadlineMs (${d})`);
    if (!(d > r * JITTER_FACTOR)) throw new RangeError(`renewDeadlineMs (${d}) must be greater than retryPeriodMs × ${JITTER_FACTOR} (${r * JITTER_FACTOR})`);
  }

  get isLeader(): boolean {
    return this.lead !== null;
  }

  get token(): number | undefined {
    return this.lead?.token;
  }

  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run();
  }

  /** Stops competing; when leading, aborts the controller and releases the lease at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.cancelAttempt?.(new Error('stopping'));
    await this.loop;
    if (this.lead) {
      this.lose('stopping');
      await this.opts.leases.release(this.opts.name, this.opts.identity).catch((err) => this.say(`release failed`, err));
    }
  }

  private say(msg: string, err?: unknown): void {
    this.opts.log?.(`lease: ${msg}`, err, { controller: this.opts.name });
  }

  /** The same failed acquire, again and again while the database is away: logged once a minute. */
  private acquireFailures = { message: '', count: 0, loggedAt: -Infinity };

  private acquireFailed(err: unknown): void {
    const f = this.acquireFailures;
    const message = (err as Error)?.message ?? String(err);
    const now = this.clock.now();
    if (message === f.message && now - f.loggedAt < ACQUIRE_LOG_EVERY_MS) {
      f.count++;
      return;
    }
    this.say(f.count > 0 && message === f.message ? `acquire failed (${f.count} more times since the last report)` : 'acquire failed', err);
    this.acquireFailures = { message, count: 0, loggedAt: now };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined = undefined;
      const done = () => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = done;
      timer = this.clock.setTimeout(done, ms);
    });
  }

  /** The lease call, bounded: a database that does not answer must not hold us past a deadline. */
  private attempt(timeoutMs: number): Promise<{ acquired: boolean; token: number; holder: string | null }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        this.cancelAttempt = null;
        fn();
      };
      const timer = this.clock.setTimeout(
        () => finish(() => reject(new Error(`lease call took longer than ${timeoutMs} ms`))),
        Math.max(1, timeoutMs),
      );
      this.cancelAttempt = (err) => finish(() => reject(err));
      this.opts.leases.tryAcquireOrRenew(this.opts.name, this.opts.identity, this.leaseDurationMs).then(
        (r) => finish(() => resolve(r)),
        (err) => finish(() => reject(err)),
      );
    });
  }

  private lose(reason: string): void {
    const lead = this.lead;
    if (!lead) return;
    this.lead = null;
    lead.controller.abort(new Error(`leadership of ${this.opts.name} lost: ${reason}`));
    this.say(`stopped leading (${reason})`);
    try {
      this.opts.onStoppedLeading?.(reason);
    } catch (err) {
      this.say(`onStoppedLeading threw`, err);
    }
  }

  private begin(token: number, startedAt: number): void {
    const controller = new AbortController();
    this.acquireFailures = { message: '', count: 0, loggedAt: -Infinity };
    this.lead = { token, controller, lastRenewStart: startedAt };
    this.say(`leading with token ${token}`);
    try {
      this.opts.onStartedLeading({ token, signal: controller.signal });
    } catch (err) {
      this.say(`onStartedLeading threw; giving the lease up`, err);
      this.lose('onStartedLeading failed');
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const startedAt = this.clock.now();
      if (!this.lead) {
        try {
          const r = await this.attempt(this.retryPeriodMs);
          if (r.acquired && !this.stopped) this.begin(r.token, startedAt);
        } catch (err) {
          this.acquireFailed(err);
        }
        if (!this.lead && !this.stopped) await this.sleep(this.retryPeriodMs * (1 + Math.random() * (JITTER_FACTOR - 1)));
        continue;
      }
      await this.sleep(this.retryPeriodMs);
      const lead = this.lead;
      if (this.stopped || !lead) continue;
      const renewStart = this.clock.now();
      const left = lead.lastRenewStart + this.renewDeadlineMs - renewStart;
      try {
        if (left <= 0) throw new Error('renew deadline passed');
        const r = await this.attempt(left);
        if (!r.acquired) this.lose(`held by ${r.holder ?? 'nobody'} now`);
        else if (r.token !== lead.token) this.lose('the lease expired and was taken again'); // a new term: start over
        else lead.lastRenewStart = renewStart;
      } catch (err) {
        if (this.clock.now() - lead.lastRenewStart >= this.renewDeadlineMs) this.lose(`could not renew within ${this.renewDeadlineMs} ms: ${(err as Error).message}`);
        else this.say(`renew failed; retrying`, err);
      }
    }
  }
}
