// Deletion: finalizers hold the row, ownerReferences cascade (or are orphaned).
import t from 'tap';
import { PS, nsPath, ps, startApi } from '../helpers/api.js';

const DEP = nsPath('default', 'deployments');
const dep = (name: string, owner?: { name: string; uid: string }, finalizers?: string[]) => ({
  metadata: {
    name,
    ...(finalizers ? { finalizers } : {}),
    ...(owner ? { ownerReferences: [{ apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', name: owner.name, uid: owner.uid }] } : {}),
  },
  spec: { projectServer: owner?.name ?? 'x', source: { image: { name: 'img' } } },
});

async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

t.test('delete without finalizers removes at once', async (t) => {
  const a = await startApi(t);
  await a.request('POST', PS, { body: ps('blog') });
  const del = await a.request('DELETE', `${PS}/blog`);
  t.equal(del.status, 200);
  t.equal(del.body.metadata.name, 'blog');
  t.equal((await a.request('GET', `${PS}/blog`)).status, 404);
  t.equal((await a.request('DELETE', `${PS}/blog`)).status, 404);
});

t.test('finalizers: deletionTimestamp first, the row goes with the last finalizer', async (t) => {
  const a = await startApi(t);
  await a.request('POST', PS, { body: ps('blog', {}, { finalizers: ['deployer.dev/cleanup', 'example.com/other'] }) });
  const del = await a.request('DELETE', `${PS}/blog`);
  t.equal(del.status, 202, 'accepted: finalizers must run first');
  t.ok(del.body.metadata.deletionTimestamp);
  t.equal(del.body.metadata.generation, 2, 'deletion bumps generation');
  const again = await a.request('DELETE', `${PS}/blog`);
  t.equal(again.status, 202);
  t.equal(again.body.metadata.resourceVersion, del.body.metadata.resourceVersion, 'a second delete changes nothing');

  const add = await a.request('PATCH', `${PS}/blog`, {
    body: { metadata: { finalizers: ['deployer.dev/cleanup', 'example.com/other', 'new.io/x'] } },
    contentType: 'application/merge-patch+json',
  });
  t.equal(add.status, 422, 'no new finalizers while deleting');

  const one = await a.request('PATCH', `${PS}/blog`, {
    body: { metadata: { finalizers: ['example.com/other'] } },
    contentType: 'application/merge-patch+json',
  });
  t.equal(one.status, 200);
  t.ok(one.body.metadata.deletionTimestamp);
  const last = await a.request('PATCH', `${PS}/blog`, {
    body: [{ op: 'remove', path: '/metadata/finalizers' }],
    contentType: 'application/json-patch+json',
  });
  t.equal(last.status, 200);
  t.equal((await a.request('GET', `${PS}/blog`)).status, 404, 'the row went with the last finalizer');
});

t.test('preconditions on delete', async (t) => {
  const a = await startApi(t);
  const c = (await a.request('POST', PS, { body: ps('blog') })).body;
  const wrongUid = await a.request('DELETE', `${PS}/blog`, { body: { kind: 'DeleteOptions', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } });
  t.equal(wrongUid.status, 409);
  await a.request('PUT', `${PS}/blog`, { body: ps('blog', { port: 1 }) });
  const staleRv = await a.request('DELETE', `${PS}/blog`, { body: { preconditions: { resourceVersion: c.metadata.resourceVersion } } });
  t.equal(staleRv.status, 409);
  const ok = await a.request('DELETE', `${PS}/blog`, { body: { preconditions: { uid: c.metadata.uid } } });
  t.equal(ok.status, 200);
});

t.test('dependents are deleted after their owner (background propagation)', async (t) => {
  const a = await startApi(t);
  const owner = (await a.request('POST', PS, { body: ps('blog') })).body.metadata;
  await a.request('POST', DEP, { body: dep('d1', owner) });
  await a.request('POST', DEP, { body: dep('d2', owner, ['deployer.dev/cleanup']) });
  await a.request('POST', DEP, { body: dep('free') });
  const del = await a.request('DELETE', `${PS}/blog`);
  t.equal(del.status, 200);
  t.ok(await eventually(async () => (await a.request('GET', `${DEP}/d1`)).status === 404), 'd1 deleted');
  t.ok(await eventually(async () => !!(await a.request('GET', `${DEP}/d2`)).body.metadata?.deletionTimestamp), 'd2 is being deleted (finalizer)');
  t.equal((await a.request('GET', `${DEP}/free`)).status, 200, 'an object without owner stays');
});

t.test('propagationPolicy=Orphan leaves dependents, without the reference', async (t) => {
  const a = await startApi(t);
  const owner = (await a.request('POST', PS, { body: ps('blog') })).body.metadata;
  await a.request('POST', DEP, { body: dep('d1', owner) });
  const del = await a.request('DELETE', `${PS}/blog?propagationPolicy=Orphan`);
  t.equal(del.status, 200);
  await new Promise((r) => setTimeout(r, 300));
  const d1 = await a.request('GET', `${DEP}/d1`);
  t.equal(d1.status, 200);
  t.equal(d1.body.metadata.ownerReferences, undefined);
  t.equal(await a.store.collectGarbage(), 0, 'nothing left to collect');
});

t.test('garbage collection also catches dependents left over by a crash', async (t) => {
  const a = await startApi(t);
  // A dependent whose owner uid never existed stands for one whose owner went while the
  // process that would have collected it was down.
  await a.request('POST', DEP, { body: dep('lost', { name: 'gone', uid: '11111111-1111-1111-1111-111111111111' }) });
  t.equal(await a.store.collectGarbage(), 1);
  t.equal((await a.request('GET', `${DEP}/lost`)).status, 404);
});
