// Token management (admins only): create (the secret is shown once), list, revoke.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest, schemaErrors } from '../../resources/index.js';
import { TokenCreatedSchema, TokenListSchema, TokenRequestSchema, type TokenRequest } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import { identity, requireAdmin } from '../auth.js';
import { ref } from '../shared-schemas.js';

const StatusRef = ref('Status');
const errors = { 400: StatusRef, 401: StatusRef, 403: StatusRef };

export function tokenRoutes(app: FastifyInstance, store: Store): void {
  app.post('/api/tokens', { schema: { tags: ['tokens'], summary: 'Create a token; the secret is returned once', body: TokenRequestSchema, response: { 201: TokenCreatedSchema, 409: StatusRef, 422: StatusRef, ...errors } } }, async (req, reply) => {
    requireAdmin(identity(req), 'create tokens');
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('send a JSON object {name, role, namespaces}');
    const { unknown, invalid } = schemaErrors(TokenRequestSchema, body);
    if (unknown.length) throw badRequest(`unknown fields: ${unknown.map((c) => c.field).join(', ')}`, unknown);
    if (invalid.length)
      throw new ApiError(422, 'Invalid', `token is invalid: ${invalid.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { causes: invalid });
    const created = await store.tokens.create(body as TokenRequest);
    return reply.code(201).send(created);
  });

  app.get('/api/tokens', { schema: { tags: ['tokens'], summary: 'List tokens (without secrets)', response: { 200: TokenListSchema, ...errors } } }, async (req) => {
    requireAdmin(identity(req), 'list tokens');
    return { items: await store.tokens.list() };
  });

  app.delete('/api/tokens/:name', { schema: { tags: ['tokens'], summary: 'Revoke a token at once', params: Type.Object({ name: Type.String() }), response: { 200: StatusRef, 404: StatusRef, ...errors } } }, async (req) => {
    requireAdmin(identity(req), 'revoke tokens');
    const { name } = req.params as { name: string };
    await store.tokens.delete(name);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, details: { name, kind: 'tokens' } };
  });
}
