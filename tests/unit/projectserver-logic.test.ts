// The projectserver controller's pure parts: the container it wants (container-spec.ts),
// restart bookkeeping and back-off (restarts.ts), and the status it reports (status.ts).
import t from 'tap';
import { LABELS } from '../../docker/index.js';
import { desiredContainer, parseMemory, STATIC_DEFAULT_INTERVAL_SECONDS, STATIC_SERVER_CONFIG } from '../../controllers/projectserver/container-spec.js';
import {
  backoffMs,
  crashLooping,
  crashLoopRecheckMs,
  observeDocker,
  recordRestart,
  restartWaitMs,
  type RestartRecord,
} from '../../controllers/projectserver/restarts.js';
import { computeStatus } from '../../controllers/projectserver/status.js';
import { containerState } from '../helpers/container-state.js';
import type { ProjectServer } from '../../schemas/index.js';

const settings = { installation: 'abcdef0123', staticImage: 'deployer/static:1234' };
const ps = (spec: Partial<ProjectServer['spec']> = {}, meta: Partial<ProjectServer['metadata']> = {}): ProjectServer => ({
  apiVersion: 'deployer.dev/v1',
  kind: 'ProjectServer',
  metadata: { name: 'blog', namespace: 'team', uid: 'u-1', generation: 3, resourceVersion: '7', ...meta },
  spec: { serviceType: 'static', ...spec },
});
const state = containerState;
const NOW = Date.parse('2026-01-01T00:10:00Z');

t.test('a static server: the local image, the caddy file server over its volume at /srv/static, an HTTP probe by deployer, init, unless-stopped', async (t) => {
  const d = desiredContainer(ps(), settings);
  t.equal(d.spec.name, 'dp-abcdef-team_blog');
  t.equal(d.volume, 'dp-abcdef-team_blog-data');
  t.equal(d.spec.image, settings.staticImage);
  const script = d.spec.cmd!.join(' ');
  t.match(script, /printf '.*' "\$PORT" > \/tmp\/caddy.json && exec caddy run --config \/tmp\/caddy.json$/);
  const config = JSON.parse(STATIC_SERVER_CONFIG.replace('%s', '80'));
  t.same(config.apps.http.servers.static.listen, [':80']);
  t.same(config.apps.http.servers.static.routes, [{ handle: [{ handler: 'file_server', root: '/srv/static' }] }], "caddy's file server over the volume");
  t.equal(config.apps.http.servers.static.idle_timeout, '5m', 'an idle connection lives 5 minutes, so a probe every 30 s reuses it (`caddy file-server` closed it after 30 s)');
  t.ok(300 > 2 * STATIC_DEFAULT_INTERVAL_SECONDS);
  t.equal(config.admin.disabled, true, 'no admin endpoint in the container');
  t.notMatch(STATIC_SERVER_CONFIG, /'/, 'no quote that would end the shell string');
  t.same(d.spec.mounts, [{ volume: d.volume, target: '/srv/static' }]);
  t.same(d.spec.env, { PORT: '80' });
  t.notOk(d.spec.healthCheck, 'no Docker health check (no runc exec every interval)');
  t.same(d.probe, { path: '/.deployer-health', port: 80, intervalMs: 30_000, timeoutMs: 5000, retries: 3, startPeriodMs: 0 }, "deployer probes it, every 30 s (Docker's default interval) when the spec names no check");
  t.same(d.spec.restartPolicy, { name: 'unless-stopped' });
  t.equal(d.spec.init, true);
  t.equal(d.spec.labels[LABELS.ownerUid], 'u-1');
  t.equal(d.spec.labels[LABELS.specHash], d.hash);
  t.equal(d.spec.labels[LABELS.installation], settings.installation);
  t.equal(d.volumeLabels[LABELS.retain], 'false');
});

t.test('the spec hash follows what Docker runs, not stopped or the history limit', async (t) => {
  const base = desiredContainer(ps(), settings).hash;
  t.equal(desiredContainer(ps({ stopped: true }), settings).hash, base, 'stopped does not recreate');
  t.equal(desiredContainer(ps({ revisionHistoryLimit: 3 }), settings).hash, base, 'history limit does not recreate');
  t.not(desiredContainer(ps({ port: 8080 }), settings).hash, base, 'port does');
  t.not(desiredContainer(ps({ env: [{ name: 'A', value: '1' }] }), settings).hash, base, 'env does');
  t.not(desiredContainer(ps(), { ...settings, staticImage: 'deployer/static:other' }).hash, base, 'a new static image does');
  const probed = desiredContainer(ps({ healthCheck: { httpGet: { path: '/up', port: 81 }, intervalSeconds: 2, timeoutSeconds: 1, retries: 5, startPeriodSeconds: 4 } }), settings);
  t.equal(probed.hash, base, 'a static server’s httpGet check does not (deployer probes it)');
  t.same(probed.probe, { path: '/up', port: 81, intervalMs: 2000, timeoutMs: 1000, retries: 5, startPeriodMs: 4000 });
  const exec = desiredContainer(ps({ healthCheck: { exec: { command: ['true'] } } }), settings);
  t.not(exec.hash, base, 'an exec check does: Docker runs it');
  t.notOk(exec.probe);
  t.same(exec.spec.healthCheck!.test, ['true']);
  const app = desiredContainer(ps({ serviceType: 'docker', image: 'app:1', port: 8080, healthCheck: { httpGet: { path: '/healthz' } } }), settings);
  t.notOk(app.spec.healthCheck, 'a docker server’s httpGet check is deployer’s too (no wget needed in the image)');
  t.same(app.probe, { path: '/healthz', port: 8080, intervalMs: 10_000, timeoutMs: 5000, retries: 3, startPeriodMs: 0 });
});

t.test('a docker server: its image, command, exec health check, on-failure with a count, limits', async (t) => {
  const d = desiredContainer(
    ps({
      serviceType: 'docker',
      image: 'app:1',
      command: ['serve', '--port', '9000'],
      port: 9000,
      healthCheck: { exec: { command: ['test', '-f', '/tmp/ok'] }, intervalSeconds: 1, timeoutSeconds: 2, retries: 2, startPeriodSeconds: 1 },
      restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
      resources: { memory: '256Mi', cpus: 0.5 },
    }),
    settings,
  );
  t.equal(d.spec.image, 'app:1');
  t.same(d.spec.cmd, ['serve', '--port', '9000']);
  t.same(d.spec.mounts, [{ volume: d.volume, target: '/data' }]);
  t.same(d.spec.healthCheck, { test: ['test', '-f', '/tmp/ok'], intervalMs: 1000, timeoutMs: 2000, retries: 2, startPeriodMs: 1000 });
  t.same(d.spec.restartPolicy, { name: 'on-failure', maximumRetryCount: 3 });
  t.equal(d.spec.memoryBytes, 256 * 1024 * 1024);
  t.equal(d.spec.nanoCpus, 5e8);
  t.notOk(desiredContainer(ps({ serviceType: 'docker', image: 'app:1' }), settings).spec.healthCheck, 'no health check unless asked');
});

t.test('parseMemory', async (t) => {
  t.equal(parseMemory('1048576'), 1048576);
  t.equal(parseMemory('1k'), 1000);
  t.equal(parseMemory('1Ki'), 1024);
  t.equal(parseMemory('1.5Gi'), 1.5 * 1024 ** 3);
  t.throws(() => parseMemory('lots'));
});

t.test('observeDocker counts the restarts Docker made since deployer last looked', async (t) => {
  const b0 = observeDocker({}, state({ restartCount: 0 }), NOW);
  t.same(b0, { containerId: 'c1', dockerRestartCount: 0, restartCount: 0, restartHistory: [] });
  const b1 = observeDocker(b0, state({ restartCount: 2, exitCode: 3 }), NOW);
  t.equal(b1.restartCount, 2);
  t.equal(b1.restartHistory.length, 2);
  t.equal(b1.restartHistory[0].by, 'docker');
  t.match(b1.restartHistory[0].reason, /code 3/);
  t.same(observeDocker(b1, state({ restartCount: 2 }), NOW), b1, 'nothing new, nothing added');
  const other = observeDocker(b1, state({ id: 'c2', restartCount: 0 }), NOW);
  t.equal(other.restartCount, 2, 'a new container keeps the count');
  t.equal(other.containerId, 'c2');
  const r = recordRestart(other, 'unhealthy', NOW);
  t.equal(r.restartCount, 3);
  t.equal(r.restartHistory.at(-1)!.by, 'deployer');
});

t.test('back-off: the first restarts are immediate, then 1 s, 2 s, 4 s… capped; old restarts age out', async (t) => {
  const at = (msAgo: number): RestartRecord => ({ at: new Date(NOW - msAgo).toISOString(), reason: 'x', by: 'deployer' });
  t.equal(backoffMs([], NOW), 0);
  t.equal(backoffMs([at(10)], NOW), 0);
  t.equal(backoffMs([at(20), at(10)], NOW), 1000);
  t.equal(backoffMs([at(30), at(20), at(10)], NOW), 2000);
  t.equal(backoffMs(Array.from({ length: 19 }, (_, i) => at(1000 + i)), NOW), 300_000, 'capped at 5 minutes');
  t.equal(backoffMs([at(400_000), at(350_000), at(310_000)], NOW), 0, 'restarts older than 5 minutes do not count');
  t.equal(restartWaitMs([at(20), at(10)], NOW), 990, 'waits from the latest restart');
  t.equal(restartWaitMs([at(3000), at(2000)], NOW), 0, 'already waited');
  const five = [at(50), at(40), at(30), at(20), at(10)];
  t.ok(crashLooping(five, NOW));
  t.notOk(crashLooping(five.slice(1), NOW));
  t.equal(crashLoopRecheckMs(five, NOW), 300_000 - 50 + 10);
  t.equal(crashLoopRecheckMs(five.slice(1), NOW), undefined);
});

t.test('status: phases, health and conditions', async (t) => {
  const book = { containerId: 'c1', dockerRestartCount: 0, restartCount: 0, restartHistory: [] };
  const running = computeStatus(ps(), { state: state(), book, image: 'i', now: NOW });
  t.match(running, { phase: 'Running', health: 'healthy', containerId: 'c1', observedGeneration: 3, image: 'i' });
  t.match(running.conditions!.find((c) => c.type === 'Ready'), { status: 'True' });
  t.match(running.conditions!.find((c) => c.type === 'Degraded'), { status: 'False' });

  const unhealthy = computeStatus(ps(), { state: state({ health: { status: 'unhealthy', failingStreak: 3, lastOutput: 'wget: 404' } }), book, image: 'i', now: NOW });
  t.match(unhealthy, { phase: 'Running', health: 'unhealthy', lastHealthIssue: /404/ });
  t.match(unhealthy.conditions!.find((c) => c.type === 'Healthy'), { status: 'False', reason: 'HealthCheckFailing' });

  const starting = computeStatus(ps(), { state: state({ health: { status: 'starting', failingStreak: 0 } }), book, image: 'i', now: NOW });
  t.match(starting, { health: 'degraded' });

  const stopped = computeStatus(ps({ stopped: true }), { state: state({ running: false, status: 'exited' }), book, image: 'i', now: NOW });
  t.match(stopped, { phase: 'Stopped', health: 'unknown' });

  const exited = computeStatus(ps(), { state: state({ running: false, status: 'exited', exitCode: 137 }), book, image: 'i', now: NOW, waitingMs: 2000 });
  t.match(exited, { phase: 'Pending', health: 'unhealthy', lastHealthIssue: /137.*back-off/ });

  const history = Array.from({ length: 5 }, (_, i) => ({ at: new Date(NOW - 1000 * i).toISOString(), reason: 'x', by: 'docker' as const }));
  const looping = computeStatus(ps(), { state: state(), book: { ...book, restartCount: 5, restartHistory: history }, image: 'i', now: NOW });
  t.match(looping, { phase: 'Degraded', health: 'degraded', restartCount: 5 });
  t.match(looping.conditions!.find((c) => c.type === 'Degraded'), { status: 'True', reason: 'CrashLoopBackOff' });

  const failed = computeStatus(ps(), { state: null, book, image: 'i', now: NOW, failure: { reason: 'ImageNotFound', message: 'no image' } });
  t.match(failed, { phase: 'Failed', lastHealthIssue: 'no image' });
  t.notOk('containerId' in failed);

  const deleting = computeStatus(ps({}, { deletionTimestamp: '2026-01-01T00:00:00Z' }), { state: state(), book, image: 'i', now: NOW });
  t.match(deleting, { phase: 'Terminating' });

  const keep = computeStatus(
    { ...ps(), status: { conditions: [{ type: 'Reconciled', status: 'True' }], currentDeployment: 'd1' } },
    { state: state(), book, image: 'i', now: NOW },
  );
  t.ok(keep.conditions!.some((c) => c.type === 'Reconciled'), 'other conditions are kept');
  t.equal(keep.currentDeployment, 'd1', 'other status fields are kept');
});
