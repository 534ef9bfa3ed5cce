// Watch streams: newline-delimited JSON events, or Server-Sent Events (`id:` is the
// resourceVersion; resume with Last-Event-ID) when the client accepts text/event-stream.
// With a Table requested (kubectl get -w), each event's object is a one-row Table.
// BOOKMARKs, as Kubernetes: only with allowWatchBookmarks=true, except that SSE streams get
// them by default (a browser's EventSource resumes from the last id it saw, and an idle
// stream needs them to keep that id fresh).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindInfo, ResourceObject } from '../../resources/index.js';
import type { TokenInfo } from '../../schemas/index.js';
import { startWatch, type Store, type TokenStore, type Watch } from '../../store/index.js';
import { unauthorized } from '../../resources/index.js';
import { bearerSecret, identity } from '../auth.js';
import { toApiError } from '../errors.js';
import { boolParam, intParam, type Query } from '../query.js';
import { bookmarkTable, objectTable, type TableOptions } from '../table.js';

export interface WatchRegistry {
  /** Ends every open watch and followed log (graceful shutdown). */
  closeAll(): void;
  /** How many watches are open (followed logs, which share the token re-check, are not counted). */
  readonly size: number;
}

/** The token an open watch (or followed log) was authenticated with, so the registry can re-check it. */
export interface WatchToken {
  /** The bearer secret of the request. */
  secret: string;
  /** Who it was when the watch opened. */
  who: TokenInfo;
  /** The token is gone (revoked, or expired): tell the client (a 401 ERROR event, a last log line), then end. */
  revoked(): void;
}

/** What is registered: a watch (counted by `size`), or another stream that only shares the re-check. */
export type StreamKind = 'watch' | 'log';

export interface WatchRegistryOptions {
  /** Where tokens are re-checked (absent: never; a watch then lives until it ends by itself). */
  tokens?: Pick<TokenStore, 'authenticate'>;
  /** How often every open watch's token is re-checked (ms); default 2000. */
  recheckMs?: number;
  log?: (msg: string, err?: unknown) => void;
}

const sameIdentity = (a: TokenInfo, b: TokenInfo) =>
  a.name === b.name && a.role === b.role && a.namespaces.length === b.namespaces.length && a.namespaces.every((n, i) => n === b.namespaces[i]);

/**
 * The open watches of this process, and its followed logs (routes/logs.ts registers them as
 * kind 'log': they share the re-check and closeAll, not `size`). A token revoked (or expired)
 * after its watch opened must not keep streaming: every `recheckMs` one timer re-checks each
 * distinct token of the open watches through the token store — answered from its cache,
 * which every token change anywhere clears, so there is no query per event or per tick, only
 * one per token after a change. A revoked token's watches get revoked() (within about recheckMs of the revoke
 * reaching this process); a token whose role or namespaces changed has its watches ended
 * cleanly, so their clients reconnect under the new authorisation. When the database does
 * not answer, watches go on (an outage must not cut every stream); the next tick asks again.
 */
export function createWatchRegistry(o: WatchRegistryOptions = {}): WatchRegistry & { add(end: () => void, token?: WatchToken, kind?: StreamKind): () => void } {
  const open = new Map<() => void, WatchToken | undefined>();
  let watches = 0; // entries of kind 'watch': what `size` reports
  const recheckMs = o.recheckMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  let checking = false;
  let failing = false; // logged once per outage, not every tick
  const recheck = async () => {
    if (checking || !o.tokens) return; // a slow database: one round at a time
    checking = true;
    try {
      const bySecret = new Map<string, [() => void, WatchToken][]>();
      for (const [end, token] of open) {
        if (!token) continue;
        const list = bySecret.get(token.secret);
        if (list) list.push([end, token]);
        else bySecret.set(token.secret, [[end, token]]);
      }
      for (const [secret, watches] of bySecret) {
        let now: TokenInfo | null;
        try {
          now = await o.tokens.authenticate(secret);
        } catch (err) {
          if (!failing) o.log?.('could not re-check the tokens of open watches (they go on; asking again every tick)', err);
          failing = true;
          return;
        }
        for (const [end, token] of watches) {
          if (!open.has(end)) continue;
          if (now === null) token.revoked();
          else if (!sameIdentity(now, token.who)) end();
        }
      }
      if (failing) o.log?.('the tokens of open watches are re-checked again');
      failing = false;
    } finally {
      checking = false;
    }
  };
  let withToken = 0; // open watches with a token to re-check: the timer runs only while there are any
  const sync = () => {
    const any = o.tokens !== undefined && withToken > 0;
    if (any && !timer) {
      timer = setInterval(() => void recheck(), recheckMs);
      timer.unref();
    } else if (!any && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    add(end: () => void, token?: WatchToken, kind: StreamKind = 'watch'): () => unknown {
      if (open.has(end)) throw new Error('a watch is registered once');
      open.set(end, token);
      if (token) withToken++;
      if (kind === 'watch') watches++;
      sync();
      return () => {
        if (!open.delete(end)) return;
        if (token) withToken--;
        if (kind === 'watch') watches--;
        sync();
      };
    },
    closeAll() {
      for (const end of [...open.keys()]) end();
    },
    get size() {
      return watches;
    },
  };
}

const MAX_BUFFERED = 16 * 1024 * 1024;

export async function serveWatch(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: { store: Store; registry: ReturnType<typeof createWatchRegistry>; bookmarkMs: number },
  info: KindInfo,
  opts: { namespace?: string; scope?: readonly string[]; query: Query; table?: TableOptions },
): Promise<void> {
  const q = opts.query;
  const sse = /text\/event-stream/.test(String(req.headers.accept ?? ''));
  const lastEventId = req.headers['last-event-id'];
  const resourceVersion = sse && typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : q.resourceVersion;
  const timeoutSeconds = intParam(q, 'timeoutSeconds', 0, 86_400);
  const table = opts.table;
  const bookmarks = q.allowWatchBookmarks === undefined || q.allowWatchBookmarks === '' ? sse && !table : boolParam(q, 'allowWatchBookmarks');
  const raw = reply.raw;
  const bookmarkObject = (rv: number) =>
    table
      ? bookmarkTable(info.kind, String(rv), { ...table, now: new Date() })
      : { kind: info.kind, apiVersion: 'deployer.dev/v1', metadata: { resourceVersion: String(rv) } };
  // Table mode re-serialises each event with its object as a one-row Table (ages as of now).
  const eventJson = table
    ? (json: string) => {
        const ev = JSON.parse(json) as { type: string; object: ResourceObject };
        return JSON.stringify({ type: ev.type, object: objectTable(ev.object, { ...table, now: new Date() }) });
      }
    : (json: string) => json;

  let headersSent = false;
  let ended = false;
  const pending: string[] = [];
  const writeFrame = (type: string, json: string, id?: number) => {
    if (ended) return;
    const frame = sse ? `${id !== undefined ? `id: ${id}\n` : ''}event: ${type}\ndata: ${json}\n\n` : `${json}\n`;
    if (!headersSent) {
      pending.push(frame);
      return;
    }
    raw.write(frame);
    if (raw.writableLength > MAX_BUFFERED) end(); // a consumer that cannot keep up resumes from its last id
  };

  let watch: Watch | undefined;
  let unregister: () => unknown = () => undefined;
  let timers: NodeJS.Timeout[] = [];
  const end = () => {
    if (ended) return;
    ended = true;
    watch?.close();
    unregister();
    for (const t of timers) clearInterval(t);
    timers = [];
    if (!raw.writableEnded) raw.end();
  };

  try {
    watch = await startWatch(deps.store, info, {
      namespace: opts.namespace,
      scope: opts.scope,
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
      resourceVersion,
    }, (item) => writeFrame(item.type, eventJson(item.json), item.revision));
  } catch (err) {
    const api = toApiError(err, req);
    if (api.code !== 410) throw api;
    // As Kubernetes does: the stream opens and carries one ERROR event with the Status.
    reply.hijack();
    raw.writeHead(200, { 'Content-Type': sse ? 'text/event-stream' : 'application/json', 'Cache-Control': 'no-cache' });
    const json = JSON.stringify({ type: 'ERROR', object: api.toStatus() });
    raw.end(sse ? `event: ERROR\ndata: ${json}\n\n` : `${json}\n`);
    return;
  }

  reply.hijack();
  raw.writeHead(200, {
    'Content-Type': sse ? 'text/event-stream' : 'application/json',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
    ...(sse ? {} : { 'Transfer-Encoding': 'chunked' }),
  });
  raw.socket?.setNoDelay(true);
  headersSent = true;
  raw.write(pending.join(''));
  pending.length = 0;
  const secret = bearerSecret(req);
  const revoked = () => {
    if (ended) return;
    // As Kubernetes would on re-authentication: one ERROR event with the Status, then the end.
    const status = unauthorized('the token of this watch was revoked (or expired); the watch is closed').toStatus();
    writeFrame('ERROR', JSON.stringify({ type: 'ERROR', object: status }));
    end();
  };
  unregister = deps.registry.add(end, secret ? { secret, who: identity(req), revoked } : undefined);
  raw.on('close', end);
  raw.on('error', end);
  if (bookmarks) {
    const t = setInterval(() => {
      const rv = watch!.bookmarkRevision();
      writeFrame('BOOKMARK', JSON.stringify({ type: 'BOOKMARK', object: bookmarkObject(rv) }), rv);
    }, deps.bookmarkMs);
    timers.push(t);
  }
  if (timeoutSeconds) timers.push(setTimeout(end, timeoutSeconds * 1000));
}
