// proxy/caddy.ts against a fake admin API: apply loads a config only when the proxy's differs;
// a check with nothing changed on either side is a string compare (no parse, no load); a config
// edited behind deployer's back, or new routes, are found and loaded again; waitReady reads only
// the admin settings.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { CaddyProxy, type ProxyRoute } from '../../proxy/index.js';

async function fakeAdmin(t: Test) {
  let config: unknown = null;
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      if (req.method === 'POST' && req.url === '/load') config = JSON.parse(body);
      else if (req.method === 'GET' && req.url === '/config/admin/') return res.end(JSON.stringify((config as { admin?: unknown } | null)?.admin ?? null));
      res.setHeader('content-type', 'application/json');
      res.end(req.method === 'GET' ? JSON.stringify(config) : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { calls, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, edit: (f: (c: { apps: { http: { servers: unknown } } }) => void) => f(config as never) };
}

const route = (host: string): ProxyRoute => ({ id: `r-${host}`, host, pathPrefix: '/', upstream: 'site:80' });

t.test('apply loads only when the config differs; an unchanged check is a string compare; a hand edit is repaired', async (t) => {
  const a = await fakeAdmin(t);
  const p = new CaddyProxy({ adminUrl: a.url, ports: { http: 80, https: 443 }, adminListen: '0.0.0.0:2019' });
  await p.waitReady(1000);
  t.same(a.calls, ['GET /config/admin/'], 'waitReady reads the admin settings only');
  const routes = [route('a.test'), route('b.test')];
  t.equal(await p.apply(routes), true, 'a proxy without config: loaded');
  t.equal(await p.apply(routes), false, 'the same routes: nothing loaded');
  t.equal(await p.apply(routes), false, 'again: nothing loaded');
  t.same(a.calls.filter((c) => c === 'POST /load').length, 1, 'one load in all');
  a.edit((c) => (c.apps.http.servers = {}));
  t.equal(await p.apply(routes), true, 'a config edited by hand is loaded again');
  t.equal(await p.apply([route('a.test')]), true, 'other routes: loaded');
  t.equal(await p.apply([route('a.test')]), false);
  t.equal(a.calls.filter((c) => c === 'POST /load').length, 3);
});
