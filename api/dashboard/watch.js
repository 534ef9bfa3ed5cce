// One kind, live: list it across namespaces, then follow its watch as Server-Sent Events.
// A browser's EventSource cannot send an Authorization header, so the stream is read with
// fetch() and a ReadableStream reader and parsed here.
//
// Guarantees: `onReset(items)` is called with the whole list after every (re)list, then
// `onEvent(type, object)` for each change after it, in order. A dropped stream reconnects
// with `Last-Event-ID` (the last id seen, bookmarks included), so nothing is missed or
// repeated; a 410 (history expired) relists. A stream silent for longer than three bookmark
// periods counts as dropped. A 401 stops the watch and calls `onUnauthorized(message)`.
// Does not guarantee: order across kinds (each kind has its own stream).

const API = '/apis/deployer.dev/v1';
const STALL_MS = 35_000; // the server sends a BOOKMARK every 10 s
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

/** The error an API call failed with: the Status message when there is one. */
export class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function failureOf(res) {
  const text = await res.text().catch(() => '');
  let message = text.slice(0, 500) || res.statusText;
  try {
    const s = JSON.parse(text);
    if (s && typeof s.message === 'string') message = s.message;
  } catch {
    // not JSON: keep the text
  }
  return new ApiFailure(res.status, `${res.status} ${res.statusText}: ${message}`);
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class KindWatch {
  /**
   * @param {{ plural: string, token: string, onReset(items: object[]): void,
   *   onEvent(type: string, obj: object): void, onState(state: 'listing'|'live'|'retrying', detail?: string): void,
   *   onUnauthorized(message: string): void }} o
   */
  constructor(o) {
    this.o = o;
    this.abort = new AbortController();
    /** The revision the stream resumes from; undefined means list first. */
    this.rv = undefined;
  }

  start() {
    void this.run();
  }

  stop() {
    this.abort.abort();
  }

  async run() {
    const signal = this.abort.signal;
    let backoff = BACKOFF_MIN_MS;
    while (!signal.aborted) {
      try {
        if (this.rv === undefined) await this.list(signal);
        await this.follow(signal);
        backoff = BACKOFF_MIN_MS; // the stream ended cleanly (server restart, timeout): resume at once
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiFailure && err.status === 401) return this.o.onUnauthorized(err.message);
        if (err instanceof ApiFailure && err.status === 410) {
          this.rv = undefined;
          continue;
        }
        this.o.onState('retrying', err.message);
        await sleep(backoff * (0.75 + Math.random() / 2), signal);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.o.token}`, ...extra };
  }

  async list(signal) {
    this.o.onState('listing');
    const res = await fetch(`${API}/${this.o.plural}`, { headers: this.headers({ Accept: 'application/json' }), signal, cache: 'no-store' });
    if (!res.ok) throw await failureOf(res);
    const list = await res.json();
    this.rv = list.metadata.resourceVersion;
    this.o.onReset(list.items);
  }

  async follow(signal) {
    const stall = new AbortController();
    const both = AbortSignal.any([signal, stall.signal]);
    let timer;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(), STALL_MS);
    };
    alive();
    try {
      const res = await fetch(`${API}/${this.o.plural}?watch=true&resourceVersion=${encodeURIComponent(this.rv)}`, {
        headers: this.headers({ Accept: 'text/event-stream', 'Last-Event-ID': this.rv }),
        signal: both,
        cache: 'no-store',
      });
      if (!res.ok) throw await failureOf(res);
      this.o.onState('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        alive();
        buf += value;
        let end;
        while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + (buf[end] === '\r' ? 4 : 2));
          this.frame(frame);
        }
      }
    } catch (err) {
      if (stall.signal.aborted && !signal.aborted) throw new Error(`the ${this.o.plural} stream went silent; reconnecting`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One SSE frame: `id:`, `event:` and `data:` lines (comments and unknown fields ignored). */
  frame(text) {
    let id;
    let type = 'message';
    const data = [];
    for (const line of text.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    const ev = JSON.parse(data.join('\n'));
    if (type === 'ERROR' || ev.type === 'ERROR') {
      const s = ev.object ?? {};
      throw new ApiFailure(s.code ?? 500, `${s.code ?? ''} ${s.reason ?? 'Error'}: ${s.message ?? 'the watch failed'}`);
    }
    if (type !== 'BOOKMARK') this.o.onEvent(ev.type, ev.object);
    if (id) this.rv = id;
  }
}
