// A controller: an informer feeding a work queue, and N workers calling reconcile(key).
//
// The contract (as controller-runtime's): reconcile(key, signal) is level-based — it gets
// identity only and re-reads the state; it must be idempotent and safe to run again from any
// point. It returns { requeueAfterMs } to be called again later (no backoff); a thrown error
// retries the key with per-key exponential backoff; a TerminalError is recorded in the
// object's status conditions (type "Reconciled", status "False") and not retried until the
// object changes. One key is never reconciled twice at once. `signal` aborts when
// leadership is lost or the process stops; a worker loop never dies of a reconcile's throw.
import { setCondition, type KindInfo, type ResourceObject } from '../../resources/index.js';
import type { ControllerMetrics } from '../../metrics/index.js';
import type { Condition } from '../../schemas/index.js';
import type { Fence, Store } from '../../store/index.js';
import type { Clock } from './clock.js';
import type { LogFn } from './log.js';
import { Informer, objectKey, parseKey } from './informer.js';
import type { Leadership } from './leader-elector.js';
import { WorkQueue } from './work-queue.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface Reconciler {
  reconcile(key: string, signal: AbortSignal, ctx: ReconcileContext): Promise<ReconcileResult | void>;
}

/** What a reconcile may use beyond its key: the cache and the fencing token for its writes. */
export interface ReconcileContext {
  /** The informer's copy (may lag the store by a notification; re-read before deciding). */
  cached(key: string): ResourceObject | undefined;
  /**
   * The informers' copies of every object of `kind`: this controller's kind or one it watches
   * (a lister, as client-go's: no round trip to the store; may lag it by a notification).
   * Throws for any other kind. The objects are shared: never change them.
   */
  list(kind: string): ResourceObject[];
  /** Pass as `fence` on every status write. */
  fence: Fence;
  /** Where to record what a reconcile observes (deployment phase durations); absent in tests without one. */
  metrics?: ControllerMetrics;
}

/** A failure that retrying cannot fix (bad spec, missing dependency the user must add). */
export class TerminalError extends Error {
  constructor(
    message: string,
    readonly reason = 'TerminalError',
  ) {
    super(message);
    this.name = 'TerminalError';
  }
}

export interface ControllerOptions {
  /** The controller's name; also its lease's name. */
  name: string;
  kind: KindInfo;
  reconciler: Reconciler;
  store: Store;
  workers?: number;
  resyncMs?: number;
  /**
   * Which objects the periodic resync hands to the workers (default all), for kinds whose
   * finished objects have nothing left to do; an operator's resync (resync()) hands them all.
   */
  resyncFilter?: (obj: ResourceObject) => boolean;
  clock?: Clock;
  baseDelayMs?: number;
  maxDelayMs?: number;
  log?: LogFn;
  /**
   * Keys that are not objects of `kind` (e.g. "sweep") handed to the workers whenever the
   * controller starts leading and on every resync.
   */
  startKeys?: string[];
  /**
   * Other kinds whose changes concern this controller: while it runs, an informer per entry
   * hands each changed key of that kind to `map`, and the keys it returns to the workers.
   */
  watches?: { kind: KindInfo; map: (key: string) => string[] }[];
  /** Called whenever the controller stops running (leadership lost, process stopping). */
  onStop?: () => void;
}

export interface ControllerStats {
  reconciles: { success: number; error: number; terminal: number; requeue: number };
  queueDepth: number;
}

export class Controller {
  readonly name: string;
  private queue: WorkQueue | null = null;
  private informer: Informer | null = null;
  readonly stats: ControllerStats['reconciles'] = { success: 0, error: 0, terminal: 0, requeue: 0 };

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
  }

  /** Adds a key from a secondary source (Docker events, owned kinds). Ignored while not running. */
  enqueue(key: string): void {
    this.queue?.add(key);
  }

  /** Hands every known key to the workers again. */
  resync(): void {
    this.informer?.resyncNow();
    for (const k of this.opts.startKeys ?? []) this.queue?.add(k);
  }

  /** The primary informer's objects (empty while not running). */
  cachedObjects(): ResourceObject[] {
    const inf = this.informer;
    if (!inf) return [];
    return [...inf.values()];
  }

  get queueDepth(): number {
    return this.queue?.len() ?? 0;
  }

  /**
   * Runs while `lead.signal` is not aborted: lists, watches, reconciles. Resolves once the
   * workers have stopped (in-flight reconciles see the aborted signal). With `metrics`, each
   * reconcile is counted by result and timed, and each backoff retry counted.
   */
  async run(lead: Leadership, metrics?: ControllerMetrics): Promise<void> {
    const { opts } = this;
    const log = opts.log ?? (() => undefined);
    const queue = new WorkQueue({ clock: opts.clock, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs });
    const informer = new Informer(opts.store, opts.kind, { resyncMs: opts.resyncMs, resyncFilter: opts.resyncFilter, clock: opts.clock, log });
    const secondary = (opts.watches ?? []).map((w) => {
      // no periodic resync of its own: the primary informer's resync already hands every key of
      // this controller to the workers, and mapping every secondary key again (each a scan of
      // the cache) made the deployment controller's idle cost grow with servers × deployments
      const inf = new Informer(opts.store, w.kind, { resyncMs: 0, clock: opts.clock, log });
      inf.onChange((key) => {
        for (const k of w.map(key)) queue.add(k);
      });
      return inf;
    });
    this.queue = queue;
    this.informer = informer;
    const stop = () => {
      queue.shutDown();
      informer.stop();
      for (const inf of secondary) inf.stop();
    };
    if (lead.signal.aborted) return;
    lead.signal.addEventListener('abort', stop, { once: true });
    informer.onChange((key) => queue.add(key));
    const byKind = new Map<string, Informer>([[opts.kind.kind, informer], ...(opts.watches ?? []).map((w, i) => [w.kind.kind, secondary[i]] as const)]);
    const list = (kind: string) => {
      const inf = byKind.get(kind);
      if (!inf) throw new Error(`the ${opts.name} controller neither reconciles nor watches ${kind}`);
      return [...inf.values()];
    };
    const ctx: ReconcileContext = { cached: (key) => informer.get(key), list, fence: { lease: opts.name, token: lead.token }, metrics };
    // bound once: a reconcile only increments these
    const m = metrics && {
      success: metrics.reconciles.labels(opts.name, 'success'),
      requeue: metrics.reconciles.labels(opts.name, 'requeue'),
      error: metrics.reconciles.labels(opts.name, 'error'),
      terminal: metrics.reconciles.labels(opts.name, 'terminal'),
      duration: metrics.reconcileDuration.labels(opts.name),
      retries: metrics.retries.labels(opts.name),
    };
    const worker = async () => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        const started = m ? performance.now() : 0;
        let cutShort = false;
        try {
          const res = await opts.reconciler.reconcile(key, lead.signal, ctx);
          queue.forget(key);
          if (res?.requeueAfterMs !== undefined) {
            this.stats.requeue++;
            m?.requeue.inc();
            queue.addAfter(key, res.requeueAfterMs);
          } else {
            this.stats.success++;
            m?.success.inc();
          }
        } catch (err) {
          if (lead.signal.aborted) {
            // leadership went mid-reconcile: the next leader starts from a fresh list
            cutShort = true;
          } else if (err instanceof TerminalError) {
            this.stats.terminal++;
            m?.terminal.inc();
            queue.forget(key);
            await this.recordTerminal(key, err, ctx.fence).catch((e) => log('could not record a terminal error', e, { controller: opts.name, key }));
          } else {
            this.stats.error++;
            m?.error.inc();
            m?.retries.inc();
            log('reconcile failed; retrying with backoff', err, { controller: opts.name, key });
            queue.addRateLimited(key);
          }
        } finally {
          if (!cutShort) m?.duration.observe((performance.now() - started) / 1000);
          queue.done(key);
        }
      }
    };
    try {
      await Promise.all([informer.start(), ...secondary.map((inf) => inf.start())]);
      for (const k of opts.startKeys ?? []) queue.add(k);
      await Promise.all(Array.from({ length: opts.workers ?? 2 }, () => worker()));
    } finally {
      lead.signal.removeEventListener('abort', stop);
      stop();
      opts.onStop?.();
      if (this.queue === queue) this.queue = null;
      if (this.informer === informer) this.informer = null;
    }
  }

  private async recordTerminal(key: string, err: TerminalError, fence: Fence): Promise<void> {
    const { kind } = this.opts;
    if (kind.layout !== 'spec-status') return;
    const { namespace, name } = parseKey(key);
    for (let attempt = 0; attempt < 5; attempt++) {
      let obj: ResourceObject;
      try {
        obj = await this.opts.store.resources.get(kind, namespace, name);
      } catch {
        return; // gone: nothing to record on
      }
      const status = (obj.status ?? {}) as { conditions?: Condition[] };
      const cond: Condition = {
        type: 'Reconciled',
        status: 'False',
        reason: err.reason,
        message: err.message.slice(0, 32_000),
        observedGeneration: obj.metadata.generation,
      };
      const conditions = setCondition(status.conditions, cond, new Date(this.opts.clock?.now() ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      try {
        await this.opts.store.resources.patch(
          kind,
          namespace,
          name,
          'merge',
          { metadata: { resourceVersion: obj.metadata.resourceVersion }, status: { conditions } },
          { subresource: 'status', fence },
        );
        return;
      } catch (e) {
        if ((e as { reason?: string }).reason !== 'Conflict') throw e;
      }
    }
  }
}

export { objectKey };
