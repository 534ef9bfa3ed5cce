// Tenant isolation (issue 9, third bullet): a Route or Deployment names its ProjectServer by
// name, in its own namespace. On real controllers (projectserver, route, deployment), real
// Docker and the real proxy: namespace b serves a site "shop"; a Route of namespace a naming
// "shop" is not applied (Ready=False, ServerNotFound, naming a's namespace) and its host does
// not reach b's server; a Deployment of a naming "shop" waits for a server of a and never
// touches b's; a's Routes for b's host (any path) lose it, told only "in use by another
// namespace". References that try to leave the namespace ("b/shop", "../shop", an object
// with a namespace, a namespace field) are refused with a Status before anything is stored.
// Last: Docker names join namespace and name with "_" (which no DNS label holds), so
// ProjectServer "b-shop" of namespace "tenant" and "shop" of "tenant-b" never share a
// container or a volume.
import t from 'tap';
import { containerLogSource, containerName, proxyContainerName, volumeName } from '../../docker/index.js';
import { startApi } from '../helpers/api.js';
import { PS_KIND, startControllers, type ControllerHarness } from '../helpers/controllers.js';
import { DEPLOYMENT, ROUTE, st } from '../helpers/deployments.js';
import { getWithHost } from '../helpers/installation.js';

const A = 'tenant-a';
const B = 'tenant-b';
const G = '/apis/deployer.dev/v1';

async function proxyPort(h: ControllerHarness): Promise<number> {
  const s = await h.until(async () => {
    const c = await h.docker.inspect(proxyContainerName(h.installation));
    return c?.running && c;
  }, 'the proxy', 30_000);
  return s.ports.find((p) => p.container === 80)!.hostPort;
}

async function staticServer(h: ControllerHarness, ns: string, name: string, index: string): Promise<void> {
  await h.store.resources.create(PS_KIND, ns, { metadata: { name }, spec: { serviceType: 'static' } });
  const c = await h.until(async () => {
    const s = await h.docker.inspect(containerName(h.installation, { namespace: ns, name }));
    return s?.running && s;
  }, `server ${ns}/${name}`, 30_000);
  await h.docker.exec(c.id, ['sh', '-c', 'mkdir -p /srv/static/site/current && printf %s "$1" > /srv/static/site/current/index.html', 'sh', index]);
}

t.test('a Route or Deployment of namespace a cannot reach namespace b’s ProjectServer', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  const api = await startApi(t, { connectionString: h.connectionString, logs: containerLogSource(h.docker, async () => h.installation) });
  const editorA = await api.token('editor-a', 'editor', [A]);
  await staticServer(h, B, 'shop', 'the shop of b');
  const port = await proxyPort(h);
  await h.store.resources.create(ROUTE, B, { metadata: { name: 'shop' }, spec: { host: 'shop-b.test', projectServer: 'shop' } });
  await h.until(async () => (await getWithHost(port, 'shop-b.test')).body === 'the shop of b', 'b’s Route to serve b’s shop');

  // a's Route names "shop": there is none in a
  const made = await api.request('POST', `${G}/namespaces/${A}/routes`, { token: editorA, body: { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'shop' }, spec: { host: 'shop-a.test', projectServer: 'shop' } } });
  t.equal(made.status, 201, 'the Route itself is a’s to make');
  const route = await h.until(async () => {
    const r = await h.store.resources.get(ROUTE, A, 'shop');
    return st(r).conditions?.some((c: any) => c.type === 'Ready') && r;
  }, 'a’s Route to get a verdict');
  t.match(st(route), { ready: false, conditions: [{ type: 'Ready', status: 'False', reason: 'ServerNotFound', message: `ProjectServer "shop" does not exist in namespace "${A}"` }] });
  const viaA = await getWithHost(port, 'shop-a.test');
  t.not(viaA.body, 'the shop of b', 'shop-a.test does not reach b’s server');
  t.equal(viaA.status, 404, 'the proxy has no route for it');

  // a's Deployment names "shop": it waits for a server of a, and b's site is untouched
  const dep = await api.request('POST', `${G}/namespaces/${A}/deployments`, {
    token: editorA,
    body: { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'take-over' }, spec: { projectServer: 'shop', source: { inline: { files: { 'index.html': 'taken over by a' } } } } },
  });
  t.equal(dep.status, 201);
  const waiting = await h.until(async () => {
    const d = await h.store.resources.get(DEPLOYMENT, A, 'take-over');
    return /waiting for ProjectServer/.test(st(d).message ?? JSON.stringify(st(d).conditions ?? [])) && d;
  }, 'the Deployment to say what it waits for');
  t.match(JSON.stringify(st(waiting)), `waiting for ProjectServer \\"shop\\" to exist in namespace \\"${A}\\"`);
  t.notMatch(st(waiting).phase ?? 'queued', /active|copying_files|creating_symlinks/, 'it went nowhere');
  const bServer = await h.store.resources.get(PS_KIND, B, 'shop');
  t.notOk(JSON.stringify(bServer).includes('take-over'), 'b’s server knows nothing of a’s Deployment');
  t.equal((await getWithHost(port, 'shop-b.test')).body, 'the shop of b', 'b’s site still serves b’s files');
  const bEvents = await api.request('GET', `${G}/namespaces/${B}/events`);
  t.notOk(JSON.stringify(bEvents.body).includes('take-over'), 'no Event in b about a’s Deployment');

  // b's host is b's (first come): a's Routes for it, same path or another, are not applied, and
  // what they are told names nothing of b
  for (const [name, pathPrefix] of [['hijack', '/'], ['hijack-admin', '/admin']]) {
    const res = await api.request('POST', `${G}/namespaces/${A}/routes`, { token: editorA, body: { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name }, spec: { host: 'shop-b.test', pathPrefix, projectServer: 'shop' } } });
    t.equal(res.status, 201);
    const lost = await h.until(async () => {
      const r = await h.store.resources.get(ROUTE, A, name);
      return st(r).conditions?.some((c: any) => c.type === 'Conflict') && r;
    }, `a’s Route ${name} to get a verdict`);
    t.match(st(lost), {
      ready: false,
      conflicts: ['(another namespace)'],
      conditions: [
        { type: 'Ready', status: 'False', reason: 'Conflict' },
        { type: 'Conflict', status: 'True', reason: 'HostInUse', message: 'host shop-b.test is already in use by another namespace; this Route is not applied (choose another host)' },
      ],
    }, `${name} (${pathPrefix}): HostInUse`);
    t.notOk(JSON.stringify(st(lost)).includes(B), `${name}: its status never names ${B}`);
  }
  const conflictEvents = await h.until(async () => {
    const evs = (await api.request('GET', `${G}/namespaces/${A}/events`, { token: editorA })).body.items.filter((e: any) => e.reason === 'Conflict');
    return evs.length === 2 && evs;
  }, 'a Conflict Event for each');
  t.ok(conflictEvents.every((e: any) => /in use by another namespace/.test(e.message) && !JSON.stringify(e).includes(B)), 'the Conflict Events name nothing of b');
  t.equal((await getWithHost(port, 'shop-b.test')).body, 'the shop of b', 'and b’s host still serves b');
  const bRoute = st(await h.store.resources.get(ROUTE, B, 'shop'));
  t.same(bRoute.conflicts, [], 'b’s Route keeps its host and hears nothing of a’s');
  t.match(bRoute.conditions.find((c: any) => c.type === 'Conflict'), { status: 'False', reason: 'NoConflict' });

  // a's logs of "shop" are a's: there is no such server in a
  const log = await api.request('GET', `${G}/namespaces/${A}/projectservers/shop/log`, { token: editorA });
  t.equal(log.status, 404);

  // references that try to leave the namespace never get stored
  const refs: [string, unknown][] = [
    ['"tenant-b/shop"', 'tenant-b/shop'],
    ['"../shop"', '../shop'],
    ['"shop/.."', 'shop/..'],
    ['".."', '..'],
    ['"tenant-b.shop"', 'tenant-b.shop'],
    ['an object with a namespace', { name: 'shop', namespace: B }],
  ];
  for (const [what, ref] of refs) {
    for (const [plural, spec] of [
      ['routes', { host: 'x.test', projectServer: ref }],
      ['deployments', { projectServer: ref, source: { inline: { files: { a: 'b' } } } }],
    ] as const) {
      const res = await api.request('POST', `${G}/namespaces/${A}/${plural}`, { token: editorA, body: { apiVersion: 'deployer.dev/v1', kind: plural === 'routes' ? 'Route' : 'Deployment', metadata: { name: 'escape' }, spec } });
      t.match(res, { status: 422, body: { kind: 'Status', reason: 'Invalid', message: /projectServer/ } }, `${plural}: projectServer ${what} is refused (422)`);
    }
  }
  for (const [plural, spec] of [
    ['routes', { host: 'x.test', projectServer: 'shop', namespace: B }],
    ['deployments', { projectServer: 'shop', projectServerNamespace: B, source: { inline: { files: { a: 'b' } } } }],
  ] as const) {
    const res = await api.request('POST', `${G}/namespaces/${A}/${plural}`, { token: editorA, body: { apiVersion: 'deployer.dev/v1', kind: plural === 'routes' ? 'Route' : 'Deployment', metadata: { name: 'escape' }, spec } });
    // an unknown field is a strict-decoding 400, as Kubernetes answers it
    t.match(res, { status: 400, body: { kind: 'Status', reason: 'BadRequest', message: /unknown field "spec\.(namespace|projectServerNamespace)"/ } }, `${plural}: a namespace field beside the reference is refused`);
  }
  for (const plural of ['routes', 'deployments']) t.equal((await api.request('GET', `${G}/namespaces/${A}/${plural}/escape`)).status, 404, `no ${plural} "escape" was stored`);
  // and a patch cannot sneak one in either
  const patched = await api.request('PATCH', `${G}/namespaces/${A}/routes/shop`, { token: editorA, body: { spec: { projectServer: 'tenant-b/shop' } }, contentType: 'application/merge-patch+json' });
  t.equal(patched.status, 422, 'a patch to "tenant-b/shop" is refused');

  // the harness removes the installation's containers, volumes and network at teardown
});

// Docker names must keep namespaces apart: were namespace "tenant" with server "b-shop" and
// namespace "tenant-b" with server "shop" given one container name and one volume name, the
// second server could not start, a Route to either would reach whichever container holds the
// name, the log endpoint would read it, and the volume (and its files) would be shared.
t.test(
  'Docker names of servers in different namespaces never coincide',
  async (t) => {
    const pairs = [
      [{ namespace: 'tenant', name: 'b-shop' }, { namespace: B, name: 'shop' }],
      [{ namespace: 'a', name: 'b-c' }, { namespace: 'a-b', name: 'c' }],
    ];
    for (const [x, y] of pairs) {
      t.not(containerName('f0af03', x), containerName('f0af03', y), `containers of ${x.namespace}/${x.name} and ${y.namespace}/${y.name}`);
      t.not(volumeName('f0af03', x), volumeName('f0af03', y), `volumes of ${x.namespace}/${x.name} and ${y.namespace}/${y.name}`);
    }
  },
);
