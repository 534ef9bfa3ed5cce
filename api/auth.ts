// Bearer-token authentication and namespace-scoped authorisation.
//   admin  — everything, every namespace (and token management)
//   editor — read and write in its namespaces
//   viewer — read in its namespaces
// A token's namespaces may include "*" (every namespace).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../resources/index.js';
import type { TokenInfo } from '../schemas/index.js';
import type { TokenStore } from '../store/index.js';
import { isDashboardPath } from './routes/dashboard.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: TokenInfo;
  }
}

const PUBLIC = new Set(['/healthz', '/readyz', '/version', '/livez']);

export type Verb = 'read' | 'write';

export function registerAuth(app: FastifyInstance, tokens: TokenStore): void {
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0];
    if (PUBLIC.has(path) || path === '/version/' || isDashboardPath(path)) return;
    const secret = bearerSecret(req);
    if (!secret) throw unauthorized('this endpoint needs "Authorization: Bearer <token>"');
    const who = await tokens.authenticate(secret);
    if (!who) throw unauthorized('the token is not valid (unknown or revoked)');
    req.identity = who;
  });
}

/** The secret of the request's "Authorization: Bearer <token>" header, if it has one. */
export function bearerSecret(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? header.match(/^Bearer\s+(\S+)\s*$/i) : null;
  return m?.[1];
}

export function identity(req: FastifyRequest): TokenInfo {
  if (!req.identity) throw unauthorized('this endpoint needs "Authorization: Bearer <token>"');
  return req.identity;
}

/** True when the token sees every namespace. */
export function seesAll(who: TokenInfo): boolean {
  return who.role === 'admin' || who.namespaces.includes('*');
}

/** The namespaces a token may see in cross-namespace lists, or undefined for all. */
export function scopeOf(who: TokenInfo): string[] | undefined {
  return seesAll(who) ? undefined : who.namespaces;
}

/** Throws 403 unless `who` may do `verb` on `plural` in `namespace`. */
export function authorize(who: TokenInfo, verb: Verb, plural: string, namespace: string): void {
  if (who.role === 'admin') return;
  const inScope = who.namespaces.includes('*') || who.namespaces.includes(namespace);
  if (inScope && (verb === 'read' || who.role === 'editor')) return;
  const action = verb === 'read' ? 'read' : 'change';
  const why = !inScope
    ? `its namespaces are ${who.namespaces.length ? who.namespaces.map((n) => `"${n}"`).join(', ') : 'none'}`
    : `the "${who.role}" role may only read`;
  throw forbidden(`token "${who.name}" (${who.role}) may not ${action} ${plural} in namespace "${namespace}": ${why}`);
}

export function requireAdmin(who: TokenInfo, what: string): void {
  if (who.role !== 'admin') throw forbidden(`token "${who.name}" (${who.role}) may not ${what}: only admin tokens may`);
}
