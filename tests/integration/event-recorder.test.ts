// The event recorder against a real Postgres: aggregation, names, concurrency, best-effort.
import t from 'tap';
import { EventRecorder, eventName, involvedObjectOf, type InvolvedObject } from '../../controllers/runtime/event-recorder.js';
import { kindByName, type ResourceObject } from '../../resources/index.js';
import { ps, startApi, type TestApi } from '../helpers/api.js';
import { FakeClock } from '../helpers/fake-clock.js';

const EVENT = kindByName('Event')!;
const EVENTS = '/apis/deployer.dev/v1/namespaces/default/events';
const START = Date.parse('2026-01-01T00:00:00Z');
const blog: InvolvedObject = { kind: 'ProjectServer', namespace: 'default', name: 'blog' };

async function events(a: TestApi, namespace = 'default'): Promise<any[]> {
  return (await a.store.resources.list(EVENT, { namespace })).items;
}

function recorder(a: TestApi, extra: { clock?: FakeClock; instance?: string; component?: string } = {}) {
  const logged: { msg: string; err: unknown }[] = [];
  const rec = new EventRecorder({
    resources: a.store.resources,
    component: extra.component ?? 'projectserver-controller',
    instance: extra.instance ?? 'test-process',
    clock: extra.clock ?? new FakeClock(START),
    log: (msg, err) => logged.push({ msg, err }),
  });
  return { rec, logged };
}

t.test('repeats aggregate into one Event: count, lastTimestamp and message follow', async (t) => {
  const a = await startApi(t);
  const clock = new FakeClock(START);
  const { rec, logged } = recorder(a, { clock });
  await rec.record(blog, 'Warning', 'BackOff', 'container exited 1');
  const [first] = await events(a);
  t.match(first, {
    apiVersion: 'deployer.dev/v1',
    kind: 'Event',
    metadata: { namespace: 'default', name: eventName(blog, 'Warning', 'BackOff') },
    involvedObject: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', namespace: 'default', name: 'blog' },
    type: 'Warning',
    reason: 'BackOff',
    message: 'container exited 1',
    count: 1,
    firstTimestamp: '2026-01-01T00:00:00Z',
    lastTimestamp: '2026-01-01T00:00:00Z',
    source: { component: 'projectserver-controller' },
    reportingComponent: 'projectserver-controller',
    reportingInstance: 'test-process',
  });
  t.match(first.metadata.name, /^blog-[0-9a-f]{10}$/);

  clock.advance(5_000);
  await rec.record(blog, 'Warning', 'BackOff', 'container exited 2');
  clock.advance(60_000);
  await rec.record(blog, 'Warning', 'BackOff', 'container exited 3');
  const all = await events(a);
  t.equal(all.length, 1, 'one Event per (object, type, reason)');
  t.match(all[0], {
    count: 3,
    message: 'container exited 3',
    firstTimestamp: '2026-01-01T00:00:00Z',
    lastTimestamp: '2026-01-01T00:01:05Z',
  });
  t.same(logged, [], 'nothing was dropped');
});

t.test('different reasons, types and objects are different Events', async (t) => {
  const a = await startApi(t);
  const { rec } = recorder(a);
  await rec.record(blog, 'Normal', 'Started', 'started');
  await rec.record(blog, 'Normal', 'Pulled', 'pulled');
  await rec.record(blog, 'Warning', 'Started', 'odd, but a different type');
  await rec.record({ ...blog, name: 'shop' }, 'Normal', 'Started', 'started');
  await rec.record({ ...blog, kind: 'Route' }, 'Normal', 'Started', 'started');
  await rec.record({ ...blog, namespace: 'team-a' }, 'Normal', 'Started', 'started');
  await rec.record(blog, 'Normal', 'Started', 'again');
  const all = await events(a);
  t.equal(all.length, 5);
  t.equal(new Set(all.map((e) => e.metadata.name)).size, 5);
  const started = all.find((e) => e.involvedObject.kind === 'ProjectServer' && e.involvedObject.name === 'blog' && e.type === 'Normal' && e.reason === 'Started');
  t.equal(started.count, 2);
  t.equal(started.message, 'again');
  const other = await events(a, 'team-a');
  t.equal(other.length, 1, "written in the involved object's namespace");
  t.equal(other[0].involvedObject.namespace, 'team-a');
});

t.test('listable through the HTTP API by field selector', async (t) => {
  const a = await startApi(t);
  const { rec } = recorder(a);
  await rec.record(blog, 'Normal', 'Created', 'created the container');
  await rec.record(blog, 'Warning', 'Unhealthy', 'health check failed');
  await rec.record({ ...blog, name: 'shop' }, 'Normal', 'Created', 'created the container');
  const res = await a.request('GET', `${EVENTS}?fieldSelector=involvedObject.name%3Dblog`);
  t.equal(res.status, 200);
  t.equal(res.body.kind, 'EventList');
  t.same(res.body.items.map((e: any) => e.reason).sort(), ['Created', 'Unhealthy']);
  const warnings = await a.request('GET', `${EVENTS}?fieldSelector=involvedObject.name%3Dblog,type%3DWarning`);
  t.equal(warnings.status, 200);
  t.same(warnings.body.items.map((e: any) => e.reason), ['Unhealthy']);
  const one = await a.request('GET', `${EVENTS}/${eventName(blog, 'Normal', 'Created')}`);
  t.equal(one.status, 200, 'and by its deterministic name');
  t.equal(one.body.count, 1);
});

t.test('concurrent records never lose a count', async (t) => {
  const a = await startApi(t);
  const { rec, logged } = recorder(a);
  await Promise.all(Array.from({ length: 20 }, (_, i) => rec.record(blog, 'Warning', 'BackOff', `exit ${i}`)));
  let all = await events(a);
  t.equal(all.length, 1);
  t.equal(all[0].count, 20, 'one recorder, 20 concurrent calls');

  // Several recorders (as several processes would) race on the same Event through the store.
  const others = Array.from({ length: 5 }, (_, i) => recorder(a, { instance: `process-${i}` }));
  await Promise.all(others.flatMap(({ rec: r }) => Array.from({ length: 4 }, () => r.record(blog, 'Warning', 'BackOff', 'again'))));
  all = await events(a);
  t.equal(all.length, 1);
  t.equal(all[0].count, 40, 'five recorders, 4 concurrent calls each, on top');

  // The worst case for the store: 20 recorders with one call each, all racing.
  const many = Array.from({ length: 20 }, (_, i) => recorder(a, { instance: `racer-${i}` }));
  await Promise.all(many.map(({ rec: r }) => r.record(blog, 'Warning', 'BackOff', 'race')));
  t.equal((await events(a))[0].count, 60, 'twenty recorders racing once each, on top');
  others.push(...many);
  t.same([...logged, ...others.flatMap((o) => o.logged)], [], 'nothing was dropped');
});

t.test('a long or unusual involved name still gives a valid, unique Event name', async (t) => {
  const a = await startApi(t);
  const { rec, logged } = recorder(a);
  const long = 'a'.repeat(63);
  const longToo = 'a'.repeat(62) + 'b';
  await rec.record({ ...blog, name: long }, 'Normal', 'Started', 'x');
  await rec.record({ ...blog, name: longToo }, 'Normal', 'Started', 'x');
  await rec.record({ kind: 'Container', namespace: 'default', name: '/Deployer_Helper.1-' }, 'Warning', 'Removed', 'orphan removed');
  await rec.record({ kind: 'Container', namespace: 'default', name: '___' }, 'Warning', 'Removed', 'orphan removed');
  const all = await events(a);
  t.equal(all.length, 4);
  for (const e of all) {
    t.ok(e.metadata.name.length <= 63, `${e.metadata.name} fits in 63`);
    t.match(e.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${e.metadata.name} is a DNS-1123 label`);
  }
  t.ok(all.some((e) => e.involvedObject.name === '/Deployer_Helper.1-' && e.metadata.name.startsWith('deployer-helper-1-')));
  t.ok(all.some((e) => e.involvedObject.name === '___' && e.metadata.name.startsWith('event-')));
  t.same(logged, []);
});

t.test('a message longer than the schema allows is truncated, not dropped', async (t) => {
  const a = await startApi(t);
  const { rec, logged } = recorder(a);
  await rec.record(blog, 'Warning', 'Logs', 'x'.repeat(40_000));
  const [e] = await events(a);
  t.ok(e.message.length <= 32768);
  t.match(e.message, /x \[truncated\]$/);
  t.same(logged, []);
});

t.test('errors are logged and swallowed, never thrown', async (t) => {
  const a = await startApi(t);
  const { rec, logged } = recorder(a);

  const fenced = rec.record(blog, 'Normal', 'Started', 'x', { fence: { lease: 'no-such-lease', token: 1 } });
  await t.resolves(fenced, 'a fenced write does not throw');
  t.same(await events(a), [], 'and writes nothing');
  t.equal(logged.length, 1);
  t.match(logged[0].msg, /fenced/);
  t.match(logged[0].err, { code: 409, reason: 'Fenced' });

  await t.resolves(rec.record({ ...blog, namespace: 'Not_A_Namespace' }, 'Normal', 'Started', 'x'), 'an invalid write does not throw');
  t.equal(logged.length, 2);
  t.match(logged[1].err, { code: 422 });

  await t.resolves(rec.record(null as unknown as InvolvedObject, 'Normal', 'Started', 'x'), 'a bad argument does not throw');
  t.equal(logged.length, 3);

  // A fence that holds is accepted, for the create and for the aggregating update.
  const lease = await a.store.leases.tryAcquireOrRenew('projectserver', 'me', 10_000);
  const fence = { lease: 'projectserver', token: lease.token };
  await rec.record(blog, 'Normal', 'Started', 'x', { fence });
  await rec.record(blog, 'Normal', 'Started', 'y', { fence });
  const [e] = await events(a);
  t.equal(e.count, 2);
  // Once the lease passes on, the update is refused too and the count stays.
  await a.store.leases.release('projectserver', 'me');
  await a.store.leases.tryAcquireOrRenew('projectserver', 'someone-else', 10_000);
  await t.resolves(rec.record(blog, 'Normal', 'Started', 'z', { fence }));
  t.equal((await events(a))[0].count, 2);
  t.match(logged.at(-1)?.err, { reason: 'Fenced' });
});

t.test('an Event about one of our objects goes when the object goes', async (t) => {
  const a = await startApi(t);
  const { rec, logged } = recorder(a);
  const created = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/projectservers', { body: ps('blog') });
  t.equal(created.status, 201);
  const involved = involvedObjectOf(created.body as ResourceObject);
  t.ok(involved.uid);
  await rec.record(involved, 'Normal', 'Started', 'x');
  await rec.record({ kind: 'Container', namespace: 'default', name: 'stray', uid: 'c0ffee' }, 'Warning', 'Removed', 'not ours');
  const [e] = (await events(a)).filter((x) => x.involvedObject.name === 'blog');
  t.equal(e.involvedObject.uid, involved.uid);
  t.same(e.metadata.ownerReferences, [{ apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', name: 'blog', uid: involved.uid }]);
  t.equal(e.metadata.name, eventName(involved, 'Normal', 'Started'));
  t.not(e.metadata.name, eventName(blog, 'Normal', 'Started'), 'keyed by uid when there is one');

  t.equal((await a.request('DELETE', '/apis/deployer.dev/v1/namespaces/default/projectservers/blog')).status, 200);
  const deadline = Date.now() + 10_000;
  while ((await events(a)).some((x) => x.involvedObject.name === 'blog') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = await events(a);
  t.same(left.map((x) => x.involvedObject.name), ['stray'], 'collected with its owner; the unowned one stays');
  t.same(logged, []);
});
