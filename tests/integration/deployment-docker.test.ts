// Docker servers deploy blue/green: the new image starts beside the old one, takes traffic
// only once it answers (and passes the server's httpGet health check, which deployer probes:
// no Docker health check, no wget needed), and the old container goes; a new container that
// fails never takes traffic.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName } from '../../docker/index.js';
import { startControllers } from '../helpers/controllers.js';
import { appImage, DEPLOYMENT, deploy, proxyPort, ROUTE, SERVER, settled, site, st } from '../helpers/deployments.js';

const NS = 'bg';

t.test('blue/green deployments of a docker server', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  const [v0, v1, v2, bad] = await Promise.all([appImage(h.docker, 'app v0'), appImage(h.docker, 'app v1'), appImage(h.docker, 'app v2'), appImage(h.docker, 'x', true)]);
  await h.store.resources.create(SERVER, NS, { metadata: { name: 'api' }, spec: { serviceType: 'docker', image: v0, port: 8080 } });
  await h.store.resources.create(ROUTE, NS, { metadata: { name: 'api' }, spec: { host: 'api.test', projectServer: 'api' } });
  const port = await proxyPort(h);
  const body = async () => (await site(port, 'api.test')).body;
  await h.until(async () => (await body()) === 'app v0', 'the server image through the proxy', 30_000);
  const base = containerName(h.installation, { namespace: NS, name: 'api' });
  const servers = async () => (await h.docker.listContainers([`deployer.dev/installation=${h.installation}`, 'deployer.dev/role=server'])).map((c) => c.name).sort();

  await deploy(h, NS, 'one', 'api', { image: { name: v1 } });
  let d = await settled(h, NS, 'one');
  t.equal(st(d).phase, 'active', st(d).message);
  t.equal(await body(), 'app v1');
  t.same(await servers(), [`${base}_b`], 'the new container runs in slot b; the old one is gone');
  let ps = await h.get(NS, 'api');
  t.match(st(ps).services.site, { deployment: 'one', image: v1, slot: 'b' });
  t.equal(st(ps).currentDeployment, 'one');

  await deploy(h, NS, 'two', 'api', { image: { name: v2 } }, { healthCheck: { path: '/', contains: 'v2' } });
  d = await settled(h, NS, 'two');
  t.equal(st(d).phase, 'active', st(d).message);
  t.equal(await body(), 'app v2');
  t.same(await servers(), [base], 'back in slot a');
  await h.until(async () => st(await h.store.resources.get(DEPLOYMENT, NS, 'one')).phase === 'superseded', 'one superseded');

  await deploy(h, NS, 'broken', 'api', { image: { name: bad } }, { progressDeadlineSeconds: 20 });
  d = await settled(h, NS, 'broken');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /never became ready[\s\S]*no config/);
  t.equal(await body(), 'app v2', 'a failed new container never took traffic');
  t.same(await servers(), [base], 'and it is gone');

  await deploy(h, NS, 'missing', 'api', { image: { name: 'deployer-test/nope:1' } });
  d = await settled(h, NS, 'missing');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /ImageNotFound/);

  await deploy(h, NS, 'files', 'api', { inline: { files: { 'a.txt': 'a' } } });
  d = await settled(h, NS, 'files');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /needs source.image/);

  ps = await h.get(NS, 'api');
  t.match(st(ps).services.site, { deployment: 'two', image: v2, slot: 'a' });
  t.equal(st(ps).health, 'healthy');
});

t.test('a docker server’s httpGet health check: probed by deployer, and a new release takes traffic only once it passes', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  const [up0, noUp, up1] = await Promise.all([
    appImage(h.docker, 'up v0', false, { 'up.txt': 'ok' }),
    appImage(h.docker, 'no up'),
    appImage(h.docker, 'up v1', false, { 'up.txt': 'ok' }),
  ]);
  const check = { httpGet: { path: '/up.txt', port: 8080 }, intervalSeconds: 1 };
  await h.store.resources.create(SERVER, NS, { metadata: { name: 'probed' }, spec: { serviceType: 'docker', image: up0, port: 8080, healthCheck: check } });
  await h.store.resources.create(ROUTE, NS, { metadata: { name: 'probed' }, spec: { host: 'probed.test', projectServer: 'probed' } });
  await h.until(async () => st(await h.get(NS, 'probed')).health === 'healthy', 'healthy by the probe', 30_000);
  const base = containerName(h.installation, { namespace: NS, name: 'probed' });
  const { stdout } = await promisify(execFile)('docker', ['inspect', '--format', '{{json .Config.Healthcheck}}', base]);
  t.equal(stdout.trim(), 'null', 'Docker runs no health check in the container');
  const port = await proxyPort(h);
  await h.until(async () => (await site(port, 'probed.test')).body === 'up v0', 'v0 through the proxy', 30_000);

  await deploy(h, NS, 'no-up', 'probed', { image: { name: noUp } }, { progressDeadlineSeconds: 8 });
  let d = await settled(h, NS, 'no-up');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /its health check does not pass \(GET \/up\.txt answered 404\)/);
  t.equal((await site(port, 'probed.test')).body, 'up v0', 'the release failing its check never took traffic');

  await deploy(h, NS, 'up', 'probed', { image: { name: up1 } });
  d = await settled(h, NS, 'up');
  t.equal(st(d).phase, 'active', st(d).message);
  t.equal((await site(port, 'probed.test')).body, 'up v1');
  await h.until(async () => st(await h.get(NS, 'probed')).health === 'healthy', 'the new release healthy by the probe', 30_000);
});
