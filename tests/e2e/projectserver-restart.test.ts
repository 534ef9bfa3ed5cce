// Acceptance 3 of the ProjectServer issue: SIGKILL deployer and start it again — the same
// containers keep running (same ids, same start times: adopted, not restarted or recreated),
// and the new process does manage them (a container killed afterwards comes back).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { installationFilter } from '../../docker/index.js';
import { api, spawnServer } from '../helpers/process.js';
import { installationOf, sleep, until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';

const run = promisify(execFile);
const P = '/apis/deployer.dev/v1/namespaces/keep/projectservers';

t.test('a restart of deployer restarts no container', async (t) => {
  const db = await freshDatabase(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-adopt-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const token = 'adopt-admin-token';
  const env = { DATABASE_URL: db, DEPLOYER_DATA_DIR: dataDir, DEPLOYER_ADMIN_TOKEN: token, DEPLOYER_CONTROLLERS: 'projectserver,cleanup' };
  const { installation, docker } = await installationOf(t, db);

  const s1 = await spawnServer(t, env);
  await s1.waitReady();
  for (const name of ['one', 'two', 'three'])
    t.equal((await api(s1.url, token, 'PUT', `${P}/${name}`, { metadata: { name }, spec: { serviceType: 'static', healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1 } } })).status, 201);
  const healthy = async (url: string) => {
    const res = await api(url, token, 'GET', P);
    const items = res.body.items as any[];
    return items.length === 3 && items.every((i) => i.status?.health === 'healthy') && items;
  };
  const before = await until(() => healthy(s1.url), 'three healthy servers');
  const states = new Map<string, { id: string; startedAt?: string; restartCount: number }>();
  for (const i of before) {
    const s = (await docker.inspect(i.status.containerId))!;
    states.set(i.metadata.name, { id: s.id, startedAt: s.startedAt, restartCount: s.restartCount });
  }

  t.equal(await s1.kill('SIGKILL'), null, 'deployer killed');
  const s2 = await spawnServer(t, env);
  await s2.waitReady();
  await until(async () => {
    const res = await api(s2.url, token, 'GET', '/api/monitoring/leaders');
    return (res.body.items as any[]).some((l) => l.name === 'projectserver' && l.heldByThisProcess);
  }, 'the new process to lead projectserver', 20_000);
  await sleep(1500); // its first list has been reconciled by now
  const after = await until(() => healthy(s2.url), 'still healthy');
  for (const i of after) {
    const s = (await docker.inspect(i.status.containerId))!;
    const was = states.get(i.metadata.name)!;
    t.equal(s.id, was.id, `${i.metadata.name}: the same container`);
    t.equal(s.startedAt, was.startedAt, `${i.metadata.name}: not restarted`);
    t.equal(s.restartCount, was.restartCount, `${i.metadata.name}: no Docker restart either`);
    t.equal(i.status.restartCount, 0, `${i.metadata.name}: status counts no restart`);
  }

  // the new process manages them: a killed container comes back
  const one = states.get('one')!;
  await run('docker', ['kill', one.id]);
  await until(async () => {
    const s = await docker.inspect(one.id);
    return s?.running && s.startedAt !== one.startedAt;
  }, 'the killed container to run again', 15_000);

  for (const name of ['one', 'two', 'three']) await api(s2.url, token, 'DELETE', `${P}/${name}`);
  await until(async () => ((await api(s2.url, token, 'GET', P)).body.items as any[]).length === 0, 'the servers to go');
  t.same(await docker.listContainers(installationFilter(installation)), [], 'no container left');
  t.equal(await s2.kill('SIGTERM'), 0, 'clean shutdown');
});
