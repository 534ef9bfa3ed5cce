// Issue 9, outages: dockerd stopped and started. Deployer (projectserver, route and deployment
// controllers) runs against an engine of this test's own (tests/helpers/dockerd.ts), so the
// rest of the suite keeps /var/run/docker.sock. A static site is served through the proxy;
// the engine is stopped (SIGTERM) in the middle of a second deployment's build. While it is
// down: the ProjectServer says DockerUnavailable (condition and one Warning Event), the Deployment
// is not failed and says it waits for Docker, and deployer keeps answering its API. Once the
// engine is started again (same data root): Docker's unless-stopped brings the same server
// container back, the condition clears, the deployment resumes and goes active, the new release
// is served through the proxy, and no helper container is left.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';
import { containerName, DockerRuntime, installationFilter, LABELS, proxyContainerName } from '../../docker/index.js';
import { caddyImage, staticImage } from '../../images/index.js';
import { migrate } from '../../store/index.js';
import { startDockerd } from '../helpers/dockerd.js';
import { getWithHost, removeInstallation, until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';
import { api, freePort, spawnServer } from '../helpers/process.js';

const NS = 'outage';
const API = `/apis/deployer.dev/v1/namespaces/${NS}`;
const TOKEN = 'docker-outage-token';
const HOST = 'outage.test';

t.test('dockerd stopped and started: DockerUnavailable reported, then everything reconverges', async (t) => {
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const engine = await startDockerd(t);
  t.comment(`own dockerd answers at ${engine.socket} after ${since()}`);
  const db = await freshDatabase(t);
  await migrate(db);
  const client = new pg.Client({ connectionString: db });
  await client.connect();
  const installation = (await client.query<{ id: string }>('SELECT id FROM installation')).rows[0].id;
  await client.end();
  // registered after the engine's teardown, so it runs before it (tap runs teardowns last-in first-out)
  t.teardown(() => (engine.running() ? removeInstallation(engine.docker, installation).catch(() => undefined) : undefined));

  // deployer/static and deployer/caddy copied from the host's engine (built there once for the
  // suite) rather than built again in the fresh one: that took ~20 s of this file's minute
  const host = new DockerRuntime({ socketPath: '/var/run/docker.sock' });
  const images = [await host.ensureImage(staticImage()), await host.ensureImage(caddyImage())];
  await promisify(execFile)('sh', ['-c', `docker -H unix:///var/run/docker.sock save ${images.join(' ')} | docker -H ${engine.host} load -q`]);
  t.comment(`images copied into the engine after ${since()}`);
  const proxyPort = await freePort();
  const server = await spawnServer(t, {
    DATABASE_URL: db,
    DOCKER_HOST: engine.host,
    DEPLOYER_DATA_DIR: `${engine.dir}/deployer`,
    DEPLOYER_ADMIN_TOKEN: TOKEN,
    DEPLOYER_CONTROLLERS: 'projectserver,route,deployment',
    DEPLOYER_PROXY_PORT: String(proxyPort),
    DEPLOYER_PROXY_HTTPS_PORT: '0',
    DEPLOYER_STATIC_IMAGE: images[0],
    DEPLOYER_PROXY_IMAGE: images[1],
  });
  await server.waitReady();
  // on failure: what deployer and the engine said (registered last: runs first, before they go)
  t.teardown(async () => {
    if (t.passing()) return;
    t.comment(`deployer's output (end):\n${server.output().slice(-6000)}`);
    t.comment(`dockerd's log (end):\n${(await engine.log()).slice(-3000)}`);
  });
  const call = (method: string, path: string, body?: unknown) => api(server.url, TOKEN, method, path, body);
  const get = async (path: string) => (await call('GET', path)).body;
  const cond = (o: any, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);

  // a static site served through the proxy
  t.equal((await call('PUT', `${API}/projectservers/site`, { metadata: { name: 'site' }, spec: { serviceType: 'static' } })).status, 201);
  t.equal((await call('PUT', `${API}/routes/site`, { metadata: { name: 'site' }, spec: { host: HOST, projectServer: 'site' } })).status, 201);
  t.equal((await call('POST', `${API}/deployments`, { metadata: { name: 'v1' }, spec: { projectServer: 'site', source: { inline: { files: { 'index.html': 'v1\n' } } } } })).status, 201);
  await until(async () => (await get(`${API}/deployments/v1`)).status?.phase === 'active', 'v1 active', 60_000);
  let last = '';
  await until(async () => {
    const r = await getWithHost(proxyPort, HOST);
    last = `${r.status} ${r.body.slice(0, 300)}`;
    return r.body === 'v1\n';
  }, 'v1 served through the proxy', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${last}`);
  });
  const name = containerName(installation, { namespace: NS, name: 'site' });
  const before = (await engine.docker.inspect(name))!;
  t.equal(before.running, true, 'the server container runs');
  t.comment(`v1 served through the proxy after ${since()}`);

  // a second deployment whose build takes a while; the engine stops while it runs
  const build = { command: ['sh', '-c', 'sleep 3'] };
  t.equal((await call('POST', `${API}/deployments`, { metadata: { name: 'v2' }, spec: { projectServer: 'site', source: { inline: { files: { 'index.html': 'v2\n' } } }, build } })).status, 201);
  const helpers = [...installationFilter(installation), `${LABELS.role}=helper`];
  await until(async () => (await engine.docker.listContainers(helpers)).some((c) => c.state === 'running'), 'the build helper running', 30_000);
  const stopAt = Date.now();
  t.equal(await engine.stop(), 0, 'dockerd stopped (SIGTERM)');
  t.comment(`dockerd stopped in ${Date.now() - stopAt} ms, ${since()} in`);

  const ps = await until(async () => {
    const o = await get(`${API}/projectservers/site`);
    return cond(o, 'Ready')?.reason === 'DockerUnavailable' ? o : undefined;
  }, 'the server to report DockerUnavailable', 15_000);
  t.comment(`ProjectServer reported DockerUnavailable ${Date.now() - stopAt} ms after the stop`);
  t.match(cond(ps, 'Ready'), { status: 'Unknown', message: new RegExp(`^the Docker engine at ${engine.socket} does not answer: .*deployer retries and will reconverge when it is back$`) });
  t.equal(ps.status.health, 'unknown', 'no health claimed from stale data');
  const warning = await until(async () => {
    const items = (await get(`/api/v1/namespaces/${NS}/events`)).items as any[];
    return items.find((e) => e.involvedObject?.kind === 'ProjectServer' && e.involvedObject.name === 'site' && e.reason === 'DockerUnavailable');
  }, 'the DockerUnavailable Event', 10_000);
  t.equal(warning.type, 'Warning');
  t.match(warning.message, /the Docker engine at .* does not answer/);
  const waiting = await until(async () => {
    const d = await get(`${API}/deployments/v2`);
    return cond(d, 'Progressing')?.reason === 'DockerUnavailable' ? d : undefined;
  }, 'v2 to wait for Docker', 15_000);
  t.equal(waiting.status.phase, 'building', 'v2 keeps its phase');
  t.match(waiting.status.message, /^waiting for Docker in building: the Docker engine at .* does not answer/);
  t.equal(waiting.status.attempts, 1, 'no attempt counted for the outage');
  await until(async () => cond(await get(`${API}/routes/site`), 'Ready')?.reason === 'DockerUnavailable', 'the Route to report DockerUnavailable', 15_000);
  // a few retries later: still waiting, still one Event, deployer answers
  await new Promise((r) => setTimeout(r, 2000));
  t.not((await get(`${API}/deployments/v2`)).status.phase, 'failed', 'v2 has not failed');
  const events = ((await get(`/api/v1/namespaces/${NS}/events`)).items as any[]).filter((e) => e.reason === 'DockerUnavailable' && e.involvedObject.name === 'site' && e.involvedObject.kind === 'ProjectServer');
  t.equal(events.length, 1, 'one DockerUnavailable Event for the server');
  t.equal((await fetch(`${server.url}/readyz`)).status, 200, 'deployer is ready');
  t.equal((await get('/api/monitoring/health')).docker, 'unavailable', '/api/monitoring/health: docker unavailable');
  t.equal((await call('GET', `${API}/projectservers`)).status, 200, 'and answers its API');
  t.comment(`outage checked ${since()} in; starting dockerd again`);

  const startAt = Date.now();
  await engine.start();
  t.comment(`dockerd answers again after ${Date.now() - startAt} ms`);
  const after = await until(async () => {
    const s = await engine.docker.inspect(name);
    return s?.running ? s : undefined;
  }, 'the server container running again', 60_000);
  if (after.id === before.id) t.pass('the same container: Docker restarted it (unless-stopped), deployer did not recreate it');
  else {
    // Docker 20.10 with the containerd it runs itself sometimes keeps a dead task across the
    // restart and then refuses to start the container ("task …: already exists"); deployer
    // then makes a new one (a Warning Event Recreated says why)
    t.comment(`Docker could not restart the server container ${before.id.slice(0, 12)}; deployer recreated it as ${after.id.slice(0, 12)}`);
    const items = (await get(`/api/v1/namespaces/${NS}/events`)).items as any[];
    t.ok(items.some((e) => e.reason === 'Recreated' && e.involvedObject.name === 'site' && /already exists/.test(e.message)), 'a Recreated Event says why');
  }
  await until(async () => {
    const o = await get(`${API}/projectservers/site`);
    return cond(o, 'Ready')?.reason !== 'DockerUnavailable' && o.status.health !== 'unknown' ? o : undefined;
  }, 'the server condition to clear', 60_000);
  t.comment(`ProjectServer condition cleared ${Date.now() - startAt} ms after the start`);
  const v2 = await until(async () => {
    const d = await get(`${API}/deployments/v2`);
    return ['active', 'failed'].includes(d.status?.phase) ? d : undefined;
  }, 'v2 to finish', 60_000);
  t.equal(v2.status.phase, 'active', `v2 is active (${v2.status.message})`);
  t.equal(v2.status.attempts, 1, 'still one attempt');
  t.comment(`v2 active ${Date.now() - startAt} ms after the start`);
  await until(async () => (await getWithHost(proxyPort, HOST)).body === 'v2\n', 'v2 served through the proxy', 30_000);
  t.comment(`v2 served through the proxy ${Date.now() - startAt} ms after the start`);
  await until(async () => (await get(`${API}/routes/site`)).status?.ready === true, 'the Route ready again', 30_000);
  t.same(await engine.docker.listContainers(helpers), [], 'no helper container left');
  const back = ((await get(`/api/v1/namespaces/${NS}/events`)).items as any[]).filter((e) => e.reason === 'DockerAvailable').map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}`);
  t.ok(back.includes('ProjectServer/site') && back.includes('Deployment/v2'), `Normal DockerAvailable Events: ${back.join(', ')}`);
  t.ok((await engine.docker.inspect(proxyContainerName(installation)))?.running, 'the proxy runs');
  t.equal((await get('/api/monitoring/health')).docker, 'available', '/api/monitoring/health: docker available');

  // leave nothing: deployer stopped, its Docker objects removed, the engine stopped, no process of it left
  t.equal(await server.kill('SIGTERM'), 0, 'deployer stopped cleanly');
  await removeInstallation(engine.docker, installation);
  t.equal(await engine.stop(), 0, 'dockerd stopped again');
  t.same(await engine.leftovers(), [], 'no process of the engine survives');
  t.comment(`done after ${since()}`);
});
