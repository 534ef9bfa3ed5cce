// Liveness and readiness, without a token.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../store/index.js';

export function healthRoutes(app: FastifyInstance, store: Store, isClosing: () => boolean): void {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Type.String() } } }, async (_req, reply) =>
    reply.type('text/plain').send('ok'),
  );
  app.get('/readyz', { schema: { tags: ['health'], summary: 'The process can serve: the database answers and the watch hub is connected', response: { 200: Type.String(), 503: Type.String() } } }, async (_req, reply) => {
    const problems: string[] = [];
    if (isClosing()) problems.push('shutting down');
    try {
      await store.ping();
    } catch {
      problems.push('database unreachable');
    }
    if (!store.hub.isConnected) problems.push('watch hub disconnected');
    if (problems.length) return reply.code(503).type('text/plain').send(`not ready: ${problems.join(', ')}`);
    return reply.type('text/plain').send('ok');
  });
}
