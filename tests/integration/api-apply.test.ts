// Server-side apply (application/apply-patch+yaml, as `kubectl apply --server-side` sends it):
// create when missing, merge when present, 409/400 cases, bad YAML; the write parameters
// kubectl sends; and dryRun=All saving nothing for any write (kubectl diff relies on it).
import t from 'tap';
import { nsPath, ps, startApi } from '../helpers/api.js';

const APPLY = 'application/apply-patch+yaml';
const P = nsPath('default');
const KUBECTL_QUERY = 'fieldManager=kubectl&fieldValidation=Strict&force=false';

t.test('apply creates, then merges; fields left out stay, lists are replaced', async (t) => {
  const a = await startApi(t);
  const apply = (name: string, body: unknown, query = KUBECTL_QUERY) =>
    a.request('PATCH', `${P}/${name}?${query}`, typeof body === 'string' ? { raw: body, contentType: APPLY } : { body, contentType: APPLY });

  const created = await apply('blog', ps('blog', { port: 8080, env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }, { labels: { team: 'web' } }));
  t.equal(created.status, 201, 'a missing object is created');
  t.equal(created.body.kind, 'ProjectServer');
  t.equal(created.body.metadata.generation, 1);
  t.same((await a.request('GET', `${P}/blog`)).body.spec.env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);

  const yaml = [
    'apiVersion: deployer.dev/v1',
    'kind: ProjectServer',
    'metadata:',
    '  name: blog',
    '  labels: { tier: front }',
    'spec:',
    '  serviceType: static',
    '  env:',
    '    - { name: C, value: "3" }',
    '  stopped: true',
  ].join('\n');
  const merged = await apply('blog', yaml);
  t.equal(merged.status, 200, 'an existing object is merged into');
  t.same(merged.body.metadata.labels, { team: 'web', tier: 'front' }, 'maps merge');
  t.same(merged.body.spec.env, [{ name: 'C', value: '3' }], 'lists are replaced');
  t.equal(merged.body.spec.port, 8080, 'fields left out stay');
  t.equal(merged.body.spec.stopped, true);
  t.equal(merged.body.metadata.generation, 2);
  t.equal(merged.body.metadata.uid, created.body.metadata.uid);

  const again = await apply('blog', yaml);
  t.equal(again.status, 200);
  t.equal(again.body.metadata.resourceVersion, merged.body.metadata.resourceVersion, 'the same configuration again changes nothing');

  const withStatus = await apply('blog', { ...ps('blog'), status: { health: 'healthy' } });
  t.notOk(withStatus.body.status?.health, 'status in a main-resource apply is ignored');
  const status = await a.request('PATCH', `/apis/deployer.dev/v1/namespaces/default/projectservers/blog/status?${KUBECTL_QUERY}`, {
    body: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name: 'blog' }, status: { health: 'healthy', restartCount: 1 } },
    contentType: APPLY,
  });
  t.equal(status.status, 200);
  t.same([status.body.status.health, status.body.status.restartCount, status.body.spec.port], ['healthy', 1, 8080], '/status: the status merges, the rest stays');
  const statusMissing = await a.request('PATCH', `${P}/nope/status`, { body: ps('nope'), contentType: APPLY });
  t.equal(statusMissing.status, 404, 'an apply to the status of a missing object');

  const rv = (await a.request('GET', `${P}/blog`)).body.metadata.resourceVersion;
  const fresh = await apply('blog', ps('blog', { port: 8081 }, { resourceVersion: rv }));
  t.equal(fresh.status, 200, 'a matching resourceVersion is accepted');
  const stale = await apply('blog', ps('blog', { port: 8082 }, { resourceVersion: rv }));
  t.equal(stale.status, 409, 'a stale resourceVersion: 409');
  t.equal(stale.body.reason, 'Conflict');
  t.equal((await apply('other', ps('other', {}, { resourceVersion: '5' }))).status, 409, 'a resourceVersion for a missing object: 409');
  t.equal((await a.request('GET', `${P}/other`)).status, 404);
});

t.test('apply: what is refused, with a Status naming the problem', async (t) => {
  const a = await startApi(t);
  const apply = (name: string, opts: { body?: unknown; raw?: string }, query = KUBECTL_QUERY) =>
    a.request('PATCH', `${P}/${name}?${query}`, { ...opts, contentType: APPLY });

  const mismatch = await apply('blog', { body: ps('other') });
  t.equal(mismatch.status, 400, 'the name must match the path (create)');
  t.match(mismatch.body.message, /does not match the name in the URL/);
  await apply('blog', { body: ps('blog') });
  t.equal((await apply('blog', { body: ps('other') })).status, 400, 'the name must match the path (merge)');
  const noName = await apply('x', { body: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', spec: { serviceType: 'static' } } });
  t.equal(noName.status, 400);
  t.match(noName.body.message, /metadata\.name/);
  const noKind = await apply('x', { body: { metadata: { name: 'x' }, spec: { serviceType: 'static' } } });
  t.equal(noKind.status, 400);
  t.match(noKind.body.message, /apiVersion, kind/);
  const wrongKind = await apply('x', { body: { ...ps('x'), kind: 'Route' } });
  t.equal(wrongKind.status, 400);
  t.match(wrongKind.body.message, /kind "Route" does not match/);
  const wrongVersion = await apply('x', { body: { ...ps('x'), apiVersion: 'apps/v1' } });
  t.equal(wrongVersion.status, 400);

  const bad = await apply('x', { raw: 'metadata: { name: x\nspec: [' });
  t.equal(bad.status, 400, 'bad YAML');
  t.equal(bad.body.kind, 'Status');
  t.match(bad.body.message, /not valid YAML/);
  const two = await apply('x', { raw: 'a: 1\n---\nb: 2\n' });
  t.equal(two.status, 400, 'several YAML documents');
  t.match(two.body.message, /not valid YAML/);
  t.equal((await apply('x', { raw: '- a\n- b\n' })).status, 400, 'a list is not an applied configuration');
  t.equal((await apply('x', { raw: '' })).status, 400, 'an empty body');
  const unknown = await apply('blog', { body: { ...ps('blog'), spec: { serviceType: 'static', prot: 80 } } });
  t.equal(unknown.status, 400, 'validation is strict: an unknown field is an error');
  t.match(unknown.body.message, /prot/);
  t.equal((await a.request('GET', `${P}/x`)).status, 404, 'nothing was created by the refused applies');

  for (const v of ['Strict', 'Warn', 'Ignore']) {
    const r = await apply('blog', { body: ps('blog', { port: 81 }) }, `fieldManager=kubectl&fieldValidation=${v}`);
    t.equal(r.status, 200, `fieldValidation=${v} is accepted`);
    const u = await apply('blog', { body: { ...ps('blog'), spec: { serviceType: 'static', prot: 80 } } }, `fieldValidation=${v}`);
    t.equal(u.status, 400, `fieldValidation=${v}: still strict`);
  }
  t.equal((await apply('blog', { body: ps('blog') }, 'fieldValidation=Lenient')).status, 400, 'an unknown fieldValidation value');
  t.equal((await a.request('POST', `${P}?fieldValidation=lenient`, { body: ps('y') })).status, 400, 'checked on POST');
  t.equal((await a.request('PUT', `${P}/blog?fieldValidation=Warn`, { body: ps('blog') })).status, 200, 'accepted on PUT');
  t.equal((await apply('blog', { body: ps('blog') }, 'force=true')).status, 200);
  t.equal((await apply('blog', { body: ps('blog') }, 'force=perhaps')).status, 400);

  const json = await a.request('PATCH', `${P}/blog`, { body: ps('blog') });
  t.equal(json.status, 415, 'application/json is not a patch type');
  t.match(json.body.message, /merge-patch\+json.*json-patch\+json.*apply-patch\+yaml/);
});

t.test('dryRun=All saves nothing, for every write', async (t) => {
  const a = await startApi(t);
  await a.request('POST', P, { body: ps('blog', { port: 80 }, { finalizers: ['example.com/keep'] }) });
  const before = (await a.request('GET', `${P}/blog`)).body;
  const rev = await a.store.resources.currentRevision();
  const D = '?dryRun=All';
  const writes: [string, Promise<{ status: number; body: any }>][] = [
    ['POST', a.request('POST', `${P}${D}`, { body: ps('new') })],
    ['PUT create', a.request('PUT', `${P}/new2${D}`, { body: ps('new2') })],
    ['PUT update', a.request('PUT', `${P}/blog${D}`, { body: ps('blog', { port: 81 }, { finalizers: ['example.com/keep'] }) })],
    ['merge patch', a.request('PATCH', `${P}/blog${D}`, { body: { spec: { port: 82 } }, contentType: 'application/merge-patch+json' })],
    ['JSON patch', a.request('PATCH', `${P}/blog${D}`, { body: [{ op: 'replace', path: '/spec/port', value: 83 }], contentType: 'application/json-patch+json' })],
    ['apply create', a.request('PATCH', `${P}/new3${D}&${KUBECTL_QUERY}`, { body: ps('new3'), contentType: APPLY })],
    ['apply merge', a.request('PATCH', `${P}/blog${D}&${KUBECTL_QUERY}`, { body: ps('blog', { port: 84 }), contentType: APPLY })],
    ['status PUT', a.request('PUT', `${P}/blog/status${D}`, { body: { ...before, status: { health: 'healthy' } } })],
    ['status apply', a.request('PATCH', `${P}/blog/status${D}`, { body: { ...ps('blog'), status: { restartCount: 9 } }, contentType: APPLY })],
    ['DELETE', a.request('DELETE', `${P}/blog${D}`)],
    ['DELETE Orphan', a.request('DELETE', `${P}/blog${D}&propagationPolicy=Orphan`)],
  ];
  for (const [what, p] of writes) {
    const r = await p;
    t.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status}`);
  }
  const applied = await writes[6][1];
  t.equal(applied.body.spec.port, 84, 'a dry-run apply answers with the merged object');
  t.equal(await a.store.resources.currentRevision(), rev, 'no revision was written');
  t.same((await a.request('GET', `${P}/blog`)).body, before, 'the object is unchanged');
  for (const name of ['new', 'new2', 'new3']) t.equal((await a.request('GET', `${P}/${name}`)).status, 404, `${name} was not created`);
});
