// Table responses without I/O: kubectl's age format, the cells of each kind, the Table shape,
// Accept negotiation and includeObject.
import t from 'tap';
import { ageOf, columnsOf, firstLine, humanDuration } from '../../api/columns.js';
import { bookmarkTable, includeObjectParam, objectTable, tableVersionOf, toTable } from '../../api/table.js';
import { ApiError, type ResourceObject } from '../../resources/index.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const Y = 365 * D;
const NOW = new Date('2025-06-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

t.test('ages are printed as kubectl prints them (HumanDuration)', async (t) => {
  const cases: [number, string][] = [
    [-5 * S, '<invalid>'],
    [-1 * S, '0s'],
    [-999, '0s'],
    [0, '0s'],
    [45 * S, '45s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [5 * M + 30 * S, '5m30s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M + 30 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [3 * H + 5 * M, '3h5m'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H + 30 * M, '8h'],
    [47 * H, '47h'],
    [2 * D, '2d'],
    [2 * D + 5 * H, '2d5h'],
    [7 * D + 23 * H, '7d23h'],
    [8 * D + 5 * H, '8d'],
    [729 * D, '729d'],
    [2 * Y, '2y'],
    [2 * Y + 40 * D, '2y40d'],
    [8 * Y + 40 * D, '8y'],
  ];
  for (const [ms, want] of cases) t.equal(humanDuration(ms), want, `${ms} ms`);
  t.equal(ageOf(ago(5 * M), NOW), '5m');
  t.equal(ageOf(undefined, NOW), '<unknown>');
  t.equal(ageOf('not a time', NOW), '<unknown>');
});

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'team-a',
  uid: '00000000-0000-0000-0000-000000000001',
  resourceVersion: '42',
  generation: 1,
  creationTimestamp: ago(5 * M),
  ...extra,
});

const server = (status?: Record<string, unknown>, spec: Record<string, unknown> = {}): ResourceObject => ({
  apiVersion: 'deployer.dev/v1',
  kind: 'ProjectServer',
  metadata: meta('blog', { labels: { team: 'web' } }),
  spec: { serviceType: 'static', ...spec },
  ...(status ? { status } : {}),
});

t.test('ProjectServer cells', async (t) => {
  const c = columnsOf('ProjectServer');
  t.same(
    c.columns.map((x) => [x.name, x.priority]),
    [['Name', 0], ['Type', 0], ['Health', 0], ['Restarts', 0], ['Current', 0], ['Age', 0], ['Phase', 1], ['Image', 1], ['Port', 1]],
  );
  t.equal(c.columns[0].format, 'name');
  t.same(
    c.cells(server({ health: 'healthy', restartCount: 2, currentDeployment: 'v3', phase: 'Running', image: 'deployer/static:abc' }), NOW),
    ['blog', 'static', 'healthy', 2, 'v3', '5m', 'Running', 'deployer/static:abc', 80],
  );
  t.same(c.cells(server(undefined, { serviceType: 'docker', image: 'app:1', port: 9000 }), NOW), ['blog', 'docker', '', 0, '', '5m', '', 'app:1', 9000], 'no status: empty strings, zero restarts');
  t.same(c.cells(server(undefined, { serviceType: 'docker', image: 'app:1' }), NOW)[8], '', 'a docker server without a port');
});

t.test('Deployment cells', async (t) => {
  const c = columnsOf('Deployment');
  t.same(c.columns.map((x) => `${x.name}:${x.priority}`), ['Name:0', 'Server:0', 'Phase:0', 'Progress:0', 'Age:0', 'Service:1', 'Attempts:1', 'Message:1']);
  const d: ResourceObject = {
    apiVersion: 'deployer.dev/v1',
    kind: 'Deployment',
    metadata: meta('v3'),
    spec: { projectServer: 'blog', service: 'site', source: { inline: { files: {} } } },
    status: { phase: 'copying_files', phaseProgress: 60, attempts: 1, message: `${'x'.repeat(80)}\nsecond line` },
  };
  const cells = c.cells(d, NOW);
  t.same(cells.slice(0, 7), ['v3', 'blog', 'copying_files', '60%', '5m', 'site', 1]);
  t.equal(cells[7], `${'x'.repeat(57)}...`, 'the first line, cut at 60 characters');
  t.equal(firstLine('short\nmore'), 'short');
  t.same(c.cells({ ...d, status: undefined }, NOW), ['v3', 'blog', '', '', '5m', 'site', 0, '']);
});

t.test('Route cells', async (t) => {
  const c = columnsOf('Route');
  t.same(c.columns.map((x) => `${x.name}:${x.priority}`), ['Name:0', 'Host:0', 'URL:0', 'Ready:0', 'Age:0', 'Server:1', 'Conflicts:1']);
  const r: ResourceObject = {
    apiVersion: 'deployer.dev/v1',
    kind: 'Route',
    metadata: meta('blog'),
    spec: { host: 'blog.example.com', projectServer: 'blog', pathPrefix: '/' },
    status: { url: 'http://blog.example.com/', ready: true, conflicts: ['a', 'b'] },
  };
  t.same(c.cells(r, NOW), ['blog', 'blog.example.com', 'http://blog.example.com/', 'True', '5m', 'blog', 'a,b']);
  t.equal(c.cells({ ...r, status: { ready: false } }, NOW)[3], 'False');
  t.equal(c.cells({ ...r, status: undefined }, NOW)[3], '', 'ready unknown: empty');
});

t.test('Event cells follow kubectl get events', async (t) => {
  const c = columnsOf('Event');
  t.same(c.columns.filter((x) => x.priority === 0).map((x) => x.name), ['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
  t.equal(c.columns.find((x) => x.name === 'Name')?.format, 'name');
  const e: ResourceObject = {
    apiVersion: 'deployer.dev/v1',
    kind: 'Event',
    metadata: meta('v3.abc'),
    involvedObject: { kind: 'Deployment', name: 'v3' },
    reason: 'PhaseChanged',
    message: 'building',
    type: 'Normal',
    count: 1,
    firstTimestamp: ago(10 * M),
    lastTimestamp: ago(45 * S),
    source: { component: 'deployment-controller' },
  };
  const cells = c.cells(e, NOW);
  const by = Object.fromEntries(c.columns.map((x, i) => [x.name, cells[i]]));
  t.same(by, {
    'Last Seen': '45s',
    Type: 'Normal',
    Reason: 'PhaseChanged',
    Object: 'deployment/v3',
    Subobject: '',
    Source: 'deployment-controller',
    Message: 'building',
    'First Seen': '10m',
    Count: 1,
    Name: 'v3.abc',
  });
  t.equal(c.cells({ ...e, count: 3 }, NOW)[0], '45s (x3 over 10m)', 'repeated events say how often');
  const bare = c.cells({ ...e, count: undefined, firstTimestamp: undefined, lastTimestamp: undefined }, NOW);
  t.equal(bare[0], '5m', 'no timestamps: the creation time');
});

t.test('Table shape, includeObject, bookmarks', async (t) => {
  const opts = { version: 'v1' as const, includeObject: 'Metadata' as const, now: NOW };
  const list = toTable('ProjectServer', [server()], { resourceVersion: '50', continue: 'abc' }, opts);
  t.equal(list.kind, 'Table');
  t.equal(list.apiVersion, 'meta.k8s.io/v1');
  t.same(list.metadata, { resourceVersion: '50', continue: 'abc' });
  t.equal(list.columnDefinitions.length, 9);
  t.equal(list.rows.length, 1);
  t.same(list.rows[0].object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: server().metadata });
  t.equal(list.rows[0].cells.length, list.columnDefinitions.length);

  t.same(toTable('Route', [], { resourceVersion: '7' }, opts).columnDefinitions.map((c) => c.name).slice(0, 2), ['Name', 'Host'], 'an empty list still has its columns');
  t.same(toTable('Route', [], { resourceVersion: '7', continue: '' }, opts).metadata, { resourceVersion: '7' });
  t.same(objectTable(server(), { ...opts, includeObject: 'Object' }).rows[0].object, server());
  t.notOk('object' in objectTable(server(), { ...opts, includeObject: 'None' }).rows[0]);
  t.equal(objectTable(server(), opts).metadata.resourceVersion, '42');
  t.equal(objectTable(server(), { ...opts, version: 'v1beta1' }).apiVersion, 'meta.k8s.io/v1beta1');
  const bm = bookmarkTable('ProjectServer', '99', opts);
  t.same([bm.kind, bm.rows, bm.metadata], ['Table', [], { resourceVersion: '99' }]);
});

t.test('Accept negotiation and includeObject', async (t) => {
  const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
  t.equal(tableVersionOf(kubectl), 'v1');
  t.equal(tableVersionOf('application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json'), 'v1beta1');
  t.equal(tableVersionOf('application/json; as=Table; g=meta.k8s.io; v=v1'), 'v1', 'spaces and any order');
  t.equal(tableVersionOf('application/json'), undefined);
  t.equal(tableVersionOf(undefined), undefined);
  t.equal(tableVersionOf('text/event-stream'), undefined);
  t.equal(tableVersionOf('application/json;as=Table;v=v2;g=meta.k8s.io'), undefined, 'a version not served');
  t.equal(tableVersionOf('application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io'), undefined);
  t.equal(includeObjectParam(undefined), 'Metadata');
  t.equal(includeObjectParam('Object'), 'Object');
  t.equal(includeObjectParam('None'), 'None');
  t.throws(() => includeObjectParam('All'), ApiError);
});
