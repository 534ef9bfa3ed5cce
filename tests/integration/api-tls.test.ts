// The API over HTTPS (api/tls.ts): a self-signed certificate made once and kept, the same routes
// served over TLS as over HTTP (a watch included, ended when the app closes), and GET /api/tls
// telling a client which URL and certificate to use.
import { request } from 'node:https';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadOrCreateCertificate, serveTls, subjectAltNames } from '../../api/tls.js';
import { startApi } from '../helpers/api.js';

function get(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a self-signed certificate is made once and kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [a, b] = await Promise.all([loadOrCreateCertificate(join(dir, 'tls')), loadOrCreateCertificate(join(dir, 'tls'))]);
  const c = await loadOrCreateCertificate(join(dir, 'tls'));
  t.match(c.cert, /BEGIN CERTIFICATE/);
  t.match(c.key, /PRIVATE KEY/);
  t.ok(c.cert === a.cert || c.cert === b.cert, 'two concurrent starts end with one pair on disk');
  t.equal((await loadOrCreateCertificate(join(dir, 'tls'))).cert, c.cert, 'the next start reads the same pair');
  t.equal((await stat(join(dir, 'tls', 'key.pem'))).mode & 0o777, 0o600, 'the key is private');
  t.ok(subjectAltNames('10.1.2.3').includes('IP:10.1.2.3'));
  t.ok(subjectAltNames('deployer.internal').includes('DNS:deployer.internal'));
  t.notOk(subjectAltNames('0.0.0.0').includes('IP:0.0.0.0'), 'a wildcard listen address is no name');
});

t.test('the API over HTTPS, verified against its own certificate', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const material = await loadOrCreateCertificate(dir, '127.0.0.1');
  let info: { url: string; certificate: string } | undefined;
  const a = await startApi(t, { tls: () => info });
  t.equal((await a.request('GET', '/api/tls')).status, 404, 'no HTTPS yet: 404 with a reason');
  t.match((await a.request('GET', '/api/tls')).body.message, /DEPLOYER_TLS_PORT=off/);

  const tls = await serveTls(a.api.app, material, '127.0.0.1', 0);
  t.teardown(() => tls.close());
  info = { url: `https://127.0.0.1:${tls.port}`, certificate: material.cert };
  const res = await a.request('GET', '/api/tls');
  t.equal(res.status, 200);
  t.equal(res.body.server, info.url);
  const ca = Buffer.from(res.body.certificateAuthorityData, 'base64').toString();
  t.equal(ca, material.cert, 'the certificate to trust, base64 as kubeconfig wants it');
  t.equal((await a.request('GET', '/api/tls', { token: null })).status, 401, 'needs a token');

  const list = await get(`${info.url}/apis/deployer.dev/v1/projectservers`, ca, a.adminToken);
  t.equal(list.status, 200);
  t.equal(JSON.parse(list.body).kind, 'ProjectServerList');
  t.equal((await get(`${info.url}/apis/deployer.dev/v1/projectservers`, ca, 'wrong')).status, 401, 'the same auth');
  await t.rejects(get(`${info.url}/version`, '', a.adminToken), 'an untrusted client refuses the certificate');

  // A watch over TLS ends when the app closes (watches are registered with the app).
  const watchEnded = new Promise<void>((resolve, reject) => {
    const req = request(`${info!.url}/apis/deployer.dev/v1/projectservers?watch=true`, { ca, headers: { authorization: `Bearer ${a.adminToken}` } }, (r) => {
      r.resume();
      r.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
  await new Promise((r) => setTimeout(r, 200));
  t.equal(a.api.openWatches(), 1);
  await a.api.app.close();
  await watchEnded;
  await tls.close();
  t.pass('the watch ended and the listener closed');
});
