// The dashboard's page and assets: served without a token, with the right content types and
// no caching surprises; an unknown asset is a 404 Status; nothing outside api/dashboard/ can be
// reached (traversal attempts are sent raw, as a browser or fetch would normalise them).
import http from 'node:http';
import t from 'tap';
import { startApi } from '../helpers/api.js';

/** A GET with the path exactly as given (no normalisation of `..` or percent-escapes). */
function rawGet(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the page and its assets need no token', async (t) => {
  const a = await startApi(t);
  const page = await rawGet(a.url, '/');
  t.equal(page.status, 200);
  t.equal(page.type, 'text/html; charset=utf-8');
  t.match(page.body, /<title>deployer<\/title>/);
  const assets = [...page.body.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!);
  t.same(assets.sort(), ['/ui/dashboard.css', '/ui/dashboard.js']);
  const expected: Record<string, string> = {
    '/ui/dashboard.js': 'text/javascript; charset=utf-8',
    '/ui/dashboard.css': 'text/css; charset=utf-8',
    '/ui/watch.js': 'text/javascript; charset=utf-8',
    '/ui/table.js': 'text/javascript; charset=utf-8',
    '/ui/index.html': 'text/html; charset=utf-8',
  };
  for (const [path, type] of Object.entries(expected)) {
    const r = await a.request('GET', path, { token: null });
    t.equal(r.status, 200, `${path} without a token`);
    t.equal(r.headers.get('content-type'), type, `${path} is ${type}`);
    t.equal(r.headers.get('cache-control'), 'no-cache', `${path} is revalidated`);
  }
  // the modules the page imports are all served
  const main = (await a.request('GET', '/ui/dashboard.js', { token: null })).body as string;
  for (const m of main.matchAll(/from '\.\/([a-z-]+\.js)'/g)) t.equal((await a.request('GET', `/ui/${m[1]}`, { token: null })).status, 200, `./${m[1]} is served`);
  t.match(main, /sessionStorage/, 'the token is kept in the session');
  t.notMatch(page.body + main, /https?:\/\/(?!127\.0\.0\.1)/, 'no external resources');
});

t.test('unknown assets are 404 Status objects; traversal is refused', async (t) => {
  const a = await startApi(t);
  for (const path of ['/ui/nope.js', '/ui/dashboard.png', '/ui/.env', '/ui/', '/ui/Dashboard.JS']) {
    const r = await a.request('GET', path, { token: null });
    t.equal(r.status, 404, `${path}: 404`);
    t.match(r.body, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 }, `${path}: a Status`);
  }
  const traversals = [
    '/ui/../package.json',
    '/ui/..%2fpackage.json',
    '/ui/..%2F..%2Fpackage.json',
    '/ui/%2e%2e%2fserver.ts',
    '/ui/..%5capp.ts',
    '/ui/dashboard.js%00.css',
    '/ui/../routes/dashboard.ts',
  ];
  for (const path of traversals) {
    const r = await rawGet(a.url, path);
    t.equal(r.status, 404, `${path}: refused`);
    t.notMatch(r.body, /"name": "deployer"|import |dashboardRoutes/, `${path}: nothing outside api/dashboard is sent`);
    t.match(JSON.parse(r.body), { kind: 'Status', code: 404 }, `${path}: a Status`);
  }
  // the rest of the API still needs a token
  t.equal((await a.request('GET', '/apis/deployer.dev/v1/projectservers', { token: null })).status, 401);
  t.equal((await a.request('GET', '/uix', { token: null })).status, 401, 'only / and /ui/ are open');
});
