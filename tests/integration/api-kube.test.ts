// What kubectl 1.32 reads beyond the resource paths: aggregated discovery v2, the OpenAPI v3
// index and document, core v1 Events, and the Status details it prints errors from.
import t from 'tap';
import { nsPath, ps, startApi } from '../helpers/api.js';

const KUBECTL_DISCOVERY_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const KINDS = [
  { kind: 'ProjectServer', plural: 'projectservers', status: true },
  { kind: 'Deployment', plural: 'deployments', status: true },
  { kind: 'Route', plural: 'routes', status: true },
  { kind: 'Event', plural: 'events', status: false },
];

t.test('discovery: aggregated v2 when asked, the legacy APIGroupList otherwise', async (t) => {
  const a = await startApi(t);

  const v2 = await a.request('GET', '/apis', { headers: { accept: KUBECTL_DISCOVERY_ACCEPT } });
  t.equal(v2.status, 200);
  t.equal(v2.headers.get('content-type'), 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', 'the exact content type client-go switches on');
  t.match(v2.headers.get('vary') ?? '', /Accept/);
  t.equal(v2.body.kind, 'APIGroupDiscoveryList');
  t.equal(v2.body.apiVersion, 'apidiscovery.k8s.io/v2');
  t.equal(v2.body.items.length, 1);
  const group = v2.body.items[0];
  t.equal(group.metadata.name, 'deployer.dev');
  t.equal(group.versions.length, 1);
  t.equal(group.versions[0].version, 'v1');
  t.equal(group.versions[0].freshness, 'Current');
  const resources = group.versions[0].resources;
  t.same(resources.map((r: any) => r.resource).sort(), KINDS.map((k) => k.plural).sort());
  for (const k of KINDS) {
    const r = resources.find((x: any) => x.resource === k.plural);
    t.same(r.responseKind, { group: 'deployer.dev', version: 'v1', kind: k.kind }, `${k.plural}: responseKind`);
    t.equal(r.scope, 'Namespaced');
    t.equal(r.singularResource, k.kind.toLowerCase());
    t.same([...r.verbs].sort(), ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
    t.ok(r.shortNames.length > 0, `${k.plural}: short names`);
    t.ok(r.categories.includes('deployer'));
    if (k.status) t.same(r.subresources, [{ subresource: 'status', responseKind: r.responseKind, verbs: ['get', 'patch', 'update'] }]);
    else t.notOk(r.subresources, `${k.plural}: no status subresource`);
  }

  // v2beta1 only, plain JSON, or nothing: the legacy list, unchanged
  for (const accept of [undefined, 'application/json', 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json']) {
    const legacy = await a.request('GET', '/apis', { headers: accept ? { accept } : {} });
    t.equal(legacy.status, 200);
    t.match(legacy.headers.get('content-type'), /^application\/json; charset=utf-8$/);
    t.same(legacy.body, {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: 'deployer.dev', versions: [{ groupVersion: 'deployer.dev/v1', version: 'v1' }], preferredVersion: { groupVersion: 'deployer.dev/v1', version: 'v1' } }],
    }, `legacy for Accept ${accept ?? '(none)'}`);
  }

  const core = await a.request('GET', '/api', { headers: { accept: KUBECTL_DISCOVERY_ACCEPT } });
  t.equal(core.status, 404, 'no legacy core group: client-go tolerates the 404');
  t.equal(core.body.kind, 'Status');

  const anon = await a.request('GET', '/apis', { token: null, headers: { accept: KUBECTL_DISCOVERY_ACCEPT } });
  t.equal(anon.status, 401);
});

/** Every `$ref` in `doc`, as JSON pointers. */
function refsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refsOf(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsOf(v, out);
    }
  }
  return out;
}

function resolvePointer(doc: any, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref.slice(2).split('/').reduce((cur, p) => (cur === undefined ? undefined : cur[p.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

t.test('OpenAPI v3: the index, the hashed document and what kubectl apply looks for in it', async (t) => {
  const a = await startApi(t);

  const index = await a.request('GET', '/openapi/v3');
  t.equal(index.status, 200);
  t.match(index.headers.get('cache-control'), /no-cache/);
  t.same(Object.keys(index.body.paths), ['apis/deployer.dev/v1']);
  const url: string = index.body.paths['apis/deployer.dev/v1'].serverRelativeURL;
  const m = url.match(/^\/openapi\/v3\/apis\/deployer\.dev\/v1\?hash=([0-9A-F]{128})$/);
  t.ok(m, `the document's URL carries its hash: ${url}`);
  const hash = m![1];

  const hashed = await a.request('GET', url);
  t.equal(hashed.status, 200);
  t.match(hashed.headers.get('content-type'), /^application\/json/);
  t.equal(hashed.headers.get('cache-control'), 'public, immutable', 'the hashed URL may be cached for good');
  t.ok(Date.parse(hashed.headers.get('expires') ?? '') > Date.now() + 300 * 24 * 3600 * 1000, 'expires in about a year');
  t.equal(hashed.headers.get('etag'), `"${hash}"`);

  const plain = await a.request('GET', '/openapi/v3/apis/deployer.dev/v1');
  t.equal(plain.status, 200);
  t.match(plain.headers.get('cache-control'), /no-cache/, 'the plain URL is revalidated');
  t.same(plain.body, hashed.body);

  const revalidated = await a.request('GET', '/openapi/v3/apis/deployer.dev/v1', { headers: { 'if-none-match': `"${hash}"` } });
  t.equal(revalidated.status, 304);

  const stale = await fetch(`${a.url}/openapi/v3/apis/deployer.dev/v1?hash=0123`, { headers: { authorization: `Bearer ${a.adminToken}` }, redirect: 'manual' });
  t.equal(stale.status, 301, 'a stale hash is redirected to the current document');
  t.equal(stale.headers.get('location'), url);
  await stale.text();

  t.equal((await a.request('GET', '/openapi/v3/apis/apps/v1')).status, 404);
  t.equal((await a.request('GET', '/openapi/v3', { token: null })).status, 401);

  const doc = hashed.body;
  t.match(doc.openapi, /^3\.0\./);
  for (const ref of new Set(refsOf(doc))) t.ok(resolvePointer(doc, ref) !== undefined, `$ref ${ref} resolves`);

  const ops = Object.entries(doc.paths as Record<string, any>).flatMap(([path, item]) =>
    ['get', 'put', 'post', 'patch', 'delete'].filter((v) => item[v]).map((v) => ({ path, verb: v, op: item[v] })),
  );
  for (const k of KINDS) {
    const gvk = { group: 'deployer.dev', version: 'v1', kind: k.kind };
    const mine = ops.filter((o) => o.op['x-kubernetes-group-version-kind']?.kind === k.kind);
    const paths = new Set(mine.map((o) => o.path));
    t.ok(paths.has(`/apis/deployer.dev/v1/namespaces/{namespace}/${k.plural}/{name}`), `${k.kind}: object path`);
    t.ok(paths.has(`/apis/deployer.dev/v1/namespaces/{namespace}/${k.plural}`), `${k.kind}: collection path`);
    t.ok(paths.has(`/apis/deployer.dev/v1/${k.plural}`), `${k.kind}: all-namespaces list path`);
    t.equal(paths.has(`/apis/deployer.dev/v1/namespaces/{namespace}/${k.plural}/{name}/status`), k.status, `${k.kind}: status path`);
    const patches = mine.filter((o) => o.verb === 'patch');
    t.equal(patches.length, k.status ? 2 : 1, `${k.kind}: PATCH operations`);
    for (const { op, path } of patches) {
      t.same(op['x-kubernetes-group-version-kind'], gvk, `${path}: the GVK`);
      t.equal(op['x-kubernetes-action'], 'patch');
      const names = op.parameters.map((p: any) => p.name);
      for (const n of ['fieldValidation', 'dryRun', 'fieldManager', 'force']) t.ok(names.includes(n), `${path}: operation-level ${n}`);
      t.same(Object.keys(op.requestBody.content).sort(), ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'], `${path}: patch types (no strategic merge: kubectl sends merge patches)`);
    }
    for (const o of mine) t.type(o.op['x-kubernetes-action'], 'string', `${o.verb} ${o.path}: x-kubernetes-action`);

    const schema = doc.components.schemas[`dev.deployer.v1.${k.kind}`];
    t.same(schema['x-kubernetes-group-version-kind'], [gvk], `${k.kind}: the schema carries its GVK`);
    t.ok(schema.properties.metadata, `${k.kind}: metadata`);
    t.same(doc.components.schemas[`dev.deployer.v1.${k.kind}List`]['x-kubernetes-group-version-kind'], [{ ...gvk, kind: `${k.kind}List` }]);
  }

  // converted to OpenAPI 3.0: enums instead of const/anyOf, string maps as additionalProperties
  const psSpec = doc.components.schemas['dev.deployer.v1.ProjectServer'].properties.spec;
  t.same(psSpec.properties.serviceType, { type: 'string', enum: ['static', 'docker'] });
  t.same(psSpec.required, ['serviceType']);
  t.same(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.labels, { type: 'object', additionalProperties: { type: 'string' } });
  t.notMatch(JSON.stringify(doc), /"const"|"patternProperties"|"\$id"/, 'no JSON Schema keywords OpenAPI 3.0 lacks');
});

t.test('core v1 Events: the describe query, scope, read-only', async (t) => {
  const a = await startApi(t);
  const created = await a.request('POST', nsPath('kube-a'), { body: ps('web') });
  t.equal(created.status, 201);
  const uid = created.body.metadata.uid;
  const event = (name: string, ns: string, involved: Record<string, string>, reason = 'Started') => ({
    metadata: { name },
    involvedObject: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', namespace: ns, ...involved },
    reason,
    message: `${reason} ${involved.name}`,
    type: 'Normal',
    count: 1,
    firstTimestamp: new Date().toISOString(),
    lastTimestamp: new Date().toISOString(),
    source: { component: 'projectserver-controller' },
  });
  for (const [ns, ev] of [
    ['kube-a', event('web-1', 'kube-a', { name: 'web', uid })],
    ['kube-a', event('web-2', 'kube-a', { name: 'web', uid: '00000000-0000-0000-0000-000000000000' }, 'Old')], // an earlier object of the same name
    ['kube-a', event('api-1', 'kube-a', { name: 'api' })],
    ['kube-b', event('web-1', 'kube-b', { name: 'web' })],
  ] as const) t.equal((await a.request('POST', nsPath(ns, 'events'), { body: ev })).status, 201);

  // exactly what kubectl describe sends
  const selector = `involvedObject.namespace=kube-a,involvedObject.kind=ProjectServer,involvedObject.uid=${uid},involvedObject.name=web`;
  const described = await a.request('GET', `/api/v1/namespaces/kube-a/events?fieldSelector=${encodeURIComponent(selector)}&limit=500`);
  t.equal(described.status, 200);
  t.equal(described.body.apiVersion, 'v1');
  t.equal(described.body.kind, 'EventList');
  t.type(described.body.metadata.resourceVersion, 'string');
  t.same(described.body.items.map((e: any) => e.metadata.name), ['web-1']);
  const e = described.body.items[0];
  t.equal(e.apiVersion, 'v1', 'items in the core shape');
  t.equal(e.kind, 'Event');
  t.match(e, { reason: 'Started', type: 'Normal', count: 1, source: { component: 'projectserver-controller' }, involvedObject: { kind: 'ProjectServer', name: 'web', uid } });

  const paged = await a.request('GET', '/api/v1/namespaces/kube-a/events?limit=2');
  t.equal(paged.body.items.length, 2);
  t.type(paged.body.metadata.continue, 'string');
  const rest = await a.request('GET', `/api/v1/namespaces/kube-a/events?limit=2&continue=${encodeURIComponent(paged.body.metadata.continue)}`);
  t.equal(rest.body.items.length, 1);

  const one = await a.request('GET', '/api/v1/namespaces/kube-a/events/web-1');
  t.equal(one.status, 200);
  t.equal(one.body.apiVersion, 'v1');
  t.equal(one.body.metadata.name, 'web-1');
  const missing = await a.request('GET', '/api/v1/namespaces/kube-a/events/nope');
  t.equal(missing.status, 404);
  t.equal(missing.body.kind, 'Status');

  const all = await a.request('GET', '/api/v1/events');
  t.same(all.body.items.map((x: any) => `${x.metadata.namespace}/${x.metadata.name}`).sort(), ['kube-a/api-1', 'kube-a/web-1', 'kube-a/web-2', 'kube-b/web-1']);

  // the same rules as /apis/deployer.dev/v1/namespaces/{ns}/events
  const viewer = await a.token('viewer-b', 'viewer', ['kube-b']);
  t.equal((await a.request('GET', '/api/v1/namespaces/kube-a/events', { token: viewer })).status, 403);
  t.equal((await a.request('GET', '/api/v1/namespaces/kube-a/events/web-1', { token: viewer })).status, 403);
  t.equal((await a.request('GET', '/api/v1/namespaces/kube-b/events', { token: viewer })).body.items.length, 1);
  const scoped = await a.request('GET', '/api/v1/events', { token: viewer });
  t.same(scoped.body.items.map((x: any) => x.metadata.namespace), ['kube-b'], 'across namespaces: only those the token sees');
  t.equal((await a.request('GET', '/api/v1/namespaces/kube-a/events', { token: null })).status, 401);

  const badField = await a.request('GET', '/api/v1/namespaces/kube-a/events?fieldSelector=spec.x%3Dy');
  t.equal(badField.status, 400);

  for (const [method, path] of [
    ['POST', '/api/v1/namespaces/kube-a/events'],
    ['DELETE', '/api/v1/namespaces/kube-a/events/web-1'],
    ['PUT', '/api/v1/namespaces/kube-a/events/web-1'],
    ['DELETE', '/api/v1/events'],
  ] as const) {
    const res = await a.request(method, path, method === 'DELETE' ? {} : { body: event('x', 'kube-a', { name: 'web' }) });
    t.equal(res.status, 405, `${method} ${path}`);
    t.equal(res.body.reason, 'MethodNotAllowed');
    t.equal(res.headers.get('allow'), 'GET');
  }
  t.equal((await a.request('GET', '/api/v1/namespaces/kube-a/events/web-1')).status, 200, 'nothing deleted');

  const watch = await a.request('GET', '/api/v1/namespaces/kube-a/events?watch=true');
  t.equal(watch.status, 400);
  t.match(watch.body.message, /\/apis\/deployer\.dev\/v1\/namespaces\/kube-a\/events\?watch=true/);
});

t.test('Status details: Invalid names the Kind, NotFound the plural; 415 names the patch types', async (t) => {
  const a = await startApi(t);
  const bad = await a.request('POST', nsPath('kube-a', 'deployments'), {
    body: { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'bad' }, spec: { projectServer: 'web', source: {} } },
  });
  t.equal(bad.status, 422);
  t.equal(bad.body.reason, 'Invalid');
  t.equal(bad.body.details.kind, 'Deployment', 'kubectl prints "The Deployment "bad" is invalid: …" from details.kind and details.name');
  t.equal(bad.body.details.name, 'bad');
  t.equal(bad.body.details.group, 'deployer.dev');
  t.equal(bad.body.details.causes[0].field, 'spec.source');

  await a.request('POST', nsPath('kube-a'), { body: ps('web') });
  const immutable = await a.request('PATCH', `${nsPath('kube-a')}/web`, { body: { metadata: { finalizers: ['x/y'] } }, contentType: 'application/merge-patch+json' });
  t.equal(immutable.status, 200);
  t.equal((await a.request('DELETE', `${nsPath('kube-a')}/web`)).status, 202);
  const added = await a.request('PATCH', `${nsPath('kube-a')}/web`, { body: { metadata: { finalizers: ['x/y', 'x/z'] } }, contentType: 'application/merge-patch+json' });
  t.equal(added.status, 422);
  t.equal(added.body.details.kind, 'ProjectServer', 'every Invalid from the object rules');
  await a.request('PATCH', `${nsPath('kube-a')}/web`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });

  const missing = await a.request('GET', `${nsPath('kube-a')}/nope`);
  t.equal(missing.status, 404);
  t.equal(missing.body.details.kind, 'projectservers', 'NotFound keeps the plural resource, as Kubernetes does');

  const smp = await a.request('PATCH', `${nsPath('kube-a')}/web`, { raw: '{}', contentType: 'application/strategic-merge-patch+json' });
  t.equal(smp.status, 415);
  t.equal(smp.body.reason, 'UnsupportedMediaType');
  for (const type of ['application/merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml'])
    t.match(smp.body.message, type, `the 415 names ${type}`);
  const post = await a.request('POST', nsPath('kube-a'), { raw: 'x', contentType: 'text/plain' });
  t.equal(post.status, 415);
  t.notMatch(post.body.message, /patch/, 'not on a POST');
});
