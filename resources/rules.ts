// The object rules the store applies inside its transactions: what a create, an update, a
// status write and a delete turn the stored object into. Pure functions: no I/O, no clock
// (the caller passes `now` and new uids in).
import { GROUP_VERSION, type ObjectMeta, type StatusCause } from '../schemas/index.js';
import { badRequest, conflict, invalid, type ObjectRef } from './errors.js';
import { clone, jsonEqual } from './equal.js';
import type { KindInfo } from './kinds.js';
import { redactDeep, secretValues } from './secrets.js';
import { checkHostAccess } from './security.js';
import { eventRuleErrors, immutableFieldErrors, kindRuleErrors, metadataErrors, schemaErrors } from './validation.js';

export type Json = Record<string, unknown>;

/** A full object as clients see it. */
export interface ResourceObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * What the store keeps of an object. `metadata` never holds resourceVersion: the store's
 * revision column is the truth and is put back on read. `body` is `spec` (or, for flat
 * kinds such as Event, every top-level field but apiVersion, kind and metadata).
 */
export interface StoredParts {
  metadata: ObjectMeta & { name: string; namespace: string; uid: string; generation: number; creationTimestamp: string };
  body: Json;
  status: Json | null;
}

export interface WriteContext {
  /** Namespace and name from the request path (name is absent on a POST). */
  namespace: string;
  name?: string;
  /** RFC 3339 time, from the caller's clock. */
  now: string;
  /** A fresh uid, used only by a create. */
  newUid: string;
  /** Five random lowercase alphanumerics, used only with generateName. */
  randomSuffix: string;
  /**
   * The writer may grant host access (a ProjectServer's spec.securityContext): true only for
   * an admin token's requests. Absent or false — every other token, and deployer's own
   * controllers — may keep what is stored but not add to it (security.ts); refused with 403.
   */
  mayGrantHostAccess?: boolean;
}

/** Host access is judged on the object the write would store, after validation. */
function checkGrant(info: KindInfo, ref: ObjectRef, ctx: WriteContext, before: Json | undefined, after: Json): void {
  if (info.kind !== 'ProjectServer' || ctx.mayGrantHostAccess === true) return;
  checkHostAccess(ref, before, after);
}

const SYSTEM_META = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields'] as const;

export function refOf(info: KindInfo, namespace: string, name: string): ObjectRef {
  return { kind: info.kind, plural: info.plural, namespace, name };
}

/** Splits a client's object into metadata, body and status, as the kind lays them out. */
export function splitObject(info: KindInfo, obj: Json): { metadata: Json; body: Json; status: Json | null } {
  const metadata = (obj.metadata ?? {}) as Json;
  if (info.layout === 'flat') {
    const body: Json = {};
    for (const [k, v] of Object.entries(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata') body[k] = v;
    return { metadata, body, status: null };
  }
  return { metadata, body: (obj.spec ?? {}) as Json, status: (obj.status ?? null) as Json | null };
}

/** Joins stored parts back into the object clients see. */
export function toObject(info: KindInfo, parts: { metadata: Json; body: Json; status: Json | null }, revision: number | string): ResourceObject {
  const metadata = { ...parts.metadata, resourceVersion: String(revision) } as ObjectMeta;
  if (info.layout === 'flat') return { apiVersion: GROUP_VERSION, kind: info.kind, metadata, ...parts.body };
  const obj: ResourceObject = { apiVersion: GROUP_VERSION, kind: info.kind, metadata, spec: parts.body };
  if (parts.status !== null) obj.status = parts.status;
  return obj;
}

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** Top-level fields a spec-status kind does not have (flat kinds: the schema finds them). */
function unknownTopLevel(info: KindInfo, obj: Json): StatusCause[] {
  if (info.layout !== 'spec-status') return [];
  return Object.keys(obj)
    .filter((k) => !TOP_LEVEL.has(k))
    .map((k) => ({ field: k, reason: 'FieldValueNotSupported', message: `unknown field "${k}"` }));
}

function checkTypeMeta(info: KindInfo, obj: unknown): Json {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw badRequest(`the request body must be a JSON object (a ${info.kind})`);
  const o = obj as Json;
  if (o.apiVersion !== undefined && o.apiVersion !== GROUP_VERSION)
    throw badRequest(`apiVersion ${JSON.stringify(o.apiVersion)?.slice(0, 100)} does not match the request: expected "${GROUP_VERSION}"`);
  if (o.kind !== undefined && o.kind !== info.kind)
    throw badRequest(`kind ${JSON.stringify(o.kind)?.slice(0, 100)} does not match the request: expected "${info.kind}"`);
  if (o.metadata !== undefined && (o.metadata === null || typeof o.metadata !== 'object' || Array.isArray(o.metadata)))
    throw badRequest('metadata must be an object');
  return o;
}

/** Defaults that make the stored spec explicit, so equal intent compares equal. */
export function applyDefaults(info: KindInfo, body: Json): Json {
  if (info.kind === 'Route' && body.pathPrefix === undefined) return { ...body, pathPrefix: '/' };
  if (info.kind === 'Deployment' && body.service === undefined) return { ...body, service: 'site' };
  return body;
}

/**
 * Validates a whole object (as the client would see it after the write). Unknown fields
 * give 400 BadRequest naming each; bad values give 422 Invalid with every cause at once.
 */
export function validate(info: KindInfo, obj: Json, ref: ObjectRef, statusOnly = false, extraUnknown: StatusCause[] = []): void {
  const candidate = { ...obj, apiVersion: GROUP_VERSION, kind: info.kind };
  const { unknown, invalid: bad } = statusOnly
    ? schemaErrors(info.statusSchema!, obj.status ?? {})
    : schemaErrors(info.schema, candidate);
  const prefix = (c: StatusCause): StatusCause =>
    statusOnly
      ? { ...c, field: c.field ? `status.${c.field}` : 'status', message: c.message?.replace(`"${c.field}"`, `"status.${c.field}"`) }
      : c;
  if (unknown.length + extraUnknown.length > 0) {
    const causes = [...extraUnknown, ...unknown.map(prefix)];
    throw badRequest(`${info.kind} "${ref.name}": strict decoding error: ${causes.map((c) => c.message).join(', ')}`, causes);
  }
  const causes = bad.map(prefix);
  if (!statusOnly) {
    causes.push(...metadataErrors(obj.metadata as Json));
    if (info.layout === 'spec-status') causes.push(...kindRuleErrors(info.kind, obj.spec as Json));
    if (info.kind === 'Event') causes.push(...eventRuleErrors(obj));
  }
  if (causes.length > 0) throw invalid(ref, info.kind === 'ProjectServer' ? withoutSecrets(causes, obj.spec as Json) : causes);
}

const ENV_VALUE = /^spec\.env\[\d+\]\.value$/;

/** A 422 never quotes an env value back, not even a bad one (the quote would be cut, so redaction by value would miss it). */
function withoutSecrets(causes: StatusCause[], spec: Json | undefined): StatusCause[] {
  const hidden = causes.map((c) =>
    c.field && ENV_VALUE.test(c.field) ? { ...c, message: 'Invalid value: (an env value, not shown): must be a string of at most 65536 characters' } : c,
  );
  return redactDeep(hidden, secretValues(spec));
}

function userMeta(meta: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(meta)) if (!(SYSTEM_META as readonly string[]).includes(k) && v !== undefined) out[k] = v;
  if (Array.isArray(out.finalizers) && out.finalizers.length === 0) delete out.finalizers;
  for (const k of ['labels', 'annotations'])
    if (out[k] && typeof out[k] === 'object' && Object.keys(out[k] as Json).length === 0) delete out[k];
  if (Array.isArray(out.ownerReferences) && out.ownerReferences.length === 0) delete out.ownerReferences;
  return out;
}

/**
 * A value from a request body for a message: JSON (a string in quotes), cut to 80 characters,
 * so that an object where a string belongs reads as what it is, not "[object Object]".
 */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A create: assigns uid, generation 1 and creationTimestamp; drops status; validates. */
export function prepareCreate(info: KindInfo, input: unknown, ctx: WriteContext): StoredParts {
  const obj = checkTypeMeta(info, input);
  const { metadata: m, body } = splitObject(info, obj);
  if (m.namespace !== undefined && m.namespace !== ctx.namespace)
    throw badRequest(`the namespace of the object (${shown(m.namespace)}) does not match the namespace of the request ("${ctx.namespace}")`);
  if (ctx.name !== undefined && m.name !== undefined && m.name !== ctx.name)
    throw badRequest(`the name of the object (${shown(m.name)}) does not match the name in the URL ("${ctx.name}")`);
  if (m.resourceVersion !== undefined && m.resourceVersion !== '')
    throw badRequest('metadata.resourceVersion must not be set on an object to be created');
  let name = (m.name ?? ctx.name) as string | undefined;
  if (name === undefined && typeof m.generateName === 'string' && m.generateName !== '') name = `${m.generateName}${ctx.randomSuffix}`;
  const ref = refOf(info, ctx.namespace, name ?? '');
  if (name === undefined)
    throw invalid(ref, [{ field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value: name or generateName is required' }]);
  const metadata = {
    ...userMeta(m),
    name,
    namespace: ctx.namespace,
    uid: ctx.newUid,
    generation: 1,
    creationTimestamp: ctx.now,
  } as StoredParts['metadata'];
  delete metadata.generateName;
  const parts: StoredParts = { metadata, body: applyDefaults(info, clone(body)), status: null };
  validate(info, toObject(info, parts, 0) as Json, ref, false, unknownTopLevel(info, obj));
  checkGrant(info, ref, ctx, undefined, parts.body);
  return parts;
}

export interface UpdateResult {
  parts: StoredParts;
  /** False when the write equals what is stored: no new revision, no event. */
  changed: boolean;
  /** True when the object is being deleted and its last finalizer just went: the row goes. */
  remove: boolean;
}

/**
 * An update of the main resource (`subresource` "main": status is ignored) or of `/status`
 * (everything but status is ignored). `expectedRevision` is the client's
 * metadata.resourceVersion; the store compares it with the stored revision atomically.
 */
export function prepareUpdate(
  info: KindInfo,
  current: StoredParts,
  input: unknown,
  ctx: WriteContext & { name: string },
  subresource: 'main' | 'status',
): UpdateResult {
  const obj = checkTypeMeta(info, input);
  const { metadata: m, body, status } = splitObject(info, obj);
  const ref = refOf(info, ctx.namespace, ctx.name);
  if (m.name !== undefined && m.name !== ctx.name)
    throw badRequest(`the name of the object (${shown(m.name)}) does not match the name in the URL ("${ctx.name}")`);
  if (m.namespace !== undefined && m.namespace !== ctx.namespace)
    throw badRequest(`the namespace of the object (${shown(m.namespace)}) does not match the namespace of the request ("${ctx.namespace}")`);
  if (m.uid !== undefined && m.uid !== '' && m.uid !== current.metadata.uid)
    throw conflict(ref, `Precondition failed: UID in precondition: ${typeof m.uid === 'string' ? m.uid : shown(m.uid)}, UID in object meta: ${current.metadata.uid}`);

  let next: StoredParts;
  if (subresource === 'status') {
    if (info.layout !== 'spec-status') throw badRequest(`${info.plural} have no status subresource`);
    next = { metadata: current.metadata, body: current.body, status: status === null ? null : clone(status) };
    validate(info, toObject(info, next, 0) as Json, ref, true, unknownTopLevel(info, obj));
  } else {
    const system: Json = {};
    for (const k of SYSTEM_META) if (current.metadata[k] !== undefined && k !== 'resourceVersion') system[k] = current.metadata[k];
    const metadata = { ...userMeta(m), ...system, name: ctx.name, namespace: ctx.namespace } as StoredParts['metadata'];
    delete metadata.generateName;
    next = { metadata, body: applyDefaults(info, clone(body)), status: current.status };
    if (current.metadata.deletionTimestamp !== undefined) {
      const before = new Set(current.metadata.finalizers ?? []);
      const added = (metadata.finalizers ?? []).filter((f) => !before.has(f));
      if (added.length > 0)
        throw invalid(ref, [
          { field: 'metadata.finalizers', reason: 'FieldValueForbidden', message: `Forbidden: no new finalizers can be added while the object is being deleted (${added.join(', ')})` },
        ]);
    }
    if (!jsonEqual(next.body, current.body)) next.metadata.generation = current.metadata.generation + 1;
    if (info.layout === 'spec-status') {
      const immutable = immutableFieldErrors(info.kind, current.body, next.body);
      if (immutable.length > 0) throw invalid(ref, immutable);
    }
    validate(info, toObject(info, next, 0) as Json, ref, false, unknownTopLevel(info, obj));
    checkGrant(info, ref, ctx, current.body, next.body);
  }
  const changed = !jsonEqual(next, current);
  const remove = next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0;
  return { parts: next, changed, remove };
}

/**
 * A delete. Without finalizers the row goes now; with them, deletionTimestamp is set
 * (once), generation goes up by one, and the row stays until the last finalizer is removed.
 */
export function prepareDelete(current: StoredParts, now: string): { remove: true } | { remove: false; parts: StoredParts; changed: boolean } {
  if ((current.metadata.finalizers ?? []).length === 0) return { remove: true };
  if (current.metadata.deletionTimestamp !== undefined) return { remove: false, parts: current, changed: false };
  const metadata = {
    ...current.metadata,
    deletionTimestamp: now,
    deletionGracePeriodSeconds: 0,
    generation: current.metadata.generation + 1,
  };
  return { remove: false, parts: { ...current, metadata }, changed: true };
}
