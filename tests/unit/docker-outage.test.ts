// The pure parts of how controllers report a Docker engine that does not answer
// (controllers/docker-outage.ts, the ProjectServer's outage status in status.ts, and how
// docker/connection.ts classifies socket failures). The whole story, with a real dockerd stopped
// and started, is tests/e2e/docker-outage.test.ts.
import t from 'tap';
import { toDockerError } from '../../docker/connection.js';
import { DockerError } from '../../docker/index.js';
import { DOCKER_RETRY_MAX_MS, DOCKER_UNAVAILABLE, DockerRetry, dockerBackMessage, dockerOutageMessage, isDockerUnavailable } from '../../controllers/docker-outage.js';
import { computeStatus, outageStatus, waitsForDocker } from '../../controllers/projectserver/status.js';
import { containerState } from '../helpers/container-state.js';
import type { ProjectServer } from '../../schemas/index.js';

const socketError = (code: string, syscall = 'connect') => Object.assign(new Error(`${syscall} ${code} /tmp/x/docker.sock`), { code, syscall });

t.test('socket failures are `unavailable`, and the message names the engine, the cause and what deployer does', async (t) => {
  for (const code of ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE']) {
    const err = toDockerError(socketError(code), '/tmp/x/docker.sock', 'inspect container a');
    t.ok(isDockerUnavailable(err), `${code} is unavailable`);
    t.equal(
      dockerOutageMessage(err, 'the deployment resumes in building'),
      `the Docker engine at /tmp/x/docker.sock does not answer: connect ${code}; the deployment resumes in building; deployer retries and will reconverge when it is back`,
    );
  }
  t.equal(dockerOutageMessage(toDockerError(socketError('ENOENT'), '/s', 'x')), 'the Docker engine at /s does not answer: connect ENOENT; deployer retries and will reconverge when it is back');
  // one not made by toDockerError (a fake runtime's): no address to name, its message instead
  t.equal(dockerOutageMessage(new DockerError('unavailable', 'gone')), 'the Docker engine does not answer: gone; deployer retries and will reconverge when it is back');
  t.match(dockerBackMessage('resuming building'), /^the Docker engine answers again; resuming building$/);
});

t.test('answers from the engine are not outages', async (t) => {
  const http = (statusCode: number) => Object.assign(new Error('x'), { statusCode, json: { message: 'no such container' } });
  t.notOk(isDockerUnavailable(toDockerError(http(404), '/s', 'inspect')), '404');
  t.notOk(isDockerUnavailable(toDockerError(http(500), '/s', 'start')), '500');
  // a socket code with an HTTP status is the engine answering
  t.notOk(isDockerUnavailable(toDockerError(Object.assign(socketError('ECONNRESET'), { statusCode: 500 }), '/s', 'x')), 'status wins');
  t.notOk(isDockerUnavailable(new DockerError('timeout', 'slow')), 'timeout');
  t.notOk(isDockerUnavailable(new Error('connect ENOENT')), 'a plain Error');
  t.notOk(isDockerUnavailable(undefined), 'nothing');
});

t.test('retries while Docker is down: 0.5 s doubling, capped at 5 s, per key, reset by forget', async (t) => {
  const r = new DockerRetry();
  t.same(Array.from({ length: 7 }, () => r.next('a')), [500, 1000, 2000, 4000, 5000, 5000, 5000]);
  t.equal(DOCKER_RETRY_MAX_MS, 5000);
  t.equal(r.next('b'), 500, 'keys are independent');
  r.forget('a');
  t.equal(r.next('a'), 500, 'the next outage starts short again');
});

const ps = (status?: ProjectServer['status']): ProjectServer => ({
  apiVersion: 'deployer.dev/v1',
  kind: 'ProjectServer',
  metadata: { name: 'blog', namespace: 'team', uid: 'u-1', generation: 3, resourceVersion: '7' },
  spec: { serviceType: 'static' },
  ...(status ? { status } : {}),
});
const running = containerState({ health: { status: 'healthy', failingStreak: 0 } });
const NOW = Date.parse('2026-01-01T00:10:00Z');
const book = { restartCount: 0, restartHistory: [], dockerRestartCount: 0, containerId: 'c1' };

t.test("a ProjectServer's status during an outage: Ready and Healthy Unknown, health unknown, the rest as last seen; the next observation clears it", async (t) => {
  const healthy = computeStatus(ps(), { state: running, book, image: 'img', now: NOW });
  t.equal(healthy.health, 'healthy');
  t.notOk(waitsForDocker(healthy));

  const msg = 'the Docker engine at /s does not answer: connect ENOENT; deployer retries and will reconverge when it is back';
  const down = outageStatus(ps(healthy), msg, NOW + 60_000);
  t.ok(waitsForDocker(down));
  t.equal(down.health, 'unknown', 'no claim of health from stale data');
  t.equal(down.phase, 'Running', 'the phase as last seen (an outage is not a crash)');
  t.equal(down.containerId, 'c1', 'the container as last seen');
  for (const type of ['Ready', 'Healthy']) {
    const c = down.conditions!.find((x) => x.type === type)!;
    t.match(c, { status: 'Unknown', reason: DOCKER_UNAVAILABLE, message: msg, observedGeneration: 3, lastTransitionTime: '2026-01-01T00:11:00Z' }, type);
  }
  t.same(down.conditions!.find((x) => x.type === 'Degraded'), healthy.conditions!.find((x) => x.type === 'Degraded'), 'Degraded untouched');
  t.same(outageStatus(ps(down), msg, NOW + 120_000), down, 'the same outage seen again writes nothing new');
  t.equal(outageStatus(ps(), msg, NOW).phase, 'Pending', 'a server never seen: Pending');

  const back = computeStatus(ps(down), { state: running, book, image: 'img', now: NOW + 180_000 });
  t.notOk(waitsForDocker(back), 'cleared by the first observation');
  t.equal(back.health, 'healthy');
  t.match(back.conditions!.find((x) => x.type === 'Ready'), { status: 'True', reason: 'Running' });
});
