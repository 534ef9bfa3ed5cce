// resources/conditions.ts (setCondition, getCondition) and resources/equal.ts (jsonEqual, clone).
import t from 'tap';
import type { Condition } from '../../schemas/index.js';
import { clone, getCondition, jsonEqual, setCondition } from '../../resources/index.js';

const T0 = '2024-05-01T10:00:00Z';
const T1 = '2024-05-01T11:00:00Z';

const ready = (status: Condition['status'], extra: Partial<Condition> = {}): Condition => ({ type: 'Ready', status, ...extra });
const base = (): Condition[] => [
  { type: 'Available', status: 'True', reason: 'Up', lastTransitionTime: T0 },
  { type: 'Ready', status: 'False', reason: 'Starting', lastTransitionTime: T0, observedGeneration: 1 },
  { type: 'Degraded', status: 'False', lastTransitionTime: T0 },
];

t.test('setCondition adds a new condition at the end with lastTransitionTime = now', async (t) => {
  t.same(setCondition(undefined, ready('True'), T1), [{ type: 'Ready', status: 'True', lastTransitionTime: T1 }], 'from no list');
  t.same(setCondition([], ready('Unknown'), T1), [{ type: 'Ready', status: 'Unknown', lastTransitionTime: T1 }], 'from an empty list');
  const list = base().filter((c) => c.type !== 'Ready');
  const out = setCondition(list, ready('True', { reason: 'Healthy' }), T1);
  t.same(out.map((c) => c.type), ['Available', 'Degraded', 'Ready']);
  t.same(out[2], { type: 'Ready', status: 'True', reason: 'Healthy', lastTransitionTime: T1 });
  t.same(getCondition(out, 'Ready'), out[2]);
  t.equal(getCondition(out, 'Missing'), undefined);
  t.equal(getCondition(undefined, 'Ready'), undefined);
});

t.test('setCondition merges by type and keeps the others in order', async (t) => {
  const list = base();
  const snapshot = clone(list);
  const out = setCondition(list, ready('True', { reason: 'Healthy', message: 'all good', observedGeneration: 2 }), T1);
  t.equal(out.length, 3, 'no duplicate type');
  t.same(out.map((c) => c.type), ['Available', 'Ready', 'Degraded'], 'order kept, replaced in place');
  t.same(out[0], snapshot[0], 'other conditions are untouched');
  t.same(out[2], snapshot[2]);
  t.same(out[1], { type: 'Ready', status: 'True', reason: 'Healthy', message: 'all good', observedGeneration: 2, lastTransitionTime: T1 });
  t.same(list, snapshot, 'the input list is not mutated');
  t.not(out, list, 'a new list is returned');
});

t.test('setCondition changes lastTransitionTime only when status changes', async (t) => {
  const same = setCondition(base(), ready('False', { reason: 'StillStarting', message: 'pulling', observedGeneration: 3 }), T1);
  t.equal(same[1]?.lastTransitionTime, T0, 'same status: the old transition time is kept');
  t.equal(same[1]?.reason, 'StillStarting', 'reason is updated');
  t.equal(same[1]?.message, 'pulling', 'message is updated');
  t.equal(same[1]?.observedGeneration, 3, 'observedGeneration is updated');

  const ignoredTime = setCondition(base(), ready('False', { lastTransitionTime: T1 }), T1);
  t.equal(ignoredTime[1]?.lastTransitionTime, T0, 'same status: a transition time from the writer does not move it');

  const changed = setCondition(base(), ready('True'), T1);
  t.equal(changed[1]?.lastTransitionTime, T1, 'new status: now');
  const back = setCondition(changed, ready('False'), '2024-05-01T12:00:00Z');
  t.equal(back[1]?.lastTransitionTime, '2024-05-01T12:00:00Z', 'flipping back is a transition too');
  const unknown = setCondition(base(), ready('Unknown'), T1);
  t.equal(unknown[1]?.lastTransitionTime, T1, 'False → Unknown is a transition');

  const noTime = setCondition([{ type: 'Ready', status: 'True' }], ready('True'), T1);
  t.equal(noTime[0]?.lastTransitionTime, T1, 'a stored condition without a time gets now');
});

t.test('jsonEqual ignores key order but not array order', async (t) => {
  t.ok(jsonEqual({ a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 }), 'key order, nested');
  t.notOk(jsonEqual([1, 2], [2, 1]), 'array order matters');
  t.notOk(jsonEqual({ l: [{ a: 1 }, { b: 2 }] }, { l: [{ b: 2 }, { a: 1 }] }), 'array order matters inside objects');
  t.notOk(jsonEqual([1, 2], [1, 2, 3]), 'array length');
  t.ok(jsonEqual([], []));
  t.ok(jsonEqual({}, {}));
  t.notOk(jsonEqual({ a: 1 }, { a: 1, b: 2 }), 'an extra key');
  t.notOk(jsonEqual({ a: 1, b: 2 }, { a: 1 }), 'a missing key');
  t.notOk(jsonEqual({ a: 1 }, { b: 1 }), 'different keys');
  t.notOk(jsonEqual({ a: { b: 1 } }, { a: { b: 2 } }), 'nested value');
});

t.test('jsonEqual ignores keys whose value is undefined', async (t) => {
  t.ok(jsonEqual({ a: 1, b: undefined }, { a: 1 }));
  t.ok(jsonEqual({ a: 1 }, { a: 1, b: undefined }));
  t.ok(jsonEqual({ x: { a: undefined } }, { x: {} }), 'nested');
  t.ok(jsonEqual({ a: 1, b: undefined }, { a: 1, c: undefined }), 'undefined on both sides under different keys');
  t.notOk(jsonEqual({ a: null }, {}), 'null is a value');
  t.notOk(jsonEqual({ a: undefined, b: 1 }, { a: 1 }), 'counts only defined keys, then compares them');
});

t.test('jsonEqual on scalars and mixed types', async (t) => {
  t.ok(jsonEqual(1, 1));
  t.ok(jsonEqual('a', 'a'));
  t.ok(jsonEqual(null, null));
  t.ok(jsonEqual(true, true));
  t.notOk(jsonEqual(1, '1'), 'number vs string');
  t.notOk(jsonEqual(0, false));
  t.notOk(jsonEqual(null, {}), 'null vs object');
  t.notOk(jsonEqual({}, null));
  t.notOk(jsonEqual([], {}), 'array vs object');
  t.notOk(jsonEqual({ 0: 'a' }, ['a']), 'array-like object vs array');
  t.notOk(jsonEqual(undefined, null));
  t.ok(jsonEqual(undefined, undefined));
});

t.test('clone is a deep copy', async (t) => {
  const v = { a: [{ b: 1 }], c: { d: 'x' } };
  const c = clone(v);
  t.same(c, v);
  c.a[0]!.b = 2;
  c.c.d = 'y';
  t.equal(v.a[0]!.b, 1, 'arrays inside are copied');
  t.equal(v.c.d, 'x', 'objects inside are copied');
  t.equal(clone(undefined), undefined);
  t.equal(clone(null), null);
});
