// meta.k8s.io Table responses: what `kubectl get` asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io) to print real columns. Pure: builds the
// Table of a list, of one object, of one watch event, of a bookmark.
import { badRequest, type ResourceObject } from '../resources/index.js';
import { columnsOf, type Cell, type ColumnDefinition } from './columns.js';

export type TableVersion = 'v1' | 'v1beta1';
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableRow {
  cells: Cell[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

/**
 * The Table version the Accept header asks for, or undefined for a plain object. The first
 * media range naming `as=Table` and `g=meta.k8s.io` with a version served here wins, as the
 * header lists preferences in order; a range that does not ask for a Table (kubectl ends with
 * plain application/json) means the client takes the object itself.
 */
export function tableVersionOf(accept: string | string[] | undefined): TableVersion | undefined {
  const header = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  for (const range of header.split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim());
    const p = new Map(params.map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1).trim().replace(/^"|"$/g, '')] as const;
    }));
    if (p.get('as') !== 'Table' || p.get('g') !== 'meta.k8s.io') continue;
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    const v = p.get('v');
    if (v === 'v1' || v === 'v1beta1') return v;
  }
  return undefined;
}

/** The includeObject query parameter (default Metadata, as Kubernetes). */
export function includeObjectParam(v: string | undefined): IncludeObject {
  if (v === undefined || v === '') return 'Metadata';
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw badRequest(`invalid includeObject "${v}": use None, Metadata or Object`);
}

export interface TableOptions {
  version: TableVersion;
  includeObject: IncludeObject;
  now: Date;
}

function rowOf(obj: ResourceObject, opts: TableOptions): TableRow {
  const row: TableRow = { cells: columnsOf(obj.kind).cells(obj, opts.now) };
  if (opts.includeObject === 'Object') row.object = obj;
  else if (opts.includeObject === 'Metadata')
    row.object = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${opts.version}`, metadata: obj.metadata };
  return row;
}

/** The Table of a list of objects of one kind (`kind`, so an empty list has its columns). */
export function toTable(kind: string, items: readonly ResourceObject[], meta: Table['metadata'], opts: TableOptions): Table {
  const metadata: Table['metadata'] = {};
  if (meta.resourceVersion !== undefined) metadata.resourceVersion = meta.resourceVersion;
  if (meta.continue) metadata.continue = meta.continue;
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.version}`,
    metadata,
    columnDefinitions: columnsOf(kind).columns,
    rows: items.map((o) => rowOf(o, opts)),
  };
}

/** The Table of one object (a GET, or the object of a watch event): one row. */
export function objectTable(obj: ResourceObject, opts: TableOptions): Table {
  return toTable(obj.kind, [obj], { resourceVersion: obj.metadata.resourceVersion }, opts);
}

/** A BOOKMARK's object in a Table watch: no rows, only the resourceVersion. */
export function bookmarkTable(kind: string, resourceVersion: string, opts: TableOptions): Table {
  return toTable(kind, [], { resourceVersion }, opts);
}
