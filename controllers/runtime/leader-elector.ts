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
//
// The elector sends no query of its own: its process' LeaseBatch acquires or renews every
// lease of the process in one statement per round (lease-batch.ts) and hands each elector
// its lease's outcome. The elector judges them: it counts its renew deadline from the start
// of the last round that renewed it, so a slow round still counts, and an answer that comes
// too late cannot extend leadership past what the database granted.
import type { TimerHandle } from './clock.js';
import type { LeaseBatch, LeaseOutcome, RoundParticipant } from './lease-batch.js';
import type { LogFn } from './log.js';

export { DEFAULT_TIMINGS, JITTER_FACTOR } from './lease-batch.js';

export interface Leadership {
  token: number;
  /** Aborted when leadership is lost or the elector stops. */
  signal: AbortSignal;
}

export interface LeaderElectorOptions {
  /** The lease's name: one per controller. */
  name: string;
  /** The process' lease batch: its identity, clock and timings are the elector's. */
  batch: LeaseBatch;
  /** Called when this process becomes leader; must not block (start workers and return). */
  onStartedLeading: (lead: Leadership) => void;
  /** Called after leadership was lost or given up (the signal is already aborted). */
  onStoppedLeading?: (reason: string) => void;
  log?: LogFn;
}

/** Why a renew has not succeeded, when no round has said otherwise: it never answered. */
const NO_ANSWER = 'no answer from the database';

export class LeaderElector implements RoundParticipant {
  /**
   * Set while leading; its signal is the one handed to onStartedLeading. Invariant: `deadline`
   * is a pending timer due at lastRenewStart + renewDeadlineMs.
   */
  private lead: { token: number; controller: AbortController; lastRenewStart: number; deadline: TimerHandle } | null = null;
  /** The newest round judged; older answers (a slow round overtaken) are ignored. */
  private lastSeq = 0;
  /** The latest failure since the last successful renew, for the step-down message. */
  private lastError = NO_ANSWER;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: LeaderElectorOptions) {}

  get isLeader(): boolean {
    return this.lead !== null;
  }

  get token(): number | undefined {
    return this.lead?.token;
  }

  /** Joins the batch's rounds; the first round after this may make it leader. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.opts.batch.join(this.opts.name, this);
  }

  /** Stops competing; when leading, aborts the controller and releases the lease at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.batch.leave(this.opts.name, this);
    if (this.lead) {
      this.lose('stopping');
      await this.opts.batch.release([this.opts.name]).catch((err) => this.say('release failed', err));
    }
  }

  onBatchStopped(): void {
    this.stopped = true;
    this.lose('stopping');
  }

  onSessionLost(reason: string): void {
    if (!this.stopped) this.lose(`its database session ended: ${reason}`);
  }

  onOutcome(o: LeaseOutcome, startedAt: number, seq: number): void {
    if (this.stopped || seq <= this.lastSeq) return;
    this.lastSeq = seq;
    const lead = this.lead;
    if (!lead) {
      // too late to lead on: the deadline counted from this round has passed already
      if (o.acquired && this.opts.batch.clock.now() - startedAt < this.opts.batch.timings.renewDeadlineMs) this.begin(o.token, startedAt);
      return;
    }
    if (!o.acquired) this.lose(`held by ${o.holder ?? 'nobody'} now`);
    else if (o.token !== lead.token) this.lose('the lease expired and was taken again'); // a new term: start over
    else this.renewed(lead, startedAt);
  }

  onFailure(err: Error, _startedAt: number, seq: number): void {
    if (this.stopped || seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.lastError = err.message;
  }

  private say(msg: string, err?: unknown): void {
    this.opts.log?.(`lease: ${msg}`, err, { controller: this.opts.name });
  }

  private armDeadline(lastRenewStart: number): TimerHandle {
    const { clock, timings } = this.opts.batch;
    const d = timings.renewDeadlineMs;
    return clock.setTimeout(() => this.lose(`could not renew within ${d} ms: ${this.lastError}`), lastRenewStart + d - clock.now());
  }

  private renewed(lead: NonNullable<LeaderElector['lead']>, startedAt: number): void {
    this.lastError = NO_ANSWER;
    if (startedAt <= lead.lastRenewStart) return;
    this.opts.batch.clock.clearTimeout(lead.deadline);
    lead.lastRenewStart = startedAt;
    lead.deadline = this.armDeadline(startedAt);
  }

  private lose(reason: string): void {
    const lead = this.lead;
    if (!lead) return;
    this.lead = null;
    this.opts.batch.clock.clearTimeout(lead.deadline);
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
    this.lastError = NO_ANSWER;
    this.lead = { token, controller, lastRenewStart: startedAt, deadline: this.armDeadline(startedAt) };
    this.say(`leading with token ${token}`);
    try {
      this.opts.onStartedLeading({ token, signal: controller.signal });
    } catch (err) {
      this.say(`onStartedLeading threw; giving the lease up`, err);
      this.lose('onStartedLeading failed');
    }
  }
}
