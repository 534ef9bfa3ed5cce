// An in-process deployer API on a fresh database, listening on 127.0.0.1, for
// integration tests. Everything it opens is closed at teardown.
import type { Test } from 'tap';
import { buildApi, type Api } from '../../api/app.js';
import type { LogSource } from '../../api/routes/logs.js';
import type { TlsInfo } from '../../api/routes/tls-info.js';
import { openStore, type Store } from '../../store/index.js';
import { freshDatabase } from './pg.js';

export interface TestApi {
  url: string;
  connectionString: string;
  store: Store;
  api: Api;
  adminToken: string;
  /** Makes a token of the given role and namespaces; returns its secret. */
  token(name: string, role: 'admin' | 'editor' | 'viewer', namespaces: string[]): Promise<string>;
  request(method: string, path: string, opts?: RequestOptions): Promise<{ status: number; body: any; headers: Headers }>;
}

export interface RequestOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as is (no JSON encoding) when a string. */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export const PS = '/apis/deployer.dev/v1/namespaces/default/projectservers';
export const nsPath = (ns: string, plural = 'projectservers') => `/apis/deployer.dev/v1/namespaces/${ns}/${plural}`;

export async function startApi(t: Test, opts: { bookmarkMs?: number; connectionString?: string; identity?: string; logs?: LogSource; tls?: () => TlsInfo | undefined } = {}): Promise<TestApi> {
  const connectionString = opts.connectionString ?? (await freshDatabase(t));
  const store = await openStore({ connectionString, hubPollIntervalMs: 200 });
  const api = await buildApi({ store, bookmarkMs: opts.bookmarkMs, shutdownGraceMs: 300, identity: opts.identity, logs: opts.logs, tls: opts.tls });
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = api.app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  t.teardown(async () => {
    await api.app.close();
    await store.close();
  });
  const adminToken = 'test-admin-' + Math.random().toString(36).slice(2);
  // A second API on the same database (opts.connectionString) gets an admin token of its own.
  const adminName = opts.connectionString ? `admin-${Math.random().toString(36).slice(2, 8)}` : 'admin';
  await store.tokens.create({ name: adminName, role: 'admin', namespaces: ['*'] }, adminToken);
  const request: TestApi['request'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? adminToken : o.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    url,
    connectionString,
    store,
    api,
    adminToken,
    request,
    token: async (name, role, namespaces) => {
      const secret = `t-${name}-${Math.random().toString(36).slice(2)}`;
      await store.tokens.create({ name, role, namespaces }, secret);
      return secret;
    },
  };
}

/** A ProjectServer body. */
export function ps(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  return { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name, ...metadata }, spec: { serviceType: 'static', ...spec } };
}

/**
 * Reads a streamed response body frame by frame (frames end with `sep`: "\n" for lines, "\n\n"
 * for SSE), handing each to `onFrame`. `done` settles when the body ends or the request is
 * aborted; `ended()` says whether the server ended it. A non-200 response is not read.
 */
export function readFrames(res: Response, sep: string, onFrame: (frame: string) => void): { done: Promise<void>; ended: () => boolean } {
  let ended = false;
  const done = (async () => {
    if (res.status !== 200) return;
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) {
          ended = true;
          return;
        }
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf(sep)) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + sep.length);
          onFrame(frame);
        }
      }
    } catch {
      // aborted by the caller
    }
  })();
  return { done, ended: () => ended };
}

/** Reads a newline-delimited watch stream; `events` fills as lines arrive. */
export async function openWatch(url: string, path: string, token: string, accept = 'application/json') {
  const ac = new AbortController();
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${token}`, accept }, signal: ac.signal });
  const events: any[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  const done = (async () => {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done: d } = await reader.read();
        if (d) break;
        buf += dec.decode(value, { stream: true });
        const sep = accept === 'text/event-stream' ? '\n\n' : '\n';
        let i: number;
        while ((i = buf.indexOf(sep)) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + sep.length);
          if (!chunk.trim()) continue;
          if (accept === 'text/event-stream') {
            const data = chunk.split('\n').find((l) => l.startsWith('data: '));
            const id = chunk.split('\n').find((l) => l.startsWith('id: '));
            if (data) events.push({ ...JSON.parse(data.slice(6)), id: id?.slice(4) });
          } else events.push(JSON.parse(chunk));
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {
      // aborted
    }
    ended = true;
    for (const w of waiters.splice(0)) w();
  })();
  return {
    status: res.status,
    events,
    get ended() {
      return ended;
    },
    /** Waits until `pred(events)` holds, or throws after `ms`. */
    async until(pred: (evs: any[]) => boolean, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!pred(events)) {
        if (ended) throw new Error(`watch ended before the condition held (${events.length} events)`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting on the watch (${events.length} events)`);
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
    close: async () => {
      ac.abort();
      await done;
    },
  };
}
