// Per-key exponential backoff, a port of client-go's
// ItemExponentialFailureRateLimiter: the n-th consecutive failure of a key
// waits baseDelayMs * 2^(n-1), capped at maxDelayMs.
import { MAX_TIMER_DELAY_MS } from './clock.js';

export interface BackoffOptions {
  /** Delay after the first failure (default 10 ms). Must be > 0. */
  baseDelayMs?: number;
  /** Ceiling of the delay (default 5 minutes). Must be >= baseDelayMs and fit a timer. */
  maxDelayMs?: number;
}

export const DEFAULT_BASE_DELAY_MS = 10;
export const DEFAULT_MAX_DELAY_MS = 5 * 60_000;

/**
 * Counts consecutive failures per key and turns them into delays.
 *
 * Guarantees: `next(key)` returns base, 2·base, 4·base, … for successive
 * calls, never more than the cap, and never overflows however many failures
 * pile up. Keys are independent.
 *
 * The caller must call `forget(key)` when the key succeeds or is given up on;
 * until then its count is kept (one map entry per failing key).
 *
 * Not guaranteed: jitter — every key failing at the same moment retries at the
 * same moment (acceptable for one process's controllers; add jitter here if
 * that ever stampedes something).
 */
export class ExponentialBackoff<K extends string = string> {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Consecutive failures per key; a key with no failures has no entry. */
  readonly #failures = new Map<K, number>();

  constructor(opts: BackoffOptions = {}) {
    const base = opts.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    const max = opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    if (!Number.isFinite(base) || base <= 0) {
      throw new RangeError(`baseDelayMs must be a positive number of milliseconds, got ${base}`);
    }
    if (!Number.isFinite(max) || max < base) {
      throw new RangeError(`maxDelayMs must be at least baseDelayMs (${base} ms), got ${max}`);
    }
    if (max > MAX_TIMER_DELAY_MS) {
      throw new RangeError(`maxDelayMs must be at most ${MAX_TIMER_DELAY_MS} ms (a timer's limit), got ${max}`);
    }
    this.baseDelayMs = base;
    this.maxDelayMs = max;
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** failures reaches Infinity after ~1024 failures; Math.min still caps it.
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  /** Forgets the failures of `key`: its next failure waits baseDelayMs again. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  /** How many consecutive failures of `key` have been recorded since it was last forgotten. */
  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}
