// deployer's HTTP API as deployctl uses it: JSON requests with the bearer token, Status
// answers turned into ServerErrors, and streamed bodies (watches, logs) read line by line.
import { CliError, serverError } from './errors.js';

export const GROUP_PATH = '/apis/deployer.dev/v1';
/** kubectl's Accept for server-side tables, with plain JSON as the fallback. */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

export interface Connection {
  server: string;
  token?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  accept?: string;
  contentType?: string;
  signal?: AbortSignal;
}

/** A watch event as a line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, any>;
}

export type Fetch = typeof fetch;

/** The path of a kind's collection: in a namespace, or across all of them. */
export function collectionPath(plural: string, namespace: string | undefined): string {
  return namespace === undefined ? `${GROUP_PATH}/${plural}` : `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

export function itemPath(plural: string, namespace: string, name: string): string {
  return `${collectionPath(plural, namespace)}/${encodeURIComponent(name)}`;
}

/**
 * One client per run. Every method throws a ServerError for an answer outside 2xx (except
 * where `allow` lists the code) and a CliError when the server cannot be reached.
 */
export class ApiClient {
  constructor(
    readonly conn: Connection,
    private readonly fetchImpl: Fetch = fetch,
  ) {}

  url(path: string, query: RequestOptions['query'] = {}): string {
    const u = new URL(this.conn.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** The raw answer; non-2xx codes not in `allow` throw. */
  async send(method: string, path: string, opts: RequestOptions = {}, allow: number[] = []): Promise<Response> {
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path, opts.query), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`Unable to connect to the server at ${this.conn.server}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    if ((res.status < 200 || res.status > 299) && !allow.includes(res.status)) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the text is the message
      }
      throw serverError(res.status, body);
    }
    return res;
  }

  /** A JSON request; `body` is null for an allowed non-2xx answer. */
  async json<T = any>(method: string, path: string, opts: RequestOptions = {}, allow: number[] = []): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, opts, allow);
    const text = await res.text();
    if (res.status < 200 || res.status > 299) return { status: res.status, body: null as T };
    try {
      return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T };
    } catch {
      throw new CliError(`the server's answer to ${method} ${path} is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** GET that answers null for 404. */
  async getOrNull<T = any>(path: string, opts: RequestOptions = {}): Promise<T | null> {
    const { status, body } = await this.json<T>('GET', path, opts, [404]);
    return status === 404 ? null : body;
  }

  /** A streamed GET, one line at a time, until the server ends it or `signal` aborts. */
  async *lines(path: string, opts: RequestOptions = {}): AsyncGenerator<string> {
    const res = await this.send('GET', path, opts);
    yield* splitLines(res.body);
  }

  /** A watch (`?watch=true`): its events, one per line of the stream. */
  async *watch(path: string, opts: RequestOptions = {}): AsyncGenerator<WatchEvent> {
    for await (const line of this.lines(path, { ...opts, query: { ...opts.query, watch: true } })) {
      if (line.trim() === '') continue;
      yield JSON.parse(line) as WatchEvent;
    }
  }
}

/** The lines of a byte stream (the last one even without a newline). */
export async function* splitLines(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null): AsyncGenerator<string> {
  if (!body) return;
  const decoder = new TextDecoder();
  let rest = '';
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = rest.indexOf('\n')) >= 0) {
        yield rest.slice(0, at);
        rest = rest.slice(at + 1);
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw new CliError(`the stream from the server broke: ${(err as Error).message}`);
    return;
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}
