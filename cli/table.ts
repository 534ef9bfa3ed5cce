// Tables as kubectl prints them: upper-case headers, columns padded with three spaces, ages
// like `5m` or `3h12m`. The server's meta.k8s.io/v1 Table when it sends one; NAME and AGE
// otherwise.

export interface ColumnDefinition {
  name: string;
  type?: string;
  format?: string;
  priority?: number;
}

export interface TableRow {
  cells: unknown[];
  object?: { metadata?: { name?: string; namespace?: string; creationTimestamp?: string } };
}

export interface ServerTable {
  kind: 'Table';
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
  metadata?: { resourceVersion?: string };
}

export interface Printable {
  headers: string[];
  rows: string[][];
}

export const isTable = (body: unknown): body is ServerTable =>
  Boolean(body) && (body as { kind?: unknown }).kind === 'Table' && Array.isArray((body as ServerTable).columnDefinitions);

/** Kubernetes' HumanDuration: `45s`, `5m10s`, `42m`, `5h3m`, `20h`, `3d4h`, `40d`, `2y30d`. */
export function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/** The age of an RFC 3339 timestamp at `now`; `<unknown>` without one. */
export const ageOf = (timestamp: string | undefined, now: number): string =>
  timestamp && !Number.isNaN(Date.parse(timestamp)) ? formatAge(now - Date.parse(timestamp)) : '<unknown>';

export function cellText(v: unknown): string {
  if (v === null || v === undefined || v === '') return '<none>';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * The columns of a server Table: priority-0 columns, all of them with `wide`, and a
 * NAMESPACE column first with `allNamespaces` (from each row's object metadata).
 */
export function fromServerTable(t: ServerTable, opts: { wide?: boolean; allNamespaces?: boolean } = {}): Printable {
  const keep = t.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => opts.wide || !c.priority);
  const headers = keep.map(({ c }) => c.name.toUpperCase());
  const rows = t.rows.map((r) => keep.map(({ i }) => cellText(r.cells[i])));
  if (opts.allNamespaces && !headers.includes('NAMESPACE')) {
    headers.unshift('NAMESPACE');
    t.rows.forEach((r, j) => rows[j]!.unshift(r.object?.metadata?.namespace ?? '<none>'));
  }
  return { headers, rows };
}

/** NAME and AGE (and NAMESPACE) of plain objects, for a server that sends no Table. */
export function fromObjects(items: readonly { metadata?: { name?: string; namespace?: string; creationTimestamp?: string } }[], now: number, opts: { allNamespaces?: boolean } = {}): Printable {
  const headers = opts.allNamespaces ? ['NAMESPACE', 'NAME', 'AGE'] : ['NAME', 'AGE'];
  const rows = items.map((o) => {
    const row = [o.metadata?.name ?? '<none>', ageOf(o.metadata?.creationTimestamp, now)];
    return opts.allNamespaces ? [o.metadata?.namespace ?? '<none>', ...row] : row;
  });
  return { headers, rows };
}

/** Column widths: each column's longest cell (or header), at least `min`'s. */
export function widths(p: Printable, min: readonly number[] = []): number[] {
  return p.headers.map((h, i) => Math.max(min[i] ?? 0, h.length, ...p.rows.map((r) => (r[i] ?? '').length)));
}

/** The lines of a table, `header` false for the rows only (watch updates); no trailing spaces. */
export function renderTable(p: Printable, opts: { header?: boolean; widths?: readonly number[] } = {}): string {
  const w = opts.widths ?? widths(p);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd((w[i] ?? c.length) + 3)))
      .join('')
      .trimEnd() + '\n';
  return (opts.header === false ? '' : line(p.headers)) + p.rows.map(line).join('');
}
