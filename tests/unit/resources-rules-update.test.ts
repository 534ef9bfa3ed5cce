// resources/rules.ts: prepareUpdate of the main resource and of the /status subresource.
import t from 'tap';
import { GROUP_VERSION } from '../../schemas/index.js';
import {
  ApiError,
  kindByName,
  prepareCreate,
  prepareDelete,
  prepareUpdate,
  toObject,
  type KindInfo,
  type StoredParts,
  type WriteContext,
} from '../../resources/index.js';
import { kind, apiError } from '../helpers/resources.js';

const PS = kind('ProjectServer');
const ROUTE = kind('Route');
const EVENT = kind('Event');

const UID = '0b6f4a52-8c1e-4d3e-9a57-2f0c8e1d9b10';
const CREATE: WriteContext = { namespace: 'default', now: '2024-05-01T10:00:00Z', newUid: UID, randomSuffix: 'x7k2q' };
/** The context of a later write: another clock reading and another fresh uid, which an update must not use. */
const CTX: WriteContext & { name: string } = {
  namespace: 'default',
  name: 'blog',
  now: '2024-05-09T09:00:00Z',
  newUid: 'ffffffff-ffff-4fff-8fff-ffffffffffff',
  randomSuffix: 'zzzzz',
};


/** A stored ProjectServer "blog" with a status, as the store would hold it. */
function stored(meta: Record<string, unknown> = {}): StoredParts {
  const parts = prepareCreate(PS, { metadata: { name: 'blog', labels: { app: 'blog' }, ...meta }, spec: { serviceType: 'docker', image: 'nginx', port: 80 } }, CREATE);
  return { ...parts, status: { observedGeneration: 1, health: 'healthy' } };
}
/** What a client would read back (and edit) for `parts`. */
const asRead = (info: KindInfo, parts: StoredParts) => JSON.parse(JSON.stringify(toObject(info, parts, 10))) as Record<string, any>;

t.test('prepareUpdate main: a spec change bumps generation by one', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.spec.port = 8080;
  const res = prepareUpdate(PS, current, obj, CTX, 'main');
  t.equal(res.changed, true);
  t.equal(res.remove, false);
  t.equal(res.parts.metadata.generation, 2);
  t.equal(res.parts.body.port, 8080);
  t.equal(current.metadata.generation, 1, 'the current parts are not mutated');
  t.equal(current.body.port, 80, 'the current body is not mutated');
});

t.test('prepareUpdate main: a metadata-only change keeps generation', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.metadata.labels = { app: 'blog', tier: 'web' };
  obj.metadata.annotations = { 'deployer.dev/note': 'hi' };
  const res = prepareUpdate(PS, current, obj, CTX, 'main');
  t.equal(res.changed, true, 'a label change is a change');
  t.equal(res.parts.metadata.generation, 1, 'generation only follows the spec');
  t.same(res.parts.metadata.labels, { app: 'blog', tier: 'web' });
  t.same(res.parts.metadata.annotations, { 'deployer.dev/note': 'hi' });
});

t.test('prepareUpdate main: status in the input is ignored', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.status = { health: 'unhealthy', restartCount: 9 };
  const res = prepareUpdate(PS, current, obj, CTX, 'main');
  t.same(res.parts.status, current.status, 'the stored status is kept');
  t.equal(res.changed, false, 'only the status differed, so nothing changes');
  const noStatus = asRead(PS, current);
  delete noStatus.status;
  t.same(prepareUpdate(PS, current, noStatus, CTX, 'main').parts.status, current.status, 'omitting status does not clear it');
});

t.test('prepareUpdate main: writing what is stored changes nothing', async (t) => {
  const current = stored();
  const same = prepareUpdate(PS, current, asRead(PS, current), CTX, 'main');
  t.equal(same.changed, false);
  t.equal(same.remove, false);
  t.equal(same.parts.metadata.generation, 1);

  // Key order does not matter, and neither does leaving out a defaulted field.
  const route = prepareCreate(ROUTE, { metadata: { name: 'www' }, spec: { host: 'example.com', projectServer: 'blog' } }, CREATE);
  const reordered = { spec: { projectServer: 'blog', host: 'example.com' }, metadata: { namespace: 'default', name: 'www' }, kind: 'Route' };
  const res = prepareUpdate(ROUTE, route, reordered, { ...CTX, name: 'www' }, 'main');
  t.equal(res.changed, false, 'the default pathPrefix "/" is applied before comparing');
  t.equal(res.parts.metadata.generation, 1);
});

t.test('prepareUpdate main: uid mismatch is 409 Conflict; name or namespace mismatch is 400', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.metadata.uid = '11111111-2222-4333-8444-555555555555';
  const err = apiError(() => prepareUpdate(PS, current, obj, CTX, 'main'));
  t.equal(err.code, 409);
  t.equal(err.reason, 'Conflict');
  t.match(err.message, /UID in precondition: 11111111-2222-4333-8444-555555555555/);
  t.match(err.message, UID);

  const renamed = { ...asRead(PS, current), metadata: { name: 'shop' } };
  t.equal(apiError(() => prepareUpdate(PS, current, renamed, CTX, 'main')).code, 400, 'name mismatch');
  const moved = { ...asRead(PS, current), metadata: { name: 'blog', namespace: 'other' } };
  t.equal(apiError(() => prepareUpdate(PS, current, moved, CTX, 'main')).code, 400, 'namespace mismatch');
  t.equal(apiError(() => prepareUpdate(PS, current, { ...asRead(PS, current), kind: 'Route' }, CTX, 'main')).code, 400, 'kind mismatch');
  t.equal(apiError(() => prepareUpdate(PS, current, 'blog', CTX, 'main')).code, 400, 'non-object body');
});

t.test('prepareUpdate main: uid, generation and timestamps from the client are ignored', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.metadata.uid = '';
  obj.metadata.generation = 99;
  obj.metadata.creationTimestamp = '1999-01-01T00:00:00Z';
  obj.metadata.deletionTimestamp = '1999-01-01T00:00:00Z';
  obj.metadata.resourceVersion = '3';
  obj.metadata.generateName = 'x-';
  const res = prepareUpdate(PS, current, obj, CTX, 'main');
  t.equal(res.parts.metadata.uid, UID, 'uid is kept (and never the context newUid)');
  t.equal(res.parts.metadata.generation, 1);
  t.equal(res.parts.metadata.creationTimestamp, CREATE.now);
  t.notOk('deletionTimestamp' in res.parts.metadata, 'a client cannot start a deletion by update');
  t.notOk('resourceVersion' in res.parts.metadata, 'resourceVersion is never stored in metadata');
  t.notOk('generateName' in res.parts.metadata);
  t.equal(res.changed, false, 'ignored fields change nothing');
  t.equal(res.remove, false);
});

/** The stored object after a delete with finalizers. */
function deleting(finalizers: string[]): StoredParts {
  const res = prepareDelete(stored({ finalizers }), '2024-05-05T00:00:00Z');
  if (res.remove) throw new Error('expected the object to stay while it has finalizers');
  return res.parts;
}

t.test('prepareUpdate main: no new finalizer while deletionTimestamp is set', async (t) => {
  const current = deleting(['deployer.dev/container']);
  const obj = asRead(PS, current);
  obj.metadata.finalizers = ['deployer.dev/container', 'deployer.dev/volume'];
  const err = apiError(() => prepareUpdate(PS, current, obj, CTX, 'main'));
  t.equal(err.code, 422);
  t.same(err.details?.causes?.map((c) => [c.field, c.reason]), [['metadata.finalizers', 'FieldValueForbidden']]);
  t.match(err.message, /deployer\.dev\/volume/);

  const live = stored({ finalizers: ['deployer.dev/container'] });
  const liveObj = asRead(PS, live);
  liveObj.metadata.finalizers = ['deployer.dev/container', 'deployer.dev/volume'];
  t.same(prepareUpdate(PS, live, liveObj, CTX, 'main').parts.metadata.finalizers, liveObj.metadata.finalizers, 'allowed before deletion');
});

t.test('prepareUpdate main: removing finalizers of an object being deleted', async (t) => {
  const current = deleting(['deployer.dev/container', 'deployer.dev/volume']);
  const one = asRead(PS, current);
  one.metadata.finalizers = ['deployer.dev/volume'];
  const partial = prepareUpdate(PS, current, one, CTX, 'main');
  t.equal(partial.changed, true);
  t.equal(partial.remove, false, 'a finalizer is left: the row stays');
  t.equal(partial.parts.metadata.deletionTimestamp, '2024-05-05T00:00:00Z', 'deletionTimestamp is kept');
  t.equal(partial.parts.metadata.generation, 2, 'generation stays at its post-delete value');

  for (const finalizers of [[], undefined]) {
    const last = asRead(PS, partial.parts);
    if (finalizers) last.metadata.finalizers = finalizers;
    else delete last.metadata.finalizers;
    const res = prepareUpdate(PS, partial.parts, last, CTX, 'main');
    t.equal(res.remove, true, `the last finalizer went (${finalizers ? 'empty list' : 'field omitted'}): the row goes`);
    t.equal(res.changed, true);
  }

  const live = stored({ finalizers: ['deployer.dev/container'] });
  const liveObj = asRead(PS, live);
  delete liveObj.metadata.finalizers;
  t.equal(prepareUpdate(PS, live, liveObj, CTX, 'main').remove, false, 'no deletionTimestamp: never removed by an update');
});

t.test('prepareUpdate main: the result is validated', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.spec.port = 0;
  obj.spec.bogus = true;
  const unknown = apiError(() => prepareUpdate(PS, current, obj, CTX, 'main'));
  t.equal(unknown.code, 400);
  t.same(unknown.details?.causes?.map((c) => c.field), ['spec.bogus']);
  delete obj.spec.bogus;
  const bad = apiError(() => prepareUpdate(PS, current, obj, CTX, 'main'));
  t.equal(bad.code, 422);
  t.same(bad.details?.causes?.map((c) => c.field), ['spec.port']);

  const topLevel = { ...asRead(PS, current), stauts: {} };
  const typo = apiError(() => prepareUpdate(PS, current, topLevel, CTX, 'main'));
  t.equal(typo.code, 400, 'an unknown top-level field is not dropped');
  t.same(typo.details?.causes?.map((c) => c.field), ['stauts']);
});

t.test('prepareUpdate status: only status changes', async (t) => {
  const current = stored();
  const obj = asRead(PS, current);
  obj.spec.port = 9999;
  obj.spec.bogus = 'ignored too';
  obj.metadata.labels = { changed: 'yes' };
  obj.metadata.finalizers = ['deployer.dev/x'];
  obj.status = { observedGeneration: 1, health: 'degraded', restartCount: 4 };
  const res = prepareUpdate(PS, current, obj, CTX, 'status');
  t.equal(res.changed, true);
  t.equal(res.remove, false);
  t.same(res.parts.status, { observedGeneration: 1, health: 'degraded', restartCount: 4 });
  t.same(res.parts.body, current.body, 'spec in the input is ignored');
  t.same(res.parts.metadata, current.metadata, 'metadata in the input is ignored, generation included');

  const again = prepareUpdate(PS, current, asRead(PS, current), CTX, 'status');
  t.equal(again.changed, false, 'the same status again changes nothing');
  obj.status.health = 'healthy';
  (obj.status as Record<string, unknown>).restartCount = undefined;
  t.same(prepareUpdate(PS, current, obj, CTX, 'status').parts.status, { observedGeneration: 1, health: 'healthy' });
});

t.test('prepareUpdate status: the status is validated', async (t) => {
  const current = stored();
  const bad = apiError(() => prepareUpdate(PS, current, { metadata: { name: 'blog' }, status: { health: 'meh', restartCount: -1 } }, CTX, 'status'));
  t.equal(bad.code, 422);
  t.same(bad.details?.causes?.map((c) => [c.field, c.reason]), [
    ['status.health', 'FieldValueNotSupported'],
    ['status.restartCount', 'FieldValueInvalid'],
  ]);

  const unknown = apiError(() => prepareUpdate(PS, current, { status: { bogus: 1 } }, CTX, 'status'));
  t.equal(unknown.code, 400);
  t.same(unknown.details?.causes?.map((c) => c.field), ['status.bogus']);
  t.match(unknown.message, /"status\.bogus"/, 'the message names the field with its full path');
  t.match(unknown.details?.causes?.[0]?.message, /"status\.bogus"/, 'so does the cause message');

  const notObject = apiError(() => prepareUpdate(PS, current, { status: 'ready' }, CTX, 'status'));
  t.equal(notObject.code, 422);
  t.same(notObject.details?.causes?.map((c) => c.field), ['status'], 'a status that is not an object is reported at "status"');
});

t.test('prepareUpdate status of a flat kind (Event) is 400', async (t) => {
  const ev = prepareCreate(EVENT, { metadata: { name: 'blog-1' }, involvedObject: { kind: 'ProjectServer', name: 'blog' } }, CREATE);
  const err = apiError(() => prepareUpdate(EVENT, ev, { ...asRead(EVENT, ev), status: {} }, { ...CTX, name: 'blog-1' }, 'status'));
  t.equal(err.code, 400);
  t.equal(err.reason, 'BadRequest');
  t.match(err.message, /events have no status subresource/);

  const edit = asRead(EVENT, ev);
  edit.count = 2;
  const res = prepareUpdate(EVENT, ev, edit, { ...CTX, name: 'blog-1' }, 'main');
  t.equal(res.changed, true);
  t.equal(res.parts.body.count, 2, 'the main update of a flat kind writes its top-level fields');
});

t.test('a name, namespace or uid that is not a string is shown as JSON in the message, never as [object Object]', async (t) => {
  const current = stored();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['name', { name: { a: { b: 1 } } }, /the name of the object \(\{"a":\{"b":1\}\}\) does not match the name in the URL \("blog"\)/],
    ['namespace', { name: 'blog', namespace: ['x'] }, /the namespace of the object \(\["x"\]\) does not match/],
    ['uid', { name: 'blog', uid: 7 }, /UID in precondition: 7,/],
    ['a long name', { name: 'x'.repeat(200) }, /the name of the object \("x{76}\.\.\.\) does not match/],
  ];
  for (const [what, metadata, want] of cases) {
    const err = apiError(() => prepareUpdate(PS, current, { ...asRead(PS, current), metadata }, CTX, 'main'));
    t.match(err.message, want, what);
    t.notMatch(err.message, /\[object Object\]/, `${what}: no [object Object]`);
  }
});
