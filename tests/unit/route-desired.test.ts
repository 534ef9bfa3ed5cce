// The route controller's pure parts: which Routes the proxy gets and what their status says
// (controllers/route/desired.ts), and the Caddy config they become (proxy/config.ts).
import t from 'tap';
import { desiredProxy, OTHER_NAMESPACE } from '../../controllers/route/desired.js';
import { appsConfig, dialsByRoute } from '../../proxy/index.js';
import type { ProjectServer, Route } from '../../schemas/index.js';

const route = (name: string, spec: Partial<Route['spec']>, created = '2026-01-01T00:00:00Z', ns = 'web'): Route => ({
  apiVersion: 'deployer.dev/v1',
  kind: 'Route',
  metadata: { name, namespace: ns, uid: `u-${name}`, generation: 1, creationTimestamp: created, resourceVersion: '1' },
  spec: { host: 'a.test', projectServer: 'site', ...spec },
});
const server = (name: string, spec: Partial<ProjectServer['spec']> = {}, ready = true, ns = 'web'): ProjectServer => ({
  apiVersion: 'deployer.dev/v1',
  kind: 'ProjectServer',
  metadata: { name, namespace: ns, uid: `s-${name}` },
  spec: { serviceType: 'static', ...spec },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', message: ready ? 'ok' : 'exited with code 1' }] },
});
const O = { installation: 'abcdef99', httpPort: 8081, httpsPort: 8443 };

t.test('a static route: upstream by container name, rewrite to /<service>/current, url and Ready', async (t) => {
  const d = desiredProxy([route('r', { pathPrefix: '/' })], [server('site')], O);
  t.same(d.routes, [{ id: 'route-web-r', host: 'a.test', pathPrefix: '/', upstream: 'dp-abcdef-web_site:80', rewritePrefix: '/site/current' }]);
  t.match(d.verdicts[0], { applied: true, ready: true, url: 'http://a.test:8081/', conflicts: [] });
  t.match(d.verdicts[0].conditions, [{ type: 'Ready', status: 'True', reason: 'Serving' }, { type: 'Conflict', status: 'False', reason: 'NoConflict' }]);
  const docs = desiredProxy([route('r', { service: 'docs', port: 8080 })], [server('site')], { ...O, httpPort: 80 });
  t.match(docs.routes[0], { rewritePrefix: '/docs/current', upstream: 'dp-abcdef-web_site:8080' });
  t.equal(docs.verdicts[0].url, 'http://a.test/');
});

t.test('docker servers keep the path; a server not ready is applied but not Ready; a missing one is not applied', async (t) => {
  const d = desiredProxy(
    [route('app', { projectServer: 'app', host: 'app.test' }), route('down', { projectServer: 'down', host: 'down.test' }), route('ghost', { projectServer: 'nope', host: 'g.test' })],
    [server('app', { serviceType: 'docker', image: 'x', port: 3000 }), server('down', {}, false)],
    O,
  );
  t.same(d.routes.map((r) => r.id).sort(), ['route-web-app', 'route-web-down']);
  t.notOk('rewritePrefix' in d.routes.find((r) => r.id === 'route-web-app')!);
  const by = (n: string) => d.verdicts.find((v) => v.route.metadata.name === n)!;
  t.match(by('down').conditions[0], { status: 'False', reason: 'ServerNotReady', message: /exited with code 1/ });
  t.match(by('ghost'), { applied: false, ready: false });
  t.match(by('ghost').conditions[0], { reason: 'ServerNotFound' });
  const noPort = desiredProxy([route('x', { projectServer: 'app' })], [server('app', { serviceType: 'docker', image: 'x' })], O);
  t.match(noPort.verdicts[0].conditions[0], { reason: 'NoPort' });
  t.same(noPort.routes, []);
  t.same(desiredProxy([route('x', {})], [server('site', {}, true, 'other')], O).routes, [], 'a server of another namespace is not found');
});

t.test('conflicts: the older Route keeps host and path; the newer is not applied', async (t) => {
  const a = route('a', { pathPrefix: '/blog/' }, '2026-01-01T00:00:01Z');
  const b = route('b', { pathPrefix: '/blog' }, '2026-01-01T00:00:00Z');
  const c = route('c', { pathPrefix: '/shop' }, '2026-01-01T00:00:00Z');
  const d = desiredProxy([a, b, c], [server('site')], O);
  t.same(d.routes.map((r) => r.id).sort(), ['route-web-b', 'route-web-c'], '"/blog/" and "/blog" are one claim');
  const by = (n: string) => d.verdicts.find((v) => v.route.metadata.name === n)!;
  t.match(by('a'), { applied: false, ready: false, conflicts: ['web/b'] });
  t.match(by('a').conditions[1], { type: 'Conflict', status: 'True', reason: 'HostPathTaken' });
  t.match(by('b').conditions[1], { type: 'Conflict', status: 'False', reason: 'Winner' });
  t.same(by('b').conflicts, ['web/a']);
  const tie = desiredProxy([route('z', {}), route('y', {})], [server('site')], O);
  t.same(tie.routes.map((r) => r.id), ['route-web-y'], 'same second: the name decides');
  const deleting = { ...b, metadata: { ...b.metadata, deletionTimestamp: '2026-01-02T00:00:00Z' } };
  t.same(desiredProxy([a, deleting], [server('site')], O).routes.map((r) => r.id), ['route-web-a'], 'a Route being deleted claims nothing');
});

t.test('across namespaces: a host is first come, and the loser learns no name of the other namespace', async (t) => {
  const mine = route('blog', { host: 'blog.test', pathPrefix: '/' }, '2026-01-01T00:00:00Z', 'tenant-a');
  const same = route('hijack', { host: 'blog.test', pathPrefix: '/' }, '2026-01-01T00:00:01Z', 'tenant-b');
  const admin = route('admin', { host: 'blog.test', pathPrefix: '/admin' }, '2026-01-01T00:00:02Z', 'tenant-b');
  const twin = route('twin', { host: 'blog.test', pathPrefix: '/' }, '2026-01-01T00:00:03Z', 'tenant-a');
  const d = desiredProxy([admin, same, twin, mine], [server('site', {}, true, 'tenant-a'), server('site', {}, true, 'tenant-b')], O);
  t.same(d.routes.map((r) => r.id), ['route-tenant-a-blog'], 'tenant-b gets no path of the host, not even another prefix');
  const by = (n: string) => d.verdicts.find((v) => v.route.metadata.name === n)!;
  for (const loser of [by('hijack'), by('admin')]) {
    t.match(loser, { applied: false, ready: false, conflicts: [OTHER_NAMESPACE] });
    t.match(loser.conditions[1], { type: 'Conflict', status: 'True', reason: 'HostInUse', message: 'host blog.test is already in use by another namespace; this Route is not applied (choose another host)' });
    t.match(loser.conditions[0], { type: 'Ready', status: 'False', reason: 'Conflict' });
    t.notMatch(JSON.stringify(loser.conditions) + loser.conflicts.join(), /tenant-a|\bblog\b(?!\.test)|twin/, 'nothing of tenant-a is named');
  }
  // within the owner's namespace the winner is still named, and the winner names its own losers only
  t.match(by('twin'), { applied: false, conflicts: ['tenant-a/blog'] });
  t.match(by('twin').conditions[1], { reason: 'HostPathTaken', message: /already routed by tenant-a\/blog/ });
  t.same(by('blog').conflicts, ['tenant-a/twin']);
  t.notMatch(JSON.stringify(by('blog').conditions), /tenant-b|hijack|admin/, 'the winner is not told the names of the other namespace either');
  // the owner gone, the next oldest claim takes the host
  const after = desiredProxy([admin, same], [server('site', {}, true, 'tenant-b')], O);
  t.same(after.routes.map((r) => r.id).sort(), ['route-tenant-b-admin', 'route-tenant-b-hijack']);
});

t.test('the Caddy config: most specific first, prefix stripped for static, a 404 fallback, TLS routes apart', async (t) => {
  const apps = appsConfig(
    [
      { id: 'root', host: 'a.test', pathPrefix: '/', upstream: 'u:80', rewritePrefix: '/site/current' },
      { id: 'blog', host: 'a.test', pathPrefix: '/blog', upstream: 'u:80', rewritePrefix: '/site/current' },
      { id: 'app', host: 'b.test', pathPrefix: '/', upstream: 'app:3000' },
      { id: 'secure', host: 's.test', pathPrefix: '/', upstream: 'app:3000', tls: true },
    ],
    { http: 80, https: 443 },
  ) as any;
  const plain = apps.http.servers.deployer;
  t.same(plain.listen, [':80']);
  t.same(plain.automatic_https, { disable: true });
  t.same(plain.routes.map((r: any) => r['@id']), ['blog', 'root', 'app', 'deployer-fallback']);
  t.same(plain.routes[0].match, [{ host: ['a.test'], path: ['/blog', '/blog/*'] }]);
  t.same(plain.routes[0].handle.slice(0, 2), [
    { handler: 'rewrite', strip_path_prefix: '/blog' },
    { handler: 'rewrite', uri: '/site/current{http.request.uri}' },
  ]);
  t.same(plain.routes[1].match, [{ host: ['a.test'] }], 'the root prefix matches every path');
  t.same(plain.routes[2].handle, [{ handler: 'reverse_proxy', upstreams: [{ dial: 'app:3000' }] }], 'no rewrite for docker servers');
  t.match(plain.routes[3].handle[0], { handler: 'static_response', status_code: 404 });
  t.same(apps.http.servers['deployer-tls'].routes.map((r: any) => r['@id']), ['secure']);
  t.notOk('deployer-tls' in (appsConfig([], { http: 80, https: 443 }) as any).http.servers, 'no TLS server without TLS routes');
});

t.test('a docker server routes to the slot of its live release (blue/green); the config read back names the dials', async (t) => {
  const app = server('app', { serviceType: 'docker', image: 'x', port: 3000 });
  t.equal(desiredProxy([route('r', { projectServer: 'app' })], [app], O).routes[0]!.upstream, 'dp-abcdef-web_app:3000', 'no release: slot a');
  app.status!.services = { site: { deployment: 'v2', image: 'x:2', slot: 'b' } };
  const d = desiredProxy([route('r', { projectServer: 'app' })], [app], O);
  t.equal(d.routes[0]!.upstream, 'dp-abcdef-web_app_b:3000', 'slot b');
  const dials = dialsByRoute({ apps: appsConfig(d.routes, { http: 80, https: 443 }) });
  t.same(dials.get('route-web-r'), ['dp-abcdef-web_app_b:3000']);
  t.same(dialsByRoute(null), new Map());
  const stat = server('s');
  stat.status!.services = { site: { deployment: 'v2', dir: 'deployment-v2', slot: 'b' } };
  t.equal(desiredProxy([route('r', { projectServer: 's' })], [stat], O).routes[0]!.upstream, 'dp-abcdef-web_s:80', 'static servers have one container');
});
