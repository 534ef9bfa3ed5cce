// Monitoring: who leads each controller. Every process answers the same, from the lease
// table; `heldByThisProcess` says whether the answering process is the holder.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../store/index.js';
import { identity as who } from '../auth.js';
import { ref } from '../shared-schemas.js';

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
}
