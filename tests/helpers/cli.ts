// Running deployctl's main() in-process with no I/O: an Io that records what is written (and
// every progress line), and a fetch that answers from handlers keyed by URL path.
import type { Io } from '../../cli/io.js';

/** An Io whose output, errors and progress lines are kept for the test to read. */
export interface MemoryIo extends Io {
  stdout: string;
  stderr: string;
  /** Every `progress` call in order ('' clears the line). */
  progressLines: string[];
}

/**
 * A memory Io at the fixed time `now`. `env` is what the run sees (DEPLOYCTL_CONFIG points at
 * a file that does not exist unless given); `color` as a terminal would set it; `stdin` is
 * what `-f -` reads.
 */
export function memoryIo(opts: { env?: Record<string, string>; color?: boolean; stdin?: string; now?: number } = {}): MemoryIo {
  const io: MemoryIo = {
    stdout: '',
    stderr: '',
    progressLines: [],
    out: (s) => void (io.stdout += s),
    err: (s) => void (io.stderr += s),
    progress: (s) => void io.progressLines.push(s),
    color: opts.color ?? false,
    readStdin: async () => opts.stdin ?? '',
    env: { DEPLOYCTL_CONFIG: '/nonexistent/deployctl.yaml', ...opts.env },
    now: () => opts.now ?? Date.now(),
  };
  return io;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** A fetch answering by `url.pathname`; unknown paths get a NotFound Status. Requests are appended to `seen`. */
export function fakeFetch(routes: Record<string, (url: URL, init: RequestInit) => Response>, seen: SeenRequest[] = []): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    seen.push({ method: init.method ?? 'GET', url: url.toString(), headers: init.headers as Record<string, string> });
    const h = routes[url.pathname];
    if (!h) return Response.json({ kind: 'Status', reason: 'NotFound', message: `${url.pathname} not found`, code: 404 }, { status: 404 });
    return h(url, init);
  }) as typeof fetch;
}

/** A NotFound Status answer. */
export const notFound = (what: string) => Response.json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', message: `${what} not found`, code: 404 }, { status: 404 });

/** An APIResourceList with deployer's three kinds. */
export const DISCOVERY = {
  kind: 'APIResourceList',
  groupVersion: 'deployer.dev/v1',
  resources: [
    { name: 'projectservers', singularName: 'projectserver', kind: 'ProjectServer', shortNames: ['ps'], namespaced: true },
    { name: 'deployments', singularName: 'deployment', kind: 'Deployment', shortNames: ['deploy'], namespaced: true },
    { name: 'routes', singularName: 'route', kind: 'Route', shortNames: ['rt'], namespaced: true },
  ],
};

/** A watch stream's body: one JSON event a line. */
export const watchBody = (events: { type: string; object: unknown }[]) => new Response(events.map((e) => JSON.stringify(e) + '\n').join(''), { headers: { 'content-type': 'application/json' } });
