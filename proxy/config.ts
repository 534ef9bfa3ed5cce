// deployer's routes as Caddy JSON config. Pure: the same routes always give the same config,
// so comparing the proxy's config with this one says whether anything drifted.
//
// Routes are ordered most specific first (longer path prefix first, then host), as Caddy
// tries them in order; a last route answers 404 for any host and path deployer does not route.

/** One route as the proxy sees it. */
export interface ProxyRoute {
  /** Unique and stable: Caddy's `@id`. */
  id: string;
  host: string;
  /** `/` or `/a/b` (no trailing slash needed). */
  pathPrefix: string;
  /** `name:port` on the proxy's Docker network. */
  upstream: string;
  /** Requests are rewritten to `<rewritePrefix><path without pathPrefix>` (static servers: `/site/current`). */
  rewritePrefix?: string;
  /** Served on the HTTPS server (Caddy's automatic HTTPS) instead of plain HTTP. */
  tls?: boolean;
}

export const HTTP_SERVER = 'deployer';
export const HTTPS_SERVER = 'deployer-tls';
export const FALLBACK_ID = 'deployer-fallback';

type Json = Record<string, unknown>;

function routeJson(r: ProxyRoute): Json {
  const prefix = r.pathPrefix.replace(/\/+$/, '');
  const match: Json = { host: [r.host] };
  if (prefix) match.path = [prefix, `${prefix}/*`];
  const handle: Json[] = [];
  if (r.rewritePrefix !== undefined) {
    if (prefix) handle.push({ handler: 'rewrite', strip_path_prefix: prefix });
    handle.push({ handler: 'rewrite', uri: `${r.rewritePrefix}{http.request.uri}` });
  }
  handle.push({ handler: 'reverse_proxy', upstreams: [{ dial: r.upstream }] });
  return { '@id': r.id, match: [match], handle, terminal: true };
}

function order(routes: readonly ProxyRoute[]): ProxyRoute[] {
  return [...routes].sort(
    (a, b) => b.pathPrefix.replace(/\/+$/, '').length - a.pathPrefix.replace(/\/+$/, '').length || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0) || (a.id < b.id ? -1 : 1),
  );
}

/** The `apps` section of Caddy's config for these routes. */
export function appsConfig(routes: readonly ProxyRoute[], ports: { http: number; https: number }): Json {
  const fallback = {
    '@id': FALLBACK_ID,
    handle: [{ handler: 'static_response', status_code: 404, body: 'deployer: no route for this host and path\n' }],
    terminal: true,
  };
  const plain = order(routes.filter((r) => !r.tls));
  const secure = order(routes.filter((r) => r.tls));
  const servers: Json = {
    [HTTP_SERVER]: { listen: [`:${ports.http}`], automatic_https: { disable: true }, routes: [...plain.map(routeJson), fallback] },
  };
  if (secure.length > 0) servers[HTTPS_SERVER] = { listen: [`:${ports.https}`], routes: secure.map(routeJson) };
  return { http: { servers } };
}

/** Where each route of a Caddy config (as read back from the proxy) sends requests: `@id` → dial addresses. */
export function dialsByRoute(config: Record<string, unknown> | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const servers = ((config?.apps as Json | undefined)?.http as Json | undefined)?.servers as Record<string, Json> | undefined;
  for (const server of Object.values(servers ?? {}))
    for (const route of (server.routes as Json[] | undefined) ?? []) {
      const id = route['@id'];
      if (typeof id !== 'string') continue;
      const dials = ((route.handle as Json[] | undefined) ?? [])
        .filter((h) => h.handler === 'reverse_proxy')
        .flatMap((h) => ((h.upstreams as Json[] | undefined) ?? []).map((u) => String(u.dial)));
      out.set(id, dials);
    }
  return out;
}
