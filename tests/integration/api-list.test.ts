// Lists: label and field selectors, pages that all read at the first page's revision,
// and 410 once the history a continue token needs was compacted.
import t from 'tap';
import { compactOnce } from '../../store/index.js';
import { nsPath, ps, startApi } from '../helpers/api.js';

t.test('label selectors: =, ==, !=, in, notin, exists, !exists', async (t) => {
  const a = await startApi(t);
  const objs: [string, Record<string, string>][] = [
    ['a', { tier: 'web', env: 'prod' }],
    ['b', { tier: 'web', env: 'dev' }],
    ['c', { tier: 'db' }],
    ['d', {}],
  ];
  for (const [name, labels] of objs) await a.request('POST', nsPath('default'), { body: ps(name, {}, { labels }) });
  const names = async (sel: string) =>
    (await a.request('GET', `${nsPath('default')}?labelSelector=${encodeURIComponent(sel)}`)).body.items.map((i: any) => i.metadata.name);
  t.same(await names('tier=web'), ['a', 'b']);
  t.same(await names('tier==web,env=prod'), ['a']);
  t.same(await names('tier!=web'), ['c', 'd']);
  t.same(await names('env in (prod, dev)'), ['a', 'b']);
  t.same(await names('env notin (prod)'), ['b', 'c', 'd']);
  t.same(await names('env'), ['a', 'b']);
  t.same(await names('!env'), ['c', 'd']);
  t.same(await names('tier in (web,db),!env'), ['c']);
  t.same(await names(''), ['a', 'b', 'c', 'd']);
});

t.test('field selectors and the all-namespaces list', async (t) => {
  const a = await startApi(t);
  await a.request('POST', nsPath('one'), { body: ps('x') });
  await a.request('POST', nsPath('two'), { body: ps('x') });
  await a.request('POST', nsPath('two'), { body: ps('y') });
  const all = await a.request('GET', '/apis/deployer.dev/v1/projectservers');
  t.equal(all.body.kind, 'ProjectServerList');
  t.same(all.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`), ['one/x', 'two/x', 'two/y']);
  const byName = await a.request('GET', '/apis/deployer.dev/v1/projectservers?fieldSelector=metadata.name%3Dx');
  t.equal(byName.body.items.length, 2);
  const notNs = await a.request('GET', '/apis/deployer.dev/v1/projectservers?fieldSelector=metadata.namespace!%3Dtwo');
  t.same(notNs.body.items.map((i: any) => i.metadata.namespace), ['one']);
  await a.request('POST', nsPath('one', 'events'), { body: { metadata: { name: 'e' }, involvedObject: { kind: 'ProjectServer', name: 'x' }, reason: 'R' } });
  const ev = await a.request('GET', `${nsPath('one', 'events')}?fieldSelector=involvedObject.name%3Dx,involvedObject.kind%3DProjectServer`);
  t.equal(ev.body.items.length, 1);
  const evNone = await a.request('GET', `${nsPath('one', 'events')}?fieldSelector=involvedObject.name%3Dz`);
  t.equal(evNone.body.items.length, 0);
});

t.test('pages read at the first page\'s revision, whatever happens between them', async (t) => {
  const a = await startApi(t);
  for (let i = 0; i < 10; i++) await a.request('POST', nsPath('default'), { body: ps(`p${i}`, { port: 1000 + i }) });
  const first = await a.request('GET', `${nsPath('default')}?limit=4`);
  t.equal(first.body.items.length, 4);
  t.ok(first.body.metadata.continue);
  const rv = first.body.metadata.resourceVersion;
  // changes after the first page: must not show on later pages
  await a.request('DELETE', `${nsPath('default')}/p5`);
  await a.request('PUT', `${nsPath('default')}/p6`, { body: ps('p6', { port: 1 }) });
  await a.request('POST', nsPath('default'), { body: ps('p45') });
  const seen = [...first.body.items];
  let cont = first.body.metadata.continue;
  while (cont) {
    const page = await a.request('GET', `${nsPath('default')}?limit=4&continue=${encodeURIComponent(cont)}`);
    t.equal(page.status, 200);
    t.equal(page.body.metadata.resourceVersion, rv, 'every page carries the first page\'s revision');
    seen.push(...page.body.items);
    cont = page.body.metadata.continue;
  }
  t.same(seen.map((i) => i.metadata.name), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
  t.equal(seen.find((i) => i.metadata.name === 'p6').spec.port, 1006, 'p6 as it was at the first page');
  const now = await a.request('GET', nsPath('default'));
  t.same(now.body.items.map((i: any) => i.metadata.name), ['p0', 'p1', 'p2', 'p3', 'p4', 'p45', 'p6', 'p7', 'p8', 'p9']);
  // a selector applies to every page
  const sel = await a.request('GET', `${nsPath('default')}?limit=2&fieldSelector=metadata.name!%3Dp0`);
  t.same(sel.body.items.map((i: any) => i.metadata.name), ['p1', 'p2']);
});

t.test('a continue token older than compaction gets 410 Expired', async (t) => {
  const a = await startApi(t);
  for (let i = 0; i < 6; i++) await a.request('POST', nsPath('default'), { body: ps(`p${i}`) });
  const first = await a.request('GET', `${nsPath('default')}?limit=2`);
  for (let i = 0; i < 6; i++) await a.request('PUT', `${nsPath('default')}/p${i}`, { body: ps(`p${i}`, { port: 1 }) });
  const compacted = await compactOnce(a.store.pool, { minAgeSeconds: 0, minRevisions: 1 });
  t.ok(compacted > Number(first.body.metadata.resourceVersion));
  const page = await a.request('GET', `${nsPath('default')}?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
  t.equal(page.status, 410);
  t.equal(page.body.reason, 'Expired');
  t.match(page.body.message, /list again/);
  // a fresh list still sees everything (compaction keeps every live object's newest row)
  const again = await a.request('GET', `${nsPath('default')}?limit=3`);
  const next = await a.request('GET', `${nsPath('default')}?limit=3&continue=${encodeURIComponent(again.body.metadata.continue)}`);
  t.same([...again.body.items, ...next.body.items].map((i: any) => i.spec.port), [1, 1, 1, 1, 1, 1]);
});

t.test('compaction keeps 5 minutes and 1,000 revisions by default', async (t) => {
  const a = await startApi(t);
  for (let i = 0; i < 20; i++) await a.request('PUT', `${nsPath('default')}/p`, { body: ps('p', { port: i + 1 }) });
  t.equal(await compactOnce(a.store.pool), 0, 'nothing is old enough');
  t.equal(await compactOnce(a.store.pool, { minAgeSeconds: 0 }), 0, 'fewer than 1,000 revisions');
  const w = await a.request('GET', `${nsPath('default')}?watch=true&resourceVersion=1&timeoutSeconds=1`);
  t.equal(w.status, 200);
  t.equal(w.body.split ? w.body.trim().split('\n').filter((l: string) => l.includes('MODIFIED')).length : 0, 19, 'history from revision 1 is all there');
});
