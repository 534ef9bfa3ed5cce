// Tables and ages as kubectl prints them.
import t from 'tap';
import { formatAge, fromObjects, fromServerTable, renderTable, widths, type ServerTable } from '../../cli/table.js';

t.test('ages follow Kubernetes HumanDuration', async (t) => {
  const s = 1000;
  const cases: [number, string][] = [
    [-5 * s, '<invalid>'],
    [-500, '0s'],
    [0, '0s'],
    [59 * s, '59s'],
    [119 * s, '119s'],
    [120 * s, '2m'],
    [125 * s, '2m5s'],
    [10 * 60 * s, '10m'],
    [179 * 60 * s, '179m'],
    [3 * 3600 * s, '3h'],
    [(3 * 3600 + 120) * s, '3h2m'],
    [8 * 3600 * s, '8h'],
    [47 * 3600 * s, '47h'],
    [48 * 3600 * s, '2d'],
    [(3 * 24 + 5) * 3600 * s, '3d5h'],
    [8 * 24 * 3600 * s, '8d'],
    [(2 * 365 + 10) * 24 * 3600 * s, '2y10d'],
    [9 * 365 * 24 * 3600 * s, '9y'],
  ];
  for (const [ms, want] of cases) t.equal(formatAge(ms), want, `${ms} ms`);
});

const TABLE: ServerTable = {
  kind: 'Table',
  columnDefinitions: [
    { name: 'Name', type: 'string', priority: 0 },
    { name: 'Phase', type: 'string', priority: 0 },
    { name: 'Message', type: 'string', priority: 1 },
    { name: 'Age', type: 'string', priority: 0 },
  ],
  rows: [
    { cells: ['blog-1', 'active', null, '5m'], object: { metadata: { name: 'blog-1', namespace: 'a' } } },
    { cells: ['blog-22', 'failed', 'archive answered 404', '12s'], object: { metadata: { name: 'blog-22', namespace: 'team-b' } } },
  ],
};

t.test('server Tables: priority columns only when wide, NAMESPACE first with -A, 3 spaces between columns', async (t) => {
  t.equal(renderTable(fromServerTable(TABLE)), 'NAME      PHASE    AGE\nblog-1    active   5m\nblog-22   failed   12s\n');
  t.equal(
    renderTable(fromServerTable(TABLE, { wide: true, allNamespaces: true })),
    [
      'NAMESPACE   NAME      PHASE    MESSAGE                AGE',
      'a           blog-1    active   <none>                 5m',
      'team-b      blog-22   failed   archive answered 404   12s',
      '',
    ].join('\n'),
  );
});

t.test('plain objects fall back to NAME and AGE', async (t) => {
  const now = Date.parse('2025-01-01T00:10:00Z');
  const p = fromObjects([{ metadata: { name: 'blog', creationTimestamp: '2025-01-01T00:00:00Z' } }, { metadata: { name: 'x' } }], now);
  t.equal(renderTable(p), 'NAME   AGE\nblog   10m\nx      <unknown>\n');
});

t.test('watch rows keep the widths already printed and never shrink them', async (t) => {
  const first = { headers: ['NAME', 'PHASE'], rows: [['a-long-name', 'queued']] };
  const w = widths(first);
  const next = { headers: ['NAME', 'PHASE'], rows: [['b', 'copying_files']] };
  t.equal(renderTable(next, { header: false, widths: widths(next, w) }), 'b             copying_files\n');
});
