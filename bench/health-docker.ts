// What bench/health needs of Docker beyond DockerRuntime: the engine calls the runtime has no
// method for (kill, a container's bridge address) as raw Engine API requests on the unix
// socket — the docker CLI would add ~90 ms of its own start-up to every timing here —, a log
// of the installation's container events on the engine's clock, a DockerRuntime that records
// when each of the controller's calls began and ended, and an HTTP probe.
//
// Times are milliseconds since the epoch as floats. Docker events carry the engine's clock,
// the rest this process' clock; bench/health checks that the two agree (same host) before it
// mixes them.
import http from 'node:http';
import { DockerRuntime, type ContainerEvent, type ContainerSpec, type ContainerState, type DockerEventStream } from '../docker/index.js';

export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nanosToMs = (t: bigint): number => Number(t / 1000n) / 1000;

function socketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  throw new Error(`bench/health speaks to the engine on a unix socket; DOCKER_HOST=${host} is not one`);
}

/** One Engine API request; rejects on a status outside `ok`. */
export function engine(method: string, path: string, ok: number[] = [200, 204]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socketPath(), method, path, headers: { host: 'docker' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (!ok.includes(res.statusCode ?? 0)) return reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
        resolve(text ? JSON.parse(text) : undefined);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** What `docker kill` does: SIGKILL, and Docker's restart policy leaves the container exited. */
export const killContainer = (id: string) => engine('POST', `/containers/${id}/kill`).then(() => undefined);

/** The container's address on its first network (the bridge); reachable from this host. */
export async function containerIp(id: string): Promise<string> {
  const info = (await engine('GET', `/containers/${id}/json`)) as { NetworkSettings?: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> } };
  const ns = info.NetworkSettings ?? {};
  const ip = ns.IPAddress || Object.values(ns.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
  if (!ip) throw new Error(`container ${id} has no IP address`);
  return ip;
}

/**
 * The engine's clock minus ours, in ms (positive: the engine is ahead), from /info's
 * SystemTime against the middle of the request; only known to ± half the round trip, as the
 * engine reads its clock somewhere while it gathers /info. The best of three.
 */
export async function engineClockOffset(): Promise<{ offsetMs: number; roundTripMs: number }> {
  let best = { offsetMs: NaN, roundTripMs: Infinity };
  for (let i = 0; i < 3; i++) {
    const t0 = now();
    const info = (await engine('GET', '/info')) as { SystemTime: string };
    const t1 = now();
    const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(info.SystemTime);
    if (!m) throw new Error(`unusable SystemTime ${info.SystemTime}`);
    const engineMs = Date.parse(`${m[1]}${m[3]}`) + Number(m[2] ?? 0) * 1000;
    if (t1 - t0 < best.roundTripMs) best = { offsetMs: engineMs - (t0 + t1) / 2, roundTripMs: t1 - t0 };
  }
  return best;
}

/** One GET; true on 200. Never throws. */
export function httpOk(url: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

/** Probes `url` every 5 ms until it answers 200; returns when it did. */
export async function untilServing(url: string, deadline: number, what: string): Promise<number> {
  for (;;) {
    if (await httpOk(url)) return now();
    if (now() > deadline) throw new Error(`timed out waiting for ${what} to answer ${url}`);
    await sleep(5);
  }
}

export interface LoggedEvent {
  action: string;
  health?: string;
  id: string;
  labels: Record<string, string>;
  /** Engine time, ms since the epoch. */
  t: number;
}

/** The container events of a DockerEventStream, kept in arrival (= Docker's) order. */
export class EventLog {
  readonly events: LoggedEvent[] = [];
  private readonly off: () => void;

  constructor(stream: DockerEventStream) {
    this.off = stream.onEvent((e: ContainerEvent) => {
      this.events.push({ action: e.action, health: e.health, id: e.id, labels: e.labels, t: nanosToMs(e.timeNano) });
    });
  }

  /** The first event matching `pred`, waiting for it up to `timeoutMs`. */
  async waitFor(pred: (e: LoggedEvent) => boolean, timeoutMs: number, what: string): Promise<LoggedEvent> {
    const end = now() + timeoutMs;
    for (let from = 0; ; ) {
      for (; from < this.events.length; from++) if (pred(this.events[from])) return this.events[from];
      if (now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(2);
    }
  }

  close(): void {
    this.off();
  }
}

export interface Call {
  op: string;
  /** The name or id the call was about. */
  target: string;
  t0: number;
  /** NaN while the call runs. */
  t1: number;
}

/** A DockerRuntime that records the calls the controller makes that matter to a restart. */
export class TimedRuntime extends DockerRuntime {
  readonly calls: Call[] = [];

  /** Recorded when it begins (t1 is NaN until it ends): a start's event comes before its response. */
  private async timed<T>(op: string, target: string, fn: () => Promise<T>): Promise<T> {
    const call: Call = { op, target, t0: now(), t1: NaN };
    this.calls.push(call);
    try {
      return await fn();
    } finally {
      call.t1 = now();
    }
  }

  override inspect(idOrName: string): Promise<ContainerState | null> {
    return this.timed('inspect', idOrName, () => super.inspect(idOrName));
  }
  override ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.timed('ensureVolume', name, () => super.ensureVolume(name, labels));
  }
  override create(spec: ContainerSpec): Promise<string> {
    return this.timed('create', spec.name, () => super.create(spec));
  }
  override start(id: string): Promise<void> {
    return this.timed('start', id, () => super.start(id));
  }
  override restart(id: string, timeoutS?: number): Promise<void> {
    return this.timed('restart', id, () => super.restart(id, timeoutS));
  }

  /** The first call of `op` on one of `targets` that began at or after `after`. */
  first(op: string, targets: string[], after: number): Call | undefined {
    return this.calls.find((c) => c.op === op && targets.includes(c.target) && c.t0 >= after);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function inParallel<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
