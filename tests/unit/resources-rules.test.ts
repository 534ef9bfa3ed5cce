// resources/rules.ts: create, delete and the object layout (toObject / splitObject).
// Updates (main and /status) are in resources-rules-update.test.ts.
import t from 'tap';
import { GROUP_VERSION } from '../../schemas/index.js';
import {
  ApiError,
  kindByName,
  prepareCreate,
  prepareDelete,
  splitObject,
  toObject,
  type KindInfo,
  type StoredParts,
  type WriteContext,
} from '../../resources/index.js';
import { kind, apiError, CTX } from '../helpers/resources.js';

const PS = kind('ProjectServer');
const DEPLOY = kind('Deployment');
const ROUTE = kind('Route');
const EVENT = kind('Event');



const psObject = (meta: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: GROUP_VERSION,
  kind: 'ProjectServer',
  metadata: { name: 'blog', ...meta },
  spec: { serviceType: 'static' },
  ...extra,
});

t.test('prepareCreate assigns uid, generation 1 and creationTimestamp from the context', async (t) => {
  const parts = prepareCreate(PS, psObject({ labels: { app: 'blog' } }), CTX);
  t.same(parts.metadata, {
    name: 'blog',
    namespace: 'default',
    uid: CTX.newUid,
    generation: 1,
    creationTimestamp: CTX.now,
    labels: { app: 'blog' },
  });
  t.same(parts.body, { serviceType: 'static' });
  t.equal(parts.status, null, 'a created object has no status');
  t.notOk('resourceVersion' in parts.metadata, 'the stored metadata never holds resourceVersion');
});

t.test('prepareCreate drops status and system metadata sent by the client', async (t) => {
  const parts = prepareCreate(
    PS,
    psObject(
      {
        uid: 'client-uid',
        generation: 42,
        creationTimestamp: '1999-01-01T00:00:00Z',
        deletionTimestamp: '1999-01-01T00:00:00Z',
        namespace: 'default',
      },
      { status: { health: 'healthy', restartCount: 3 } },
    ),
    CTX,
  );
  t.equal(parts.status, null, 'status is dropped on create');
  t.equal(parts.metadata.uid, CTX.newUid);
  t.equal(parts.metadata.generation, 1);
  t.equal(parts.metadata.creationTimestamp, CTX.now);
  t.notOk('deletionTimestamp' in parts.metadata, 'a client cannot create an object that is being deleted');
});

t.test('prepareCreate takes the name from the URL and accepts an empty resourceVersion', async (t) => {
  const parts = prepareCreate(PS, { spec: { serviceType: 'static' }, metadata: { resourceVersion: '' } }, { ...CTX, name: 'blog' });
  t.equal(parts.metadata.name, 'blog');
  t.equal(parts.metadata.namespace, 'default', 'namespace comes from the request');
});

t.test('prepareCreate rejects a mismatched or malformed request with 400', async (t) => {
  const cases: [string, unknown, Partial<WriteContext>, RegExp][] = [
    ['namespace mismatch', psObject({ namespace: 'other' }), {}, /namespace of the object \("other"\).*"default"/],
    ['name mismatch with the URL', psObject({ name: 'blog' }), { name: 'shop' }, /name of the object \("blog"\).*"shop"/],
    ['resourceVersion set', psObject({ resourceVersion: '12' }), {}, /resourceVersion must not be set/],
    ['apiVersion mismatch', { ...psObject(), apiVersion: 'apps/v1' }, {}, /apiVersion "apps\/v1".*deployer\.dev\/v1/],
    ['kind mismatch', { ...psObject(), kind: 'Route' }, {}, /kind "Route".*"ProjectServer"/],
    ['array body', [psObject()], {}, /must be a JSON object/],
    ['string body', 'blog', {}, /must be a JSON object/],
    ['null body', null, {}, /must be a JSON object/],
    ['metadata not an object', { ...psObject(), metadata: 'blog' }, {}, /metadata must be an object/],
  ];
  for (const [what, input, ctx, message] of cases) {
    const err = apiError(() => prepareCreate(PS, input, { ...CTX, ...ctx }));
    t.equal(err.code, 400, `${what}: code`);
    t.equal(err.reason, 'BadRequest', `${what}: reason`);
    t.match(err.message, message, `${what}: message`);
  }
});

t.test('prepareCreate without name or generateName is 422 with cause metadata.name', async (t) => {
  for (const meta of [{}, { generateName: '' }]) {
    const err = apiError(() => prepareCreate(PS, { spec: { serviceType: 'static' }, metadata: meta }, CTX));
    t.equal(err.code, 422);
    t.equal(err.reason, 'Invalid');
    t.same(err.details?.causes?.map((c) => [c.field, c.reason]), [['metadata.name', 'FieldValueRequired']]);
  }
  const noMeta = apiError(() => prepareCreate(PS, { spec: { serviceType: 'static' } }, CTX));
  t.equal(noMeta.code, 422, 'no metadata at all');
  t.equal(noMeta.details?.causes?.[0]?.field, 'metadata.name');
});

t.test('prepareCreate with generateName appends the random suffix', async (t) => {
  const parts = prepareCreate(PS, { spec: { serviceType: 'static' }, metadata: { generateName: 'blog-' } }, CTX);
  t.equal(parts.metadata.name, `blog-${CTX.randomSuffix}`);
  t.notOk('generateName' in parts.metadata, 'generateName is not stored');
  const named = prepareCreate(PS, psObject({ generateName: 'ignored-' }), CTX);
  t.equal(named.metadata.name, 'blog', 'an explicit name wins over generateName');
});

t.test('prepareCreate applies the defaults', async (t) => {
  const route = prepareCreate(ROUTE, { metadata: { name: 'www' }, spec: { host: 'example.com', projectServer: 'blog' } }, CTX);
  t.equal(route.body.pathPrefix, '/', 'Route pathPrefix defaults to "/"');
  const routeSet = prepareCreate(ROUTE, { metadata: { name: 'www' }, spec: { host: 'example.com', projectServer: 'blog', pathPrefix: '/api' } }, CTX);
  t.equal(routeSet.body.pathPrefix, '/api', 'an explicit pathPrefix is kept');

  const spec = { projectServer: 'blog', source: { git: { url: 'https://example.com/r.git' } } };
  const deploy = prepareCreate(DEPLOY, { metadata: { name: 'v1' }, spec }, CTX);
  t.equal(deploy.body.service, 'site', 'Deployment service defaults to "site"');
  t.notOk('service' in spec, 'the input spec is not mutated by defaulting');
  const deployApi = prepareCreate(DEPLOY, { metadata: { name: 'v1' }, spec: { ...spec, service: 'api' } }, CTX);
  t.equal(deployApi.body.service, 'api');

  const ps = prepareCreate(PS, psObject(), CTX);
  t.same(ps.body, { serviceType: 'static' }, 'ProjectServer has no defaults added');
});

t.test('prepareCreate of a flat kind (Event) stores every top-level field as the body', async (t) => {
  const input = {
    apiVersion: GROUP_VERSION,
    kind: 'Event',
    metadata: { name: 'blog-1' },
    involvedObject: { kind: 'ProjectServer', name: 'blog' },
    reason: 'Started',
    type: 'Normal',
    count: 1,
  };
  const parts = prepareCreate(EVENT, input, CTX);
  t.same(parts.body, { involvedObject: { kind: 'ProjectServer', name: 'blog' }, reason: 'Started', type: 'Normal', count: 1 });
  t.equal(parts.status, null);
});

t.test('prepareCreate reports unknown top-level fields instead of dropping them', async (t) => {
  // A typo next to spec (here "stauts", or "labels" put at the top level instead of in
  // metadata) must be an error, as for unknown fields inside spec (STYLE.md).
  const err = apiError(() => prepareCreate(PS, psObject({}, { stauts: {}, labels: { a: 'b' } }), CTX));
  t.equal(err.code, 400);
  t.same(err.details?.causes?.map((c) => c.field).sort(), ['labels', 'stauts']);
});

function storedWithFinalizers(finalizers?: string[]): StoredParts {
  return prepareCreate(PS, psObject(finalizers ? { finalizers } : {}), CTX);
}

t.test('prepareDelete without finalizers removes the row at once', async (t) => {
  t.same(prepareDelete(storedWithFinalizers(), '2024-05-02T00:00:00Z'), { remove: true });
  const emptyList = { ...storedWithFinalizers(), metadata: { ...storedWithFinalizers().metadata, finalizers: [] } };
  t.same(prepareDelete(emptyList, '2024-05-02T00:00:00Z'), { remove: true }, 'an empty finalizer list is no finalizer');
});

t.test('prepareDelete with finalizers sets deletionTimestamp once and bumps generation', async (t) => {
  const current = storedWithFinalizers(['deployer.dev/container']);
  const snapshot = JSON.stringify(current);
  const first = prepareDelete(current, '2024-05-02T00:00:00Z');
  if (first.remove) throw new Error('an object with finalizers must not be removed');
  t.equal(first.changed, true);
  t.equal(first.parts.metadata.deletionTimestamp, '2024-05-02T00:00:00Z');
  t.equal(first.parts.metadata.generation, 2, 'generation +1 on deletion');
  t.same(first.parts.metadata.finalizers, ['deployer.dev/container'], 'finalizers are kept');
  t.same(first.parts.body, current.body);
  t.equal(JSON.stringify(current), snapshot, 'the current parts are not mutated');

  const second = prepareDelete(first.parts, '2024-05-03T00:00:00Z');
  if (second.remove) throw new Error('a second delete must not remove the row');
  t.equal(second.changed, false, 'a second delete changes nothing');
  t.equal(second.parts.metadata.deletionTimestamp, '2024-05-02T00:00:00Z', 'deletionTimestamp is set only once');
  t.equal(second.parts.metadata.generation, 2, 'generation is bumped only once');
});

t.test('toObject and splitObject round trip a spec-status kind', async (t) => {
  const parts = prepareCreate(PS, psObject({ labels: { app: 'blog' } }), CTX);
  const obj = toObject(PS, parts, 4711);
  t.equal(obj.apiVersion, 'deployer.dev/v1');
  t.equal(obj.kind, 'ProjectServer');
  t.equal(obj.metadata.resourceVersion, '4711', 'the revision becomes resourceVersion as a string');
  t.same(obj.spec, parts.body);
  t.notOk('status' in obj, 'no status key when the stored status is null');
  const back = splitObject(PS, obj);
  t.same(back.body, parts.body);
  t.equal(back.status, null);
  t.same(back.metadata, { ...parts.metadata, resourceVersion: '4711' });
  t.notOk('resourceVersion' in parts.metadata, 'toObject does not write into the stored metadata');

  const withStatus = { ...parts, status: { health: 'healthy', observedGeneration: 1 } };
  const obj2 = toObject(PS, withStatus, '12');
  t.same(obj2.status, withStatus.status);
  t.same(splitObject(PS, obj2).status, withStatus.status);
  t.same(splitObject(PS, { metadata: { name: 'x' } }).body, {}, 'a missing spec splits into an empty body');
});

t.test('toObject and splitObject round trip a flat kind (Event)', async (t) => {
  const parts = prepareCreate(
    EVENT,
    { metadata: { name: 'blog-1' }, involvedObject: { kind: 'ProjectServer', name: 'blog' }, reason: 'Pulled', message: 'ok', count: 2 },
    CTX,
  );
  const obj = toObject(EVENT, parts, 7);
  t.same(obj, {
    apiVersion: 'deployer.dev/v1',
    kind: 'Event',
    metadata: { ...parts.metadata, resourceVersion: '7' },
    involvedObject: { kind: 'ProjectServer', name: 'blog' },
    reason: 'Pulled',
    message: 'ok',
    count: 2,
  });
  t.notOk('spec' in obj, 'a flat kind has no spec');
  t.notOk('status' in obj, 'a flat kind has no status');
  const back = splitObject(EVENT, obj);
  t.same(back.body, parts.body);
  t.equal(back.status, null);
  t.same(back.metadata, obj.metadata);
});
