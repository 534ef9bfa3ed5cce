// The OpenAPI v3 document of deployer.dev/v1 in the Kubernetes style, as kubectl reads it
// from /openapi/v3/apis/deployer.dev/v1:
// - `kubectl apply` (default validation) looks for the PATCH operation whose
//   `x-kubernetes-group-version-kind` is the object's kind and for an operation-level
//   `fieldValidation` parameter on it; found, it sends `fieldValidation=Strict` and leaves
//   validation to the server. Both PATCH operations of a kind (object and /status) carry
//   the parameters, since kubectl takes whichever it meets first.
// - The PATCH request bodies list json-patch, merge-patch and apply-patch but not
//   strategic-merge-patch: kubectl then builds JSON merge patches for client-side apply.
// - `kubectl explain` finds a kind's schema in components.schemas by its
//   `x-kubernetes-group-version-kind` list.
// Schemas are converted from the typebox (JSON Schema) ones in schemas/, so the document
// cannot drift from what the server validates.
import { createHash } from 'node:crypto';
import type { TSchema } from 'typebox';
import type { KindInfo } from '../resources/index.js';
import { KINDS } from '../resources/index.js';
import { API_GROUP, API_VERSION, GROUP_VERSION, ListMetaSchema, ObjectMetaSchema, StatusSchema } from '../schemas/index.js';

type Json = Record<string, unknown>;

/** The path of the group-version in the index (`/openapi/v3` → `paths`). */
export const OPENAPI_V3_GV_PATH = `apis/${GROUP_VERSION}`;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const SCHEMA_PREFIX = `dev.deployer.${API_VERSION}`;
const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const gvk = (kind: string) => ({ group: API_GROUP, version: API_VERSION, kind });

/**
 * Converts a typebox (JSON Schema 2020-12 subset) schema into an OpenAPI 3.0 schema:
 * `const` → `enum`, unions of constants → one `enum`, `patternProperties` (string maps) →
 * `additionalProperties`, numeric `exclusiveMinimum` → `minimum` + `true`.
 * `additionalProperties: false` is dropped, as Kubernetes' documents do (the server rejects
 * unknown fields itself, and clients would otherwise reject fields of newer servers).
 */
export function toOpenApi30(schema: unknown): Json {
  if (schema === null || typeof schema !== 'object') return {};
  const s = schema as Json;
  const out: Json = {};
  const consts = Array.isArray(s.anyOf) ? (s.anyOf as Json[]) : undefined;
  if (consts && consts.length > 0 && consts.every((m) => m && 'const' in m && m.type === consts[0].type)) {
    out.type = consts[0].type;
    out.enum = consts.map((m) => m.const);
  } else if (consts) out.anyOf = consts.map(toOpenApi30);
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case 'anyOf':
      case '$id':
        break;
      case 'const':
        out.enum = [v];
        break;
      case 'properties':
        out.properties = Object.fromEntries(Object.entries(v as Json).map(([p, ps]) => [p, toOpenApi30(ps)]));
        break;
      case 'items':
        out.items = toOpenApi30(v);
        break;
      case 'patternProperties': {
        const values = Object.values(v as Json);
        out.additionalProperties = values.length === 1 ? toOpenApi30(values[0]) : {};
        break;
      }
      case 'additionalProperties':
        if (typeof v === 'object') out.additionalProperties = toOpenApi30(v);
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        if (typeof v === 'number') {
          out[k === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = v;
          out[k] = true;
        } else out[k] = v;
        break;
      case 'required':
        if (Array.isArray(v) && v.length > 0) out.required = v;
        break;
      case 'type':
      case 'description':
      case 'format':
      case 'default':
      case 'enum':
      case 'pattern':
      case 'minLength':
      case 'maxLength':
      case 'minimum':
      case 'maximum':
      case 'minItems':
      case 'maxItems':
      case 'uniqueItems':
        out[k] = v;
        break;
      default:
        // Keywords OpenAPI 3.0 lacks are left out; the server validates with the originals.
        break;
    }
  }
  return out;
}

const KIND_DESCRIPTIONS: Record<string, string> = {
  ProjectServer: 'A ProjectServer is one long-running container per project (a static site server or a Docker image), kept running and healthy.',
  Deployment: 'A Deployment puts one release of files or an image into a ProjectServer, through phases, with blue/green switching and rollback.',
  Route: 'A Route sends a host (and path prefix) through the proxy to a service of a ProjectServer.',
  Event: 'An Event is what a controller did or saw, about one object (core/v1 Event fields).',
};

const TYPE_META = {
  apiVersion: {
    type: 'string',
    description: 'APIVersion defines the versioned schema of this representation of an object: deployer.dev/v1.',
  },
  kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
};

/** The components.schemas entry of one kind: its own schema, metadata by reference. */
function kindSchema(info: KindInfo): Json {
  const converted = toOpenApi30(info.schema as TSchema);
  const properties = { ...(converted.properties as Json) };
  properties.apiVersion = TYPE_META.apiVersion;
  properties.kind = TYPE_META.kind;
  properties.metadata = { allOf: [schemaRef(`${META}.ObjectMeta`)], default: {}, description: "Standard object's metadata." };
  if (properties.spec) properties.spec = { ...(properties.spec as Json), description: `The desired state of the ${info.kind}.` };
  if (properties.status) properties.status = { ...(properties.status as Json), description: `The observed state of the ${info.kind}, written by the controllers.` };
  const required = ((converted.required as string[] | undefined) ?? []).filter((r) => r !== 'apiVersion' && r !== 'kind' && r !== 'metadata');
  return {
    description: KIND_DESCRIPTIONS[info.kind] ?? info.kind,
    type: 'object',
    ...(required.length ? { required } : {}),
    properties,
    'x-kubernetes-group-version-kind': [gvk(info.kind)],
  };
}

function listSchema(info: KindInfo): Json {
  return {
    description: `A list of ${info.kind} objects.`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: TYPE_META.apiVersion,
      kind: TYPE_META.kind,
      items: { type: 'array', items: schemaRef(`${SCHEMA_PREFIX}.${info.kind}`) },
      metadata: { allOf: [schemaRef(`${META}.ListMeta`)], default: {}, description: "Standard list metadata." },
    },
    'x-kubernetes-group-version-kind': [gvk(`${info.kind}List`)],
  };
}

const param = (name: string, description: string, type = 'string') => ({ name, in: 'query', description, schema: { type, uniqueItems: true } });
const P = {
  pretty: param('pretty', "If 'true', then the output is pretty printed."),
  dryRun: param('dryRun', 'When present, indicates that modifications should not be persisted. The only valid value is All.'),
  fieldManager: param('fieldManager', 'A name associated with the actor or entity that is making these changes.'),
  fieldValidation: param(
    'fieldValidation',
    'How the server treats unknown or duplicate fields: deployer always rejects unknown fields (Strict); Ignore and Warn are accepted and behave as Strict.',
  ),
  force: param('force', 'Force is going to "force" Apply requests; meaningful only for apply patches.', 'boolean'),
  labelSelector: param('labelSelector', 'A selector to restrict the list of returned objects by their labels.'),
  fieldSelector: param('fieldSelector', 'A selector to restrict the list of returned objects by their fields (metadata.name, metadata.namespace; involvedObject.*, reason, type for events).'),
  limit: param('limit', 'The maximum number of items to return; continue with the continue token.', 'integer'),
  continue: param('continue', 'The continue token of the previous page.'),
  watch: param('watch', 'Watch for changes and return them as a stream of add, update and remove notifications.', 'boolean'),
  resourceVersion: param('resourceVersion', 'With watch: the revision to start after.'),
  resourceVersionMatch: param('resourceVersionMatch', 'How resourceVersion applies to list calls.'),
  timeoutSeconds: param('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
  allowWatchBookmarks: param('allowWatchBookmarks', 'Whether the watch sends BOOKMARK events (default true).', 'boolean'),
  sendInitialEvents: param('sendInitialEvents', 'Whether a watch starts with the current objects as ADDED events.', 'boolean'),
  propagationPolicy: param('propagationPolicy', 'Whether and how dependents are deleted: Background (default), Foreground or Orphan.'),
  gracePeriodSeconds: param('gracePeriodSeconds', 'Accepted and ignored: objects go at once (or when their finalizers are removed).', 'integer'),
  orphanDependents: param('orphanDependents', 'Deprecated: use propagationPolicy=Orphan.', 'boolean'),
};
const LIST_PARAMS = [
  P.allowWatchBookmarks, P.continue, P.fieldSelector, P.labelSelector, P.limit,
  P.resourceVersion, P.resourceVersionMatch, P.sendInitialEvents, P.timeoutSeconds, P.watch,
];
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string', uniqueItems: true } });
const NAMESPACE = pathParam('namespace', 'object name and auth scope, such as for teams and projects');

const MEDIA = ['application/json', 'application/yaml'];
const content = (ref: Json) => Object.fromEntries(MEDIA.map((m) => [m, { schema: ref }]));
const ok = (ref: Json, code = '200', description = 'OK') => ({ [code]: { description, content: content(ref) } });
const ERRORS = {
  '401': { description: 'Unauthorized' },
  default: { description: 'An error, as a Kubernetes Status', content: { 'application/json': { schema: schemaRef(`${META}.Status`) } } },
};

/** The operations of one kind, keyed by path. */
function kindPaths(info: KindInfo): Record<string, Json> {
  const base = `/apis/${GROUP_VERSION}`;
  const K = info.kind;
  const id = `DeployerDev${API_VERSION.toUpperCase().slice(0, 1)}${API_VERSION.slice(1)}`;
  const obj = schemaRef(`${SCHEMA_PREFIX}.${K}`);
  const list = schemaRef(`${SCHEMA_PREFIX}.${K}List`);
  const ext = (action: string) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(K) });
  const tags = [`deployerDev_${API_VERSION}`];
  const patch = (what: string, opId: string) => ({
    tags,
    description: `partially update ${what}`,
    operationId: opId,
    parameters: [P.dryRun, P.fieldManager, P.fieldValidation, P.force],
    requestBody: {
      content: Object.fromEntries(
        ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'].map((m) => [
          m,
          { schema: schemaRef(`${META}.Patch`) },
        ]),
      ),
      required: true,
    },
    responses: { ...ok(obj), ...ok(obj, '201', 'Created'), ...ERRORS },
    ...ext('patch'),
  });
  const put = (what: string, opId: string) => ({
    tags,
    description: `replace ${what}`,
    operationId: opId,
    parameters: [P.dryRun, P.fieldManager, P.fieldValidation],
    requestBody: { content: { 'application/json': { schema: obj }, 'application/yaml': { schema: obj } }, required: true },
    responses: { ...ok(obj), ...ok(obj, '201', 'Created'), ...ERRORS },
    ...ext('put'),
  });
  const get = (what: string, opId: string) => ({ tags, description: `read ${what}`, operationId: opId, responses: { ...ok(obj), ...ERRORS }, ...ext('get') });
  const item = pathParam('name', `name of the ${K}`);

  const paths: Record<string, Json> = {
    [`${base}/${info.plural}`]: {
      get: {
        tags,
        description: `list or watch objects of kind ${K} in every namespace the token may read`,
        operationId: `list${id}${K}ForAllNamespaces`,
        responses: { ...ok(list), ...ERRORS },
        ...ext('list'),
      },
      parameters: [...LIST_PARAMS, P.pretty],
    },
    [`${base}/namespaces/{namespace}/${info.plural}`]: {
      get: { tags, description: `list or watch objects of kind ${K}`, operationId: `list${id}Namespaced${K}`, parameters: LIST_PARAMS, responses: { ...ok(list), ...ERRORS }, ...ext('list') },
      post: {
        tags,
        description: `create a ${K}`,
        operationId: `create${id}Namespaced${K}`,
        parameters: [P.dryRun, P.fieldManager, P.fieldValidation],
        requestBody: { content: { 'application/json': { schema: obj }, 'application/yaml': { schema: obj } }, required: true },
        responses: { ...ok(obj), ...ok(obj, '201', 'Created'), ...ERRORS },
        ...ext('post'),
      },
      parameters: [NAMESPACE, P.pretty],
    },
    [`${base}/namespaces/{namespace}/${info.plural}/{name}`]: {
      get: get(`the specified ${K}`, `read${id}Namespaced${K}`),
      put: put(`the specified ${K}`, `replace${id}Namespaced${K}`),
      patch: patch(`the specified ${K}`, `patch${id}Namespaced${K}`),
      delete: {
        tags,
        description: `delete a ${K} (with finalizers: marked for deletion until they are removed)`,
        operationId: `delete${id}Namespaced${K}`,
        parameters: [P.dryRun, P.gracePeriodSeconds, P.orphanDependents, P.propagationPolicy],
        requestBody: { content: { 'application/json': { schema: schemaRef(`${META}.DeleteOptions`) } } },
        responses: { ...ok(obj), ...ok(obj, '202', 'Accepted'), ...ERRORS },
        ...ext('delete'),
      },
      parameters: [item, NAMESPACE, P.pretty],
    },
  };
  if (info.layout === 'spec-status') {
    paths[`${base}/namespaces/{namespace}/${info.plural}/{name}/status`] = {
      get: get(`status of the specified ${K}`, `read${id}Namespaced${K}Status`),
      put: put(`status of the specified ${K}`, `replace${id}Namespaced${K}Status`),
      patch: patch(`status of the specified ${K}`, `patch${id}Namespaced${K}Status`),
      parameters: [item, NAMESPACE, P.pretty],
    };
  }
  return paths;
}

function metaSchemas(): Record<string, Json> {
  const objectMeta = toOpenApi30(ObjectMetaSchema);
  objectMeta.description =
    'ObjectMeta is metadata that all persisted resources must have. Clients set name, namespace, labels, annotations, finalizers and ownerReferences; the server owns uid, resourceVersion, generation and the timestamps.';
  return {
    [`${META}.ObjectMeta`]: objectMeta,
    [`${META}.ListMeta`]: { ...toOpenApi30(ListMetaSchema), description: 'ListMeta describes metadata that synthetic resources must have.' },
    [`${META}.Status`]: {
      ...toOpenApi30(StatusSchema),
      description: 'Status is a return value for calls that do not return other objects: every error.',
      'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
    },
    [`${META}.Patch`]: {
      type: 'object',
      description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
    },
    [`${META}.DeleteOptions`]: {
      type: 'object',
      description: 'DeleteOptions may be provided when deleting an API object.',
      properties: {
        apiVersion: TYPE_META.apiVersion,
        kind: TYPE_META.kind,
        dryRun: { type: 'array', items: { type: 'string', default: '' } },
        orphanDependents: { type: 'boolean' },
        propagationPolicy: { type: 'string' },
        preconditions: { type: 'object', properties: { resourceVersion: { type: 'string' }, uid: { type: 'string' } } },
      },
      'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'DeleteOptions' }],
    },
  };
}

export interface OpenApiV3 {
  /** The document of deployer.dev/v1. */
  document: Json;
  /** Its JSON, as served. */
  json: Buffer;
  /** Uppercase hex SHA-512 of `json`: the `hash` of its URL in the index, and its ETag. */
  hash: string;
  /** The /openapi/v3 index. */
  index: { paths: Record<string, { serverRelativeURL: string }> };
}

/** Builds the document (deterministic: the same kinds give the same bytes and hash). */
export function buildOpenApiV3(version = '0.1.0'): OpenApiV3 {
  const schemas: Record<string, Json> = { ...metaSchemas() };
  const paths: Record<string, Json> = {};
  for (const info of KINDS) {
    schemas[`${SCHEMA_PREFIX}.${info.kind}`] = kindSchema(info);
    schemas[`${SCHEMA_PREFIX}.${info.kind}List`] = listSchema(info);
    Object.assign(paths, kindPaths(info));
  }
  const document = {
    openapi: '3.0.0',
    info: { title: 'deployer', version },
    paths,
    components: { schemas, securitySchemes: { BearerToken: { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer Token authentication' } } },
    security: [{ BearerToken: [] }],
  };
  const json = Buffer.from(JSON.stringify(document));
  const hash = createHash('sha512').update(json).digest('hex').toUpperCase();
  return {
    document,
    json,
    hash,
    index: { paths: { [OPENAPI_V3_GV_PATH]: { serverRelativeURL: `/openapi/v3/${OPENAPI_V3_GV_PATH}?hash=${hash}` } } },
  };
}
