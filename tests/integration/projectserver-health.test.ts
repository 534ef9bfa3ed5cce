// Acceptance 2 of the ProjectServer issue, on real Docker: `docker kill` → running again and
// status updated; `docker rm -f` → recreated; a failing health check → restarted with an
// Event (Docker's exec check of a docker server, deployer's HTTP probe of a static one); a
// process that keeps crashing → CrashLoopBackOff with its logs in an Event and a growing
// back-off between restarts.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName } from '../../docker/index.js';
import { PS_KIND, startControllers } from '../helpers/controllers.js';

const run = promisify(execFile);
const NS = 'ops';
const status = (o: any) => (o?.status ?? {}) as Record<string, any>;

t.test('docker kill and docker rm -f: running again, status updated', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const name = containerName(h.installation, { namespace: NS, name: 'web' });
  await h.store.resources.create(PS_KIND, NS, { metadata: { name: 'web' }, spec: { serviceType: 'static' } });
  const first = await h.until(async () => (await h.docker.inspect(name))?.running && (await h.docker.inspect(name)), 'running');

  await run('docker', ['kill', name]);
  const back = await h.until(async () => {
    const s = await h.docker.inspect(name);
    return s?.running && s.startedAt !== first!.startedAt && s;
  }, 'running again after docker kill', 10_000);
  t.equal(back!.id, first!.id, 'the same container, started again');
  const st = await h.until(async () => {
    const s = status(await h.get(NS, 'web'));
    return s.restartCount === 1 && s.startedAt === back!.startedAt && s;
  }, 'status to count the restart');
  t.equal(st!.restartHistory.at(-1).by, 'deployer');
  t.match(st!.restartHistory.at(-1).reason, /exited with code 137/);
  t.ok((await h.events(NS, 'web')).some((e: any) => e.reason === 'Started' && e.type === 'Warning'), 'a Warning Event');

  await run('docker', ['rm', '-f', name]);
  const re = await h.until(async () => {
    const s = await h.docker.inspect(name);
    return s?.running && s.id !== first!.id && s;
  }, 'recreated after docker rm -f', 10_000);
  await h.until(async () => status(await h.get(NS, 'web')).containerId === re!.id, 'status to name the new container');
});

t.test('a failing health check: the container is restarted and an Event written', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const name = containerName(h.installation, { namespace: NS, name: 'probe' });
  await h.store.resources.create(PS_KIND, NS, {
    metadata: { name: 'probe' },
    spec: {
      serviceType: 'docker',
      image: h.deps.staticImage,
      command: ['sh', '-c', 'touch /tmp/ok && exec sleep 100000'],
      healthCheck: { exec: { command: ['test', '-f', '/tmp/ok'] }, intervalSeconds: 1, timeoutSeconds: 1, retries: 1 },
    },
  });
  const healthy = await h.until(async () => {
    const s = status(await h.get(NS, 'probe'));
    return s.health === 'healthy' && s;
  }, 'healthy');
  const before = (await h.docker.inspect(name))!;
  await h.docker.exec(before.id, ['rm', '/tmp/ok']); // the check now fails
  const after = await h.until(async () => {
    const s = status(await h.get(NS, 'probe'));
    return s.restartCount === 1 && s.health === 'healthy' && s;
  }, 'restarted and healthy again', 20_000);
  t.equal(after!.containerId, healthy!.containerId, 'restarted, not recreated');
  t.not((await h.docker.inspect(name))!.startedAt, before.startedAt, 'a new start');
  t.match(after!.restartHistory.at(-1).reason, /health check failed/);
  const ev = (await h.events(NS, 'probe')).find((e: any) => e.reason === 'Restarted');
  t.ok(ev, 'a Restarted Event');
  t.match((ev as any).message, /health check failed/);
});

t.test('a static server: deployer probes it over HTTP (no Docker health check); a failing probe restarts it', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const name = containerName(h.installation, { namespace: NS, name: 'site' });
  await h.store.resources.create(PS_KIND, NS, {
    metadata: { name: 'site' },
    spec: { serviceType: 'static', healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1, retries: 2 } },
  });
  const healthy = await h.until(async () => {
    const s = status(await h.get(NS, 'site'));
    return s.health === 'healthy' && s;
  }, 'healthy', 20_000);
  t.match(healthy!.conditions.find((c: any) => c.type === 'Healthy'), { status: 'True', reason: 'HealthCheckPassing' });
  const { stdout } = await run('docker', ['inspect', '--format', '{{json .Config.Healthcheck}}', name]);
  t.equal(stdout.trim(), 'null', 'Docker runs no health check in the container');
  const before = (await h.docker.inspect(name))!;
  await h.docker.exec(before.id, ['rm', '/srv/static/.deployer-health']); // the probe now gets a 404
  const after = await h.until(async () => {
    const s = status(await h.get(NS, 'site'));
    return s.restartCount === 1 && s.health === 'healthy' && s;
  }, 'restarted (the start writes the file again) and healthy again', 20_000);
  t.equal(after!.containerId, healthy!.containerId, 'restarted, not recreated');
  t.match(after!.restartHistory.at(-1).reason, /health check failed 2 times in a row: GET \/\.deployer-health answered 404/);
  const ev = (await h.events(NS, 'site')).find((e: any) => e.reason === 'Restarted');
  t.match((ev as any)?.message, /answered 404/, 'a Restarted Event quoting the probe');
});

t.test('a process that keeps crashing: CrashLoopBackOff with its logs, back-off growing', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  await h.store.resources.create(PS_KIND, NS, {
    metadata: { name: 'crash' },
    spec: { serviceType: 'docker', image: h.deps.staticImage, command: ['sh', '-c', 'echo crashing-now; exit 3'] },
  });
  const st = await h.until(async () => {
    const s = status(await h.get(NS, 'crash'));
    return s.phase === 'Degraded' && s;
  }, 'phase Degraded', 30_000);
  t.match(st!.conditions.find((c: any) => c.type === 'Degraded'), { status: 'True', reason: 'CrashLoopBackOff' });
  t.ok(st!.restartCount >= 5, `${st!.restartCount} restarts`);
  const ev = await h.until(async () => (await h.events(NS, 'crash')).find((e: any) => e.reason === 'CrashLoopBackOff'), 'the CrashLoopBackOff Event');
  t.equal((ev as any).type, 'Warning');
  t.match((ev as any).message, /crashing-now/, 'the Event holds the logs');
  // the gaps between restarts grow (Docker's policy doubles its delay; deployer's back-off
  // takes over once Docker stops)
  const times = [...new Set<string>(st!.restartHistory.map((r: any) => r.at))].map((x) => Date.parse(x));
  const gaps = times.slice(1).map((x, i) => x - times[i]);
  t.ok(gaps.length >= 2 && gaps.at(-1)! > gaps[0], `gaps grow: ${gaps.join(', ')} ms`);
});
