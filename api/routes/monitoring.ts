// Monitoring: who leads each controller, the containers' health and the cleanup figures,
// and resync requests. Every process answers the same: the figures come from what the
// controllers recorded in the store (ProjectServer statuses, the cleanup controller's record,
// the lease table), never from Docker; `heldByThisProcess` says whether the answering process
// holds a lease.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { forbidden, kindByName } from '../../resources/index.js';
import { CLEANUP_RECORD, type Store } from '../../store/index.js';
import { identity as who, scopeOf, seesAll } from '../auth.js';
import { ref } from '../shared-schemas.js';

const PROJECT_SERVER = kindByName('ProjectServer')!;

const Health = Type.Object({
  containers: Type.Object({
    total: Type.Integer(),
    healthy: Type.Integer(),
    unhealthy: Type.Integer(),
    degraded: Type.Integer(),
    /** Not yet running or not yet checked (phase Pending, or no health known). */
    pending: Type.Integer(),
    stopped: Type.Integer(),
    restarts: Type.Integer(),
  }),
  zombies: Type.Object({ found: Type.Integer(), removed: Type.Integer(), lastSweepAt: Type.Union([Type.String(), Type.Null()]) }),
  helpersRemoved: Type.Integer(),
  volumesRemoved: Type.Integer(),
  /**
   * The Docker engine as the projectserver controller last found it, for the token's servers:
   * `unavailable` while any of them says DockerUnavailable, `unknown` without servers.
   */
  docker: Type.Union([Type.Literal('available'), Type.Literal('unavailable'), Type.Literal('unknown')]),
  leaders: Type.Array(Type.Object({ name: Type.String(), holder: Type.Union([Type.String(), Type.Null()]), valid: Type.Boolean() })),
  timestamp: Type.String(),
});

interface CleanupRecord {
  zombiesFound?: number;
  zombiesRemoved?: number;
  helpersRemoved?: number;
  volumesRemoved?: number;
  lastSweepAt?: string;
}

const Leader = Type.Object({
  name: Type.String(),
  holder: Type.Union([Type.String(), Type.Null()]),
  token: Type.Integer(),
  acquiredAt: Type.Union([Type.String(), Type.Null()]),
  renewedAt: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  valid: Type.Boolean(),
  heldByThisProcess: Type.Boolean(),
});

export function monitoringRoutes(app: FastifyInstance, store: Store, processIdentity: string): void {
  app.get(
    '/api/monitoring/leaders',
    {
      schema: {
        tags: ['monitoring'],
        summary: 'Each controller\'s lease: holder, fencing token, renew time, and whether this process holds it',
        response: { 200: Type.Object({ identity: Type.String(), items: Type.Array(Leader) }), 401: ref('Status') },
      },
    },
    async (req) => {
      who(req); // any valid token may read this
      const leases = await store.leases.list();
      return {
        identity: processIdentity,
        items: leases.map((l) => ({ ...l, heldByThisProcess: l.valid && l.holder === processIdentity })),
      };
    },
  );

  app.get(
    '/api/monitoring/health',
    {
      schema: {
        tags: ['monitoring'],
        summary: "Containers by health (in the token's namespaces), zombies found and removed, and each controller's leader",
        response: { 200: Health, 401: ref('Status') },
      },
    },
    async (req) => {
      const scope = scopeOf(who(req));
      const [servers, cleanup, leases] = await Promise.all([
        store.resources.list(PROJECT_SERVER, scope ? { scope } : {}),
        store.records.get<CleanupRecord>(CLEANUP_RECORD),
        store.leases.list(),
      ]);
      const containers = { total: 0, healthy: 0, unhealthy: 0, degraded: 0, pending: 0, stopped: 0, restarts: 0 };
      let docker: 'available' | 'unavailable' | 'unknown' = 'unknown';
      for (const ps of servers.items) {
        const st = (ps.status ?? {}) as { phase?: string; health?: string; restartCount?: number; conditions?: { type: string; reason?: string }[] };
        const ready = st.conditions?.find((c) => c.type === 'Ready');
        if (ready?.reason === 'DockerUnavailable') docker = 'unavailable';
        else if (ready && docker === 'unknown') docker = 'available';
        containers.total++;
        containers.restarts += st.restartCount ?? 0;
        if (st.phase === 'Stopped') containers.stopped++;
        else if (st.health === 'healthy') containers.healthy++;
        else if (st.health === 'degraded') containers.degraded++;
        else if (st.health === 'unhealthy' || st.phase === 'Failed') containers.unhealthy++;
        else containers.pending++;
      }
      const c = cleanup?.data ?? {};
      return {
        containers,
        zombies: { found: c.zombiesFound ?? 0, removed: c.zombiesRemoved ?? 0, lastSweepAt: c.lastSweepAt ?? null },
        helpersRemoved: c.helpersRemoved ?? 0,
        volumesRemoved: c.volumesRemoved ?? 0,
        docker,
        leaders: leases.map((l) => ({ name: l.name, holder: l.valid ? l.holder : null, valid: l.valid })),
        timestamp: new Date().toISOString(),
      };
    },
  );

  app.post(
    '/api/monitoring/reconcile',
    {
      schema: {
        tags: ['monitoring'],
        summary: "Asks every controller's leader to resync now (admin or an editor of every namespace); any process accepts it (202)",
        querystring: Type.Object({ controller: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' })) }, { additionalProperties: false }),
        response: {
          202: Type.Object({ kind: Type.Literal('Status'), apiVersion: Type.Literal('v1'), status: Type.Literal('Success'), message: Type.String(), code: Type.Literal(202) }),
          401: ref('Status'),
          403: ref('Status'),
        },
      },
    },
    async (req, reply) => {
      const w = who(req);
      if (w.role === 'viewer') throw forbidden(`token "${w.name}" (viewer) may not ask for a resync: an editor or admin token may`);
      // A resync touches every namespace's objects (each leader re-reads and reconciles all of
      // them), so a tenant of one namespace may not set it off for the others.
      if (!seesAll(w))
        throw forbidden(
          `token "${w.name}" (${w.role}) may not ask for a resync: it acts on every namespace and the token's namespaces are ${w.namespaces.map((n) => `"${n}"`).join(', ') || 'none'}; an admin token or an editor of "*" may`,
        );
      const { controller } = req.query as { controller?: string };
      await store.records.requestResync(controller ?? '*');
      reply.code(202);
      return {
        kind: 'Status' as const,
        apiVersion: 'v1' as const,
        status: 'Success' as const,
        code: 202 as const,
        message: `resync requested for ${controller ? `controller "${controller}"` : 'every controller'}; each leader resyncs now`,
      };
    },
  );
}
