// Watch streams: newline-delimited JSON events, or Server-Sent Events (`id:` is the
// resourceVersion; resume with Last-Event-ID) when the client accepts text/event-stream.
// With a Table requested (kubectl get -w), each event's object is a one-row Table.
// BOOKMARKs, as Kubernetes: only with allowWatchBookmarks=true, except that SSE streams get
// them by default (a browser's EventSource resumes from the last id it saw, and an idle
// stream needs them to keep that id fresh).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindInfo, ResourceObject } from '../../resources/index.js';
import { startWatch, type Store, type Watch } from '../../store/index.js';
import { toApiError } from '../errors.js';
import { boolParam, intParam, type Query } from '../query.js';
import { bookmarkTable, objectTable, type TableOptions } from '../table.js';

export interface WatchRegistry {
  /** Ends every open watch (graceful shutdown). */
  closeAll(): void;
  readonly size: number;
}

export function createWatchRegistry(): WatchRegistry & { add(end: () => void): () => void } {
  const open = new Set<() => void>();
  return {
    add(end: () => void): () => unknown {
      open.add(end);
      return () => open.delete(end);
    },
    closeAll() {
      for (const end of [...open]) end();
    },
    get size() {
      return open.size;
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
  unregister = deps.registry.add(end);
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
