// What the controllers share about a Docker engine that does not answer (dockerd stopped,
// restarting, its socket gone): how to recognise it, what to tell a person, and how often to
// look again. Pure apart from the clock-free backoff bookkeeping.
//
// The policy, the same in every controller: an outage is not a failure of the object. Nothing
// is marked failed or counted as an attempt for it; the object's status says that it waits for
// Docker (reason DockerUnavailable) and one Warning Event says so when that starts; the key is
// looked at again every DOCKER_RETRY_MAX_MS at most (and at once when the event stream
// reconnects), and the first pass that reaches Docker again clears the status (a Normal Event
// DockerAvailable).
import { unavailableDetail } from '../docker/connection.js';
import { ExponentialBackoff } from './runtime/backoff.js';

export const DOCKER_UNAVAILABLE = 'DockerUnavailable';
export const DOCKER_AVAILABLE = 'DockerAvailable';
/** First retry after an outage is seen, doubling per retry of the same key. */
export const DOCKER_RETRY_BASE_MS = 500;
/** Cap of the retry delay: reconvergence after the engine returns takes at most this long. */
export const DOCKER_RETRY_MAX_MS = 5000;

/** True when `err` says the Docker engine does not answer (DockerError kind `unavailable`). */
export function isDockerUnavailable(err: unknown): boolean {
  return unavailableDetail(err) !== undefined;
}

/**
 * The sentence for statuses and Events: which engine, how it failed, and what deployer does
 * about it. `err` must satisfy isDockerUnavailable; `effect` (optional) says what waits.
 */
export function dockerOutageMessage(err: unknown, effect?: string): string {
  const d = unavailableDetail(err) ?? { cause: String((err as Error)?.message ?? err) };
  const engine = d.address ? `the Docker engine at ${d.address}` : 'the Docker engine';
  return `${engine} does not answer: ${d.cause}; ${effect ? `${effect}; ` : ''}deployer retries and will reconverge when it is back`;
}

/** The sentence for the Event that says the outage is over. */
export function dockerBackMessage(effect: string): string {
  return `the Docker engine answers again; ${effect}`;
}

/**
 * Per-key retry delays while Docker is down: 0.5 s, 1 s, 2 s, 4 s, then 5 s. The caller
 * forgets a key whenever a pass reached Docker (or the key is gone), so the next outage starts
 * at 0.5 s again; one map entry per key that is waiting.
 */
export class DockerRetry {
  private readonly backoff = new ExponentialBackoff({ baseDelayMs: DOCKER_RETRY_BASE_MS, maxDelayMs: DOCKER_RETRY_MAX_MS });

  next(key: string): number {
    return this.backoff.next(key);
  }

  forget(key: string): void {
    this.backoff.forget(key);
  }
}
