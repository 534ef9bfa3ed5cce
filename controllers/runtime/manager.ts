// The manager: one leader election per controller, each controller running only while its
// process holds that controller's lease. Several processes against one Postgres spread the
// controllers between them; a graceful stop releases every lease at once. The process' leases
// are acquired and renewed together, one statement per round (lease-batch.ts).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ControllerMetrics } from '../../metrics/index.js';
import type { Store } from '../../store/index.js';
import type { Clock } from './clock.js';
import type { Controller } from './controller.js';
import type { LogFn } from './log.js';
import { LeaderElector } from './leader-elector.js';
import { LeaseBatch, type LeaseTimings } from './lease-batch.js';

/** This process' identity as a lease holder: hostname, pid and a random suffix. */
export function processIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface ManagerOptions {
  store: Store;
  identity: string;
  controllers: Controller[];
  clock?: Clock;
  /** Lease timings (default DEFAULT_TIMINGS); inconsistent ones throw RangeError here. */
  timings?: Partial<LeaseTimings>;
  log?: LogFn;
  /** Reconciles, retries, queue depth and leadership of each controller (optional). */
  metrics?: ControllerMetrics;
}

export interface ControllerLeadership {
  name: string;
  leading: boolean;
  token?: number;
}

export class ControllerManager {
  private readonly electors = new Map<string, LeaderElector>();
  private readonly runs = new Set<Promise<void>>();
  /** Every elector's rounds: one acquire-or-renew statement per retry period for the process. */
  private readonly batch: LeaseBatch;

  constructor(private readonly opts: ManagerOptions) {
    this.batch = new LeaseBatch({ leases: opts.store.leases, identity: opts.identity, clock: opts.clock, timings: opts.timings, log: opts.log });
    for (const c of opts.controllers) {
      if (this.electors.has(c.name)) throw new Error(`two controllers are named "${c.name}"`);
      this.electors.set(
        c.name,
        new LeaderElector({
          name: c.name,
          batch: this.batch,
          log: opts.log,
          onStartedLeading: (lead) => {
            const run = c
              .run(lead, opts.metrics)
              .catch((err) => opts.log?.('controller stopped with an error', err, { controller: c.name }))
              .finally(() => this.runs.delete(run));
            this.runs.add(run);
          },
        }),
      );
    }
  }

  private unsubscribe: (() => void) | null = null;
  private unsubscribeMetrics: (() => void) | null = null;

  /**
   * Starts every election. Resync requests (POST /api/monitoring/reconcile, heard by every
   * process through the watch hub) reach the controllers this process leads; the others
   * ignore them, as a non-running controller has nothing to resync.
   */
  start(): void {
    this.unsubscribe = this.opts.store.hub.onResyncRequested((name) => {
      for (const c of this.opts.controllers) if (name === '*' || name === c.name) c.resync();
    });
    const m = this.opts.metrics;
    if (m) {
      // every controller of this process, led or not: 0 is an answer too
      this.unsubscribeMetrics = m.onScrape(() => {
        for (const c of this.opts.controllers) {
          m.leader.set({ controller: c.name }, this.electors.get(c.name)?.isLeader ? 1 : 0);
          m.queueDepth.set({ controller: c.name }, c.queueDepth);
        }
      });
    }
    for (const e of this.electors.values()) e.start();
  }

  /** Which controllers this process leads now. */
  leadership(): ControllerLeadership[] {
    return [...this.electors.entries()].map(([name, e]) => ({ name, leading: e.isLeader, token: e.token }));
  }

  controller(name: string): Controller | undefined {
    return this.opts.controllers.find((c) => c.name === name);
  }

  /** Asks every controller this process leads to resync now. */
  resyncAll(): void {
    for (const c of this.opts.controllers) c.resync();
  }

  /** Stops every controller (in-flight reconciles are aborted) and releases every lease. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    // every controller is aborted first, then the leases go in one statement
    await this.batch.stop();
    await Promise.all([...this.runs]);
    this.unsubscribeMetrics?.();
    for (const c of this.opts.controllers) this.opts.metrics?.leader.set({ controller: c.name }, 0);
  }
}
