// Acceptance 4 of the ProjectServer issue, and the monitoring endpoints: a labelled container
// whose owner is gone is removed (with an Event, counted in /api/monitoring/health); an
// unlabelled container, another installation's container and a server stopped on purpose are
// left alone; old helper containers go; POST /api/monitoring/reconcile makes the leader resync.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { sweep } from '../../controllers/cleanup/index.js';
import { EventRecorder } from '../../controllers/runtime/event-recorder.js';
import { containerName, managedLabels } from '../../docker/index.js';
import { startApi } from '../helpers/api.js';
import { PS_KIND, sleep, startControllers } from '../helpers/controllers.js';
import { freshDatabase } from '../helpers/pg.js';

const NS = 'sweep';
const status = (o: any) => (o?.status ?? {}) as Record<string, any>;

t.test('zombies go; unlabelled, foreign and stopped-on-purpose containers stay', async (t) => {
  const db = await freshDatabase(t);
  const h = await startControllers(t, ['projectserver', 'cleanup'], { connectionString: db });
  const a = await startApi(t, { connectionString: db });
  const image = h.deps.staticImage;
  const suffix = randomBytes(4).toString('hex');

  await h.store.resources.create(PS_KIND, NS, { metadata: { name: 'idle' }, spec: { serviceType: 'static', stopped: true } });
  await h.until(async () => status(await h.get(NS, 'idle')).phase === 'Stopped', 'the stopped server');
  const idle = containerName(h.installation, { namespace: NS, name: 'idle' });

  // Not deployer's: no labels at all; another installation's (full labels, other id).
  const strangers = [
    await h.docker.create({ name: `unlabelled-${suffix}`, image, cmd: ['sleep', '1000'], labels: {}, restartPolicy: { name: 'no' } }),
    await h.docker.create({
      name: `foreign-${suffix}`,
      image,
      cmd: ['sleep', '1000'],
      labels: managedLabels(`other${suffix}`, { kind: 'ProjectServer', namespace: NS, name: 'x', uid: 'no-such-uid' }, 'server'),
      restartPolicy: { name: 'no' },
    }),
  ];
  t.teardown(async () => {
    for (const id of strangers) await h.docker.remove(id);
  });
  for (const id of strangers) await h.docker.start(id);

  const zombie = await h.docker.create({
    name: `zombie-${suffix}`,
    image,
    cmd: ['sleep', '1000'],
    labels: managedLabels(h.installation, { kind: 'ProjectServer', namespace: NS, name: 'gone', uid: '7d0c1f52-0000-4000-8000-000000000000' }, 'server'),
    restartPolicy: { name: 'unless-stopped' },
  });
  await h.docker.start(zombie);
  await h.until(async () => (await h.docker.inspect(zombie)) === null, 'the zombie to be removed', 15_000);
  const ev = await h.until(async () => (await h.events(NS, 'gone')).find((e: any) => e.reason === 'ZombieRemoved'), 'the ZombieRemoved Event');
  t.match((ev as any).message, /no longer exists/);

  for (const id of strangers) t.ok((await h.docker.inspect(id))?.running, 'a container that is not ours is untouched');
  const idleState = await h.docker.inspect(idle);
  t.ok(idleState && !idleState.running, 'the stopped-on-purpose server is left stopped');

  const health = await h.until(async () => {
    const res = await a.request('GET', '/api/monitoring/health');
    return res.body.zombies?.removed === 1 && res;
  }, 'the health figures');
  t.equal(health!.status, 200);
  t.match(health!.body, {
    containers: { total: 1, stopped: 1, healthy: 0, unhealthy: 0, pending: 0 },
    zombies: { found: 1, removed: 1 },
  });
  t.same(health!.body.leaders.map((l: any) => l.name).sort(), ['cleanup', 'projectserver']);
  t.match(health!.body.timestamp, /^\d{4}-/);

  // a resync request through the API (any process takes it; the leader sweeps again)
  const before = health!.body.zombies.lastSweepAt;
  await sleep(20);
  const viewer = await a.token('v', 'viewer', [NS]);
  t.equal((await a.request('POST', '/api/monitoring/reconcile', { token: viewer })).status, 403, 'a viewer may not');
  const res = await a.request('POST', '/api/monitoring/reconcile');
  t.equal(res.status, 202);
  t.match(res.body, { kind: 'Status', status: 'Success', code: 202 });
  await h.until(async () => (await a.request('GET', '/api/monitoring/health')).body.zombies.lastSweepAt !== before, 'a new sweep');
  t.equal((await a.request('GET', '/api/monitoring/health', { token: viewer })).body.containers.total, 1, "a viewer sees its namespaces' figures");
  const other = await a.token('o', 'viewer', ['elsewhere']);
  t.equal((await a.request('GET', '/api/monitoring/health', { token: other })).body.containers.total, 0, 'but not other namespaces');
});

t.test('helper containers older than the TTL are removed; orphaned volumes go unless retained', async (t) => {
  const h = await startControllers(t, []);
  const owner = { kind: 'ProjectServer', namespace: NS, name: 'gone', uid: '7d0c1f52-0000-4000-8000-000000000001' };
  const helper = await h.docker.create({
    name: `helper-${randomBytes(4).toString('hex')}`,
    image: h.deps.staticImage,
    cmd: ['sleep', '1000'],
    labels: managedLabels(h.installation, owner, 'helper'),
    restartPolicy: { name: 'no' },
  });
  await h.docker.ensureVolume(`orphan-${h.installation}`, { ...managedLabels(h.installation, owner, 'data'), 'deployer.dev/retain': 'false' });
  await h.docker.ensureVolume(`kept-${h.installation}`, { ...managedLabels(h.installation, owner, 'data'), 'deployer.dev/retain': 'true' });
  const events = new EventRecorder({ resources: h.store.resources, component: 'test' });
  const counts = await sweep({ store: h.store, docker: h.docker, installation: h.installation, events, helperTtlMs: 0, now: Date.now() + 1000 });
  t.match(counts, { helpersRemoved: 1, zombiesFound: 0, volumesRemoved: 1 });
  t.equal(await h.docker.inspect(helper), null, 'helper removed');
  t.same(await h.leaks(), [`volume kept-${h.installation}`], 'the retained volume stays');
});

t.test('a server container under a name its owner no longer gets (the old <namespace>-<name>) is removed; the current one stays', async (t) => {
  const h = await startControllers(t, []);
  const ps = await h.store.resources.create(PS_KIND, NS, { metadata: { name: 'renamed' }, spec: { serviceType: 'static' } });
  const owner = { kind: 'ProjectServer', namespace: NS, name: 'renamed', uid: ps.metadata.uid! };
  const make = (name: string) =>
    h.docker.create({ name, image: h.deps.staticImage, cmd: ['sleep', '1000'], labels: managedLabels(h.installation, owner, 'server'), restartPolicy: { name: 'no' } });
  const old = await make(`dp-${h.installation.slice(0, 6)}-${NS}-renamed`);
  const current = await make(containerName(h.installation, { namespace: NS, name: 'renamed' }));
  const events = new EventRecorder({ resources: h.store.resources, component: 'test' });
  const counts = await sweep({ store: h.store, docker: h.docker, installation: h.installation, events, helperTtlMs: 60_000, now: Date.now() });
  t.match(counts, { zombiesFound: 1, zombiesRemoved: 1 });
  t.equal(await h.docker.inspect(old), null, 'the container under the old name is removed');
  t.ok(await h.docker.inspect(current), 'the one under the current name stays');
  const ev = await h.until(async () => (await h.events(NS, 'renamed')).find((e: any) => e.reason === 'StrayRemoved'), 'the StrayRemoved Event');
  t.match((ev as any).message, /runs as dp-/);
  await h.docker.remove(current);
});
