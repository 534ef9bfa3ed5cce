// Label and field selectors: parsed once into requirements, matched in memory by the watch
// hub and translated to SQL by the store.
import { badRequest } from './errors.js';

export type LabelOp = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, selector: string): string {
  const name = key.slice(key.indexOf('/') + 1);
  if (!KEY.test(key) || key.length > 317 || name.length > 63) throw badRequest(`invalid label selector "${selector}": invalid label key "${key}"`);
  return key;
}
function checkValue(v: string, selector: string): string {
  if (v.length > 63 || !VALUE.test(v)) throw badRequest(`invalid label selector "${selector}": invalid label value "${v}"`);
  return v;
}

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * Parses a Kubernetes label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`).
 * An empty or missing selector matches everything. Throws a 400 ApiError naming the problem.
 */
export function parseLabelSelector(selector: string | undefined): LabelRequirement[] {
  if (selector === undefined || selector.trim() === '') return [];
  if (selector.length > 4096) throw badRequest('invalid label selector: longer than 4096 characters');
  const reqs: LabelRequirement[] = [];
  for (const raw of splitTop(selector)) {
    const part = raw.trim();
    if (part === '') throw badRequest(`invalid label selector "${selector}": empty requirement`);
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/))) {
      const values = m[3].split(',').map((v) => checkValue(v.trim(), selector));
      if (values.length === 0 || (values.length === 1 && values[0] === '' && m[3].trim() === ''))
        throw badRequest(`invalid label selector "${selector}": "${m[2]}" needs at least one value`);
      reqs.push({ key: checkKey(m[1], selector), op: m[2] as 'in' | 'notin', values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/))) {
      reqs.push({ key: checkKey(m[1], selector), op: m[2] === '!=' ? 'neq' : 'eq', values: [checkValue(m[3], selector)] });
    } else if ((m = part.match(/^!\s*([^=!\s()]+)$/))) {
      reqs.push({ key: checkKey(m[1], selector), op: 'notexists', values: [] });
    } else if ((m = part.match(/^([^=!\s()]+)$/))) {
      reqs.push({ key: checkKey(m[1], selector), op: 'exists', values: [] });
    } else {
      throw badRequest(`invalid label selector "${selector}": cannot parse "${part}"`);
    }
  }
  return reqs;
}

export function matchLabels(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case 'eq':
        if (v !== r.values[0]) return false;
        break;
      case 'neq':
        if (v === r.values[0]) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  /** A dotted path into the object, e.g. `metadata.name` or `involvedObject.uid`. */
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];
const EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'type',
  'reportingComponent',
  'source',
];

/** The field selectors a kind supports (as Kubernetes: a fixed list per kind). */
export function supportedFields(kind: string): string[] {
  return kind === 'Event' ? [...COMMON_FIELDS, ...EVENT_FIELDS] : COMMON_FIELDS;
}

/** Parses `metadata.name=x,metadata.namespace!=y`; rejects fields the kind does not index. */
export function parseFieldSelector(selector: string | undefined, kind: string): FieldRequirement[] {
  if (selector === undefined || selector.trim() === '') return [];
  const allowed = supportedFields(kind);
  return splitTop(selector).map((raw) => {
    const m = raw.trim().match(/^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector "${selector}": cannot parse "${raw.trim()}"`);
    if (!allowed.includes(m[1]))
      throw badRequest(`invalid field selector "${selector}": field label not supported: "${m[1]}" (supported for ${kind}: ${allowed.join(', ')})`);
    return { field: m[1] === 'source' ? 'source.component' : m[1], op: m[2] === '!=' ? 'neq' : 'eq', value: m[3] };
  });
}

export function fieldValue(obj: Record<string, unknown>, field: string): string {
  let cur: unknown = obj;
  for (const p of field.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchFields(reqs: readonly FieldRequirement[], obj: Record<string, unknown>): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === 'eq'));
}
