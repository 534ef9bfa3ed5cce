// The Caddy admin API: the only place deployer speaks to the proxy. Reads the config and
// applies deployer's routes as one atomic load, and only when they differ from what the proxy
// holds, so applying the same routes twice (or after a restart of deployer) changes nothing.
import { jsonEqual } from '../resources/index.js';
import { appsConfig, type ProxyRoute } from './config.js';

export class ProxyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyError';
  }
}

export interface CaddyProxyOptions {
  /** e.g. http://127.0.0.1:32768 (the admin port, published on the host's loopback). */
  adminUrl: string;
  /** The proxy's listen ports inside its container. */
  ports: { http: number; https: number };
  /** The admin API's own listen address inside the container (kept in every config loaded). */
  adminListen: string;
  timeoutMs?: number;
}

export class CaddyProxy {
  /**
   * The last comparison that found the proxy's config equal to the routes: the routes' apps as
   * JSON and the config text the proxy gave. While both are the same again (a periodic drift
   * check with nothing changed) the comparison is a string compare, not a parse of the whole
   * config and a deep compare (at 400 routes, most of an idle sync's CPU).
   */
  private lastEqual: { want: string; have: string } | null = null;

  constructor(private readonly o: CaddyProxyOptions) {}

  get adminUrl(): string {
    return this.o.adminUrl;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const text = await this.callText(method, path, body);
    return text ? JSON.parse(text) : null;
  }

  private async callText(method: string, path: string, body?: unknown): Promise<string> {
    let res: Response;
    try {
      res = await fetch(this.o.adminUrl + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
      });
    } catch (err) {
      throw new ProxyError(`the proxy's admin API at ${this.o.adminUrl} does not answer: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) throw new ProxyError(`the proxy's admin API answered ${res.status} to ${method} ${path}: ${text.slice(0, 500)}`);
    return text;
  }

  /** The proxy's whole config (null when it has none). */
  async readConfig(): Promise<Record<string, unknown> | null> {
    return (await this.call('GET', '/config/')) as Record<string, unknown> | null;
  }

  /** Resolves once the admin API answers (a small read: its own admin settings), or throws after `ms`. */
  async waitReady(ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      try {
        await this.callText('GET', '/config/admin/');
        return;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** The config these routes give (admin settings included). */
  desired(routes: readonly ProxyRoute[]): Record<string, unknown> {
    return { admin: { listen: this.o.adminListen, origins: [] }, apps: appsConfig(routes, this.o.ports) };
  }

  /**
   * Makes the proxy's config exactly these routes. Returns false when it already was (nothing
   * sent), true when a new config was loaded (atomically: Caddy swaps it in whole, and requests
   * in flight finish on the old one).
   */
  async apply(routes: readonly ProxyRoute[]): Promise<boolean> {
    const want = this.desired(routes);
    const wantText = JSON.stringify(want.apps);
    const haveText = await this.callText('GET', '/config/');
    if (this.lastEqual?.want === wantText && this.lastEqual.have === haveText) return false;
    this.lastEqual = null;
    const have = (haveText ? JSON.parse(haveText) : null) as Record<string, unknown> | null;
    if (have && jsonEqual(have.apps, want.apps)) {
      this.lastEqual = { want: wantText, have: haveText };
      return false;
    }
    await this.call('POST', '/load', want);
    return true;
  }

  /** Removes one route by its `@id` (404 when it is not there: fine). */
  async remove(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/id/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!/answered 404/.test((err as Error).message)) throw err;
    }
  }
}
