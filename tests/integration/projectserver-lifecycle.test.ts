// Acceptance 1 of the ProjectServer issue, on real Docker: create, update (spec change →
// recreated with the new config), stop on purpose, start again, delete (container and
// volume gone, finalizer removed) — observed in Docker and in status.
import t from 'tap';
import { LABELS, containerName, volumeName } from '../../docker/index.js';
import { PS_KIND, sleep, startControllers } from '../helpers/controllers.js';

const NS = 'team';
const status = (o: any) => (o?.status ?? {}) as Record<string, any>;

t.test('create, update, stop, start, delete a static server', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const name = containerName(h.installation, { namespace: NS, name: 'blog' });
  const volume = volumeName(h.installation, { namespace: NS, name: 'blog' });

  await h.store.resources.create(PS_KIND, NS, {
    metadata: { name: 'blog' },
    spec: { serviceType: 'static', healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1, timeoutSeconds: 1, retries: 2 } },
  });
  const ready = await h.until(async () => {
    const o = await h.get(NS, 'blog');
    return status(o).health === 'healthy' && o;
  }, 'the server to be healthy');
  t.same(ready!.metadata.finalizers, ['deployer.dev/cleanup'], 'finalizer set');
  t.match(status(ready), { phase: 'Running', observedGeneration: 1, restartCount: 0 });
  const c1 = (await h.docker.inspect(name))!;
  t.ok(c1.running, 'container running');
  t.equal(status(ready).containerId, c1.id, 'status names the container');
  t.equal(c1.labels[LABELS.ownerUid], ready!.metadata.uid, 'labelled with its owner uid');
  t.ok((await h.docker.listVolumes([`${LABELS.installation}=${h.installation}`])).some((v) => v.name === volume), 'volume exists');
  const served = await h.docker.exec(c1.id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:80/.deployer-health']);
  t.equal(served.stdout.trim(), 'ok', 'httpd serves the volume');

  // update: a new port and env → recreated with them
  await h.store.resources.patch(PS_KIND, NS, 'blog', 'merge', { spec: { port: 8080, env: [{ name: 'GREETING', value: 'hi' }] } });
  const updated = await h.until(async () => {
    const o = await h.get(NS, 'blog');
    return status(o).observedGeneration === 2 && status(o).health === 'healthy' && status(o).containerId !== c1.id && o;
  }, 'the recreated container');
  const c2 = (await h.docker.inspect(name))!;
  t.equal(status(updated).containerId, c2.id);
  t.not(c2.id, c1.id, 'a new container');
  t.not(c2.labels[LABELS.specHash], c1.labels[LABELS.specHash], 'with a new spec hash');
  t.equal((await h.docker.exec(c2.id, ['sh', '-c', 'echo $GREETING $PORT'])).stdout.trim(), 'hi 8080', 'with the new env');
  t.equal((await h.docker.inspect(c1.id)), null, 'the old container is gone');
  t.ok((await h.events(NS, 'blog')).some((e: any) => e.reason === 'Recreated'), 'a Recreated Event');

  // stop on purpose: stopped, and never restarted
  await h.store.resources.patch(PS_KIND, NS, 'blog', 'merge', { spec: { stopped: true } });
  await h.until(async () => status(await h.get(NS, 'blog')).phase === 'Stopped', 'phase Stopped');
  t.notOk((await h.docker.inspect(name))!.running, 'container stopped');
  t.equal((await h.docker.inspect(name))!.id, c2.id, 'stopping does not recreate');
  h.manager.resyncAll();
  await sleep(1500);
  t.notOk((await h.docker.inspect(name))!.running, 'still stopped after a resync');

  // start again
  await h.store.resources.patch(PS_KIND, NS, 'blog', 'merge', { spec: { stopped: false } });
  await h.until(async () => status(await h.get(NS, 'blog')).health === 'healthy', 'running again');
  t.equal((await h.docker.inspect(name))!.id, c2.id, 'the same container, started');

  // delete: container and volume gone, then the finalizer and the object
  await h.store.resources.delete(PS_KIND, NS, 'blog');
  await h.until(async () => (await h.get(NS, 'blog')) === null, 'the object to go');
  t.equal(await h.docker.inspect(name), null, 'container removed');
  t.notOk((await h.docker.listVolumes([`${LABELS.installation}=${h.installation}`])).some((v) => v.name === volume), 'volume removed');
  t.same(await h.leaks(), [], 'nothing left in Docker');
});

t.test('retainVolumeOnDelete keeps the volume; a docker server without an image is rejected', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const volume = volumeName(h.installation, { namespace: NS, name: 'keep' });
  await h.store.resources.create(PS_KIND, NS, { metadata: { name: 'keep' }, spec: { serviceType: 'static', retainVolumeOnDelete: true } });
  await h.until(async () => status(await h.get(NS, 'keep')).containerId, 'a container');
  await h.store.resources.delete(PS_KIND, NS, 'keep');
  await h.until(async () => (await h.get(NS, 'keep')) === null, 'the object to go');
  const left = await h.leaks();
  t.same(left, [`volume ${volume}`], 'only the volume is left');
  await t.rejects(h.store.resources.create(PS_KIND, NS, { metadata: { name: 'bad' }, spec: { serviceType: 'docker' } }), { code: 422, message: /image/ });
  await t.rejects(h.store.resources.create(PS_KIND, NS, { metadata: { name: 'bad' }, spec: { serviceType: 'php' } }), { code: 422 });
});

t.test('an image that is not on the host: phase Failed with ImageNotFound', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  await h.store.resources.create(PS_KIND, NS, { metadata: { name: 'ghost' }, spec: { serviceType: 'docker', image: 'deployer-test/no-such-image:1' } });
  const o = await h.until(async () => {
    const x = await h.get(NS, 'ghost');
    return status(x).phase === 'Failed' && x;
  }, 'phase Failed');
  t.match(status(o), { lastHealthIssue: /no-such-image/ });
  t.match(status(o).conditions.find((c: any) => c.type === 'Ready'), { status: 'False', reason: 'ImageNotFound' });
});
