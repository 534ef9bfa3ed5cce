// Watches: initial ADDED, changes after a resourceVersion, DELETED, selectors, SSE with
// Last-Event-ID, bookmarks, and 410 for compacted history.
import t from 'tap';
import { compactOnce } from '../../store/index.js';
import { nsPath, openWatch, ps, startApi } from '../helpers/api.js';

const P = nsPath('default');

t.test('NDJSON watch: current objects as ADDED, then every change', async (t) => {
  const a = await startApi(t);
  await a.request('POST', P, { body: ps('a') });
  const w = await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false`, a.adminToken);
  t.equal(w.status, 200);
  await w.until((e) => e.length === 1);
  t.equal(w.events[0].type, 'ADDED');
  t.equal(w.events[0].object.metadata.name, 'a');
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 1 }) });
  await a.request('POST', P, { body: ps('b') });
  await a.request('DELETE', `${P}/a`);
  await w.until((e) => e.length === 4);
  t.same(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'MODIFIED a', 'ADDED b', 'DELETED a']);
  const revs = w.events.slice(1).map((e) => Number(e.object.metadata.resourceVersion));
  t.same(revs, [...revs].sort((x, y) => x - y), 'increasing');
  t.equal(w.events[1].object.spec.port, 1);
  await w.close();
  for (let i = 0; i < 100 && a.api.openWatches() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(a.api.openWatches(), 0, 'closed watches are forgotten');
});

t.test('watch from a resourceVersion replays what came after it; selectors filter', async (t) => {
  const a = await startApi(t);
  const first = (await a.request('POST', P, { body: ps('a', {}, { labels: { app: 'x' } }) })).body;
  await a.request('POST', P, { body: ps('b', {}, { labels: { app: 'y' } }) });
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 2 }, { labels: { app: 'x' } }) });
  await a.request('POST', nsPath('other'), { body: ps('c', {}, { labels: { app: 'x' } }) });
  const w = await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${first.metadata.resourceVersion}&labelSelector=app%3Dx`, a.adminToken);
  await w.until((e) => e.length >= 1);
  await a.request('PUT', `${P}/b`, { body: ps('b', { port: 3 }, { labels: { app: 'y' } }) });
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 4 }, { labels: { app: 'x' } }) });
  await w.until((e) => e.length >= 2);
  t.same(w.events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.spec.port}`), ['MODIFIED a 2', 'MODIFIED a 4']);
  const all = await openWatch(a.url, `/apis/deployer.dev/v1/projectservers?watch=true&allowWatchBookmarks=false&fieldSelector=metadata.name%3Dc`, a.adminToken);
  await all.until((e) => e.length === 1);
  t.equal(all.events[0].object.metadata.namespace, 'other');
  await w.close();
  await all.close();
});

t.test('SSE: ids are resourceVersions, Last-Event-ID resumes, bookmarks keep it alive', async (t) => {
  const a = await startApi(t, { bookmarkMs: 200 });
  const w = await openWatch(a.url, `${P}?watch=true`, a.adminToken, 'text/event-stream');
  await a.request('POST', P, { body: ps('a') });
  await w.until((e) => e.some((x) => x.type === 'ADDED'));
  const added = w.events.find((x) => x.type === 'ADDED');
  t.equal(added.id, added.object.metadata.resourceVersion);
  await w.until((e) => e.some((x) => x.type === 'BOOKMARK'), 3000);
  const bm = w.events.find((x) => x.type === 'BOOKMARK');
  t.equal(bm.object.kind, 'ProjectServer');
  t.ok(Number(bm.object.metadata.resourceVersion) >= Number(added.id));
  await w.close();

  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 5 }) });
  const resumed = await openWatch(a.url, `${P}?watch=true`, a.adminToken, 'text/event-stream');
  await resumed.close();
  const r2 = await fetch(`${a.url}${P}?watch=true&allowWatchBookmarks=false`, {
    headers: { authorization: `Bearer ${a.adminToken}`, accept: 'text/event-stream', 'last-event-id': added.id },
  });
  const reader = r2.body!.getReader();
  const { value } = await reader.read();
  const text = new TextDecoder().decode(value);
  t.match(text, /event: MODIFIED/);
  t.match(text, /"port":5/);
  t.notMatch(text, /event: ADDED/, 'resumed after the last id: no replay of the initial state');
  await reader.cancel();
});

t.test('a watch from compacted history ends with an ERROR event carrying 410', async (t) => {
  const a = await startApi(t);
  for (let i = 0; i < 5; i++) await a.request('PUT', `${P}/a`, { body: ps('a', { port: i + 1 }) });
  await compactOnce(a.store.pool, { minAgeSeconds: 0, minRevisions: 1 });
  const w = await openWatch(a.url, `${P}?watch=true&resourceVersion=1`, a.adminToken);
  await w.until((e) => e.length === 1);
  t.equal(w.events[0].type, 'ERROR');
  t.equal(w.events[0].object.code, 410);
  t.equal(w.events[0].object.reason, 'Expired');
  await w.until(() => w.ended, 2000).catch(() => undefined);
  t.ok(w.ended, 'the stream ends');
});

t.test('timeoutSeconds ends a watch; the server closes watches on shutdown', async (t) => {
  const a = await startApi(t);
  const start = Date.now();
  const res = await a.request('GET', `${P}?watch=true&timeoutSeconds=1`);
  t.equal(res.status, 200);
  t.ok(Date.now() - start >= 900);
  const w = await openWatch(a.url, `${P}?watch=true`, a.adminToken);
  t.equal(a.api.openWatches(), 1);
  await a.api.app.close();
  await w.until(() => w.ended, 3000).catch(() => undefined);
  t.ok(w.ended, 'open watches end when the server closes');
});

t.test('a label-selected watch sees objects enter and leave its selection as ADDED and DELETED', async (t) => {
  const a = await startApi(t);
  const first = (await a.request('PUT', `${P}/a`, { body: ps('a', {}, { labels: { tier: 'web' } }) })).body;
  const w = await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false&labelSelector=tier%3Dweb&resourceVersion=${first.metadata.resourceVersion}`, a.adminToken);
  await a.request('PUT', `${P}/a`, { body: ps('a', {}, { labels: { tier: 'db' } }) }); // leaves
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 1 }, { labels: { tier: 'db' } }) }); // outside: nothing
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 1 }, { labels: { tier: 'web' } }) }); // enters
  await a.request('PUT', `${P}/a`, { body: ps('a', { port: 2 }, { labels: { tier: 'web' } }) }); // inside
  await w.until((e) => e.length === 3);
  t.same(w.events.map((e) => `${e.type} ${e.object.metadata.labels.tier} ${e.object.spec.port ?? '-'}`), ['DELETED db -', 'ADDED web 1', 'MODIFIED web 2']);
  await w.close();
});
