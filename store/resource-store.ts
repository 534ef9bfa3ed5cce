// The resource store: get, list, create, replace, patch, delete and the status subresource,
// over Postgres. Every write goes through deployer_write_batch (via the WriteBatcher's group
// commit), which takes the next global revisions under the counter row's lock, so revisions
// commit in order; the object rules of resources/ decide what each write stores.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  alreadyExists,
  applyPatch,
  ApiError,
  badRequest,
  checkApplyConfiguration,
  conflict,
  expired,
  kindByName,
  notFound,
  parseFieldSelector,
  parseLabelSelector,
  prepareCreate,
  prepareDelete,
  prepareUpdate,
  refOf,
  staleResourceVersion,
  toObject,
  type Json,
  type KindInfo,
  type PatchType,
  type ResourceObject,
  type StoredParts,
  type WriteContext,
} from '../resources/index.js';
import { isConnectionError, mapPgError } from './pg-errors.js';
import { Params, selectorConditions } from './query.js';
import { SQL } from './sql.js';
import { WriteBatcher } from './write-batcher.js';

export interface ListOptions {
  /** One namespace, or all when absent. */
  namespace?: string;
  /** When set, only these namespaces are visible (a token's scope). */
  scope?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; absent or 0 means everything. */
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: ResourceObject[];
  resourceVersion: string;
  continue?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  /**
   * A controller's lease: the write is refused with 409 Fenced, in the writing transaction,
   * unless the lease still has this token (another process took over, or it expired).
   */
  fence?: Fence;
  /**
   * The writer may grant host access (resources/security.ts): the API sets it for admin
   * tokens only. Without it a write may keep a ProjectServer's securityContext, not widen it.
   */
  mayGrantHostAccess?: boolean;
}

export interface Fence {
  lease: string;
  token: number;
}

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type Subresource = 'main' | 'status';

interface Current {
  revision: number;
  parts: StoredParts;
}

type Decision =
  | { op: 'none'; object: ResourceObject }
  | { op: 'create'; parts: StoredParts }
  | { op: 'update'; parts: StoredParts; expected: number }
  | { op: 'delete'; parts: StoredParts; expected: number };

const MAX_WRITE_ATTEMPTS = 20;

function encodeContinue(rev: number, namespace: string, name: string): string {
  return Buffer.from(JSON.stringify({ r: rev, ns: namespace, n: name })).toString('base64url');
}

function decodeContinue(token: string): { r: number; ns: string; n: string } {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { r: unknown; ns: unknown; n: unknown };
    // namespace and name are DNS labels; anything else was not made by this server
    const label = (x: unknown) => typeof x === 'string' && /^[a-z0-9-]{0,63}$/.test(x);
    if (Number.isSafeInteger(v.r) && label(v.ns) && label(v.n)) return v as { r: number; ns: string; n: string };
  } catch {
    // fall through
  }
  throw badRequest('invalid continue token: pass the metadata.continue of a previous list response unchanged');
}

/** The object as the log keeps it: the client's view without resourceVersion. */
function logObject(info: KindInfo, parts: StoredParts): Json {
  const o = toObject(info, parts, 0) as Json;
  delete (o.metadata as Json).resourceVersion;
  return o;
}

function ownerUids(parts: StoredParts): string[] {
  return (parts.metadata.ownerReferences ?? []).map((r) => r.uid);
}

export interface ResourceStoreOptions {
  /** The clock used for timestamps (tests inject one). */
  now?: () => Date;
  /** Called after an object was removed, so dependents can be collected. */
  onRemoved?: () => void;
}

export class ResourceStore {
  private readonly now: () => Date;
  private readonly batcher: WriteBatcher;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: ResourceStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.batcher = new WriteBatcher(pool, { isConnectionError });
  }

  /**
   * RFC 3339 with milliseconds (Kubernetes clients parse fractional seconds): objects created
   * within one second keep their order, which "older" and "newer" rules rely on (Route
   * conflicts, superseded Deployments).
   */
  private timestamp(): string {
    return this.now().toISOString();
  }

  private context(namespace: string, name: string | undefined, opts: WriteOptions): WriteContext {
    const suffix = randomUUID().replace(/-/g, '').slice(0, 5);
    return { namespace, name, now: this.timestamp(), newUid: randomUUID(), randomSuffix: suffix, mayGrantHostAccess: opts.mayGrantHostAccess === true };
  }

  private async query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ name, text, values });
    } catch (err) {
      throw mapPgError(err);
    }
  }

  private async read(info: KindInfo, namespace: string, name: string): Promise<Current | null> {
    const res = await this.query<{ revision: string; metadata: StoredParts['metadata']; spec: Json; status: Json | null }>(
      'getOne',
      SQL.getOne,
      [info.kind, namespace, name],
    );
    const row = res.rows[0];
    if (!row) return null;
    return { revision: Number(row.revision), parts: { metadata: row.metadata, body: row.spec, status: row.status } };
  }

  /** Returns the new revision, -1 when the row moved on, -2 when it exists already. */
  private async write(info: KindInfo, type: 'ADDED' | 'MODIFIED' | 'DELETED', parts: StoredParts, expected: number, fence?: Fence): Promise<number> {
    const m = parts.metadata;
    try {
      return await this.batcher.write({
        ...(fence ? { fence_lease: fence.lease, fence_token: fence.token } : {}),
        kind: info.kind,
        namespace: m.namespace,
        name: m.name,
        type,
        expected,
        uid: m.uid,
        generation: m.generation,
        metadata: m,
        spec: parts.body,
        status: parts.status,
        deletion: m.deletionTimestamp ?? null,
        owner_uids: ownerUids(parts),
        object: logObject(info, parts),
      });
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /**
   * Reads, decides, writes; repeats when another writer got there first. `decide` is
   * called with the current object (or null) on every attempt and may throw.
   */
  private async mutate(
    info: KindInfo,
    namespace: string,
    name: string,
    decide: (current: Current | null) => Decision,
    opts: WriteOptions,
  ): Promise<{ object: ResourceObject; created: boolean; removed: boolean }> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await this.read(info, namespace, name);
      const d = decide(current);
      if (d.op === 'none') return { object: d.object, created: false, removed: false };
      if (opts.dryRun) {
        const rev = current?.revision ?? 0;
        return { object: toObject(info, d.parts, rev), created: d.op === 'create', removed: d.op === 'delete' };
      }
      const type = d.op === 'create' ? 'ADDED' : d.op === 'update' ? 'MODIFIED' : 'DELETED';
      const rev = await this.write(info, type, d.parts, d.op === 'create' ? 0 : d.expected, opts.fence);
      if (rev === -3)
        throw new ApiError(409, 'Fenced', `the write to ${info.plural} "${name}" was refused: lease "${opts.fence?.lease}" no longer has token ${opts.fence?.token} (another process leads now, or the lease expired)`);
      if (rev === -2 && current !== null) throw alreadyExists(refOf(info, namespace, d.parts.metadata.name));
      if (rev < 0) continue; // another writer got there first: decide again on what is there now
      if (d.op === 'delete') this.options.onRemoved?.();
      return { object: toObject(info, d.parts, rev), created: d.op === 'create', removed: d.op === 'delete' };
    }
    throw conflict(refOf(info, namespace, name), 'too many concurrent writers; try again');
  }

  async get(info: KindInfo, namespace: string, name: string): Promise<ResourceObject> {
    const cur = await this.read(info, namespace, name);
    if (!cur) throw notFound(refOf(info, namespace, name));
    return toObject(info, cur.parts, cur.revision);
  }

  /** The newest committed revision. */
  async currentRevision(): Promise<number> {
    const res = await this.query<{ revision: string }>('currentRevision', SQL.currentRevision, []);
    return Number(res.rows[0].revision);
  }

  /**
   * Lists objects. The first page reads the table in one snapshot together with the
   * revision counter; later pages (`continue`) read the log at the first page's revision,
   * so every page shows the same moment. A token older than compaction gets 410 Expired.
   */
  async list(info: KindInfo, opts: ListOptions = {}): Promise<ListResult> {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, info.kind);
    const limit = opts.limit && opts.limit > 0 ? Math.min(opts.limit, 10_000) : 0;
    const after = opts.continue ? decodeContinue(opts.continue) : undefined;
    const p = new Params();
    const conds = [`kind = ${p.add(info.kind)}`];
    if (opts.namespace !== undefined) conds.push(`namespace = ${p.add(opts.namespace)}`);
    if (opts.scope !== undefined) conds.push(`namespace = ANY (${p.add(opts.scope)}::text[])`);
    if (after) conds.push(`(namespace, name) > (${p.add(after.ns)}, ${p.add(after.n)})`);
    const limitSql = limit ? `LIMIT ${limit + 1}` : '';
    let listRev: number;
    let rows: { namespace: string; name: string; object: ResourceObject }[];
    try {
      if (!after) {
        const where = [...conds, ...selectorConditions('table', labels, fields, p)].join(' AND ');
        const res = await this.pool.query<{ list_rev: string; revision: string | null; metadata: StoredParts['metadata']; spec: Json; status: Json | null }>(
          `SELECT c.revision AS list_rev, r.revision, r.metadata, r.spec, r.status
             FROM revision_counter c LEFT JOIN LATERAL (
               SELECT revision, metadata, spec, status FROM resources WHERE ${where} ORDER BY namespace, name ${limitSql}
             ) r ON true WHERE c.id = 1`,
          p.values,
        );
        listRev = Number(res.rows[0].list_rev);
        rows = res.rows
          .filter((r) => r.revision !== null)
          .map((r) => ({
            namespace: r.metadata.namespace,
            name: r.metadata.name,
            object: toObject(info, { metadata: r.metadata, body: r.spec, status: r.status }, r.revision!),
          }));
      } else {
        listRev = after.r;
        const revParam = p.add(after.r);
        const where = conds.join(' AND ');
        const outer = selectorConditions('log', labels, fields, p);
        const res = await this.pool.query<{ compacted: string; revision: string | null; namespace: string; name: string; object: Json }>(
          `SELECT c.revision AS compacted, x.revision, x.namespace, x.name, x.object
             FROM compaction c LEFT JOIN LATERAL (
               SELECT * FROM (
                 SELECT DISTINCT ON (namespace, name) namespace, name, revision, type, object FROM events_log
                 WHERE ${where} AND revision <= ${revParam} ORDER BY namespace, name, revision DESC
               ) y WHERE type <> 'DELETED' ${outer.map((c) => `AND ${c}`).join(' ')} ORDER BY namespace, name ${limitSql}
             ) x ON true WHERE c.id = 1`,
          p.values,
        );
        if (Number(res.rows[0].compacted) > after.r)
          throw expired(
            `the continue token is too old (resourceVersion ${after.r} was compacted); list again from the start`,
          );
        rows = res.rows
          .filter((r) => r.revision !== null)
          .map((r) => {
            const object = r.object as unknown as ResourceObject;
            object.metadata.resourceVersion = String(r.revision);
            return { namespace: r.namespace, name: r.name, object };
          });
      }
    } catch (err) {
      throw mapPgError(err);
    }
    const result: ListResult = { items: rows.map((r) => r.object), resourceVersion: String(listRev) };
    if (limit && rows.length > limit) {
      result.items = result.items.slice(0, limit);
      const last = rows[limit - 1];
      result.continue = encodeContinue(listRev, last.namespace, last.name);
    }
    return result;
  }

  async create(info: KindInfo, namespace: string, input: unknown, opts: WriteOptions = {}): Promise<ResourceObject> {
    const ctx = this.context(namespace, undefined, opts);
    const parts = prepareCreate(info, input, ctx); // validates before touching the database
    const { object } = await this.mutate(
      info,
      namespace,
      parts.metadata.name,
      (current) => {
        if (current) throw alreadyExists(refOf(info, namespace, parts.metadata.name));
        return { op: 'create', parts };
      },
      opts,
    );
    return object;
  }

  /**
   * The declarative write: replaces the main resource or its status; creates the object
   * when it does not exist (main resource only). A stale metadata.resourceVersion gives 409.
   */
  async replace(
    info: KindInfo,
    namespace: string,
    name: string,
    input: unknown,
    opts: WriteOptions & { subresource?: Subresource } = {},
  ): Promise<{ object: ResourceObject; created: boolean }> {
    const sub = opts.subresource ?? 'main';
    const rv = (input as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
    const expectedRv = rv === undefined || rv === '' ? undefined : String(rv);
    return this.mutate(
      info,
      namespace,
      name,
      (current) => {
        const ref = refOf(info, namespace, name);
        if (!current) {
          if (sub === 'status') throw notFound(ref);
          if (expectedRv !== undefined) throw conflict(ref, `the object does not exist, so resourceVersion ${expectedRv} cannot match`);
          return { op: 'create', parts: prepareCreate(info, input, this.context(namespace, name, opts)) };
        }
        if (expectedRv !== undefined && expectedRv !== String(current.revision)) throw staleResourceVersion(ref);
        return this.decideUpdate(info, current, input, namespace, name, sub, opts);
      },
      opts,
    );
  }

  private decideUpdate(info: KindInfo, current: Current, input: unknown, namespace: string, name: string, sub: Subresource, opts: WriteOptions): Decision {
    const r = prepareUpdate(info, current.parts, input, { ...this.context(namespace, name, opts), name }, sub);
    if (!r.changed) return { op: 'none', object: toObject(info, current.parts, current.revision) };
    if (r.remove) return { op: 'delete', parts: r.parts, expected: current.revision };
    return { op: 'update', parts: r.parts, expected: current.revision };
  }

  /** Applies a JSON Patch or merge patch to the current object, then writes it as an update. */
  async patch(
    info: KindInfo,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions & { subresource?: Subresource } = {},
  ): Promise<ResourceObject> {
    return (await this.patchOrApply(info, namespace, name, type, patch, opts)).object;
  }

  /**
   * A server-side apply (`kubectl apply --server-side`): creates the object from the applied
   * configuration when it does not exist (main resource only), else merges the configuration
   * into it (see applyPatch). A metadata.resourceVersion in the configuration must match (409).
   */
  async apply(
    info: KindInfo,
    namespace: string,
    name: string,
    configuration: unknown,
    opts: WriteOptions & { subresource?: Subresource } = {},
  ): Promise<{ object: ResourceObject; created: boolean }> {
    return this.patchOrApply(info, namespace, name, 'apply', configuration, opts);
  }

  private async patchOrApply(
    info: KindInfo,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions & { subresource?: Subresource },
  ): Promise<{ object: ResourceObject; created: boolean }> {
    const sub = opts.subresource ?? 'main';
    return this.mutate(
      info,
      namespace,
      name,
      (current) => {
        const ref = refOf(info, namespace, name);
        if (!current) {
          if (type !== 'apply' || sub !== 'main') throw notFound(ref);
          const input = checkApplyConfiguration(patch);
          const rv = (input.metadata as Json).resourceVersion;
          if (rv !== undefined && rv !== null && rv !== '') throw conflict(ref, `the object does not exist, so resourceVersion ${String(rv)} cannot match`);
          return { op: 'create', parts: prepareCreate(info, input, this.context(namespace, name, opts)) };
        }
        const before = toObject(info, current.parts, current.revision) as Json;
        let after: Json;
        try {
          after = applyPatch(before, type, patch);
        } catch (err) {
          // kubectl prints `The ProjectServer "x" is invalid: …` from details.kind and name
          if (err instanceof ApiError && err.code === 422 && !err.details?.kind)
            throw new ApiError(422, 'Invalid', err.message, { ...err.details, group: 'deployer.dev', kind: info.kind, name });
          throw err;
        }
        const rv = (after.metadata as Json | undefined)?.resourceVersion;
        if (rv !== undefined && rv !== null && String(rv) !== String(current.revision)) throw staleResourceVersion(ref);
        return this.decideUpdate(info, current, after, namespace, name, sub, opts);
      },
      opts,
    );
  }

  /**
   * Deletes an object. With finalizers it only gets a deletionTimestamp (removed: false);
   * the row goes when the last finalizer is removed. Dependents (ownerReferences) are
   * deleted after their owner goes, or freed of the reference with `Orphan`.
   */
  async delete(info: KindInfo, namespace: string, name: string, opts: DeleteOptions = {}): Promise<{ object: ResourceObject; removed: boolean }> {
    const ref = refOf(info, namespace, name);
    const check = (current: Current | null): Current => {
      if (!current) throw notFound(ref);
      const pre = opts.preconditions;
      if (pre?.uid !== undefined && pre.uid !== current.parts.metadata.uid)
        throw conflict(ref, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.parts.metadata.uid}`);
      if (pre?.resourceVersion !== undefined && pre.resourceVersion !== String(current.revision)) throw staleResourceVersion(ref);
      return current;
    };
    if (opts.propagationPolicy === 'Orphan' && !opts.dryRun) {
      const cur = check(await this.read(info, namespace, name));
      await this.orphanDependents(cur.parts.metadata.uid, namespace);
    }
    const out = await this.mutate(
      info,
      namespace,
      name,
      (current) => {
        const cur = check(current);
        const d = prepareDelete(cur.parts, this.timestamp());
        if (d.remove) return { op: 'delete', parts: cur.parts, expected: cur.revision };
        if (!d.changed) return { op: 'none', object: toObject(info, cur.parts, cur.revision) };
        return { op: 'update', parts: d.parts, expected: cur.revision };
      },
      opts,
    );
    return { object: out.object, removed: out.removed };
  }

  private async orphanDependents(ownerUid: string, namespace: string): Promise<void> {
    const res = await this.query<{ kind: string; namespace: string; name: string }>('dependentsOf', SQL.dependentsOf, [ownerUid, namespace]);
    for (const d of res.rows) {
      const info = kindByName(d.kind);
      if (!info) continue;
      await this.mutate(
        info,
        d.namespace,
        d.name,
        (current) => {
          if (!current) return { op: 'none', object: {} as ResourceObject };
          const refs = (current.parts.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
          const metadata = { ...current.parts.metadata, ownerReferences: refs };
          if (refs.length === 0) delete (metadata as Json).ownerReferences;
          return { op: 'update', parts: { ...current.parts, metadata }, expected: current.revision };
        },
        {},
      );
    }
  }

  /**
   * Deletes objects none of whose owners exist any more (background propagation). Safe to
   * call from any process at any time; returns how many deletions it started.
   */
  async collectGarbage(): Promise<number> {
    let total = 0;
    for (let round = 0; round < 100; round++) {
      const res = await this.query<{ kind: string; namespace: string; name: string }>('orphans', SQL.orphans, []);
      if (res.rows.length === 0) break;
      for (const o of res.rows) {
        const info = kindByName(o.kind);
        if (!info) continue;
        try {
          await this.delete(info, o.namespace, o.name, { propagationPolicy: 'Background' });
          total++;
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        }
      }
    }
    return total;
  }
}
