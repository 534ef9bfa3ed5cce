// Table responses as kubectl asks for them (list, -A, -l, one object, /status, watch), and
// the bookmark defaults: JSON watches only with allowWatchBookmarks=true, SSE by default.
import t from 'tap';
import { nsPath, openWatch, ps, startApi } from '../helpers/api.js';

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const accept = { accept: TABLE };
const ALL = '/apis/deployer.dev/v1/projectservers';

t.test('lists, -A, -l, pages, one object and /status as Tables', async (t) => {
  const a = await startApi(t);
  await a.request('POST', nsPath('one'), { body: ps('x', {}, { labels: { team: 'web' } }) });
  await a.request('POST', nsPath('two'), { body: ps('x', { serviceType: 'docker', image: 'app:1', port: 9000 }) });
  await a.request('POST', nsPath('two'), { body: ps('y', {}, { labels: { team: 'web' } }) });
  await a.request('PUT', `${nsPath('two')}/y/status`, { body: { ...ps('y'), status: { health: 'healthy', restartCount: 3, currentDeployment: 'v1', phase: 'Running' } } });

  const list = await a.request('GET', nsPath('two'), { headers: accept });
  t.equal(list.status, 200);
  t.equal(list.body.kind, 'Table');
  t.equal(list.body.apiVersion, 'meta.k8s.io/v1');
  t.match(list.body.metadata.resourceVersion, /^\d+$/);
  t.same(list.body.columnDefinitions.map((c: any) => c.name), ['Name', 'Type', 'Health', 'Restarts', 'Current', 'Age', 'Phase', 'Image', 'Port']);
  t.same(list.body.rows.map((r: any) => r.cells.slice(0, 5)), [['x', 'docker', '', 0, ''], ['y', 'static', 'healthy', 3, 'v1']]);
  t.match(list.body.rows[0].cells[5], /^\d+s$/, 'age in seconds for a new object');
  t.same(list.body.rows[0].cells.slice(6), ['', 'app:1', 9000]);
  t.same(list.body.rows[0].object.kind, 'PartialObjectMetadata');
  t.same(list.body.rows[0].object.apiVersion, 'meta.k8s.io/v1');
  t.notOk('spec' in list.body.rows[0].object, 'metadata only by default');

  const all = await a.request('GET', ALL, { headers: accept });
  t.same(all.body.rows.map((r: any) => `${r.object.metadata.namespace}/${r.cells[0]}`), ['one/x', 'two/x', 'two/y'], '-A: rows carry their namespace');
  const web = await a.request('GET', `${ALL}?labelSelector=team%3Dweb`, { headers: accept });
  t.same(web.body.rows.map((r: any) => r.object.metadata.name), ['x', 'y']);
  t.same(web.body.rows[0].object.metadata.labels, { team: 'web' });

  const page = await a.request('GET', `${ALL}?limit=2`, { headers: accept });
  t.equal(page.body.rows.length, 2);
  t.ok(page.body.metadata.continue, 'a page carries continue');
  const rest = await a.request('GET', `${ALL}?limit=2&continue=${page.body.metadata.continue}`, { headers: accept });
  t.same(rest.body.rows.map((r: any) => r.object.metadata.name), ['y']);
  t.notOk(rest.body.metadata.continue);

  const whole = await a.request('GET', `${nsPath('two')}?includeObject=Object`, { headers: accept });
  t.equal(whole.body.rows[1].object.kind, 'ProjectServer');
  t.equal(whole.body.rows[1].object.status.health, 'healthy');
  const none = await a.request('GET', `${nsPath('two')}?includeObject=None`, { headers: accept });
  t.notOk('object' in none.body.rows[0]);
  t.equal((await a.request('GET', `${nsPath('two')}?includeObject=Everything`, { headers: accept })).status, 400);

  const one = await a.request('GET', `${nsPath('two')}/y`, { headers: accept });
  t.equal(one.body.kind, 'Table');
  t.equal(one.body.rows.length, 1);
  t.equal(one.body.rows[0].cells[2], 'healthy');
  t.equal(one.body.metadata.resourceVersion, one.body.rows[0].object.metadata.resourceVersion);
  const status = await a.request('GET', `${nsPath('two')}/y/status`, { headers: accept });
  t.same(status.body.rows, one.body.rows, '/status: the same Table as the object');
  t.equal((await a.request('GET', `${nsPath('two')}/nope`, { headers: accept })).body.kind, 'Status', 'errors stay Status objects');

  const plain = await a.request('GET', nsPath('two'));
  t.equal(plain.body.kind, 'ProjectServerList', 'without the Accept header: the list as before');
  t.equal((await a.request('GET', `${nsPath('two')}/y`, { headers: { accept: 'application/json' } })).body.kind, 'ProjectServer');
});

t.test('Tables of Deployments, Routes and Events', async (t) => {
  const a = await startApi(t);
  await a.request('POST', nsPath('default', 'routes'), {
    body: { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'blog' }, spec: { host: 'blog.example.com', projectServer: 'blog' } },
  });
  await a.request('POST', nsPath('default', 'deployments'), {
    body: { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'v1' }, spec: { projectServer: 'blog', source: { inline: { files: { 'index.html': 'hi' } } } } },
  });
  const ev = await a.request('POST', nsPath('default', 'events'), {
    body: { apiVersion: 'deployer.dev/v1', kind: 'Event', metadata: { name: 'v1-1' }, involvedObject: { kind: 'Deployment', name: 'v1' }, reason: 'Queued', type: 'Normal', message: 'queued', count: 1 },
  });
  t.equal(ev.status, 201);
  const routes = await a.request('GET', nsPath('default', 'routes'), { headers: accept });
  t.same(routes.body.rows[0].cells.slice(0, 4), ['blog', 'blog.example.com', '', '']);
  const deploys = await a.request('GET', nsPath('default', 'deployments'), { headers: accept });
  t.same(deploys.body.rows[0].cells.slice(0, 4), ['v1', 'blog', '', '']);
  const events = await a.request('GET', nsPath('default', 'events'), { headers: accept });
  t.same(events.body.columnDefinitions.filter((c: any) => c.priority === 0).map((c: any) => c.name), ['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
  t.same(events.body.rows[0].cells.slice(1, 5), ['Normal', 'Queued', 'deployment/v1', '']);
  t.equal(events.body.rows[0].cells[6], 'queued');
  const empty = await a.request('GET', nsPath('nothing', 'routes'), { headers: accept });
  t.same([empty.body.rows, empty.body.columnDefinitions.length], [[], 7], 'an empty list has columns and no rows');
});

t.test('watch as Tables: one row per event, DELETED too, bookmarks only when asked', async (t) => {
  const a = await startApi(t, { bookmarkMs: 100 });
  await a.request('POST', nsPath('default'), { body: ps('a') });
  const w = await openWatch(a.url, `${nsPath('default')}?watch=true`, a.adminToken, TABLE);
  t.equal(w.status, 200);
  await w.until((e) => e.length >= 1);
  await a.request('PUT', `${nsPath('default')}/a`, { body: ps('a', { port: 81 }) });
  await a.request('DELETE', `${nsPath('default')}/a`);
  await w.until((e) => e.some((x) => x.type === 'DELETED'));
  await new Promise((r) => setTimeout(r, 400)); // several bookmark intervals
  t.same(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED'], 'no BOOKMARK unless allowWatchBookmarks=true');
  for (const e of w.events) {
    t.equal(e.object.kind, 'Table');
    t.equal(e.object.rows.length, 1);
    t.equal(e.object.rows[0].cells[0], 'a');
    t.equal(e.object.rows[0].object.kind, 'PartialObjectMetadata');
  }
  t.equal(w.events[1].object.rows[0].cells[8], 81, 'the MODIFIED row shows the new port');
  t.equal(w.events[1].object.metadata.resourceVersion, w.events[1].object.rows[0].object.metadata.resourceVersion);
  await w.close();

  const b = await openWatch(a.url, `${nsPath('default')}?watch=true&allowWatchBookmarks=true`, a.adminToken, TABLE);
  await b.until((e) => e.some((x) => x.type === 'BOOKMARK'), 3000);
  const bm = b.events.find((x) => x.type === 'BOOKMARK');
  t.equal(bm.object.kind, 'Table');
  t.same(bm.object.rows, []);
  t.match(bm.object.metadata.resourceVersion, /^\d+$/);
  await b.close();
});

t.test('bookmark defaults: none on JSON watches unless asked, on by default over SSE', async (t) => {
  const a = await startApi(t, { bookmarkMs: 100 });
  await a.request('POST', nsPath('default'), { body: ps('a') });
  const json = await openWatch(a.url, `${nsPath('default')}?watch=true`, a.adminToken);
  const asked = await openWatch(a.url, `${nsPath('default')}?watch=true&allowWatchBookmarks=true`, a.adminToken);
  const sse = await openWatch(a.url, `${nsPath('default')}?watch=true`, a.adminToken, 'text/event-stream');
  const sseOff = await openWatch(a.url, `${nsPath('default')}?watch=true&allowWatchBookmarks=false`, a.adminToken, 'text/event-stream');
  await asked.until((e) => e.some((x) => x.type === 'BOOKMARK'), 3000);
  await sse.until((e) => e.some((x) => x.type === 'BOOKMARK'), 3000);
  await new Promise((r) => setTimeout(r, 400));
  t.same(json.events.map((e) => e.type), ['ADDED'], 'JSON lines: no bookmarks by default (kubectl would print them)');
  t.same(sseOff.events.map((e) => e.type), ['ADDED'], 'SSE with allowWatchBookmarks=false: none');
  t.equal(asked.events.find((x) => x.type === 'BOOKMARK').object.kind, 'ProjectServer');
  t.equal((await a.request('GET', `${nsPath('default')}?watch=true&allowWatchBookmarks=maybe`)).status, 400);
  for (const w of [json, asked, sse, sseOff]) await w.close();
});
