// A Clock for unit tests: time stands still until the test advances it.
import { timerDelay, type Clock, type TimerHandle } from '../../controllers/runtime/clock.js';

interface FakeTimer {
  at: number;
  /** Order of creation: breaks ties between timers due at the same time. */
  seq: number;
  fn: () => void;
}

/**
 * Time moves only through advance(); timers fire inside advance(), in due
 * order (creation order on ties), each seeing now() equal to its due time.
 * Applies the same delay rules as systemClock (below 1 ms counts as 1 ms,
 * above the timer limit throws), so code tested here behaves the same live.
 * A timer callback that throws propagates out of advance().
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  /** Pending timers; a fired or cleared timer is removed. */
  readonly #timers = new Set<FakeTimer>();

  /** Starts at `start` ms since the epoch (default 2024-05-01T10:00:00Z, as tests/helpers/resources.ts). */
  constructor(start = Date.parse('2024-05-01T10:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { at: this.#now + timerDelay(ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as FakeTimer);
  }

  /**
   * Moves time forward by `ms`, firing every timer due by then — including
   * timers that fired callbacks set within the window.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ms must be >= 0, got ${ms}`);
    const until = this.#now + ms;
    for (let next = this.#nextDue(until); next; next = this.#nextDue(until)) {
      this.#timers.delete(next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = until;
  }

  /** Due times (absolute, ms) of the pending timers, earliest first. */
  pending(): number[] {
    return [...this.#timers].sort(byDue).map((t) => t.at);
  }

  /** Due times of the pending timers relative to now(), earliest first. */
  pendingDelays(): number[] {
    return this.pending().map((at) => at - this.#now);
  }

  #nextDue(until: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at <= until && (!best || byDue(t, best) < 0)) best = t;
    }
    return best;
  }
}

function byDue(a: FakeTimer, b: FakeTimer): number {
  return a.at - b.at || a.seq - b.seq;
}

/**
 * Lets every promise callback that is ready run (resolutions chain through
 * several microtasks). It uses setImmediate, not a timer: it waits for no
 * amount of time, only for the microtask queue to empty.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
