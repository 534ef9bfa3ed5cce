// DockerEventStream against the real engine: what it delivers, and that a dropped connection
// loses nothing (catch-up with since=) and duplicates nothing.
import t from 'tap';
import type { Test } from 'tap';
import { DockerEventStream, installationFilter, managedLabels, parseEvent } from '../../docker/index.js';
import type { ContainerEvent, ContainerSpec, DockerRuntime, Owner } from '../../docker/index.js';
import { busyboxImage, dockerForTest } from '../helpers/docker.js';

const owner = (name: string): Owner => ({ kind: 'ProjectServer', namespace: 'default', name, uid: `uid-${name}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function spec(installation: string, image: string, name: string, script: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: `dp-${installation}-${name}`,
    image,
    cmd: ['sh', '-c', script],
    labels: managedLabels(installation, owner(name), 'server'),
    restartPolicy: { name: 'no' },
    ...extra,
  };
}

/** A started stream of the installation's events, stopped at teardown, recording everything. */
async function eventsFor(t: Test, installation: string, opts: { reconnectMinMs?: number; reconnectMaxMs?: number } = {}) {
  const logs: string[] = [];
  const stream = new DockerEventStream({ labelFilters: installationFilter(installation), log: (m) => logs.push(m), ...opts });
  const events: ContainerEvent[] = [];
  stream.onEvent((e) => events.push(e));
  stream.start();
  t.teardown(() => stream.stop());
  await waitFor('the stream to connect', () => stream.connected);
  return { stream, events, logs };
}

const actions = (events: ContainerEvent[], id: string) =>
  events.filter((e) => e.id === id).map((e) => (e.health ? `${e.action}:${e.health}` : e.action));

async function exited(docker: DockerRuntime, id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const st = await docker.inspect(id);
    if (st && !st.running && st.status === 'exited') return;
    await sleep(25);
  }
  throw new Error(`container ${id} did not exit`);
}

t.test('container events of the installation, with labels, health and exit code', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const other = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const { stream, events } = await eventsFor(t, installation);

  const s = spec(installation, image, 'ev', 'sleep 0.8; exit 3', {
    healthCheck: { test: ['true'], intervalMs: 200, timeoutMs: 1000, retries: 3, startPeriodMs: 0 },
  });
  const id = await docker.create(s);
  const foreign = await other.docker.create(spec(other.installation, image, 'foreign', 'true'));
  await docker.start(id);
  await waitFor('die', () => events.find((e) => e.id === id && e.action === 'die'));
  await docker.remove(id);
  await other.docker.remove(foreign);
  await waitFor('destroy', () => events.find((e) => e.id === id && e.action === 'destroy'));

  t.same(actions(events, id), ['create', 'start', 'health_status:healthy', 'die', 'destroy']);
  t.notOk(events.some((e) => e.id === foreign), "another installation's containers are filtered out");
  const die = events.find((e) => e.action === 'die')!;
  t.equal(die.exitCode, 3, 'die carries the exit code');
  t.same(die.labels, s.labels, 'labels are exactly the container labels (name, image, exitCode stripped)');
  t.equal(events.find((e) => e.action === 'start')!.exitCode, undefined);
  t.equal(typeof die.timeNano, 'bigint');
  for (let i = 1; i < events.length; i++) t.ok(events[i]!.timeNano >= events[i - 1]!.timeNano, 'in time order');

  await stream.stop();
  t.notOk(stream.connected, 'stopped');
});

t.test('after a dropped connection the events in between are caught up, once each, before onReconnect', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  // A long first reconnect delay (2–4 s) keeps the stream down while the test acts.
  const { stream, events, logs } = await eventsFor(t, installation, { reconnectMinMs: 4000, reconnectMaxMs: 5000 });
  let reconnects = 0;
  let seenAtReconnect: string[] = [];
  stream.onReconnect(() => {
    reconnects++;
    seenAtReconnect = events.map((e) => `${e.id} ${e.action}`);
  });

  const before = await docker.create(spec(installation, image, 'before', 'exec sleep 1000'));
  await waitFor('create', () => events.find((e) => e.id === before));

  stream.interrupt();
  await waitFor('the drop', () => !stream.connected);
  const during = await docker.create(spec(installation, image, 'during', 'echo hi'));
  await docker.start(during);
  await exited(docker, during);
  await docker.remove(during);
  t.notOk(stream.connected, 'all of that happened while the stream was down');
  t.equal(actions(events, during).length, 0, 'and nothing was delivered meanwhile');

  await waitFor('the reconnect', () => reconnects === 1);
  t.same(actions(events, during), ['create', 'start', 'die', 'destroy'], 'the catch-up delivered each missed event once');
  t.ok(seenAtReconnect.includes(`${during} destroy`), 'before onReconnect was called');
  t.same(actions(events, before), ['create'], 'events from before the drop are not delivered again');
  t.match(logs.join('\n'), /failed; reconnecting/, 'the drop was logged');

  await docker.start(before);
  await waitFor('live start', () => actions(events, before).includes('start'));
  await docker.remove(before);
  await waitFor('live destroy', () => actions(events, before).includes('destroy'));
  t.same(actions(events, before), ['create', 'start', 'kill', 'die', 'destroy'], 'and the live stream goes on, no duplicates');
  t.equal(reconnects, 1);
});

t.test('an unreachable engine: the loop logs, keeps trying, and stops promptly', async (t) => {
  const logs: string[] = [];
  const stream = new DockerEventStream({ socketPath: '/nonexistent/docker.sock', labelFilters: [], log: (m, err) => logs.push(`${m}: ${(err as Error)?.message}`), reconnectMaxMs: 200 });
  stream.start();
  await waitFor('a few attempts', () => logs.length >= 3);
  t.notOk(stream.connected);
  t.match(logs[0], /Docker is not reachable at \/nonexistent\/docker.sock: connect ENOENT/);
  const mark = Date.now();
  await stream.stop();
  t.ok(Date.now() - mark < 500, 'stop() does not wait out the backoff');
  t.throws(() => new DockerEventStream({ labelFilters: [], reconnectMinMs: 500, reconnectMaxMs: 100 }), /reconnectMinMs/);
});

t.test('parseEvent', async (t) => {
  const labels = { 'deployer.dev/managed': 'true', 'deployer.dev/role': 'server' };
  const health = parseEvent({
    Type: 'container',
    Action: 'health_status: unhealthy',
    Actor: { ID: 'abc', Attributes: { ...labels, name: 'x', image: 'img' } },
    timeNano: '1764612345123456789',
  });
  t.same(health, { action: 'health_status', health: 'unhealthy', id: 'abc', labels, timeNano: 1764612345123456789n });
  t.match(parseEvent({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: { exitCode: '137', signal: '9' } }, timeNano: 1 }), {
    action: 'die',
    exitCode: 137,
    labels: {},
  });
  t.equal(parseEvent({ Type: 'network', Action: 'connect', Actor: { ID: 'n' }, timeNano: 1 }), undefined);
});
