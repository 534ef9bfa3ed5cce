// The resource endpoints, Kubernetes paths:
//   /apis/deployer.dev/v1/namespaces/{namespace}/{plural}[/{name}[/status]]
//   /apis/deployer.dev/v1/{plural}                       (every namespace the token sees)
// GETs answer a meta.k8s.io Table instead when the Accept header asks for one (kubectl get).
import Type from 'typebox';
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import YAML from 'yaml';
import {
  ApiError,
  badRequest,
  kindByPlural,
  PATCH_TYPES,
  type KindInfo,
  type PatchType,
  type ResourceObject,
} from '../../resources/index.js';
import { DNS_LABEL_PATTERN, GROUP_VERSION } from '../../schemas/index.js';
import { ref } from '../shared-schemas.js';
import type { Store } from '../../store/index.js';
import { authorize, identity, scopeOf, seesAll } from '../auth.js';
import {
  DeleteQuerySchema,
  ListQuerySchema,
  WriteQuerySchema,
  boolParam,
  dryRunParam,
  fieldValidationParam,
  intParam,
  propagationParam,
  type Query,
} from '../query.js';
import { includeObjectParam, objectTable, tableVersionOf, toTable, type TableOptions } from '../table.js';
import { createWatchRegistry, serveWatch } from './watch.js';

const BASE = `/apis/${GROUP_VERSION}`;
const Plural = Type.String({ description: 'projectservers, deployments, routes or events' });
const NsParams = Type.Object({ namespace: Type.String(), plural: Plural });
const ItemParams = Type.Object({ namespace: Type.String(), plural: Plural, name: Type.String() });
const AllParams = Type.Object({ plural: Plural });
const AnyObject = ref('Object');
const ListResponse = ref('List');
const StatusRef = ref('Status');
const errors = { 400: StatusRef, 401: StatusRef, 403: StatusRef, 404: StatusRef, 409: StatusRef, 422: StatusRef };
const dns = new RegExp(DNS_LABEL_PATTERN);

function kindOf(plural: string): KindInfo {
  const info = kindByPlural(plural);
  if (!info) throw new ApiError(404, 'NotFound', `the server does not serve "${plural}": deployer.dev/v1 has projectservers, deployments, routes and events`);
  return info;
}

function checkName(what: string, v: string): void {
  if (v.length > 63 || !dns.test(v)) throw badRequest(`invalid ${what} "${v.slice(0, 80)}": must be a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63 characters)`);
}

function patchTypeOf(req: FastifyRequest): PatchType {
  const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (ct === PATCH_TYPES.json) return 'json';
  if (ct === PATCH_TYPES.merge) return 'merge';
  if (ct === PATCH_TYPES.apply) return 'apply';
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `unsupported patch type "${ct}": use application/merge-patch+json, application/json-patch+json or application/apply-patch+yaml`,
  );
}

/**
 * Query parameters every write accepts (checked so a mistake is a 400, not ignored), and the
 * writer's right to grant host access (a ProjectServer's securityContext): admin tokens only.
 */
function writeParams(req: FastifyRequest): { dryRun: boolean; mayGrantHostAccess: boolean } {
  const q = req.query as Query;
  fieldValidationParam(q);
  boolParam(q, 'force');
  return { dryRun: dryRunParam(q), mayGrantHostAccess: identity(req).role === 'admin' };
}

/** How to answer a GET: as a Table (the Accept header asks for one) or as the objects. */
function tableOptions(req: FastifyRequest): TableOptions | undefined {
  const version = tableVersionOf(req.headers.accept);
  if (!version) return undefined;
  return { version, includeObject: includeObjectParam((req.query as Query).includeObject), now: new Date() };
}

/** The body of an apply patch: YAML (JSON is YAML), one document. */
/** Deeper than this, an applied configuration is refused: no manifest nests so deep. */
const MAX_APPLY_DEPTH = 100;

/**
 * An upper bound of a YAML text's nesting, read without parsing it (the yaml parser recurses
 * and can exhaust the stack or the heap on a deep enough input): per line, the indentation
 * plus the block markers (`- `, `? `) before the content, and the depth of flow brackets
 * across the text. Brackets inside quotes count too, which only ever overestimates.
 */
export function yamlDepthBound(text: string): number {
  let max = 0;
  let flow = 0;
  for (const line of text.split('\n')) {
    const m = line.match(/^( *)((?:[-?] +)*)/)!;
    max = Math.max(max, m[1].length + (m[2].match(/[-?]/g)?.length ?? 0));
    for (const ch of line) {
      if (ch === '[' || ch === '{') max = Math.max(max, ++flow);
      else if ((ch === ']' || ch === '}') && flow > 0) flow--;
    }
  }
  return max;
}

/** The nesting of a parsed value, walked without recursion. */
function depthOf(value: unknown): number {
  let max = 0;
  const todo: [unknown, number][] = [[value, 0]];
  while (todo.length > 0) {
    const [v, d] = todo.pop()!;
    max = Math.max(max, d);
    if (max > MAX_APPLY_DEPTH) return max;
    if (v !== null && typeof v === 'object') for (const child of Object.values(v)) todo.push([child, d + 1]);
  }
  return max;
}

function parseApplyBody(_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void {
  const text = body.toString();
  const tooDeep = () => done(badRequest(`the apply patch nests deeper than ${MAX_APPLY_DEPTH} levels; no object of deployer.dev/v1 does`));
  // JSON (what kubectl sends) is YAML too; JSON.parse does not recurse on the stack
  if (/^\s*[[{]/.test(text)) {
    try {
      const value: unknown = JSON.parse(text);
      return depthOf(value) > MAX_APPLY_DEPTH ? tooDeep() : done(null, value);
    } catch {
      // not JSON after all: YAML flow style, read below
    }
  }
  if (yamlDepthBound(text) > MAX_APPLY_DEPTH * 2) return tooDeep();
  try {
    const value: unknown = YAML.parse(text, { maxAliasCount: 100, logLevel: 'error' });
    return depthOf(value) > MAX_APPLY_DEPTH ? tooDeep() : done(null, value);
  } catch (err) {
    if (err instanceof RangeError) return tooDeep();
    const msg = (err as Error).message.split('\n')[0];
    done(badRequest(`the apply patch is not valid YAML: ${msg}`));
  }
}

function listKind(info: KindInfo): string {
  return `${info.kind}List`;
}

export interface ResourceRouteDeps {
  store: Store;
  registry: ReturnType<typeof createWatchRegistry>;
  bookmarkMs: number;
}

export function resourceRoutes(app: FastifyInstance, deps: ResourceRouteDeps): void {
  const { store } = deps;
  const r = store.resources;
  // Global, not encapsulated: `app` is the root instance.
  app.addContentTypeParser(PATCH_TYPES.apply, { parseAs: 'string' }, parseApplyBody);

  const list = async (req: FastifyRequest, reply: FastifyReply, namespace: string | undefined, plural: string) => {
    const info = kindOf(plural);
    const who = identity(req);
    const q = req.query as Query;
    let scope: string[] | undefined;
    if (namespace !== undefined) {
      checkName('namespace', namespace);
      authorize(who, 'read', plural, namespace);
    } else scope = scopeOf(who);
    const table = tableOptions(req);
    if (boolParam(q, 'watch')) return serveWatch(req, reply, deps, info, { namespace, scope, query: q, table });
    const limit = intParam(q, 'limit', 0, 1_000_000);
    const result = await r.list(info, {
      namespace,
      scope,
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
      limit,
      continue: q.continue || undefined,
    });
    const metadata: Record<string, string> = { resourceVersion: result.resourceVersion };
    if (result.continue) metadata.continue = result.continue;
    if (table) return toTable(info.kind, result.items, metadata, table);
    return { apiVersion: GROUP_VERSION, kind: listKind(info), metadata, items: result.items };
  };

  const item = (req: FastifyRequest, verb: 'read' | 'write') => {
    const p = req.params as { namespace: string; plural: string; name: string };
    const info = kindOf(p.plural);
    checkName('namespace', p.namespace);
    checkName('name', p.name);
    authorize(identity(req), verb, p.plural, p.namespace);
    return { info, namespace: p.namespace, name: p.name };
  };

  const asRequested = (req: FastifyRequest, obj: ResourceObject) => {
    const table = tableOptions(req);
    return table ? objectTable(obj, table) : obj;
  };

  const statusInfo = (info: KindInfo) => {
    if (info.layout !== 'spec-status') throw new ApiError(404, 'NotFound', `${info.plural} have no status subresource`);
  };

  app.get(`${BASE}/:plural`, { schema: { tags: ['resources'], summary: 'List or watch objects of a kind across the namespaces the token sees', params: AllParams, querystring: ListQuerySchema, response: { 200: ListResponse, ...errors } } }, (req, reply) =>
    list(req, reply, undefined, (req.params as { plural: string }).plural),
  );

  app.get(`${BASE}/namespaces/:namespace/:plural`, { schema: { tags: ['resources'], summary: 'List or watch objects of a kind in a namespace', params: NsParams, querystring: ListQuerySchema, response: { 200: ListResponse, ...errors } } }, (req, reply) => {
    const p = req.params as { namespace: string; plural: string };
    return list(req, reply, p.namespace, p.plural);
  });

  app.post(`${BASE}/namespaces/:namespace/:plural`, { schema: { tags: ['resources'], summary: 'Create an object', params: NsParams, querystring: WriteQuerySchema, body: AnyObject, response: { 201: AnyObject, ...errors } } }, async (req, reply) => {
    const p = req.params as { namespace: string; plural: string };
    const info = kindOf(p.plural);
    checkName('namespace', p.namespace);
    authorize(identity(req), 'write', p.plural, p.namespace);
    const obj = await r.create(info, p.namespace, req.body, writeParams(req));
    return reply.code(201).send(obj);
  });

  app.get(`${BASE}/namespaces/:namespace/:plural/:name`, { schema: { tags: ['resources'], summary: 'Read an object', params: ItemParams, response: { 200: AnyObject, ...errors } } }, async (req) => {
    const { info, namespace, name } = item(req, 'read');
    return asRequested(req, await r.get(info, namespace, name));
  });

  app.put(`${BASE}/namespaces/:namespace/:plural/:name`, { schema: { tags: ['resources'], summary: 'Create or replace an object (the declarative write)', params: ItemParams, querystring: WriteQuerySchema, body: AnyObject, response: { 200: AnyObject, 201: AnyObject, ...errors } } }, async (req, reply) => {
    const { info, namespace, name } = item(req, 'write');
    const out = await r.replace(info, namespace, name, req.body, writeParams(req));
    return reply.code(out.created ? 201 : 200).send(out.object);
  });

  app.patch(`${BASE}/namespaces/:namespace/:plural/:name`, { schema: { tags: ['resources'], summary: 'Patch an object (application/merge-patch+json or application/json-patch+json), or apply a configuration (application/apply-patch+yaml: creates the object when missing)', params: ItemParams, querystring: WriteQuerySchema, body: Type.Unknown(), response: { 200: AnyObject, 201: AnyObject, 415: StatusRef, ...errors } } }, async (req, reply) => {
    const { info, namespace, name } = item(req, 'write');
    const type = patchTypeOf(req);
    const opts = writeParams(req);
    if (type !== 'apply') return r.patch(info, namespace, name, type, req.body, opts);
    const out = await r.apply(info, namespace, name, req.body, opts);
    return reply.code(out.created ? 201 : 200).send(out.object);
  });

  app.delete(`${BASE}/namespaces/:namespace/:plural/:name`, { schema: { tags: ['resources'], summary: 'Delete an object (dependents follow unless propagationPolicy=Orphan)', params: ItemParams, querystring: DeleteQuerySchema, response: { 200: AnyObject, 202: AnyObject, ...errors } } }, async (req, reply) => {
    const { info, namespace, name } = item(req, 'write');
    const q = req.query as Query;
    const body = (req.body ?? {}) as { propagationPolicy?: unknown; preconditions?: { uid?: unknown; resourceVersion?: unknown }; dryRun?: unknown; orphanDependents?: unknown };
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('the DELETE body, when sent, must be a DeleteOptions object');
    let policy = propagationParam(q.propagationPolicy ?? body.propagationPolicy);
    if (policy === undefined && (q.orphanDependents === 'true' || body.orphanDependents === true)) policy = 'Orphan';
    const dryRun = dryRunParam(q) || (Array.isArray(body.dryRun) && body.dryRun.includes('All'));
    const pre = body.preconditions;
    const out = await r.delete(info, namespace, name, {
      propagationPolicy: policy,
      dryRun,
      preconditions: pre ? { uid: pre.uid as string | undefined, resourceVersion: pre.resourceVersion as string | undefined } : undefined,
    });
    return reply.code(out.removed ? 200 : 202).send(out.object);
  });

  app.get(`${BASE}/namespaces/:namespace/:plural/:name/status`, { schema: { tags: ['resources'], summary: 'Read an object (status subresource)', params: ItemParams, response: { 200: AnyObject, ...errors } } }, async (req) => {
    const { info, namespace, name } = item(req, 'read');
    statusInfo(info);
    return asRequested(req, await r.get(info, namespace, name));
  });

  app.put(`${BASE}/namespaces/:namespace/:plural/:name/status`, { schema: { tags: ['resources'], summary: 'Replace the status of an object', params: ItemParams, querystring: WriteQuerySchema, body: AnyObject, response: { 200: AnyObject, ...errors } } }, async (req) => {
    const { info, namespace, name } = item(req, 'write');
    statusInfo(info);
    return (await r.replace(info, namespace, name, req.body, { ...writeParams(req), subresource: 'status' })).object;
  });

  app.patch(`${BASE}/namespaces/:namespace/:plural/:name/status`, { schema: { tags: ['resources'], summary: 'Patch the status of an object', params: ItemParams, querystring: WriteQuerySchema, body: Type.Unknown(), response: { 200: AnyObject, 415: StatusRef, ...errors } } }, async (req) => {
    const { info, namespace, name } = item(req, 'write');
    statusInfo(info);
    const type = patchTypeOf(req);
    const opts = { ...writeParams(req), subresource: 'status' as const };
    if (type !== 'apply') return r.patch(info, namespace, name, type, req.body, opts);
    return (await r.apply(info, namespace, name, req.body, opts)).object;
  });

  // Methods a path does not serve: 405, as a Status (hidden from the OpenAPI document).
  const notAllowed = (allowed: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('Allow', allowed);
    throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not supported here; this path accepts ${allowed}`);
  };
  const hidden = { schema: { hide: true } };
  app.route({ method: ['PUT', 'PATCH', 'DELETE', 'POST'], url: `${BASE}/:plural`, ...hidden, handler: notAllowed('GET') });
  app.route({ method: ['PUT', 'PATCH', 'DELETE'], url: `${BASE}/namespaces/:namespace/:plural`, ...hidden, handler: notAllowed('GET, POST') });
  app.route({ method: ['POST'], url: `${BASE}/namespaces/:namespace/:plural/:name`, ...hidden, handler: notAllowed('GET, PUT, PATCH, DELETE') });
  app.route({ method: ['POST', 'DELETE'], url: `${BASE}/namespaces/:namespace/:plural/:name/status`, ...hidden, handler: notAllowed('GET, PUT, PATCH') });
}
