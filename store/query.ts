// Builds the WHERE conditions of list queries from parsed selectors, with parameters.
import type { FieldRequirement, LabelRequirement } from '../resources/index.js';

export type Source = 'table' | 'log';

export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

function labelsExpr(source: Source): string {
  return source === 'table' ? `(metadata -> 'labels')` : `(object -> 'metadata' -> 'labels')`;
}

function fieldExpr(source: Source, field: string): string {
  if (field === 'metadata.name') return 'name';
  if (field === 'metadata.namespace') return 'namespace';
  const path = `'{${field.split('.').join(',')}}'`;
  return `coalesce(${source === 'table' ? 'spec' : 'object'} #>> ${path}, '')`;
}

export function selectorConditions(source: Source, labels: readonly LabelRequirement[], fields: readonly FieldRequirement[], p: Params): string[] {
  const L = labelsExpr(source);
  const out: string[] = [];
  for (const r of labels) {
    const k = p.add(r.key);
    switch (r.op) {
      case 'eq':
        out.push(`(${L} ->> ${k}) = ${p.add(r.values[0])}`);
        break;
      case 'neq':
        out.push(`(${L} ->> ${k}) IS DISTINCT FROM ${p.add(r.values[0])}`);
        break;
      case 'in':
        out.push(`(${L} ->> ${k}) = ANY (${p.add(r.values)}::text[])`);
        break;
      case 'notin':
        out.push(`NOT coalesce((${L} ->> ${k}) = ANY (${p.add(r.values)}::text[]), false)`);
        break;
      case 'exists':
        out.push(`coalesce(${L} ? ${k}, false)`);
        break;
      case 'notexists':
        out.push(`NOT coalesce(${L} ? ${k}, false)`);
        break;
    }
  }
  for (const f of fields) out.push(`${fieldExpr(source, f.field)} ${f.op === 'eq' ? '=' : '<>'} ${p.add(f.value)}`);
  return out;
}
