// The HTTP GET of a health probe: a small HTTP/1.1 client on kept-alive sockets, because a probe
// needs only an answer's status code and Node's http client is most of a probe's cost. On this
// 2-core VM a GET through http.request on a kept-alive socket took about 1.4 ms of CPU and this
// client about half that (BENCHMARKS.md, "Idle CPU at full size"): with 200 servers probed,
// that is the difference between a deployer that idles and one that does not.
//
// What it does: one request written as prebuilt bytes (`GET <path> HTTP/1.1`, Host, User-Agent);
// the answer's status line and headers are read, then the verdict is given at once; the body is
// read to its end (Content-Length, chunked, or until close) only so the socket can be reused,
// and a body over MAX_BODY or one that does not end within the timeout closes the socket. 1xx
// answers are skipped, `Connection: close` and HTTP/1.0 without keep-alive are honoured.
// Sockets are kept per host:port (at most MAX_IDLE_PER_HOST idle) and closed after
// IDLE_SOCKET_MS unused. A kept-alive socket the server closed just as it was reused (no byte of
// an answer yet) is retried once on a new connection, as Node's documentation advises for its own
// agent, so a server's idle timeout never counts as a failed probe.
import net from 'node:net';

/** One GET: the status code, or a thrown error (refused, timed out…). */
export type ProbeGet = (url: string, timeoutMs: number, signal: AbortSignal) => Promise<number>;

/** An idle socket is closed after this long (longer than any default probe interval). */
const IDLE_SOCKET_MS = 60_000;
const MAX_IDLE_PER_HOST = 2;
const MAX_HEAD = 16 * 1024;
/** The body does not matter; a huge one is not read to its end (the socket is closed instead). */
const MAX_BODY = 64 * 1024;

/** The status code of `GET url` (http://host:port/path only). */
export const httpGetStatus: ProbeGet = async (url, timeoutMs, signal) => {
  const target = parseUrl(url);
  signal.throwIfAborted();
  const idle = takeIdle(target.hostPort);
  if (idle) {
    try {
      return await exchange(idle, target, timeoutMs, signal);
    } catch (err) {
      if (!(err instanceof StaleSocket)) throw err;
    }
  }
  return exchange(new Conn(target), target, timeoutMs, signal);
};

/** The server closed a reused socket before any byte of an answer: worth one more try. */
class StaleSocket extends Error {}

interface Target {
  host: string;
  port: number;
  hostPort: string;
  request: Buffer;
}

const parsed = new Map<string, Target>();

function parseUrl(url: string): Target {
  const known = parsed.get(url);
  if (known) return known;
  const m = /^http:\/\/(\[[0-9a-fA-F:.]+\]|[^/:[\]]+):(\d{1,5})(\/.*)?$/.exec(url);
  if (!m) throw new Error(`cannot probe ${url}: only http://host:port/path`);
  const [, hostPart, port, rawPath = '/'] = m;
  // characters a request line cannot carry are percent-encoded (a space, a non-ASCII letter)
  const path = rawPath.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  const t: Target = {
    host: hostPart.replace(/^\[|\]$/g, ''),
    port: Number(port),
    hostPort: `${hostPart}:${port}`,
    request: Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${hostPart}:${port}\r\nUser-Agent: deployer-probe\r\nAccept: */*\r\n\r\n`, 'latin1'),
  };
  if (parsed.size >= 4096) parsed.clear(); // containers come and go: keep the cache bounded
  parsed.set(url, t);
  return t;
}

const pool = new Map<string, Conn[]>();

function takeIdle(hostPort: string): Conn | undefined {
  const list = pool.get(hostPort);
  while (list && list.length > 0) {
    const c = list.pop()!;
    if (list.length === 0) pool.delete(hostPort);
    if (c.socket.destroyed) continue;
    c.socket.ref();
    return c;
  }
  return undefined;
}

function putIdle(c: Conn): void {
  const list = pool.get(c.hostPort) ?? [];
  if (list.length >= MAX_IDLE_PER_HOST) return void c.socket.destroy();
  c.socket.unref(); // an idle socket does not keep the process alive (as Node's agent does)
  list.push(c);
  pool.set(c.hostPort, list);
}

function dropIdle(c: Conn): void {
  const list = pool.get(c.hostPort);
  const i = list?.indexOf(c) ?? -1;
  if (i >= 0) list!.splice(i, 1);
  if (list?.length === 0) pool.delete(c.hostPort);
}

/** A socket with its handlers set once; each GET on it is an Exchange. */
class Conn {
  readonly socket: net.Socket;
  readonly hostPort: string;
  current: Exchange | null = null;
  /** Whether an exchange finished on it: a failure before an answer then means a stale socket. */
  used = false;

  constructor(t: Target) {
    this.hostPort = t.hostPort;
    this.socket = net.connect({ host: t.host, port: t.port, noDelay: true });
    this.socket.setTimeout(IDLE_SOCKET_MS);
    this.socket.on('data', (d: Buffer) => (this.current ? this.current.onData(d) : this.socket.destroy()));
    this.socket.on('error', (err) => this.current?.fail(err));
    this.socket.on('end', () => this.current?.onEnd());
    this.socket.on('close', () => {
      dropIdle(this);
      this.current?.fail(new Error('socket hang up'));
    });
    // an exchange has its own timer; only an idle socket is closed for being quiet
    this.socket.on('timeout', () => this.current === null && this.socket.destroy());
  }
}

function exchange(conn: Conn, t: Target, timeoutMs: number, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const x = new Exchange(conn, timeoutMs, signal, resolve, reject);
    conn.current = x;
    conn.socket.write(t.request);
  });
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'close';

/** One request's answer: the head parsed for the verdict, then the body drained for reuse. */
class Exchange {
  private state: State = 'head';
  private head = '';
  private line = '';
  private remaining = 0;
  private bodyBytes = 0;
  private keepAlive = true;
  private answered = false;
  private gotBytes = false;
  /** Its own timer ended it: a slow server, not a stale socket (no retry). */
  private timedOut = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: () => void;

  constructor(
    private readonly conn: Conn,
    timeoutMs: number,
    private readonly signal: AbortSignal,
    private readonly resolve: (code: number) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.fail(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    this.onAbort = () => this.fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  onData(d: Buffer): void {
    this.gotBytes = true;
    let at = 0;
    while (at < d.length && this.conn.current === this) {
      if (this.state === 'head') at = this.readHead(d, at);
      else at = this.readBody(d, at);
    }
    // bytes after a complete answer were never asked for: the socket cannot be trusted again
    if (at < d.length && this.conn.current !== this) this.conn.socket.destroy();
  }

  /** The server closed its side: the end of a body read until close; otherwise a failure. */
  onEnd(): void {
    if (this.state === 'close') this.finish(false);
    else this.fail(new Error('socket hang up'));
  }

  /** Ends the exchange with an error; after the verdict, only the socket is closed. */
  fail(err: Error): void {
    if (this.conn.current !== this) return;
    this.cleanup();
    this.conn.socket.destroy();
    if (this.answered) return;
    this.reject(this.conn.used && !this.gotBytes && !this.signal.aborted && !this.timedOut ? new StaleSocket(err.message) : err);
  }

  private cleanup(): void {
    this.conn.current = null;
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
  }

  /** The answer (and its body) is complete: the socket goes back to the pool when it may. */
  private finish(reusable: boolean): void {
    this.cleanup();
    this.conn.used = true;
    if (reusable && this.keepAlive) putIdle(this.conn);
    else this.conn.socket.destroy();
  }

  private readHead(d: Buffer, at: number): number {
    const before = this.head.length;
    this.head += d.toString('latin1', at);
    const end = this.head.indexOf('\r\n\r\n', Math.max(0, before - 3));
    if (end < 0) {
      if (this.head.length > MAX_HEAD) this.fail(new Error('the answer\'s headers are too large'));
      return d.length;
    }
    const consumed = at + end + 4 - before; // bytes of d that belong to the head
    const head = this.head.slice(0, end);
    this.head = '';
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(head);
    if (!status) {
      this.fail(new Error(`not an HTTP answer: ${JSON.stringify(head.slice(0, 40))}`));
      return d.length;
    }
    const code = Number(status[2]);
    if (code >= 100 && code < 200 && code !== 101) return consumed; // 100 Continue and the like: the real answer follows
    let length = -1;
    let chunked = false;
    let connection = '';
    for (const l of head.split('\r\n').slice(1)) {
      const colon = l.indexOf(':');
      if (colon < 0) continue;
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.split(',').some((v) => v.trim() === 'chunked');
      else if (name === 'connection') connection = value;
    }
    this.keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    this.answered = true;
    this.resolve(code);
    if (code === 204 || code === 304 || code === 101) this.finish(code !== 101);
    else if (chunked) this.state = 'chunk-size';
    else if (length >= 0 && Number.isSafeInteger(length)) {
      if (length > MAX_BODY) this.fail(new Error('body too large to drain'));
      else if (length === 0) this.finish(true);
      else [this.state, this.remaining] = ['length', length];
    } else this.state = 'close';
    return consumed;
  }

  private readBody(d: Buffer, at: number): number {
    switch (this.state) {
      case 'length':
      case 'chunk-data': {
        const n = Math.min(this.remaining, d.length - at);
        this.remaining -= n;
        if (!this.count(n)) return d.length;
        if (this.remaining === 0) {
          if (this.state === 'length') this.finish(true);
          else [this.state, this.line] = ['chunk-end', ''];
        }
        return at + n;
      }
      case 'close':
        this.count(d.length - at);
        return d.length;
      default:
        return this.readLine(d, at);
    }
  }

  /** Counts body bytes; false (and the socket closed) once there are too many to drain. */
  private count(n: number): boolean {
    this.bodyBytes += n;
    if (this.bodyBytes <= MAX_BODY) return true;
    this.fail(new Error('body too large to drain'));
    return false;
  }

  /** The line-shaped parts of a chunked body: a chunk's size, the CRLF after it, trailers. */
  private readLine(d: Buffer, at: number): number {
    const nl = d.indexOf(10, at);
    this.line += d.toString('latin1', at, nl < 0 ? d.length : nl + 1);
    if (!this.count(nl < 0 ? d.length - at : nl + 1 - at)) return d.length;
    if (nl < 0) return d.length;
    const line = this.line.replace(/\r?\n$/, '');
    this.line = '';
    if (this.state === 'chunk-end') {
      if (line !== '') this.fail(new Error('bad chunked body'));
      else this.state = 'chunk-size';
    } else if (this.state === 'chunk-size') {
      const size = parseInt(line.split(';')[0].trim(), 16);
      if (!Number.isSafeInteger(size) || size < 0) this.fail(new Error('bad chunk size'));
      else if (size === 0) this.state = 'trailer';
      else [this.state, this.remaining] = ['chunk-data', size];
    } else if (line === '') this.finish(true); // the empty line after the trailers
    return nl + 1;
  }
}

/** Closes every idle socket (tests; a process that stops probing). */
export function closeIdleProbeSockets(): void {
  for (const list of pool.values()) for (const c of list) c.socket.destroy();
  pool.clear();
}
