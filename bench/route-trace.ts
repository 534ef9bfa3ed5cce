// Where a Route's time goes in bench/route: the route controller's Docker calls and its calls
// to Caddy's admin API, each with when it began and ended, and one sample's steps read from
// them.
//
// The route controller's sync runs its steps in this order, one sync at a time (one worker):
// ensureProxy (ensureNetwork, ensureVolume, inspect), waitReady (GET /config/), list Routes and
// ProjectServers from the store, apply (GET /config/, then POST /load when the routes
// differ), status writes. So a sync starts with an ensureNetwork call, and the sync that made
// a host serve is the one whose POST /load carried that host.
import { DockerRuntime, type ContainerSpec, type ContainerState } from '../docker/index.js';
import { now } from './health-docker.js';

export interface Call {
  op: string;
  target: string;
  t0: number;
  /** NaN while the call runs. */
  t1: number;
  /** Admin API calls: the request body. */
  body?: string;
}

/** A DockerRuntime that records the calls a sync makes. Give it to the route controller only. */
export class TracedRuntime extends DockerRuntime {
  readonly calls: Call[] = [];

  private async timed<T>(op: string, target: string, fn: () => Promise<T>): Promise<T> {
    const call: Call = { op, target, t0: now(), t1: NaN };
    this.calls.push(call);
    try {
      return await fn();
    } finally {
      call.t1 = now();
    }
  }

  override ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    return this.timed('ensureNetwork', name, () => super.ensureNetwork(name, labels));
  }
  override ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.timed('ensureVolume', name, () => super.ensureVolume(name, labels));
  }
  override inspect(idOrName: string): Promise<ContainerState | null> {
    return this.timed('inspect', idOrName, () => super.inspect(idOrName));
  }
  override create(spec: ContainerSpec): Promise<string> {
    return this.timed('create', spec.name, () => super.create(spec));
  }
  override start(id: string): Promise<void> {
    return this.timed('start', id, () => super.start(id));
  }
}

/**
 * Records every fetch this process makes until the returned function is called. CaddyProxy
 * calls the admin API with the global fetch and takes no fetch of its own, so this is the one
 * place to time it from outside; bench/route itself and the API do not use fetch.
 */
export function traceFetch(calls: Call[]): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const call: Call = { op: init?.method ?? 'GET', target: url.pathname, t0: now(), t1: NaN, body: typeof init?.body === 'string' ? init.body : undefined };
    calls.push(call);
    try {
      const res = await original(input, init);
      // The time until the body is read is the controller's too (CaddyProxy reads it at once).
      const text = await res.text();
      call.t1 = now();
      return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
    } finally {
      if (Number.isNaN(call.t1)) call.t1 = now();
    }
  };
  return () => {
    globalThis.fetch = original;
  };
}

/** One sample's timeline, as bench/route measures it on this process' clock. */
export interface SampleTimes {
  host: string;
  /** The PUT was sent. */
  put: number;
  /** The first 200 through the proxy. */
  ok: number;
}

/** The steps of one sample, ms; undefined when the trace does not show that step. */
export function sampleSteps(docker: readonly Call[], admin: readonly Call[], s: SampleTimes): Record<string, number | undefined> {
  const load = admin.find((c) => c.op === 'POST' && c.target === '/load' && c.t0 >= s.put && c.body?.includes(JSON.stringify(s.host)));
  if (!load) return {};
  const syncStart = docker.filter((c) => c.op === 'ensureNetwork' && c.t0 <= load.t0).at(-1);
  if (!syncStart) return {};
  const dockerEnd = Math.max(...docker.filter((c) => c.t0 >= syncStart.t0 && c.t0 <= load.t0).map((c) => c.t1));
  const gets = admin.filter((c) => c.op === 'GET' && c.target === '/config/' && c.t0 >= syncStart.t0 && c.t1 <= load.t0);
  const ready = gets[0];
  const read = gets.at(-1);
  return {
    'PUT sent → sync began (notify, informer, queue)': syncStart.t0 - s.put,
    'sync: ensureProxy (Docker calls)': dockerEnd - syncStart.t0,
    'sync: waitReady (GET /config/)': ready && ready.t1 - ready.t0,
    'sync: list Routes and ProjectServers': ready && read && read !== ready ? read.t0 - ready.t1 : undefined,
    'sync: apply reads the config (GET /config/)': read && read !== ready ? read.t1 - read.t0 : undefined,
    'sync: apply loads it (POST /load)': load.t1 - load.t0,
    'POST /load answered → first 200 seen': s.ok - load.t1,
  };
}
