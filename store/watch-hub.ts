// The watch hub: one per process. It holds one dedicated LISTEN connection, reads the
// events log from its last revision whenever the doorbell rings (and on a slow poll, and
// after every reconnect), and fans each event out to every subscriber in revision order.
//
// Guarantees: subscribers see events in strictly increasing revision order, each once;
// `lastRevision` only moves after every subscriber was handed the events up to it. A lost
// notification delays delivery by at most one poll interval; a lost connection delays it
// until the reconnect, then the hub catches up from the log. It does not guarantee that a
// subscriber keeps up: a subscriber that cannot take events must drop itself.
//
// NOTIFY only nudges; the poll is the backstop (as graphile-worker). The hub polls only while
// its LISTEN connection is up — every write rings the doorbell in its own transaction, so a
// poll finds something only when a notification was lost — hence a slow default poll (5 s,
// a few queries a minute at idle). A read that fails while connected is retried after
// READ_RETRY_MS rather than at the next poll; a lost connection is caught up on reconnect.
//
// While the database is down the hub retries every few seconds (backoff capped at 5 s); its log
// says so once when the connection is lost, then at most once a minute (OutageLog), and once
// more, without an error (info), when it is back.
import pg from 'pg';
import { SQL } from './sql.js';

export interface LogEvent {
  revision: number;
  kind: string;
  namespace: string;
  name: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The object with metadata.resourceVersion set to this revision. Shared: do not mutate. */
  object: Record<string, unknown> & { metadata: { labels?: Record<string, string> } };
  /** For MODIFIED: the labels before the change (null when it had none). */
  prevLabels: Record<string, string> | null;
  /** `{"type":…,"object":…}`, serialised once for every watcher. */
  json(): string;
}

export type Subscriber = (event: LogEvent) => void;

/** The backstop poll while LISTEN is up: a lost notification is delivered within this. */
export const DEFAULT_POLL_INTERVAL_MS = 5000;
/** A read of the log that failed while connected is tried again this soon. */
const READ_RETRY_MS = 500;
/** While reconnecting fails, at most one warning per this interval. */
export const OUTAGE_LOG_INTERVAL_MS = 60_000;

/**
 * The log of one kind of failure that repeats until something comes back: the first failure of
 * an outage is logged as is; later ones at most once per `intervalMs`, saying how long it has
 * lasted; `recovered` logs one line without an error (so at info level) when an outage ends, and
 * nothing when there was none. It keeps no timer: it logs only when called, and reads the clock
 * through `now` (tests pass a fake one).
 */
export class OutageLog {
  private since: number | null = null; // when the outage began; null: none under way
  private lastLogged = 0; // when a line of this outage was last logged
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly log: (msg: string, err?: unknown) => void,
    o: { intervalMs?: number; now?: () => number } = {},
  ) {
    this.intervalMs = o.intervalMs ?? OUTAGE_LOG_INTERVAL_MS;
    this.now = o.now ?? Date.now;
  }

  /** One failure; logged when it starts an outage, or when `intervalMs` passed since the last line. */
  failed(msg: string, err?: unknown): void {
    const now = this.now();
    if (this.since === null) {
      this.since = now;
      this.lastLogged = now;
      this.log(msg, err);
      return;
    }
    if (now - this.lastLogged < this.intervalMs) return;
    this.lastLogged = now;
    this.log(`${msg} (failing for ${seconds(now - this.since)}; logged at most once every ${seconds(this.intervalMs)})`, err);
  }

  /** The outage (if any) is over: one line, with how long it lasted. */
  recovered(msg: string): void {
    if (this.since === null) return;
    const lasted = this.now() - this.since;
    this.since = null;
    this.log(`${msg} (after ${seconds(lasted)})`);
  }
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

export interface WatchHubOptions {
  connectionString: string;
  /** Poll interval, the backstop for lost notifications (default DEFAULT_POLL_INTERVAL_MS). */
  pollIntervalMs?: number;
  batchSize?: number;
  log?: (msg: string, err?: unknown) => void;
}

type Row = {
  revision: string;
  kind: string;
  namespace: string;
  name: string;
  type: LogEvent['type'];
  object: LogEvent['object'];
  prev_labels: Record<string, string> | null;
};

export function toLogEvent(r: Row): LogEvent {
  const revision = Number(r.revision);
  const object = r.object;
  object.metadata = { ...object.metadata, resourceVersion: String(revision) } as LogEvent['object']['metadata'];
  let cached: string | undefined;
  return {
    revision,
    kind: r.kind,
    namespace: r.namespace,
    name: r.name,
    type: r.type,
    object,
    prevLabels: r.prev_labels,
    json: () => (cached ??= JSON.stringify({ type: r.type, object })),
  };
}

export class WatchHub {
  private client: pg.Client | null = null;
  private last = 0;
  private readonly subscribers = new Set<Subscriber>();
  private readonly tokenListeners = new Set<() => void>();
  private readonly resyncListeners = new Set<(controller: string) => void>();
  private pumping = false;
  private again = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs = 100;
  /** Reconnect attempts since the connection was lost (0 while connected). */
  private attempts = 0;
  private readonly outage: OutageLog;
  /** Reads failing on a live connection (retried every READ_RETRY_MS): logged as an outage too. */
  private readonly readOutage: OutageLog;
  private connected = false;
  private initialized = false;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly log: (msg: string, err?: unknown) => void;

  constructor(private readonly opts: WatchHubOptions) {
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.batchSize = opts.batchSize ?? 1000;
    this.log = opts.log ?? (() => undefined);
    this.outage = new OutageLog(this.log);
    this.readOutage = new OutageLog(this.log);
  }

  /** The newest revision every subscriber has been handed. */
  get lastRevision(): number {
    return this.last;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async start(): Promise<void> {
    await this.connect();
    if (this.stopped) return;
    this.pollTimer = setInterval(() => void this.pump(), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.connectionString, keepAlive: true });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      if (msg.channel === 'deployer_events') {
        if (Number(msg.payload) > this.last) void this.pump();
      } else if (msg.channel === 'deployer_tokens') {
        for (const l of this.tokenListeners) l();
      } else if (msg.channel === 'deployer_resync') {
        for (const l of this.resyncListeners) l(msg.payload ?? '*');
      }
    });
    try {
      await client.connect();
      await client.query('LISTEN deployer_events');
      await client.query('LISTEN deployer_tokens');
      await client.query('LISTEN deployer_resync');
      if (!this.initialized) {
        const res = await client.query<{ revision: string }>(SQL.currentRevision);
        this.last = Number(res.rows[0].revision);
        this.initialized = true;
      }
    } catch (err) {
      // Half set up (connected, a LISTEN failed): not kept, so not leaked. Its 'error'/'end'
      // reach lost(), which ignores it: the caller's catch alone schedules the next attempt.
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined); // stop() ran while this reconnect was under way
      return;
    }
    this.client = client;
    this.connected = true;
    this.backoffMs = 100;
    if (this.attempts > 0) this.outage.recovered(`watch hub reconnected to the database at attempt ${this.attempts}`);
    this.attempts = 0;
    // Tokens may have changed while we were away.
    for (const l of this.tokenListeners) l();
    void this.pump();
  }

  /**
   * The live client failed or ended (it fires both: the first call wins). A client that is not
   * the live one — the one just replaced, or one still being set up by connect() — is ignored:
   * a failed connect() is retried by its caller, and two schedulers would run two reconnects.
   */
  private lost(client: pg.Client, err?: unknown): void {
    if (this.client !== client) return;
    if (this.stopped || this.reconnectTimer) return;
    this.connected = false;
    this.client = null;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    this.outage.failed('watch hub lost its database connection; reconnecting', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = Math.round(this.backoffMs * (0.5 + Math.random()));
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.attempts++;
      this.connect().catch((err) => {
        this.outage.failed(`watch hub reconnect attempt ${this.attempts} failed`, err);
        this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Reads every event after `last` and hands it out. One pump at a time; a ring mid-pump pumps again. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    const client = this.client;
    if (!client || this.stopped) return;
    this.pumping = true;
    try {
      do {
        this.again = false;
        const res = await client.query<Row>({ name: 'hubLogAfter', text: SQL.logAfter, values: [this.last, this.batchSize] });
        for (const row of res.rows) {
          const ev = toLogEvent(row);
          for (const s of this.subscribers) {
            try {
              s(ev);
            } catch (err) {
              this.log('watch subscriber threw; dropping it', err);
              this.subscribers.delete(s);
            }
          }
          this.last = ev.revision;
        }
        if (res.rows.length === this.batchSize) this.again = true;
      } while (this.again && !this.stopped);
      this.readOutage.recovered('watch hub reads succeed again');
    } catch (err) {
      if (this.client === client) {
        this.readOutage.failed(`watch hub read failed; retrying every ${READ_RETRY_MS} ms`, err);
        this.retrySoon();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** One pump READ_RETRY_MS from now (not waiting for the slow poll), unless one is pending. */
  private retrySoon(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.pump();
    }, Math.min(READ_RETRY_MS, this.pollIntervalMs));
    this.retryTimer.unref();
  }

  /** Adds a subscriber; it gets every event after the current `lastRevision`. Returns the unsubscribe. */
  subscribe(s: Subscriber): () => void {
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Called when API tokens change anywhere (and after every reconnect). */
  onTokensChanged(l: () => void): () => void {
    this.tokenListeners.add(l);
    return () => this.tokenListeners.delete(l);
  }

  /**
   * Called when someone asks for a resync (RecordStore.requestResync), with the controller's
   * name or "*". A request made while this process was disconnected is not replayed: the
   * informers re-list after a reconnect anyway.
   */
  onResyncRequested(l: (controller: string) => void): () => void {
    this.resyncListeners.add(l);
    return () => this.resyncListeners.delete(l);
  }

  /** Rings the doorbell by hand (after a write in this process, to skip the notify round trip). */
  nudge(): void {
    void this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.subscribers.clear();
    const c = this.client;
    this.client = null;
    this.connected = false;
    if (c) await c.end().catch(() => undefined);
  }
}
