// Acceptance 3 of the Routes issue, second half: restarting deployer (SIGKILL, then start)
// changes nothing in the proxy — same container, same start, same config, no config load —
// and drops no request sent through it meanwhile.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName, proxyContainerName } from '../../docker/index.js';
import { freePort } from '../../store/index.js';
import { getWithHost, installationOf, sleep, until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';
import { api, spawnServer } from '../helpers/process.js';

const run = promisify(execFile);
const NS = 'live';
const API = `/apis/deployer.dev/v1/namespaces/${NS}`;

const get = getWithHost;

t.test('a restart of deployer changes nothing in the proxy and drops no request', async (t) => {
  const db = await freshDatabase(t);
  const { installation, docker } = await installationOf(t, db);
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-route-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const token = 'route-restart-token';
  const env = {
    DATABASE_URL: db,
    DEPLOYER_DATA_DIR: dataDir,
    DEPLOYER_ADMIN_TOKEN: token,
    DEPLOYER_CONTROLLERS: 'projectserver,route',
    DEPLOYER_PROXY_PORT: String(port),
    DEPLOYER_PROXY_HTTPS_PORT: '0',
  };

  const s1 = await spawnServer(t, env);
  await s1.waitReady();
  t.equal((await api(s1.url, token, 'PUT', `${API}/projectservers/site`, { metadata: { name: 'site' }, spec: { serviceType: 'static' } })).status, 201);
  const server = containerName(installation, { namespace: NS, name: 'site' });
  const id = await until(async () => (await docker.inspect(server))?.running && (await docker.inspect(server))!.id, 'the server container');
  await docker.exec(id, ['sh', '-c', 'mkdir -p /srv/static/site/current && echo live > /srv/static/site/current/index.html']);
  t.equal((await api(s1.url, token, 'PUT', `${API}/routes/site`, { metadata: { name: 'site' }, spec: { host: 'live.test', projectServer: 'site' } })).status, 201);
  await until(async () => (await get(port, 'live.test')).body === 'live\n', 'serving through the proxy');
  await until(async () => (await api(s1.url, token, 'GET', `${API}/routes/site`)).body.status?.ready === true, 'the Route ready', 40_000);

  const proxyName = proxyContainerName(installation);
  const before = (await docker.inspect(proxyName))!;
  const admin = before.ports.find((p) => p.container === 2019)!.hostPort;
  const config = async () => (await fetch(`http://127.0.0.1:${admin}/config/`)).json();
  const loads = async () => ((await run('docker', ['logs', proxyName])).stderr.match(/"uri":"\/load"/g) ?? []).length;
  const configBefore = await config();
  const loadsBefore = await loads();
  t.ok(loadsBefore >= 1, `the proxy's log shows the config loads so far (${loadsBefore})`);

  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const load = (async () => {
    while (!stop) {
      const r = await get(port, 'live.test');
      sent++;
      if (r.status !== 200 || r.body !== 'live\n') failures.push(`${r.status} ${r.body.slice(0, 80)}`);
      await sleep(5);
    }
  })();

  t.equal(await s1.kill('SIGKILL'), null, 'deployer killed');
  const s2 = await spawnServer(t, env);
  await s2.waitReady();
  await until(async () => {
    const res = await api(s2.url, token, 'GET', '/api/monitoring/leaders');
    return (res.body.items as any[]).some((l) => l.name === 'route' && l.heldByThisProcess);
  }, 'the new process to lead route', 20_000);
  await sleep(2000); // its first sync (and a status pass) has run
  stop = true;
  await load;

  t.ok(sent > 100, `${sent} requests sent through the proxy across the restart`);
  t.same(failures, [], 'none failed');
  const after = (await docker.inspect(proxyName))!;
  t.equal(after.id, before.id, 'the same proxy container');
  t.equal(after.startedAt, before.startedAt, 'not restarted');
  t.same(await config(), configBefore, 'the same config');
  t.equal(await loads(), loadsBefore, 'no config was loaded');
  t.equal(await s2.kill('SIGTERM'), 0, 'clean shutdown');
  t.equal((await get(port, 'live.test')).body, 'live\n', 'the proxy serves with deployer stopped');
});
