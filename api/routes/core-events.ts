// deployer's Events as core v1 Events, at the paths kubectl reads them from:
//   /api/v1/namespaces/{namespace}/events[/{name}]   and   /api/v1/events
// `kubectl describe` lists them there with
// `fieldSelector=involvedObject.name=…,involvedObject.namespace=…,involvedObject.kind=…,involvedObject.uid=…`.
// The stored Event already has the core fields; only apiVersion differs (`v1`). Read-only
// (writes go to /apis/deployer.dev/v1/…/events) and without watch (a core watch would
// carry objects kubectl decodes as core Events; watch the deployer.dev path instead).
import Type from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, badRequest, kindByPlural, type KindInfo, type ResourceObject } from '../../resources/index.js';
import { DNS_LABEL_PATTERN } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import { authorize, identity, scopeOf } from '../auth.js';
import { boolParam, intParam, ListQuerySchema, type Query } from '../query.js';
import { ref } from '../shared-schemas.js';

const BASE = '/api/v1';
const StatusRef = ref('Status');
const errors = { 400: StatusRef, 401: StatusRef, 403: StatusRef, 404: StatusRef };
const AnyObject = Type.Object({}, { additionalProperties: true });
const dns = new RegExp(DNS_LABEL_PATTERN);

function checkName(what: string, v: string): void {
  if (v.length > 63 || !dns.test(v)) throw badRequest(`invalid ${what} "${v.slice(0, 80)}": must be a lowercase RFC 1123 label`);
}

/** A deployer Event as a core v1 Event. */
export function toCoreEvent(obj: ResourceObject): ResourceObject {
  return { ...obj, apiVersion: 'v1', kind: 'Event' };
}

export function coreEventRoutes(app: FastifyInstance, store: Store): void {
  const info: KindInfo = kindByPlural('events')!;
  // A fresh array per route: a shared one would come out of the YAML document as an anchor.
  const tags = () => ['core-v1'];

  const list = async (req: FastifyRequest, namespace: string | undefined) => {
    const who = identity(req);
    const q = req.query as Query;
    let scope: string[] | undefined;
    if (namespace !== undefined) {
      checkName('namespace', namespace);
      authorize(who, 'read', 'events', namespace);
    } else scope = scopeOf(who);
    if (boolParam(q, 'watch'))
      throw badRequest(`watch is not served on ${BASE} events: watch /apis/deployer.dev/v1/${namespace ? `namespaces/${namespace}/` : ''}events?watch=true`);
    const result = await store.resources.list(info, {
      namespace,
      scope,
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
      limit: intParam(q, 'limit', 0, 1_000_000),
      continue: q.continue || undefined,
    });
    const metadata: Record<string, string> = { resourceVersion: result.resourceVersion };
    if (result.continue) metadata.continue = result.continue;
    return { apiVersion: 'v1', kind: 'EventList', metadata, items: result.items.map(toCoreEvent) };
  };

  app.get(`${BASE}/events`, { schema: { tags: tags(), summary: 'List Events (core v1 shape) across the namespaces the token sees', querystring: ListQuerySchema, response: { 200: AnyObject, ...errors } } }, (req) =>
    list(req, undefined),
  );

  app.get(
    `${BASE}/namespaces/:namespace/events`,
    { schema: { tags: tags(), summary: 'List Events (core v1 shape) in a namespace; kubectl describe reads them here', params: Type.Object({ namespace: Type.String() }), querystring: ListQuerySchema, response: { 200: AnyObject, ...errors } } },
    (req) => list(req, (req.params as { namespace: string }).namespace),
  );

  app.get(
    `${BASE}/namespaces/:namespace/events/:name`,
    { schema: { tags: tags(), summary: 'Read an Event (core v1 shape)', params: Type.Object({ namespace: Type.String(), name: Type.String() }), response: { 200: AnyObject, ...errors } } },
    async (req) => {
      const { namespace, name } = req.params as { namespace: string; name: string };
      checkName('namespace', namespace);
      checkName('name', name);
      authorize(identity(req), 'read', 'events', namespace);
      return toCoreEvent(await store.resources.get(info, namespace, name));
    },
  );

  const readOnly = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('Allow', 'GET');
    throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not supported here: ${BASE} events are read-only; write Events at /apis/deployer.dev/v1/namespaces/{namespace}/events`);
  };
  const hidden = { schema: { hide: true } };
  const writes = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
  app.route({ method: [...writes], url: `${BASE}/events`, ...hidden, handler: readOnly });
  app.route({ method: [...writes], url: `${BASE}/namespaces/:namespace/events`, ...hidden, handler: readOnly });
  app.route({ method: [...writes], url: `${BASE}/namespaces/:namespace/events/:name`, ...hidden, handler: readOnly });
}
