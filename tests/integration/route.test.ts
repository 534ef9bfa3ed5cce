// Acceptance 1–3 of the Routes issue, on real Caddy and real Docker: a Route to a static
// server serves through the proxy (Host header to the published port), changes take effect,
// deletion stops it; conflicts between Routes; `docker restart` and `docker rm -f` of the
// proxy — routes back within 5 s; a proxy config edited by hand is repaired.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName, proxyContainerName } from '../../docker/index.js';
import { kindByName } from '../../resources/index.js';
import { getWithHost } from '../helpers/installation.js';
import { PS_KIND, startControllers, type ControllerHarness } from '../helpers/controllers.js';

const run = promisify(execFile);
const ROUTE = kindByName('Route')!;
const NS = 'web';
const status = (o: any) => (o?.status ?? {}) as Record<string, any>;

async function proxyPort(h: ControllerHarness): Promise<number> {
  const s = await h.until(async () => (await h.docker.inspect(proxyContainerName(h.installation)))?.running && (await h.docker.inspect(proxyContainerName(h.installation))), 'the proxy');
  return s!.ports.find((p) => p.container === 80)!.hostPort;
}

const get = getWithHost;

// Docker runs a health check first one interval after the start (this engine has no start
// interval): 1 s instead of the default 10 s, so a site is healthy a second after it starts.
const FAST_HEALTH = { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1 };

async function site(h: ControllerHarness, name: string, files: Record<string, string>) {
  await h.store.resources.create(PS_KIND, NS, { metadata: { name }, spec: { serviceType: 'static', healthCheck: FAST_HEALTH } });
  const st = await h.until(async () => {
    const s = await h.docker.inspect(containerName(h.installation, { namespace: NS, name }));
    return s?.running && s;
  }, `server ${name}`);
  for (const [path, body] of Object.entries(files))
    await h.docker.exec(st!.id, ['sh', '-c', 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', 'sh', `/srv/static/${path}`, body]);
  await h.until(async () => status(await h.get(NS, name)).health === 'healthy', `server ${name} healthy`, 30_000);
}

const route = (name: string, spec: Record<string, unknown>) => ({ metadata: { name }, spec });

t.test('a Route serves through the proxy; changes take effect; deletion stops it', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route']);
  await site(h, 'blog', { 'site/current/index.html': 'blog v1', 'docs/current/index.html': 'the docs' });
  await site(h, 'shop', { 'site/current/index.html': 'shop home' });
  const port = await proxyPort(h);

  await h.store.resources.create(ROUTE, NS, route('blog', { host: 'blog.test', projectServer: 'blog' }));
  await h.until(async () => (await get(port, 'blog.test')).body === 'blog v1', 'blog.test through the proxy');
  const r = await h.until(async () => {
    const o = await h.store.resources.get(ROUTE, NS, 'blog');
    return status(o).ready === true && o;
  }, 'the Route to be ready');
  t.equal(status(r).url, `http://blog.test:${port}/`);
  t.match(status(r).conditions, [{ type: 'Ready', status: 'True' }, { type: 'Conflict', status: 'False' }]);
  t.equal((await get(port, 'other.test')).status, 404, 'another host gets 404');

  // change: another service, then another server, then a path prefix
  await h.store.resources.patch(ROUTE, NS, 'blog', 'merge', { spec: { service: 'docs' } });
  await h.until(async () => (await get(port, 'blog.test')).body === 'the docs', 'the service change');
  await h.store.resources.patch(ROUTE, NS, 'blog', 'merge', { spec: { projectServer: 'shop', service: null } });
  await h.until(async () => (await get(port, 'blog.test')).body === 'shop home', 'the server change');
  await h.store.resources.patch(ROUTE, NS, 'blog', 'merge', { spec: { pathPrefix: '/shop' } });
  await h.until(async () => (await get(port, 'blog.test', '/shop/')).body === 'shop home', 'the path prefix');
  t.equal((await get(port, 'blog.test', '/')).status, 404, 'outside the prefix: 404');

  // a Route to a server that does not exist: Ready=False, not applied
  await h.store.resources.create(ROUTE, NS, route('ghost', { host: 'ghost.test', projectServer: 'nope' }));
  const ghost = await h.until(async () => {
    const o = await h.store.resources.get(ROUTE, NS, 'ghost');
    return status(o).ready === false && o;
  }, 'the ghost Route status');
  t.match(status(ghost).conditions.find((c: any) => c.type === 'Ready'), { reason: 'ServerNotFound' });
  t.equal((await get(port, 'ghost.test')).status, 404);

  await h.store.resources.delete(ROUTE, NS, 'blog');
  await h.until(async () => (await get(port, 'blog.test', '/shop/')).status === 404, 'the deleted Route to stop serving');
});

t.test('two Routes for one host: the older keeps it, the newer gets Conflict; deleting the winner hands it over', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route']);
  await site(h, 'one', { 'site/current/index.html': 'one' });
  await site(h, 'two', { 'site/current/index.html': 'two' });
  const port = await proxyPort(h);
  await h.store.resources.create(ROUTE, NS, route('first', { host: 'same.test', projectServer: 'one' }));
  await h.until(async () => (await get(port, 'same.test')).body === 'one', 'the first Route');
  await new Promise((r) => setTimeout(r, 50)); // created later: the newer claimant
  await h.store.resources.create(ROUTE, NS, route('second', { host: 'same.test', projectServer: 'two' }));
  const second = await h.until(async () => {
    const o = await h.store.resources.get(ROUTE, NS, 'second');
    return status(o).conditions?.find((c: any) => c.type === 'Conflict')?.status === 'True' && o;
  }, 'Conflict on the newer Route');
  t.equal(status(second).ready, false);
  t.same(status(second).conflicts, [`${NS}/first`]);
  t.equal((await get(port, 'same.test')).body, 'one', 'the older one still serves');
  const first = await h.store.resources.get(ROUTE, NS, 'first');
  t.match(status(first).conditions.find((c: any) => c.type === 'Conflict'), { status: 'False', reason: 'Winner' });
  t.ok((await h.events(NS, 'second')).some((e: any) => e.reason === 'Conflict'), 'a Conflict Event');

  await h.store.resources.delete(ROUTE, NS, 'first');
  await h.until(async () => (await get(port, 'same.test')).body === 'two', 'the other Route takes the host');
  await h.until(async () => status(await h.store.resources.get(ROUTE, NS, 'second')).ready === true, 'and becomes ready');
});

t.test('drift: docker restart, docker rm -f and a hand-edited config are repaired', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route']);
  await site(h, 'blog', { 'site/current/index.html': 'hello' });
  await h.store.resources.create(ROUTE, NS, route('blog', { host: 'blog.test', projectServer: 'blog' }));
  let port = await proxyPort(h);
  await h.until(async () => (await get(port, 'blog.test')).body === 'hello', 'serving');
  const proxy = proxyContainerName(h.installation);

  // the published port is picked by Docker, so a recreated proxy has a new one
  const serving = async () => {
    const s = await h.docker.inspect(proxy);
    const p = s?.running && s.ports.find((x) => x.container === 80)?.hostPort;
    return !!p && (await get(p, 'blog.test')).body === 'hello';
  };
  let t0 = Date.now();
  await run('docker', ['restart', '-t', '1', proxy]);
  await h.until(serving, 'serving after docker restart', 5000 - (Date.now() - t0));
  t.pass(`back ${Date.now() - t0} ms after docker restart was asked`);

  t0 = Date.now();
  await run('docker', ['rm', '-f', proxy]);
  await h.until(serving, 'serving after docker rm -f', 5000 - (Date.now() - t0));
  t.pass(`back ${Date.now() - t0} ms after docker rm -f was asked`);
  port = await proxyPort(h);

  // a hand edit: the routes emptied through the admin API
  const s = (await h.docker.inspect(proxy))!;
  const admin = s.ports.find((p) => p.container === 2019)!;
  t.equal(admin.hostIp, '127.0.0.1', 'the admin API is published on loopback only');
  const res = await fetch(`http://127.0.0.1:${admin.hostPort}/config/apps/http/servers/deployer/routes`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: '[]',
  });
  t.equal(res.status, 200, 'config edited by hand (the next sync may repair it at once: no check in between)');
  await h.until(async () => (await get(port, 'blog.test')).body === 'hello', 'repaired by the drift check', 15_000);
});
