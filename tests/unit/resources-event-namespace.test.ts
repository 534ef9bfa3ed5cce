// Tenant isolation (issue 9): an Event is about an object of its own namespace — a token of
// namespace "a" cannot write Events that claim to be about "b"'s objects (resources/validation.ts
// eventRuleErrors, applied by prepareCreate and prepareUpdate).
import t from 'tap';
import { GROUP_VERSION } from '../../schemas/index.js';
import { prepareCreate, prepareUpdate } from '../../resources/index.js';
import { apiError, CTX, kind } from '../helpers/resources.js';

const EVENT = kind('Event');
const event = (involved: Record<string, unknown>) => ({
  apiVersion: GROUP_VERSION,
  kind: 'Event',
  metadata: { name: 'blog-1' },
  involvedObject: { kind: 'ProjectServer', name: 'blog', ...involved },
  reason: 'Started',
  type: 'Normal',
});

t.test('a create naming another namespace in involvedObject is a 422 naming the field', async (t) => {
  const err = apiError(() => prepareCreate(EVENT, event({ namespace: 'tenant-b' }), { ...CTX, namespace: 'tenant-a' }));
  t.equal(err.code, 422);
  t.equal(err.reason, 'Invalid');
  t.same(err.details?.causes?.map((c) => c.field), ['involvedObject.namespace']);
  t.match(err.message, /"tenant-b": does not match the Event's namespace "tenant-a"/);
});

t.test('its own namespace, or none (a cluster-scoped object), is fine', async (t) => {
  const ctx = { ...CTX, namespace: 'tenant-a' };
  t.equal(prepareCreate(EVENT, event({ namespace: 'tenant-a' }), ctx).metadata.namespace, 'tenant-a');
  t.ok(prepareCreate(EVENT, event({}), ctx), 'no namespace');
  t.ok(prepareCreate(EVENT, event({ namespace: '' }), ctx), 'an empty namespace');
  t.ok(prepareCreate(EVENT, event({ kind: 'Node', apiVersion: 'v1', name: 'host-1' }), ctx), 'a cluster-scoped kind');
});

t.test('an update cannot move involvedObject to another namespace either', async (t) => {
  const ctx = { ...CTX, namespace: 'tenant-a', name: 'blog-1' };
  const current = prepareCreate(EVENT, event({ namespace: 'tenant-a' }), ctx);
  const err = apiError(() => prepareUpdate(EVENT, current, event({ namespace: 'tenant-b' }), ctx, 'main'));
  t.equal(err.code, 422);
  t.same(err.details?.causes?.map((c) => c.field), ['involvedObject.namespace']);
  t.equal(prepareUpdate(EVENT, current, { ...event({ namespace: 'tenant-a' }), count: 2 }, ctx, 'main').changed, true);
});
