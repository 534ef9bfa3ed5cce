// The controllers' work queue: a port of client-go's rate-limiting delaying
// queue (util/workqueue: queue.go, delaying_queue.go, rate_limiting_queue.go).
// The `dirty`/`processing` pair is what gives the two guarantees that matter:
// one key is never handed to two workers at once, and a change that arrives
// while its key is being reconciled is not lost.
//
// Differences from client-go, each on purpose:
// - JavaScript has one thread, so the condition variable becomes a FIFO list of
//   parked get() calls, and a key queued while someone waits is handed to the
//   oldest waiter at once.
// - shutDown() stops handing out keys at once (client-go's Get still returns
//   the queued items); shutDownWithDrain() is the one that hands out what is
//   left, including keys that come back from processing, and waits for all of
//   it to be done.
// - One timer per delayed key through the injected clock, instead of a heap
//   and a goroutine.
import { ExponentialBackoff, type BackoffOptions } from './backoff.js';
import { MAX_TIMER_DELAY_MS, systemClock, type Clock, type TimerHandle } from './clock.js';

export interface WorkQueueOptions extends BackoffOptions {
  /** Where time and timers come from (default systemClock). */
  clock?: Clock;
}

/** A pending get() or shutDownWithDrain() call. */
interface Parked<T> {
  settle(value: T): void;
}

/**
 * running: everything works. draining: shutDownWithDrain() was called — adds
 * are ignored, keys already queued (or coming back from processing) are still
 * handed out. stopped: shutDown() was called — nothing is handed out again.
 */
type State = 'running' | 'draining' | 'stopped';

/**
 * A queue of keys (`kind/namespace/name`) to reconcile, shared by a
 * controller's workers.
 *
 * Guarantees:
 * - Dedup: adding a key that is already waiting does nothing; it keeps its
 *   place. Waiting keys are handed out oldest first, to the oldest get().
 * - Exclusion: a key handed out by get() is not handed out again until
 *   done(key), however many workers call get().
 * - No lost change: a key added while it is being processed is queued again
 *   when done(key) is called — once, however many adds came in between.
 * - addAfter(key, ms) adds the key after ms; of several pending addAfters for
 *   one key, the one due first wins and the others are dropped.
 * - addRateLimited(key) is addAfter with the key's exponential backoff
 *   (baseDelayMs · 2^failures, capped at maxDelayMs); forget(key) resets it.
 * - get() resolves undefined only when the queue is shut down (the worker
 *   should exit); when its signal aborts it rejects with `signal.reason`
 *   instead, and takes no key, so nothing is lost.
 *
 * The caller must:
 * - call done(key) exactly once for every key get() returned, also when the
 *   reconcile failed and also after a shutdown (calling it for a key that is
 *   not being processed throws: that is a worker bug);
 * - call forget(key) when a key succeeds or is given up on, or its failure
 *   count (and so its next backoff) is kept;
 * - call shutDown() or await shutDownWithDrain() when it stops: that cancels
 *   the queue's timers, which would otherwise keep the process alive.
 *
 * Not guaranteed:
 * - A delayed key is not cancelled by an immediate add: it may be handed out
 *   once more when its timer fires (harmless for level-based reconcilers).
 * - Delayed keys are dropped at shutdown, and so are keys still waiting at
 *   shutDown() — the next leader re-lists everything anyway.
 * - Nothing is persisted; a restarted process starts empty.
 */
export class WorkQueue<K extends string = string> {
  readonly #clock: Clock;
  readonly #backoff: ExponentialBackoff<K>;
  #state: State = 'running';

  /**
   * Keys waiting to be handed out, oldest first (a Set iterates in insertion
   * order and holds each key once). Invariants: a key is in `queue` only if it
   * is in `dirty`; a key in `processing` is never in `queue`.
   */
  readonly #queue = new Set<K>();
  /**
   * Keys that need processing: every key in `queue`, plus keys in
   * `processing` that were added again since they were handed out. So a key
   * in `dirty` but not in `queue` is in `processing` and will be queued at
   * done(), and dirty.size - queue.size counts such keys. Empty once stopped.
   */
  readonly #dirty = new Set<K>();
  /** Keys handed out by get() and not yet done(). Never shares a key with `queue`. */
  readonly #processing = new Set<K>();
  /**
   * Parked get() calls, oldest first. Non-empty only while `queue` is empty:
   * a queued key goes to the oldest waiter at once. Empty once stopped, and
   * once draining with `dirty` empty.
   */
  readonly #waiters: Parked<K | undefined>[] = [];
  /**
   * One pending timer per delayed key, with its due time (clock.now() ms);
   * a key's entry is the earliest addAfter. Empty unless running.
   */
  readonly #delayed = new Map<K, { at: number; timer: TimerHandle }>();
  /** Parked shutDownWithDrain() calls; settled when `queue` and `processing` are both empty. */
  readonly #drainers: Parked<void>[] = [];

  /** Throws RangeError when the backoff options are inconsistent (see BackoffOptions). */
  constructor(opts: WorkQueueOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#backoff = new ExponentialBackoff<K>(opts);
  }

  /** Queues `key` unless it is waiting already; ignored once shut down. */
  add(key: K): void {
    if (this.#state !== 'running' || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // queued again by done()
    this.#queue.add(key);
    this.#dispatch();
  }

  /**
   * Resolves with the next key, now marked as being processed; waits while
   * none is waiting. Resolves undefined once the queue is stopped, or draining
   * with nothing left to hand out: the worker should then exit. Rejects with
   * `signal.reason` if the signal aborts first (or already has), taking no key.
   */
  get(signal?: AbortSignal): Promise<K | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#state === 'stopped') return Promise.resolve(undefined);
    if (this.#queue.size > 0) return Promise.resolve(this.#take());
    if (this.#state === 'draining' && this.#dirty.size === 0) return Promise.resolve(undefined);
    return park(this.#waiters, signal);
  }

  /** Ends the processing of `key`; queues it again if it was added meanwhile. */
  done(key: K): void {
    if (!this.#processing.delete(key)) {
      throw new Error(`work queue: done(${JSON.stringify(key)}) but the key is not being processed`);
    }
    if (this.#dirty.has(key)) this.#queue.add(key);
    this.#dispatch();
  }

  /**
   * Adds `key` after `ms` without touching its backoff (a reconcile's
   * requeueAfterMs). ms <= 0 adds it now; ms above the timer limit (~24.8 days)
   * is cut to it. Throws RangeError for NaN. Ignored once shut down.
   */
  addAfter(key: K, ms: number): void {
    if (Number.isNaN(ms)) throw new RangeError(`work queue: addAfter(${JSON.stringify(key)}) with a delay of NaN`);
    if (this.#state !== 'running') return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const delay = Math.min(ms, MAX_TIMER_DELAY_MS);
    const at = this.#clock.now() + delay;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      this.#clock.clearTimeout(pending.timer);
    }
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delay);
    this.#delayed.set(key, { at, timer });
  }

  /** Records a failure of `key` and adds it after its backoff. Ignored once shut down. */
  addRateLimited(key: K): void {
    if (this.#state !== 'running') return;
    this.addAfter(key, this.#backoff.next(key));
  }

  /** Resets the failure count of `key`; call it when the key succeeds. Pending timers are kept. */
  forget(key: K): void {
    this.#backoff.forget(key);
  }

  /** How many times `key` was added rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.#backoff.failures(key);
  }

  /** Keys waiting to be handed out (not those being processed or delayed). */
  len(): number {
    return this.#queue.size;
  }

  /** Keys handed out and not yet done. */
  processingCount(): number {
    return this.#processing.size;
  }

  /** True once shutDown() or shutDownWithDrain() was called. */
  isShuttingDown(): boolean {
    return this.#state !== 'running';
  }

  /**
   * Stops at once: adds are ignored, waiting and delayed keys are dropped,
   * timers cancelled, every pending and later get() resolves undefined. Keys
   * being processed must still be done(). Idempotent; also cuts a drain short
   * (its promise then resolves when the keys being processed are done).
   */
  shutDown(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#cancelDelayed();
    this.#queue.clear();
    this.#dirty.clear();
    this.#dispatch();
  }

  /**
   * Stops accepting adds (delayed keys are dropped and their timers
   * cancelled), keeps handing out the keys already queued — and keys added
   * while being processed, when they are done — and resolves once no key is
   * waiting or being processed. Workers must keep calling get() until it
   * returns undefined, or this never resolves. Rejects with `signal.reason`
   * when the signal aborts first; the queue stays draining (call shutDown() to
   * stop handing out keys). Idempotent: every call waits for the same moment.
   */
  shutDownWithDrain(signal?: AbortSignal): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'draining';
      this.#cancelDelayed();
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const drained = park(this.#drainers, signal);
    this.#dispatch();
    return drained;
  }

  /** Moves the oldest waiting key to `processing`; `queue` must not be empty. */
  #take(): K {
    const key = this.#queue.values().next().value as K;
    this.#queue.delete(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }

  /** Restores the invariants on `waiters` and `drainers` after any change. */
  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#queue.size > 0) {
      this.#waiters.shift()!.settle(this.#take());
    }
    if (this.#state === 'running') return;
    // Shutting down with nothing queued and nothing coming back from
    // processing: no key will be handed out again.
    if (this.#dirty.size === 0) {
      for (const waiter of this.#waiters.splice(0)) waiter.settle(undefined);
    }
    if (this.#queue.size === 0 && this.#processing.size === 0) {
      for (const drainer of this.#drainers.splice(0)) drainer.settle();
    }
  }

  #cancelDelayed(): void {
    for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
  }
}

/**
 * Parks a caller in `list` until someone settles its entry (which also
 * removes its abort listener), or rejects with `signal.reason` and leaves the
 * list when the signal aborts first.
 */
function park<T>(list: Parked<T>[], signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      reject(signal?.reason);
    };
    const entry: Parked<T> = {
      settle(value) {
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    list.push(entry);
  });
}
