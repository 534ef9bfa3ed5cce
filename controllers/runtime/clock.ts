// The clock the controller runtime reads time and schedules timers through.
// Injected everywhere so tests advance time by hand instead of sleeping.

/**
 * The longest delay a timer accepts: Node's setTimeout silently fires after
 * 1 ms when given more than 2^31 - 1 ms, so both clocks refuse it instead.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

declare const timerHandleBrand: unique symbol;

/** An opaque timer, only meaningful to the clock that made it. */
export type TimerHandle = { readonly [timerHandleBrand]: true };

/**
 * Time and one-shot timers.
 *
 * Guarantees: `now()` is wall-clock time in milliseconds since the Unix epoch
 * (so it can stamp Events); on the system clock it may jump when the host's
 * time is set, so do not rely on it to measure short intervals exactly — use
 * timers for waiting. `setTimeout(fn, ms)` calls `fn` once, no earlier than `ms` after the
 * call, unless `clearTimeout` ran first; delays below 1 ms count as 1 ms.
 * Timers due at the same time fire in the order they were set.
 *
 * The caller must: pass `0 <= ms <= MAX_TIMER_DELAY_MS` (larger throws
 * RangeError); clear its timers when it stops — a pending timer keeps a Node
 * process alive; pass a handle only to the clock that made it.
 *
 * Not guaranteed: how late a timer fires, and that `fn` errors are caught
 * (a throwing callback is the caller's bug; the system clock lets it crash).
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Does nothing for a timer that already fired or was cleared. */
  clearTimeout(handle: TimerHandle): void;
}

/** Checks a timer delay and applies Node's rule that anything below 1 ms is 1 ms. */
export function timerDelay(ms: number): number {
  if (ms > MAX_TIMER_DELAY_MS) {
    throw new RangeError(`timer delay ${ms} ms exceeds the maximum of ${MAX_TIMER_DELAY_MS} ms`);
  }
  return ms >= 1 ? ms : 1;
}

/** The process's clock: Date.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, timerDelay(ms)) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};
