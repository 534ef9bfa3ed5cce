// The route controller: the proxy's routes equal the Routes in the store. Every change of a
// Route or a ProjectServer, every Docker event of the proxy or of a server container, and a
// check every 10 s (drift: a proxy config edited by hand) lead to one "sync": make sure the
// proxy container runs, compute the routes (desired.ts), load them into Caddy when they differ
// from what it holds, and write each Route's status (url, ready, conflicts, Ready, Conflict).
// The whole set is applied at once because conflicts are between Routes.
import { managedOf } from '../../docker/index.js';
import { CaddyProxy } from '../../proxy/index.js';
import { ApiError, jsonEqual, kindByName, setCondition } from '../../resources/index.js';
import type { ProjectServer, Route } from '../../schemas/index.js';
import type { ControllerDeps } from '../deps.js';
import { systemClock } from '../runtime/clock.js';
import { Controller, type ReconcileContext } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { desiredProxy } from './desired.js';
import { RouteDockerOutage } from './docker-outage.js';
import { ensureProxy, PROXY_PORTS } from './proxy-container.js';

export { desiredProxy, routeId } from './desired.js';
export { ensureProxy } from './proxy-container.js';

export const SYNC_KEY = 'sync';
const ROUTE = kindByName('Route')!;
const PROJECT_SERVER = kindByName('ProjectServer')!;
/**
 * How often the proxy's config is compared with the Routes even when nothing happened (a config
 * edited by hand through the admin API; a proxy restarted or removed brings a Docker event). Each
 * check reads the proxy's whole config: every 10 s it was a good part of an idle deployer's CPU
 * at 400 Routes (BENCHMARKS.md, "Idle CPU at full size").
 */
export const DRIFT_CHECK_MS = 30_000;

export function routeController(deps: ControllerDeps): Controller {
  const docker = deps.docker;
  if (!docker) throw new Error('the route controller needs Docker (no engine is connected)');
  const clock = deps.clock ?? systemClock;
  const log = (m: string, e?: unknown) => deps.log(m, e, { controller: 'route' });
  const events = new EventRecorder({ resources: deps.store.resources, component: 'route-controller', instance: deps.identity, clock, log });
  const outage = new RouteDockerOutage({ store: deps.store, events, clock, key: SYNC_KEY });

  const driftCheckMs = docker.proxy.driftCheckMs ?? DRIFT_CHECK_MS;
  // one client per admin URL (a recreated proxy gets a new port): it remembers its last
  // comparison, so a drift check with nothing changed is cheap
  let proxy: CaddyProxy | undefined;
  const sync = async (ctx: ReconcileContext) => {
    const endpoint = await ensureProxy(docker.runtime, docker.installation, docker.proxy);
    if (endpoint.action) log(`proxy container ${endpoint.action}`);
    if (endpoint.action || proxy?.adminUrl !== endpoint.adminUrl)
      proxy = new CaddyProxy({ adminUrl: endpoint.adminUrl, ports: { http: PROXY_PORTS.http, https: PROXY_PORTS.https }, adminListen: `0.0.0.0:${PROXY_PORTS.admin}` });
    // A proxy just made needs a moment; one that Docker says runs must answer at once (if it
    // does not, it is probably being removed: its destroy event brings us back).
    await proxy.waitReady(endpoint.action ? 10_000 : 1000);
    // from the informers' caches, not two lists from the store every sync (every 10 s at least:
    // at 400 Routes and 200 servers those lists were a good part of an idle deployer's work). A
    // change the cache has not seen yet brings its own event, hence another sync.
    const want = desiredProxy(ctx.list('Route') as unknown as Route[], ctx.list('ProjectServer') as unknown as ProjectServer[], {
      installation: docker.installation,
      httpPort: endpoint.httpPort,
      httpsPort: endpoint.httpsPort,
    });
    if (await proxy.apply(want.routes)) log(`proxy config loaded: ${want.routes.length} route(s)`);
    const now = new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (const v of want.verdicts) {
      const r = v.route;
      let conditions = r.status?.conditions;
      for (const c of v.conditions) conditions = setCondition(conditions, c, now);
      const status = { ...(r.status ?? {}), observedGeneration: r.metadata.generation, url: v.url, ready: v.ready, conflicts: v.conflicts, conditions };
      if (jsonEqual(status, r.status ?? {})) continue;
      try {
        await deps.store.resources.patch(
          ROUTE,
          r.metadata.namespace!,
          r.metadata.name!,
          'merge',
          { metadata: { resourceVersion: r.metadata.resourceVersion }, status },
          { subresource: 'status', fence: ctx.fence },
        );
      } catch (err) {
        if (err instanceof ApiError && (err.code === 409 || err.code === 404)) {
          controller.enqueue(SYNC_KEY); // changed meanwhile: the next sync writes it
          continue;
        }
        throw err;
      }
      const before = r.status?.conditions?.find((c) => c.type === 'Conflict')?.status;
      const conflict = v.conditions.find((c) => c.type === 'Conflict')!;
      if (conflict.status === 'True' && before !== 'True')
        void events.record({ kind: 'Route', namespace: r.metadata.namespace!, name: r.metadata.name!, uid: r.metadata.uid }, 'Warning', 'Conflict', conflict.message!, { fence: ctx.fence });
    }
    return { requeueAfterMs: driftCheckMs };
  };

  const controller: Controller = new Controller({
    name: 'route',
    kind: ROUTE,
    store: deps.store,
    reconciler: {
      reconcile: async (key, _signal, ctx) => {
        if (key === SYNC_KEY)
          return sync(ctx).then(
            (r) => (outage.recovered(), r),
            (err: unknown) => outage.report(err, ctx),
          );
        // Our own status writes (and label edits) leave generation == observedGeneration:
        // nothing for the proxy. Creations, spec changes and deletions need a sync.
        const cached = ctx.cached(key) as Route | undefined;
        if (cached && !cached.metadata.deletionTimestamp && cached.status?.observedGeneration === cached.metadata.generation) return;
        controller.enqueue(SYNC_KEY);
      },
    },
    workers: 1,
    startKeys: [SYNC_KEY],
    watches: [{ kind: PROJECT_SERVER, map: () => [SYNC_KEY] }],
    baseDelayMs: 200,
    maxDelayMs: 5000,
    clock: deps.clock,
    log: deps.log,
  });
  docker.events.onEvent((e) => {
    const m = managedOf(e.labels);
    if (m && m.installation === docker.installation && (m.role === 'proxy' || m.role === 'server')) controller.enqueue(SYNC_KEY);
  });
  docker.events.onReconnect(() => controller.enqueue(SYNC_KEY));
  docker.events.onDisconnect?.(() => controller.enqueue(SYNC_KEY));
  return controller;
}

