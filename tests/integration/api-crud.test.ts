// Create, read, replace, patch and the status subresource, through HTTP on a real Postgres.
import t from 'tap';
import { PS, ps, startApi } from '../helpers/api.js';

t.test('create, get, replace: uid, generation and resourceVersion rules', async (t) => {
  const a = await startApi(t);
  const created = await a.request('POST', PS, { body: ps('blog') });
  t.equal(created.status, 201);
  const m = created.body.metadata;
  t.match(m.uid, /^[0-9a-f-]{36}$/);
  t.equal(m.generation, 1);
  t.equal(m.namespace, 'default');
  t.ok(m.creationTimestamp);
  t.ok(Number(m.resourceVersion) > 0);

  const got = await a.request('GET', `${PS}/blog`);
  t.equal(got.status, 200);
  t.same(got.body.spec, { serviceType: 'static' });

  // spec change: generation +1, new resourceVersion
  const upd = await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 8080 }) });
  t.equal(upd.status, 200);
  t.equal(upd.body.metadata.generation, 2);
  t.equal(upd.body.metadata.uid, m.uid, 'uid is kept');
  t.equal(upd.body.metadata.creationTimestamp, m.creationTimestamp);
  t.ok(Number(upd.body.metadata.resourceVersion) > Number(m.resourceVersion));

  // metadata-only change: new resourceVersion, same generation
  const lab = await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 8080 }, { labels: { team: 'web' } }) });
  t.equal(lab.body.metadata.generation, 2);
  t.ok(Number(lab.body.metadata.resourceVersion) > Number(upd.body.metadata.resourceVersion));

  // equal write: no-op, same resourceVersion, no new revision anywhere
  const before = await a.store.resources.currentRevision();
  const same = await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 8080 }, { labels: { team: 'web' } }) });
  t.equal(same.status, 200);
  t.equal(same.body.metadata.resourceVersion, lab.body.metadata.resourceVersion);
  t.equal(await a.store.resources.currentRevision(), before, 'no revision was used');

  // client-sent system fields are ignored (creationTimestamp, generation)
  const sys = await a.request('PUT', `${PS}/blog`, {
    body: ps('blog', { port: 8080 }, { labels: { team: 'web' }, creationTimestamp: '2000-01-01T00:00:00Z', generation: 99 }),
  });
  t.equal(sys.body.metadata.creationTimestamp, m.creationTimestamp);
  t.equal(sys.body.metadata.generation, 2);
  t.equal(sys.body.metadata.resourceVersion, lab.body.metadata.resourceVersion, 'still a no-op');

  // PUT of a missing object creates it (the declarative write)
  const put = await a.request('PUT', `${PS}/docs`, { body: ps('docs') });
  t.equal(put.status, 201);
  t.equal(put.body.metadata.generation, 1);
});

t.test('stale resourceVersion and immutable fields', async (t) => {
  const a = await startApi(t);
  const c = (await a.request('POST', PS, { body: ps('blog') })).body;
  await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 1 }) });
  const stale = await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 2 }, { resourceVersion: c.metadata.resourceVersion }) });
  t.equal(stale.status, 409);
  t.equal(stale.body.kind, 'Status');
  t.equal(stale.body.reason, 'Conflict');
  t.match(stale.body.message, /modified/);

  const uid = await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 2 }, { uid: '00000000-0000-0000-0000-000000000000' }) });
  t.equal(uid.status, 409);
  t.match(uid.body.message, /UID/);

  const name = await a.request('PUT', `${PS}/blog`, { body: ps('other') });
  t.equal(name.status, 400);
  t.match(name.body.message, /name/);

  const ns = await a.request('PUT', `${PS}/blog`, { body: ps('blog', {}, { namespace: 'prod' }) });
  t.equal(ns.status, 400);
  t.match(ns.body.message, /namespace/);

  const rvOnCreate = await a.request('POST', PS, { body: ps('x', {}, { resourceVersion: '5' }) });
  t.equal(rvOnCreate.status, 400);

  const exists = await a.request('POST', PS, { body: ps('blog') });
  t.equal(exists.status, 409);
  t.equal(exists.body.reason, 'AlreadyExists');
});

t.test('status is written only through /status', async (t) => {
  const a = await startApi(t);
  const c = await a.request('POST', PS, { body: { ...ps('blog'), status: { health: 'healthy' } } });
  t.equal(c.body.status, undefined, 'status on create is dropped');
  const main = await a.request('PUT', `${PS}/blog`, { body: { ...ps('blog'), status: { health: 'healthy' } } });
  t.equal(main.body.status, undefined, 'status on the main resource is ignored');
  t.equal(main.body.metadata.resourceVersion, c.body.metadata.resourceVersion, 'and the write is a no-op');

  const st = await a.request('PUT', `${PS}/blog/status`, { body: { ...ps('blog', { port: 9 }), status: { health: 'healthy', restartCount: 1 } } });
  t.equal(st.status, 200);
  t.same(st.body.status, { health: 'healthy', restartCount: 1 });
  t.same(st.body.spec, { serviceType: 'static' }, 'spec sent to /status is ignored');
  t.equal(st.body.metadata.generation, 1, 'a status write does not bump generation');

  const mp = await a.request('PATCH', `${PS}/blog/status`, {
    body: { status: { restartCount: 2 } },
    contentType: 'application/merge-patch+json',
  });
  t.same(mp.body.status, { health: 'healthy', restartCount: 2 });

  const bad = await a.request('PATCH', `${PS}/blog/status`, { body: { status: { health: 'sick' } }, contentType: 'application/merge-patch+json' });
  t.equal(bad.status, 422);
  t.equal(bad.body.details.causes[0].field, 'status.health');

  const getStatus = await a.request('GET', `${PS}/blog/status`);
  t.equal(getStatus.body.status.restartCount, 2);

  const evStatus = await a.request('GET', '/apis/deployer.dev/v1/namespaces/default/events/x/status');
  t.equal(evStatus.status, 404);

  const missing = await a.request('PUT', `${PS}/nope/status`, { body: { ...ps('nope'), status: {} } });
  t.equal(missing.status, 404);
});

t.test('patch: merge patch, JSON patch with test ops, unsupported types', async (t) => {
  const a = await startApi(t);
  await a.request('POST', PS, { body: ps('blog', { port: 80 }, { labels: { a: '1' } }) });
  const merge = await a.request('PATCH', `${PS}/blog`, {
    body: { metadata: { labels: { a: null, b: '2' } }, spec: { port: 81 } },
    contentType: 'application/merge-patch+json',
  });
  t.equal(merge.status, 200);
  t.same(merge.body.metadata.labels, { b: '2' });
  t.equal(merge.body.spec.port, 81);
  t.equal(merge.body.metadata.generation, 2);

  const ok = await a.request('PATCH', `${PS}/blog`, {
    body: [
      { op: 'test', path: '/spec/port', value: 81 },
      { op: 'replace', path: '/spec/port', value: 82 },
    ],
    contentType: 'application/json-patch+json',
  });
  t.equal(ok.status, 200);
  t.equal(ok.body.spec.port, 82);

  const failed = await a.request('PATCH', `${PS}/blog`, {
    body: [
      { op: 'test', path: '/spec/port', value: 1 },
      { op: 'replace', path: '/spec/port', value: 2 },
    ],
    contentType: 'application/json-patch+json',
  });
  t.equal(failed.status, 422);
  t.match(failed.body.message, /test/);
  t.match(failed.body.details, { kind: 'ProjectServer', name: 'blog', causes: [{ field: '/spec/port' }] }, 'kubectl prints "The ProjectServer "blog" is invalid" from these');
  t.equal((await a.request('GET', `${PS}/blog`)).body.spec.port, 82, 'a failed test op changes nothing');

  const uidPatch = await a.request('PATCH', `${PS}/blog`, {
    body: [{ op: 'replace', path: '/metadata/uid', value: '00000000-0000-0000-0000-000000000000' }],
    contentType: 'application/json-patch+json',
  });
  t.equal(uidPatch.status, 409);

  const statusFromMain = await a.request('PATCH', `${PS}/blog`, {
    body: { status: { health: 'healthy' } },
    contentType: 'application/merge-patch+json',
  });
  t.equal(statusFromMain.status, 200);
  t.equal(statusFromMain.body.status, undefined, 'status patched through the main resource is ignored');

  const staleRv = await a.request('PATCH', `${PS}/blog`, {
    body: { metadata: { resourceVersion: '1' }, spec: { port: 5 } },
    contentType: 'application/merge-patch+json',
  });
  t.equal(staleRv.status, 409);

  const plain = await a.request('PATCH', `${PS}/blog`, { body: { spec: {} }, contentType: 'application/json' });
  t.equal(plain.status, 415);
  t.equal(plain.body.reason, 'UnsupportedMediaType');
  const smp = await a.request('PATCH', `${PS}/blog`, { body: { spec: {} }, contentType: 'application/strategic-merge-patch+json' });
  t.equal(smp.status, 415);

  const notArray = await a.request('PATCH', `${PS}/blog`, { body: { op: 'add' }, contentType: 'application/json-patch+json' });
  t.equal(notArray.status, 400);

  const missing = await a.request('PATCH', `${PS}/nope`, { body: {}, contentType: 'application/merge-patch+json' });
  t.equal(missing.status, 404);
});

t.test('dryRun=All validates without writing', async (t) => {
  const a = await startApi(t);
  const before = await a.store.resources.currentRevision();
  const dry = await a.request('POST', `${PS}?dryRun=All`, { body: ps('blog') });
  t.equal(dry.status, 201);
  t.equal(dry.body.metadata.name, 'blog');
  t.equal((await a.request('GET', `${PS}/blog`)).status, 404);
  const dryBad = await a.request('POST', `${PS}?dryRun=All`, { body: ps('blog', { serviceType: 'ftp' }) });
  t.equal(dryBad.status, 422);
  await a.request('POST', PS, { body: ps('blog') });
  const dryPut = await a.request('PUT', `${PS}/blog?dryRun=All`, { body: ps('blog', { port: 1 }) });
  t.equal(dryPut.body.spec.port, 1);
  t.equal((await a.request('GET', `${PS}/blog`)).body.spec.port, undefined);
  const dryDel = await a.request('DELETE', `${PS}/blog?dryRun=All`);
  t.equal(dryDel.status, 200);
  t.equal((await a.request('GET', `${PS}/blog`)).status, 200);
  t.equal(await a.store.resources.currentRevision(), before + 1, 'only the real create wrote');
  const badDry = await a.request('POST', `${PS}?dryRun=yes`, { body: ps('x') });
  t.equal(badDry.status, 400);
});
