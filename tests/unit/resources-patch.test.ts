// resources/patch.ts: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386).
import t from 'tap';
import { ApiError, applyPatch, type Json } from '../../resources/index.js';
import { apiError } from '../helpers/resources.js';


/** A fresh object as a client sees it; each call returns a new copy. */
function doc(): Json {
  return {
    apiVersion: 'deployer.dev/v1',
    kind: 'ProjectServer',
    metadata: { name: 'blog', labels: { app: 'blog', tier: 'web' } },
    spec: { serviceType: 'docker', image: 'nginx', port: 80, env: [{ name: 'A', value: '1' }], command: ['nginx', '-g'] },
  };
}

/** Deep-freezes a value so that any write to it throws (ESM code is strict). */
function frozen<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) frozen((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}

t.test('JSON patch add, remove, replace and test', async (t) => {
  const input = frozen(doc());
  const out = applyPatch(input, 'json', [
    { op: 'test', path: '/spec/port', value: 80 },
    { op: 'replace', path: '/spec/port', value: 8080 },
    { op: 'add', path: '/spec/env/-', value: { name: 'B', value: '2' } },
    { op: 'add', path: '/spec/env/0', value: { name: 'Z', value: '0' } },
    { op: 'add', path: '/metadata/annotations', value: { note: 'x' } },
    { op: 'remove', path: '/metadata/labels/tier' },
    { op: 'remove', path: '/spec/command/1' },
    { op: 'test', path: '/spec/env/2/name', value: 'B' },
  ]) as any;
  t.equal(out.spec.port, 8080);
  t.same(out.spec.env, [
    { name: 'Z', value: '0' },
    { name: 'A', value: '1' },
    { name: 'B', value: '2' },
  ]);
  t.same(out.metadata.annotations, { note: 'x' });
  t.same(out.metadata.labels, { app: 'blog' });
  t.same(out.spec.command, ['nginx']);
  t.same(input, doc(), 'the input document is not mutated');
  t.not(out, input, 'a new document is returned');

  const moved = applyPatch(doc(), 'json', [
    { op: 'copy', from: '/spec/image', path: '/metadata/labels/image' },
    { op: 'move', from: '/spec/port', path: '/spec/containerPort' },
  ]) as any;
  t.equal(moved.metadata.labels.image, 'nginx', 'copy');
  t.equal(moved.spec.containerPort, 80, 'move adds at the target');
  t.notOk('port' in moved.spec, 'move removes at the source');
  t.same(applyPatch(doc(), 'json', []), doc(), 'an empty patch returns an equal document');
});

t.test('JSON patch: a failing test op is 422 and nothing is applied', async (t) => {
  const input = frozen(doc());
  const err = apiError(() =>
    applyPatch(input, 'json', [
      { op: 'replace', path: '/spec/image', value: 'caddy' },
      { op: 'test', path: '/spec/port', value: 81 },
    ]),
  );
  t.equal(err.code, 422);
  t.equal(err.reason, 'Invalid');
  t.match(err.message, /test operation 1 failed/);
  t.match(err.message, '"/spec/port"');
  t.same(err.details?.causes, [{ field: '/spec/port', reason: 'FieldValueInvalid', message: 'test operation failed' }]);
  t.same(input, doc(), 'the operation before the failing test did not touch the input');

  const deep = apiError(() => applyPatch(doc(), 'json', [{ op: 'test', path: '/spec/env', value: [{ name: 'A', value: '2' }] }]));
  t.equal(deep.code, 422, 'test compares deeply');
  t.doesNotThrow(() => applyPatch(doc(), 'json', [{ op: 'test', path: '/spec/env', value: [{ value: '1', name: 'A' }] }]), 'key order does not matter to test');
});

t.test('JSON patch: a malformed patch is 400', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['an object instead of an array', { op: 'add', path: '/a', value: 1 }, /must be an array/],
    ['a string', '[]', /must be an array/],
    ['null', null, /must be an array/],
    ['op missing', [{ path: '/spec/port', value: 1 }], /operation 0: needs "op"/],
    ['op unknown', [{ op: 'test', path: '/spec/port', value: 80 }, { op: 'upsert', path: '/spec/port', value: 1 }], /operation 1: needs "op"/],
    ['path missing', [{ op: 'remove' }], /operation 0: needs "op".*a string "path"/],
    ['path not a string', [{ op: 'remove', path: 3 }], /a string "path"/],
    ['operation not an object', ['remove /spec'], /operation 0/],
    ['add without value', [{ op: 'add', path: '/spec/x' }], /"add" needs a "value"/],
    ['replace without value', [{ op: 'replace', path: '/spec/port' }], /"replace" needs a "value"/],
    ['test without value', [{ op: 'test', path: '/spec/port' }], /"test" needs a "value"/],
    ['move without from', [{ op: 'move', path: '/spec/x' }], /"move" needs a string "from"/],
    ['copy without from', [{ op: 'copy', path: '/spec/x' }], /"copy" needs a string "from"/],
  ];
  for (const [what, patch, message] of cases) {
    const err = apiError(() => applyPatch(doc(), 'json', patch));
    t.equal(err.code, 400, `${what}: code`);
    t.equal(err.reason, 'BadRequest', `${what}: reason`);
    t.match(err.message, message, `${what}: message`);
  }
});

t.test('JSON patch: a path that cannot be resolved is 422', async (t) => {
  const cases: [string, unknown[]][] = [
    ['add under a missing parent', [{ op: 'add', path: '/spec/healthCheck/httpGet', value: {} }]],
    ['remove a missing key', [{ op: 'remove', path: '/spec/nope' }]],
    ['replace a missing key', [{ op: 'replace', path: '/metadata/annotations', value: {} }]],
    ['add past the end of an array', [{ op: 'add', path: '/spec/env/5', value: {} }]],
    ['remove a missing array index', [{ op: 'remove', path: '/spec/command/9' }]],
    ['move from a missing path', [{ op: 'move', from: '/spec/nope', path: '/spec/x' }]],
  ];
  for (const [what, patch] of cases) {
    const input = frozen(doc());
    const err = apiError(() => applyPatch(input, 'json', patch));
    t.equal(err.code, 422, `${what}: code`);
    t.equal(err.reason, 'Invalid', `${what}: reason`);
    const path = (patch[0] as { path: string }).path;
    t.match(err.message, /JSON patch operation 0 \(.*\) cannot be applied/, `${what}: message names the operation`);
    t.equal(err.details?.causes?.[0]?.field, path, `${what}: the cause names the path`);

    // The same operation after a passing one: the message must name operation 1.
    const second = apiError(() => applyPatch(input, 'json', [{ op: 'test', path: '/kind', value: 'ProjectServer' }, ...patch]));
    t.equal(second.code, 422, `${what} as operation 1: code`);
    t.match(second.message, /JSON patch operation 1 \(.*\) cannot be applied/, `${what} as operation 1: message names operation 1`);
  }
});

t.test('JSON patch: __proto__ paths are refused with 400 naming the operation', async (t) => {
  const err = apiError(() => applyPatch(doc(), 'json', [{ op: 'add', path: '/metadata/__proto__/polluted', value: true }]));
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted');
  t.equal(err.code, 400, 'a forbidden key is a bad request, as in a merge patch');
  t.match(err.message, /operation 0/, 'the message names the operation index');
  t.match(err.message, '/metadata/__proto__/polluted', 'the message names the path');
});

t.test('merge patch: set, delete with null, nested merge', async (t) => {
  const input = frozen(doc());
  const out = applyPatch(input, 'merge', {
    metadata: { labels: { tier: null, team: 'a' }, annotations: { note: 'x' } },
    spec: { port: 8080, image: null, command: ['caddy'], healthCheck: { httpGet: { path: '/' }, retries: null } },
  }) as any;
  t.same(out.metadata, { name: 'blog', labels: { app: 'blog', team: 'a' }, annotations: { note: 'x' } }, 'nested keys merge; siblings are kept');
  t.equal(out.spec.port, 8080, 'a value is set');
  t.notOk('image' in out.spec, 'null deletes a key');
  t.same(out.spec.command, ['caddy'], 'arrays are replaced, not merged');
  t.same(out.spec.env, [{ name: 'A', value: '1' }], 'untouched keys are kept');
  t.same(out.spec.healthCheck, { httpGet: { path: '/' } }, 'nulls inside a new object are dropped');
  t.equal(out.apiVersion, 'deployer.dev/v1');
  t.same(input, doc(), 'the input document is not mutated');

  t.same(applyPatch(doc(), 'merge', {}), doc(), 'an empty merge patch changes nothing');
  t.same((applyPatch(doc(), 'merge', { spec: null }) as any).spec, undefined, 'null removes a whole object');
  t.same((applyPatch(doc(), 'merge', { spec: { env: { name: 'X' } } }) as any).spec.env, { name: 'X' }, 'an object replaces an array');
  t.same((applyPatch(doc(), 'merge', { spec: { port: { a: 1 } } }) as any).spec.port, { a: 1 }, 'an object replaces a scalar');
  t.same((applyPatch(doc(), 'merge', { metadata: { labels: 'x' } }) as any).metadata.labels, 'x', 'a scalar replaces an object');
});

t.test('merge patch: a patch that is not an object is 400', async (t) => {
  for (const patch of [null, [], [{ op: 'add' }], 'x', 3, true]) {
    const err = apiError(() => applyPatch(doc(), 'merge', patch));
    t.equal(err.code, 400, `${JSON.stringify(patch)}`);
    t.match(err.message, /merge patch must be a JSON object/);
  }
});

t.test('merge patch: a __proto__ key is 400 naming where; constructor and prototype are plain keys', async (t) => {
  for (const [text, where] of [
    ['{"__proto__": {"polluted": true}}', '__proto__'],
    ['{"metadata": {"__proto__": {"polluted": true}}}', 'metadata.__proto__'],
    ['{"metadata": {"labels": {"__proto__": "x"}}}', 'metadata.labels.__proto__'],
  ]) {
    const input = frozen(doc());
    const err = apiError(() => applyPatch(input, 'merge', JSON.parse(text)));
    t.equal(err.code, 400, text);
    t.equal(err.reason, 'BadRequest');
    t.equal(err.message, `merge patch: forbidden key "__proto__" at ${where}`);
    t.same(input, doc(), 'the input is untouched');
  }
  // valid label keys, and harmless anywhere: set as own fields, nothing inherited is merged into
  const out = applyPatch(frozen(doc()), 'merge', JSON.parse('{"metadata": {"labels": {"constructor": "c", "prototype": "p"}}, "spec": {"constructor": {"prototype": {"polluted": true}}}}')) as any;
  t.same(out.metadata.labels, { app: 'blog', tier: 'web', constructor: 'c', prototype: 'p' }, 'constructor and prototype are label keys like any other');
  t.same(Object.keys(out.spec.constructor), ['prototype'], 'a new object, not Object merged into');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted');
  t.equal((Object as unknown as Record<string, unknown>).polluted, undefined, 'nor Object');
});
