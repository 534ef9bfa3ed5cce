// Restart bookkeeping, kept in status so it survives deployer's restarts and is the same
// whichever process leads: the restarts Docker made by its restart policy (counted from the
// container's own RestartCount) and the ones deployer made, the back-off before deployer's
// next restart, and whether the server is crash-looping. Pure functions of status and time.
import type { ContainerState } from '../../docker/index.js';

export interface RestartRecord {
  at: string;
  reason: string;
  by: 'docker' | 'deployer';
}

/** How many restarts are kept in status. */
export const HISTORY_LIMIT = 20;
/** Restarts count towards back-off and crash-looping for this long. */
export const WINDOW_MS = 5 * 60_000;
/** This many restarts within the window make a crash loop (Degraded, CrashLoopBackOff). */
export const CRASH_LOOP_RESTARTS = 5;
/** Deployer restarts at once up to this many recent restarts, then backs off. */
export const FREE_RESTARTS = 2;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 5 * 60_000;

export interface Bookkeeping {
  containerId?: string;
  dockerRestartCount?: number;
  restartCount?: number;
  restartHistory?: RestartRecord[];
}

/**
 * Folds what Docker reports into the bookkeeping: restarts Docker's policy made since deployer
 * last looked at this container become records (one per restart, stamped with the latest
 * start, as Docker does not keep the earlier times).
 */
export function observeDocker(prev: Bookkeeping, state: ContainerState | null, now: number): Required<Bookkeeping> {
  const history = [...(prev.restartHistory ?? [])];
  let restartCount = prev.restartCount ?? 0;
  if (state && state.id === prev.containerId) {
    const delta = state.restartCount - (prev.dockerRestartCount ?? 0);
    for (let i = 0; i < Math.min(delta, HISTORY_LIMIT); i++)
      history.push({ at: state.startedAt ?? new Date(now).toISOString(), reason: `exited with code ${state.exitCode}; restarted by Docker's restart policy`, by: 'docker' });
    if (delta > 0) restartCount += delta;
  }
  return {
    containerId: state?.id ?? prev.containerId ?? '',
    dockerRestartCount: state?.restartCount ?? prev.dockerRestartCount ?? 0,
    restartCount,
    restartHistory: history.slice(-HISTORY_LIMIT),
  };
}

/** Adds a restart deployer made. */
export function recordRestart(b: Required<Bookkeeping>, reason: string, now: number): Required<Bookkeeping> {
  return {
    ...b,
    restartCount: b.restartCount + 1,
    restartHistory: [...b.restartHistory, { at: new Date(now).toISOString(), reason, by: 'deployer' as const }].slice(-HISTORY_LIMIT),
  };
}

export function recentRestarts(history: readonly RestartRecord[] | undefined, now: number): RestartRecord[] {
  return (history ?? []).filter((r) => now - Date.parse(r.at) < WINDOW_MS);
}

/**
 * How long deployer waits (from the latest restart) before it restarts again: nothing for the
 * first FREE_RESTARTS restarts in the window, then 1 s, 2 s, 4 s, … up to 5 minutes.
 */
export function backoffMs(history: readonly RestartRecord[] | undefined, now: number): number {
  const n = recentRestarts(history, now).length;
  if (n < FREE_RESTARTS) return 0;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n - FREE_RESTARTS, 20));
}

/** Milliseconds until deployer may restart again (0: now). */
export function restartWaitMs(history: readonly RestartRecord[] | undefined, now: number): number {
  const recent = recentRestarts(history, now);
  if (recent.length === 0) return 0;
  const last = Date.parse(recent[recent.length - 1].at);
  return Math.max(0, last + backoffMs(history, now) - now);
}

export function crashLooping(history: readonly RestartRecord[] | undefined, now: number): boolean {
  return recentRestarts(history, now).length >= CRASH_LOOP_RESTARTS;
}

/** When the crash-loop verdict may change on its own (the oldest counted restart leaves the window). */
export function crashLoopRecheckMs(history: readonly RestartRecord[] | undefined, now: number): number | undefined {
  const recent = recentRestarts(history, now);
  if (recent.length < CRASH_LOOP_RESTARTS) return undefined;
  const oldestCounted = Date.parse(recent[recent.length - CRASH_LOOP_RESTARTS].at);
  return Math.max(1000, oldestCounted + WINDOW_MS - now + 10);
}
