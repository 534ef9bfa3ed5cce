// GET /metrics: Prometheus text format. Any valid token may scrape; the per-object series
// (ProjectServers, Deployments) cover only the token's namespaces, read from the store at
// scrape time, so every process answers them the same. The process' own instruments (HTTP,
// controllers, phase durations, Node) come from the Metrics object this process updates.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { Metrics, ServerFigures } from '../../metrics/index.js';
import { kindByName } from '../../resources/index.js';
import { DEPLOYMENT_PHASES } from '../../schemas/index.js';
import { CLEANUP_RECORD, type Store } from '../../store/index.js';
import { identity as who, scopeOf } from '../auth.js';
import { ref } from '../shared-schemas.js';

const PROJECT_SERVER = kindByName('ProjectServer')!;
const DEPLOYMENT = kindByName('Deployment')!;

export interface MetricsRouteOptions {
  store: Store;
  metrics: Metrics;
  openWatches: () => number;
}

/** The same classes as GET /api/monitoring/health counts. */
function healthOf(status: { phase?: string; health?: string }): ServerFigures['health'] {
  if (status.phase === 'Stopped') return 'stopped';
  if (status.health === 'healthy' || status.health === 'degraded' || status.health === 'unhealthy') return status.health;
  if (status.phase === 'Failed') return 'unhealthy';
  return 'pending';
}

export function metricsRoutes(app: FastifyInstance, o: MetricsRouteOptions): void {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['monitoring'],
        summary: "Prometheus metrics (text format): HTTP, controllers, ProjectServers and Deployments in the token's namespaces, watch-hub lag",
        response: { 200: Type.String(), 401: ref('Status') },
      },
    },
    async (req, reply) => {
      const scope = scopeOf(who(req));
      const opts = scope ? { scope } : {};
      const [servers, deployments, cleanup, newest] = await Promise.all([
        o.store.resources.list(PROJECT_SERVER, opts),
        o.store.resources.list(DEPLOYMENT, opts),
        o.store.records.get<{ zombiesRemoved?: number }>(CLEANUP_RECORD),
        o.store.resources.currentRevision(),
      ]);
      const delivered = o.store.hub.lastRevision;
      const byPhase = new Map<string, Map<string, number>>();
      for (const d of deployments.items) {
        const ns = d.metadata.namespace!;
        let counts = byPhase.get(ns);
        if (!counts) byPhase.set(ns, (counts = new Map(DEPLOYMENT_PHASES.map((p) => [p, 0]))));
        // not picked up by the controller yet: it will be queued
        const phase = ((d.status ?? {}) as { phase?: string }).phase ?? 'queued';
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
      }
      const { contentType, text } = await o.metrics.scrape({
        servers: servers.items.map((ps) => {
          const st = (ps.status ?? {}) as { phase?: string; health?: string; restartCount?: number };
          return { namespace: ps.metadata.namespace!, name: ps.metadata.name!, health: healthOf(st), restarts: st.restartCount ?? 0 };
        }),
        deployments: [...byPhase].flatMap(([namespace, counts]) => [...counts].map(([phase, count]) => ({ namespace, phase, count }))),
        zombiesRemoved: cleanup?.data.zombiesRemoved ?? 0,
        openWatches: o.openWatches(),
        watchLag: Math.max(0, newest - delivered),
      });
      return reply.type(contentType).send(text);
    },
  );
}
