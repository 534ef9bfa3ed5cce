// /openapi/v3 (the index) and /openapi/v3/apis/deployer.dev/v1 (the document), served as
// Kubernetes serves them: the index points at the document's URL with `?hash=`; that URL
// may be cached for good (the hash changes with the document), the plain one must be
// revalidated, and a stale hash is redirected to the current one.
import { createHash } from 'node:crypto';
import Type from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildOpenApiV3, OPENAPI_V3_GV_PATH } from '../openapi-v3.js';

const Any = Type.Object({}, { additionalProperties: true });
const YEAR_MS = 365 * 24 * 3600 * 1000;

export function openApiV3Routes(app: FastifyInstance, version?: string): void {
  const v3 = buildOpenApiV3(version);
  const etag = JSON.stringify(v3.hash);
  const index = Buffer.from(JSON.stringify(v3.index));
  const indexEtag = JSON.stringify(createHash('sha512').update(index).digest('hex').toUpperCase());

  const notModified = (req: FastifyRequest, reply: FastifyReply, tag: string) => {
    if (req.headers['if-none-match'] !== tag) return false;
    reply.code(304).send();
    return true;
  };

  app.get('/openapi/v3', { schema: { tags: ['discovery'], summary: 'OpenAPI v3 index: the URL of each group-version\'s document (kubectl reads it)', response: { 200: Any } } }, async (req, reply) => {
    reply.header('Cache-Control', 'no-cache, private').header('ETag', indexEtag);
    if (notModified(req, reply, indexEtag)) return reply;
    return reply.header('Content-Type', 'application/json').send(index);
  });

  app.get(
    `/openapi/v3/${OPENAPI_V3_GV_PATH}`,
    {
      schema: {
        tags: ['discovery'],
        summary: 'The OpenAPI 3.0 document of deployer.dev/v1, in the Kubernetes style (kubectl apply validation and explain)',
        querystring: Type.Object({ hash: Type.Optional(Type.String()) }, { additionalProperties: true }),
        response: { 200: Any },
      },
    },
    async (req, reply) => {
      const { hash } = req.query as { hash?: string };
      if (hash !== undefined && hash !== v3.hash) {
        // A client holding an older index: send it to the document it should now read.
        return reply.header('Cache-Control', 'no-cache, private').redirect(`/openapi/v3/${OPENAPI_V3_GV_PATH}?hash=${v3.hash}`, 301);
      }
      if (hash === undefined) reply.header('Cache-Control', 'no-cache, private');
      else reply.header('Cache-Control', 'public, immutable').header('Expires', new Date(Date.now() + YEAR_MS).toUTCString());
      reply.header('ETag', etag);
      if (notModified(req, reply, etag)) return reply;
      return reply.header('Content-Type', 'application/json').send(v3.json);
    },
  );
}
