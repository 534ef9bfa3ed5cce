// Patches applied to an object as the client sees it: JSON Patch (RFC 6902, `test` ops
// honoured), JSON Merge Patch (RFC 7386), and apply patches (`kubectl apply --server-side`).
import fjp from 'fast-json-patch';
import { ApiError, badRequest } from './errors.js';
import type { Json } from './rules.js';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = keyof typeof PATCH_TYPES;

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * RFC 7386 merge of `patch` into `target`. Keys are read as own properties only, so
 * `constructor` and `prototype` (valid label keys) merge like any other key and never reach
 * Object.prototype; `__proto__` is refused (400 naming where), as assigning it would replace
 * the object's prototype instead of setting a field.
 */
function mergePatch(target: unknown, patch: unknown, at: string[] = []): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Json = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (k === '__proto__') throw badRequest(`merge patch: forbidden key "__proto__" at ${[...at, k].join('.')}`);
    if (v === null) delete out[k];
    else out[k] = mergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v, [...at, k]);
  }
  return out;
}

/**
 * Checks an applied configuration (the body of an apply patch): a whole object naming its
 * apiVersion, kind and metadata.name. Whether they match the request is the object rules'
 * business (400 when not). Returns it as an object.
 */
export function checkApplyConfiguration(patch: unknown): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
    throw badRequest('an apply patch must be an object (the applied configuration, with apiVersion, kind and metadata.name)');
  const o = patch as Json;
  const missing = ['apiVersion', 'kind'].filter((k) => typeof o[k] !== 'string' || o[k] === '');
  const meta = o.metadata as Json | undefined;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || typeof meta.name !== 'string' || meta.name === '') missing.push('metadata.name');
  if (missing.length > 0) throw badRequest(`an apply patch must set ${missing.join(', ')}`);
  return o;
}

/**
 * Returns the patched copy of `doc`; `doc` is not changed. Errors are 400 or 422 ApiErrors.
 *
 * An apply patch merges the applied configuration into the object: fields it sets are set,
 * objects merge recursively, lists are replaced whole, fields it leaves out stay as they are,
 * and (as in a merge patch) an explicit null removes a field. deployer keeps no field
 * managers, so applies never conflict with other writers' fields; `force` changes nothing.
 */
export function applyPatch(doc: Json, type: PatchType, patch: unknown): Json {
  if (type === 'apply') return mergePatch(doc, checkApplyConfiguration(patch)) as Json;
  if (type === 'merge') {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
      throw badRequest('a merge patch must be a JSON object');
    return mergePatch(doc, patch) as Json;
  }
  if (!Array.isArray(patch)) throw badRequest('a JSON patch must be an array of operations');
  patch.forEach((op: unknown, i) => {
    const o = op as { op?: unknown; path?: unknown; from?: unknown };
    if (o === null || typeof o !== 'object' || typeof o.op !== 'string' || !OPS.has(o.op) || typeof o.path !== 'string')
      throw badRequest(`JSON patch operation ${i}: needs "op" (one of add, remove, replace, move, copy, test) and a string "path"`);
    if ((o.op === 'move' || o.op === 'copy') && typeof o.from !== 'string')
      throw badRequest(`JSON patch operation ${i}: "${o.op}" needs a string "from"`);
    if ((o.op === 'add' || o.op === 'replace' || o.op === 'test') && !('value' in o))
      throw badRequest(`JSON patch operation ${i}: "${o.op}" needs a "value"`);
  });
  // One operation at a time, so an error names the operation that failed.
  let out = doc;
  patch.forEach((op: fjp.Operation, i) => {
    if (/(^|\/)(__proto__|constructor|prototype)(\/|$)/.test(op.path) || ('from' in op && /(^|\/)__proto__(\/|$)/.test(String(op.from))))
      throw badRequest(`JSON patch operation ${i}: forbidden path "${op.path}"`);
    try {
      out = fjp.applyOperation(out, op, true, i === 0 ? false : true, true, i).newDocument as Json;
    } catch (err) {
      const e = err as { name?: string; message?: string };
      if (e.name === 'TEST_OPERATION_FAILED')
        throw new ApiError(422, 'Invalid', `JSON patch test operation ${i} failed: the value at "${op.path}" is not the expected one`, {
          causes: [{ field: op.path, reason: 'FieldValueInvalid', message: 'test operation failed' }],
        });
      const msg = (e.message ?? 'invalid patch').split('\n')[0];
      throw new ApiError(422, 'Invalid', `JSON patch operation ${i} (${op.op} "${op.path}") cannot be applied: ${msg}`, {
        causes: [{ field: op.path, reason: 'FieldValueInvalid', message: msg }],
      });
    }
  });
  return out;
}
