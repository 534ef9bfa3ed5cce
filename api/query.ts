// Query-string parameters of the resource endpoints, as Kubernetes names them. All strings
// (as sent); parsed and checked by the handlers so every mistake gets a clear 400.
import Type from 'typebox';
import { badRequest } from '../resources/index.js';

const S = Type.Optional(Type.String());

export const ListQuerySchema = Type.Object(
  {
    labelSelector: S,
    fieldSelector: S,
    limit: S,
    continue: S,
    watch: S,
    resourceVersion: S,
    resourceVersionMatch: S,
    timeoutSeconds: S,
    allowWatchBookmarks: S,
    sendInitialEvents: S,
    includeObject: S,
    pretty: S,
  },
  { additionalProperties: true },
);

export const WriteQuerySchema = Type.Object(
  { dryRun: S, fieldManager: S, fieldValidation: S, force: S, pretty: S },
  { additionalProperties: true },
);

export const DeleteQuerySchema = Type.Object(
  { dryRun: S, propagationPolicy: S, gracePeriodSeconds: S, orphanDependents: S, pretty: S },
  { additionalProperties: true },
);

export type Query = Record<string, string | undefined>;

export function boolParam(q: Query, name: string): boolean {
  const v = q[name];
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw badRequest(`invalid ${name} "${v}": use true or false`);
}

export function intParam(q: Query, name: string, min: number, max: number): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw badRequest(`invalid ${name} "${v}": must be a whole number from ${min} to ${max}`);
  return Number(v);
}

export function dryRunParam(q: Query): boolean {
  const v = q.dryRun;
  if (v === undefined || v === '') return false;
  if (v === 'All') return true;
  throw badRequest(`invalid dryRun "${v}": the only supported value is All`);
}

export type Propagation = 'Background' | 'Foreground' | 'Orphan';
export function propagationParam(v: unknown): Propagation | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === 'Background' || v === 'Foreground' || v === 'Orphan') return v;
  throw badRequest(`invalid propagationPolicy "${String(v)}": use Background, Foreground or Orphan`);
}

/**
 * fieldValidation: Strict, Warn and Ignore are accepted, and validation is strict whichever
 * is sent (an unknown field is always an error naming it: a typo in a spec never passes).
 */
export function fieldValidationParam(q: Query): void {
  const v = q.fieldValidation;
  if (v === undefined || v === '' || v === 'Strict' || v === 'Warn' || v === 'Ignore') return;
  throw badRequest(`invalid fieldValidation "${v}": use Strict, Warn or Ignore`);
}
