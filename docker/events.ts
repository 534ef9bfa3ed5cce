// Docker's container events for one set of labels, as a stream that survives the connection.
//
// What it guarantees: after start(), every matching event Docker still holds is delivered once,
// in Docker's order, including events that happened while the connection was down — on
// reconnect it first reads the events since the last one it saw (`since=`), then follows live
// events from where that read ended, and only then calls the onReconnect handlers.
// What it does not guarantee: Docker keeps only its last 256 events (of all kinds), so after a
// long outage some can be gone for good. That is what onReconnect is for: consumers resync
// (list what exists) after every reconnect. Events from before start() are not delivered.
//
// All times are the engine's (its /info SystemTime and its events' timeNano), never this
// process' clock, so a skewed clock cannot make Docker reject `since` or skip events.
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerConnection, toDockerError } from './connection.js';
import type { DockerConnectionOptions } from './connection.js';
import { LineSplitter } from './demux.js';
import type { ContainerEvent } from './types.js';

export interface DockerEventStreamOptions extends DockerConnectionOptions {
  /** `key=value` or `key` label filters (all must match), e.g. installationFilter(installation). */
  labelFilters: string[];
  log?: (msg: string, err?: unknown) => void;
  /** First reconnect delay (default 100 ms); doubles per failed attempt, jittered. */
  reconnectMinMs?: number;
  /** Cap of the reconnect delay (default 5000 ms). */
  reconnectMaxMs?: number;
}

const ACTIONS = ['die', 'start', 'health_status', 'destroy', 'oom', 'stop', 'create', 'kill', 'restart'];
/** Attributes Docker adds to a container event's labels. A label with one of these names is lost. */
const NON_LABEL_ATTRIBUTES = new Set(['name', 'image', 'exitCode', 'signal']);
const NANOS = 1_000_000_000n;

/** A line of GET /events, as far as it is read. */
export interface RawDockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  id?: string;
  /** Exact as a string of digits; a number has lost the last digits (over 2^53). */
  timeNano?: number | string;
}

export class DockerEventStream {
  private readonly docker: Dockerode;
  private readonly address: string;
  private readonly filters: string;
  private readonly log: (msg: string, err?: unknown) => void;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly eventHandlers = new Set<(e: ContainerEvent) => void>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly disconnectHandlers = new Set<() => void>();

  private loop: Promise<void> | undefined;
  private stopping: AbortController | undefined;
  /** The HTTP response being read (live or catch-up); destroying it ends that read with an error. */
  private current: Readable | undefined;
  private isConnected = false;
  /**
   * Where the next catch-up starts: the engine time the live stream was opened from, moved up
   * to each delivered event's time. Undefined until the first connection: nothing before it is
   * wanted. Invariant: every matching event before `cursor` has been delivered.
   */
  private cursor: bigint | undefined;
  /** The time of the newest delivered event, and the events delivered at exactly that time —
   * catch-up re-reads that instant (`since` is inclusive), so they are recognised and dropped. */
  private lastNano = -1n;
  private readonly atLastNano = new Set<string>();

  constructor(opts: DockerEventStreamOptions) {
    const c = dockerConnection(opts);
    this.docker = c.docker;
    this.address = c.address;
    this.filters = JSON.stringify({ type: ['container'], label: opts.labelFilters, event: ACTIONS });
    this.log = opts.log ?? (() => undefined);
    this.minDelayMs = opts.reconnectMinMs ?? 100;
    this.maxDelayMs = opts.reconnectMaxMs ?? 5000;
    if (this.minDelayMs <= 0 || this.maxDelayMs < this.minDelayMs) {
      throw new Error(`DockerEventStream: need 0 < reconnectMinMs (${this.minDelayMs}) <= reconnectMaxMs (${this.maxDelayMs})`);
    }
  }

  /** Calls `h` for every event; returns the unsubscribe function. A throwing handler is logged, not fatal. */
  onEvent(h: (e: ContainerEvent) => void): () => void {
    this.eventHandlers.add(h);
    return () => this.eventHandlers.delete(h);
  }

  /** Calls `h` after every reconnect, once the events missed meanwhile were delivered. Not after the first connection. */
  onReconnect(h: () => void): () => void {
    this.reconnectHandlers.add(h);
    return () => this.reconnectHandlers.delete(h);
  }

  /**
   * Calls `h` when an open live stream is lost (the engine stopped, the connection dropped):
   * once per loss, not per failed reconnect attempt, and not on stop(). Consumers look at
   * their objects then, so an engine that went away is reported at once, not at the next resync.
   */
  onDisconnect(h: () => void): () => void {
    this.disconnectHandlers.add(h);
    return () => this.disconnectHandlers.delete(h);
  }

  /** True while the live stream is open. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Starts connecting in the background; a second call does nothing. */
  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    this.loop = this.run(this.stopping.signal);
  }

  /** Ends the stream and resolves once the background loop has finished. */
  async stop(): Promise<void> {
    this.stopping?.abort();
    this.current?.destroy();
    await this.loop;
    this.loop = undefined;
  }

  /**
   * Drops the current connection as a network failure would; the stream reconnects with
   * catch-up as usual. For tests, and for a caller that suspects a stuck connection.
   */
  interrupt(): void {
    this.current?.destroy(new Error('interrupted'));
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let everConnected = false;
    while (!signal.aborted) {
      try {
        const now = await this.engineNow();
        if (this.cursor !== undefined) await this.read({ since: since(this.cursor), until: since(now) }, signal);
        if (signal.aborted) break;
        const live = await this.open({ since: since(now) });
        if (this.cursor === undefined || this.cursor < now) this.cursor = now;
        this.isConnected = true;
        failures = 0;
        if (everConnected) this.notifyReconnect();
        everConnected = true;
        await this.consume(live, signal);
        if (!signal.aborted) this.log(`Docker event stream from ${this.address} ended; reconnecting`);
      } catch (err) {
        if (signal.aborted) break;
        this.log(`Docker event stream from ${this.address} failed; reconnecting`, err);
        failures++;
      } finally {
        const lost = this.isConnected && !signal.aborted;
        this.isConnected = false;
        this.current = undefined;
        if (lost) this.notify(this.disconnectHandlers, 'disconnect');
      }
      await sleep(this.delay(failures), signal);
    }
  }

  /** Jittered exponential backoff: after n consecutive failures, between half and all of min·2ⁿ⁻¹, capped. */
  private delay(failures: number): number {
    const full = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.max(0, failures - 1));
    return full / 2 + (Math.random() * full) / 2;
  }

  /** The engine's clock, in nanoseconds. */
  private async engineNow(): Promise<bigint> {
    let info: { SystemTime?: string };
    try {
      info = (await this.docker.info()) as { SystemTime?: string };
    } catch (err) {
      throw toDockerError(err, this.address, 'info');
    }
    const nanos = info.SystemTime ? parseNanos(info.SystemTime) : undefined;
    if (nanos === undefined) throw new Error(`Docker info has no usable SystemTime (${info.SystemTime})`);
    return nanos;
  }

  /** A bounded read (until in the past): the catch-up. */
  private async read(query: { since: string; until: string }, signal: AbortSignal): Promise<void> {
    await this.consume(await this.open(query), signal);
  }

  private open(query: { since: string; until?: string }): Promise<Readable> {
    return new Promise<Readable>((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: '/events?',
          method: 'GET',
          isStream: true,
          statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
          options: { ...query, filters: this.filters },
        },
        (err, data) => (err ? reject(toDockerError(err, this.address, 'events')) : resolve(data as Readable)),
      );
    }).then((stream) => {
      this.current = stream;
      return stream;
    });
  }

  /** Delivers the stream's events; resolves when it ends, rejects when it fails (or was interrupted). */
  private consume(stream: Readable, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        stream.destroy();
        resolve();
        return;
      }
      const lines = new LineSplitter((line) => this.handleLine(line));
      stream.on('data', (c: Buffer) => lines.push(c));
      stream.on('end', () => {
        lines.end();
        resolve();
      });
      stream.on('error', reject);
      stream.on('close', () => (stream.readableEnded ? resolve() : reject(new Error('connection closed'))));
    });
  }

  private handleLine(line: string): void {
    if (!line.trim()) return;
    let raw: RawDockerEvent;
    try {
      raw = JSON.parse(line) as RawDockerEvent;
    } catch (err) {
      this.log(`Docker event stream: skipping an unparsable line: ${line.slice(0, 200)}`, err);
      return;
    }
    // timeNano exceeds 2^53: JSON.parse rounds it, so the exact digits are taken from the text.
    const exact = /"timeNano":\s*(\d+)/.exec(line);
    if (exact) raw.timeNano = exact[1];
    const event = parseEvent(raw);
    if (!event) return;
    const key = `${event.id} ${raw.Action} ${event.timeNano}`;
    if (event.timeNano < this.lastNano || (event.timeNano === this.lastNano && this.atLastNano.has(key))) return;
    if (event.timeNano > this.lastNano) {
      this.lastNano = event.timeNano;
      this.atLastNano.clear();
    }
    this.atLastNano.add(key);
    if (this.cursor === undefined || this.cursor < event.timeNano) this.cursor = event.timeNano;
    for (const h of this.eventHandlers) {
      try {
        h(event);
      } catch (err) {
        this.log(`Docker event handler failed on ${event.action} of ${event.id}`, err);
      }
    }
  }

  private notifyReconnect(): void {
    this.notify(this.reconnectHandlers, 'reconnect');
  }

  private notify(handlers: Set<() => void>, what: string): void {
    for (const h of handlers) {
      try {
        h();
      } catch (err) {
        this.log(`Docker event stream: ${what} handler failed`, err);
      }
    }
  }
}

/** A container event from Docker's JSON, or undefined for anything else. */
export function parseEvent(raw: RawDockerEvent): ContainerEvent | undefined {
  if (raw.Type !== 'container' || !raw.Action || raw.timeNano === undefined) return undefined;
  const id = raw.Actor?.ID ?? raw.id;
  if (!id) return undefined;
  const attributes = raw.Actor?.Attributes ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (!NON_LABEL_ATTRIBUTES.has(k)) labels[k] = v;
  const [action, detail] = raw.Action.split(/:\s*/, 2) as [string, string | undefined];
  const event: ContainerEvent = { action, id, labels, timeNano: BigInt(raw.timeNano) };
  if (action === 'health_status' && (detail === 'healthy' || detail === 'unhealthy' || detail === 'starting')) event.health = detail;
  if (attributes.exitCode !== undefined && /^-?\d+$/.test(attributes.exitCode)) event.exitCode = Number(attributes.exitCode);
  return event;
}

/** Docker's `since`/`until` form: seconds, a dot, nine digits of nanoseconds. */
function since(nanos: bigint): string {
  return `${nanos / NANOS}.${(nanos % NANOS).toString().padStart(9, '0')}`;
}

/** RFC 3339 with up to nanoseconds ("2025-12-01T18:30:00.123456789Z") → nanoseconds since the epoch. */
export function parseNanos(time: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
