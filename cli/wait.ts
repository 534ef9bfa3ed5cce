// Waiting with a deadline: sleeps that end early when the run is interrupted.
import { parseDuration } from './args.js';
import { CliError } from './errors.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The deadline of `--timeout` (ms since the epoch), or Infinity when it is unset or 0. */
export function deadline(timeout: string | undefined, now: number): number {
  if (timeout === undefined) return Infinity;
  const ms = parseDuration(timeout);
  return ms === 0 ? Infinity : now + ms;
}

export function timedOut(what: string, timeout: string | undefined): CliError {
  return new CliError(`timed out after ${timeout} waiting for ${what}`);
}
