// What the proxy should hold and what each Route's status should say, from the Routes and
// ProjectServers in the store. Pure.
//
// - A host belongs to one namespace: the one of its oldest Route (creationTimestamp, then
//   namespace/name), first come. A Route of another namespace for that host, whatever its path
//   prefix, gets Conflict=True (HostInUse) and is not applied — so a tenant cannot take paths of
//   another tenant's host. Its status names no Route of the owner (tenant isolation: names of
//   other namespaces' objects are theirs): it says only that another namespace uses the host.
// - Two Routes of the owning namespace with the same host and path prefix: the older keeps it;
//   the others get Conflict=True (HostPathTaken, naming the winner) and are not applied.
// - A Route whose ProjectServer (same namespace) does not exist is not applied (Ready=False,
//   ServerNotFound). One whose server is not ready is applied, so it serves the moment the
//   server does, but reports Ready=False with the server's reason.
// - Static servers: requests go to `/<service>/current/<path without the prefix>` (service
//   default `site`); docker servers get the path as it came, at the container of the slot
//   their live release runs in (blue/green: status.services.site.slot).
import { containerName } from '../../docker/index.js';
import { liveRelease, slotName } from '../projectserver/container-spec.js';
import type { ProxyRoute } from '../../proxy/index.js';
import type { Condition, ProjectServer, Route } from '../../schemas/index.js';

export interface RouteVerdict {
  key: string;
  route: Route;
  applied: boolean;
  ready: boolean;
  url: string;
  conflicts: string[];
  conditions: Condition[];
}

export interface DesiredProxy {
  routes: ProxyRoute[];
  verdicts: RouteVerdict[];
}

const ref = (r: Route) => `${r.metadata.namespace}/${r.metadata.name}`;
const normPrefix = (p: string | undefined) => (p ?? '/').replace(/\/+$/, '') || '/';

function older(a: Route, b: Route): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : ref(a) < ref(b) ? -1 : ref(a) > ref(b) ? 1 : 0;
}

/** status.conflicts of a Route that lost its host to another namespace: no name of theirs. */
export const OTHER_NAMESPACE = '(another namespace)';

export function routeId(r: Route): string {
  return `route-${r.metadata.namespace}-${r.metadata.name}`;
}

export function desiredProxy(
  routes: readonly Route[],
  servers: readonly ProjectServer[],
  o: { installation: string; httpPort: number; httpsPort: number },
): DesiredProxy {
  const live = routes.filter((r) => !r.metadata.deletionTimestamp);
  const byServer = new Map(servers.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  // the oldest Route of each host decides which namespace owns it
  const hostOwner = new Map<string, Route>();
  for (const r of live) {
    const cur = hostOwner.get(r.spec.host);
    if (!cur || older(r, cur) < 0) hostOwner.set(r.spec.host, r);
  }
  const ownsHost = (r: Route) => hostOwner.get(r.spec.host)!.metadata.namespace === r.metadata.namespace;
  // host and path claims among the owner's Routes only: the others are out already
  const claims = new Map<string, Route[]>();
  for (const r of live.filter(ownsHost)) {
    const k = `${r.spec.host} ${normPrefix(r.spec.pathPrefix)}`;
    claims.set(k, [...(claims.get(k) ?? []), r]);
  }
  for (const list of claims.values()) list.sort(older);

  const out: DesiredProxy = { routes: [], verdicts: [] };
  for (const r of live) {
    const gen = r.metadata.generation ?? 0;
    const prefix = normPrefix(r.spec.pathPrefix);
    const foreign = !ownsHost(r);
    const claimants = foreign ? [] : claims.get(`${r.spec.host} ${prefix}`)!;
    const winner = foreign ? undefined : claimants[0];
    const conflicts = claimants.filter((c) => c !== r).map(ref);
    const server = byServer.get(`${r.metadata.namespace}/${r.spec.projectServer}`);
    const port = r.spec.tls ? o.httpsPort : o.httpPort;
    const scheme = r.spec.tls ? 'https' : 'http';
    const url = `${scheme}://${r.spec.host}${(scheme === 'http' && port === 80) || (scheme === 'https' && port === 443) ? '' : `:${port}`}${prefix === '/' ? '/' : prefix}`;
    const cond = (type: string, status: Condition['status'], reason: string, message: string): Condition => ({ type, status, reason, message, observedGeneration: gen });

    let applied = false;
    let ready: Condition;
    const conflict = !winner
      ? cond('Conflict', 'True', 'HostInUse', `host ${r.spec.host} is already in use by another namespace; this Route is not applied (choose another host)`)
      : winner !== r
        ? cond('Conflict', 'True', 'HostPathTaken', `${r.spec.host}${prefix} is already routed by ${ref(winner)} (older); this Route is not applied`)
        : conflicts.length
          ? cond('Conflict', 'False', 'Winner', `this Route keeps ${r.spec.host}${prefix}; newer Routes claiming it: ${conflicts.join(', ')}`)
          : cond('Conflict', 'False', 'NoConflict', 'no other Route claims this host and path');
    if (winner !== r) ready = cond('Ready', 'False', 'Conflict', conflict.message!);
    else if (!server || server.metadata.deletionTimestamp)
      ready = cond('Ready', 'False', 'ServerNotFound', `ProjectServer "${r.spec.projectServer}" does not exist in namespace "${r.metadata.namespace}"`);
    else {
      applied = true;
      const isStatic = server.spec.serviceType === 'static';
      const upstreamPort = r.spec.port ?? server.spec.port ?? (isStatic ? 80 : undefined);
      if (upstreamPort === undefined) {
        applied = false;
        ready = cond('Ready', 'False', 'NoPort', `neither the Route nor ProjectServer "${r.spec.projectServer}" names a port`);
      } else {
        out.routes.push({
          id: routeId(r),
          host: r.spec.host,
          pathPrefix: prefix,
          upstream: `${slotName(containerName(o.installation, { namespace: r.metadata.namespace!, name: r.spec.projectServer }), liveRelease(server)?.slot ?? 'a')}:${upstreamPort}`,
          ...(isStatic ? { rewritePrefix: `/${r.spec.service ?? 'site'}/current` } : {}),
          ...(r.spec.tls ? { tls: true } : {}),
        });
        const serverReady = server.status?.conditions?.find((c) => c.type === 'Ready');
        ready =
          serverReady?.status === 'True'
            ? cond('Ready', 'True', 'Serving', `the proxy routes ${url} to ProjectServer "${r.spec.projectServer}"`)
            : cond('Ready', 'False', 'ServerNotReady', `ProjectServer "${r.spec.projectServer}" is not ready${serverReady?.message ? `: ${serverReady.message}` : ''}`);
      }
    }
    out.verdicts.push({
      key: `Route/${r.metadata.namespace}/${r.metadata.name}`,
      route: r,
      applied,
      ready: ready.status === 'True',
      url,
      conflicts: !winner ? [OTHER_NAMESPACE] : winner === r ? conflicts : [ref(winner)],
      conditions: [ready, conflict],
    });
  }
  return out;
}
