// The httpGet health checks of ProjectServers (every static server's default among them), made
// by deployer itself (as kubelet probes pods) instead of a Docker health check. Docker runs its
// checks with `runc exec` inside the container (and an httpGet check needed a wget in the
// image): on a 2-core host about ten a second is all the machine can do, so 200 static
// servers checked every 10 s saturated it (BENCHMARKS.md, "Full size again"). An HTTP GET from
// this process to the container's address, on a kept-alive connection, costs far less
// (probe-http.ts makes it).
//
// The verdicts mirror Docker's health states so the rest of the controller is unchanged:
// `starting` until the first passing probe, `healthy`, and `unhealthy` after `retries` failures
// in a row. As with Docker, failures within the start period do not count, and failures count
// at most once per interval; while `starting`, probes run every second (at most every
// interval) so a server is healthy about a second after it answers, not a whole interval later.
// A passing probe is an answer from 200 to 399 within the timeout (kubelet's rule); a dead
// container's connection fails, so the next probe connects anew and fails too.
//
// Probing runs only in the process that leads the projectserver controller: the reconciler
// asks for a container's health (observe), which starts probing it; the controller stops them
// all when it stops (closeAll). A verdict that changes wakes the server's key, as Docker's
// health_status event did.
import type { ContainerState } from '../../docker/index.js';
import { httpGetStatus, type ProbeGet } from './probe-http.js';

export { httpGetStatus, type ProbeGet } from './probe-http.js';

export type Health = NonNullable<ContainerState['health']>;

/** What to probe and how often: a ProjectServer's httpGet health check with defaults filled in. */
export interface ProbeSpec {
  path: string;
  port: number;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

/** One running container to probe. A new containerId or startedAt is a new start: `starting` again. */
export interface ProbeTarget extends ProbeSpec {
  containerId: string;
  startedAt: string;
  /** The address this process reaches the container at (its IP on a bridge network, or 127.0.0.1). */
  address: string;
}

export interface ProberOptions {
  /** A verdict changed for this key. */
  wake(key: string): void;
  get?: ProbeGet;
  now?: () => number;
  /** How often a `starting` container is probed at most (default 1 s). */
  startingEveryMs?: number;
  /**
   * Probes are due on whole multiples of this (default PROBE_TICK_MS; tests pass 1); a probe
   * due COARSE_TICKS ticks or more from now, on whole multiples of COARSE_TICKS ticks.
   */
  tickMs?: number;
}

interface Entry {
  identity: string;
  target: ProbeTarget;
  health: Health;
  /** No failure counts before this time (the interval since the last counted one, or the start period). */
  countFrom: number;
  /** The tick its next probe is due on (a key of HttpProber.ticks); undefined while probing. */
  tickAt?: number;
  abort: AbortController;
  /** observe() is still waiting for the first probe and reads its verdict itself: no wake. */
  quiet: boolean;
}

const MAX_OUTPUT = 500;
/** How long observe() waits for a new container's first probe before it answers `starting`. */
export const FIRST_PROBE_WAIT_MS = 1000;

/**
 * Probes fall due on whole seconds, so the probes due within the same second go out on one
 * timer and their answers tend to arrive together: each wakeup of the process costs CPU of its
 * own (about 0.2 ms on this VM, BENCHMARKS.md "Idle CPU at full size"), and 200 servers probed
 * on their own timers woke it some 13 times a second. A probe is at most this much later than
 * its interval says; failures still count at most once per interval.
 */
export const PROBE_TICK_MS = 1000;

/**
 * A probe due this many ticks or more ahead (a static server's default 30 s check) falls due on
 * whole multiples of this many ticks (5 s): 200 servers every 30 s then make one tick of ~33
 * probes every 5 s instead of one of ~7 every second, and more answers share a wakeup (a
 * loopback bench: 0.35% against 0.43–0.65% of a core). A probe is then up to 5 s later than its
 * interval says, at most a sixth of it; shorter intervals keep whole seconds.
 */
export const COARSE_TICKS = 5;

/**
 * One probe of `address` as the prober makes it: undefined when it passes (an answer from 200 to
 * 399 within the timeout), else what happened ("GET /path answered 503", "GET /path: …").
 * Throws only when `signal` was aborted. The deployment controller checks a new blue/green
 * container with it before it takes traffic.
 */
export async function probeOnce(address: string, spec: Pick<ProbeSpec, 'path' | 'port' | 'timeoutMs'>, signal: AbortSignal, get: ProbeGet = httpGetStatus): Promise<string | undefined> {
  try {
    const code = await get(`http://${address}:${spec.port}${spec.path}`, spec.timeoutMs, signal);
    return code >= 200 && code < 400 ? undefined : `GET ${spec.path} answered ${code}`;
  } catch (err) {
    if (signal.aborted) throw err;
    return `GET ${spec.path}: ${(err as Error).message}`;
  }
}

export class HttpProber {
  private readonly entries = new Map<string, Entry>();
  private readonly get: ProbeGet;
  private readonly now: () => number;
  private readonly startingEveryMs: number;
  private readonly tickMs: number;
  /** The ticks with probes due, by time (Date.now() clock): one timer each. */
  private readonly ticks = new Map<number, { timer: NodeJS.Timeout; due: Map<string, Entry> }>();

  constructor(private readonly o: ProberOptions) {
    this.get = o.get ?? httpGetStatus;
    this.now = o.now ?? Date.now;
    this.startingEveryMs = o.startingEveryMs ?? 1000;
    this.tickMs = o.tickMs ?? PROBE_TICK_MS;
  }

  /**
   * The container's health as probed so far, and probing it from now on. A target not seen
   * before starts as `seed` (what the stored status said about this same container start, so a
   * restart or failover of deployer does not flip a healthy server to starting) or what its
   * first probe finds.
   */
  async observe(key: string, target: ProbeTarget, seed?: Health): Promise<Health> {
    const identity = `${target.containerId}|${target.startedAt}|${target.address}:${target.port}${target.path}`;
    const had = this.entries.get(key);
    if (had && had.identity === identity) {
      had.target = target; // interval, timeout, retries may change without a new container
      return had.health;
    }
    if (had) this.stop(key, had);
    const now = this.now();
    const entry: Entry = {
      identity,
      target,
      health: seed ?? { status: 'starting', failingStreak: 0 },
      countFrom: Math.max(now + target.intervalMs, (Date.parse(target.startedAt) || now) + target.startPeriodMs),
      abort: new AbortController(),
      quiet: true,
    };
    this.entries.set(key, entry);
    // The first probe is awaited (up to FIRST_PROBE_WAIT_MS): a container that answers is healthy
    // in this very pass — a docker server's new release, which its deployment just checked, does
    // not flap to `starting` when it goes live. What it finds later wakes the key as usual.
    const first = this.probe(key, entry);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, FIRST_PROBE_WAIT_MS)))]);
    clearTimeout(timer);
    entry.quiet = false;
    return entry.health;
  }

  /** Stops probing the key (the container stopped, went or the server is deleted). */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.stop(key, e);
    this.entries.delete(key);
  }

  closeAll(): void {
    for (const [key, e] of this.entries) this.stop(key, e);
    this.entries.clear();
  }

  /** How many containers are being probed (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private stop(key: string, e: Entry): void {
    this.unschedule(key, e);
    e.abort.abort();
  }

  /** The next probe of `e` on the first tick at least `delayMs` from now. */
  private schedule(key: string, e: Entry, delayMs: number): void {
    const wall = Date.now();
    const grid = delayMs >= 6 * COARSE_TICKS * this.tickMs ? COARSE_TICKS * this.tickMs : this.tickMs;
    const at = Math.ceil((wall + delayMs) / grid) * grid;
    let tick = this.ticks.get(at);
    if (!tick) {
      const timer = setTimeout(() => this.fire(at), at - wall);
      timer.unref();
      tick = { timer, due: new Map() };
      this.ticks.set(at, tick);
    }
    tick.due.set(key, e);
    e.tickAt = at;
  }

  private unschedule(key: string, e: Entry): void {
    const at = e.tickAt;
    if (at === undefined) return;
    e.tickAt = undefined;
    const tick = this.ticks.get(at);
    if (!tick || tick.due.get(key) !== e) return;
    tick.due.delete(key);
    if (tick.due.size > 0) return;
    clearTimeout(tick.timer);
    this.ticks.delete(at);
  }

  private fire(at: number): void {
    const tick = this.ticks.get(at);
    this.ticks.delete(at);
    for (const [key, e] of tick?.due ?? []) {
      if (e.tickAt !== at || this.entries.get(key) !== e) continue;
      e.tickAt = undefined;
      void this.probe(key, e);
    }
  }

  private async probe(key: string, e: Entry): Promise<void> {
    const t = e.target;
    const failure = await probeOnce(t.address, t, e.abort.signal, this.get).catch((err: unknown) => {
      if (e.abort.signal.aborted) return undefined; // stopped: the result is dropped below
      throw err;
    });
    if (e.abort.signal.aborted || this.entries.get(key) !== e) return;
    const before = e.health.status;
    const now = this.now();
    if (!failure) e.health = { status: 'healthy', failingStreak: 0, lastOutput: `GET ${t.path}: passed` };
    else if (now >= e.countFrom) {
      const streak = e.health.failingStreak + 1;
      e.countFrom = now + t.intervalMs - Math.min(100, t.intervalMs / 10); // timers drift; the next regular probe counts
      e.health = { status: streak >= t.retries ? 'unhealthy' : e.health.status, failingStreak: streak, lastOutput: failure.slice(0, MAX_OUTPUT) };
    } else e.health = { ...e.health, lastOutput: failure.slice(0, MAX_OUTPUT) };
    if (e.health.status !== before && !e.quiet) this.o.wake(key);
    this.schedule(key, e, e.health.status === 'starting' ? Math.min(this.startingEveryMs, t.intervalMs) : t.intervalMs);
  }
}

/**
 * What the stored status said about this same container start (same id and start time): the
 * verdict a process that probed it before reached, so adopting it again changes nothing until
 * a probe of this process disagrees. Undefined when the status is about another start.
 */
export function seedHealth(status: { containerId?: string; startedAt?: string; lastHealthIssue?: string; conditions?: { type: string; status: string; reason?: string }[] } | undefined, state: ContainerState): Health | undefined {
  if (!status || status.containerId !== state.id || status.startedAt !== state.startedAt) return undefined;
  const healthy = status.conditions?.find((c) => c.type === 'Healthy');
  if (healthy?.status === 'True' && healthy.reason === 'HealthCheckPassing') return { status: 'healthy', failingStreak: 0 };
  return undefined;
}
