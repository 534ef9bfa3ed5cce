// Every error leaves the API as a Kubernetes Status with the right code and a message
// that names the problem.
import t, { type Test } from 'tap';
import { PS, ps, startApi } from '../helpers/api.js';

function isStatus(t: Test, body: any, code: number, reason?: string) {
  t.equal(body?.kind, 'Status', 'a Status object');
  t.equal(body?.apiVersion, 'v1');
  t.equal(body?.status, 'Failure');
  t.equal(body?.code, code);
  if (reason) t.equal(body?.reason, reason);
  t.type(body?.message, 'string');
  t.notMatch(body?.message ?? '', /\n\s+at /, 'no stack trace');
}

t.test('400, 404, 405, 413, 415, 422', async (t) => {
  const a = await startApi(t);

  const malformed = await a.request('POST', PS, { raw: '{"spec": ', contentType: 'application/json' });
  t.equal(malformed.status, 400);
  isStatus(t, malformed.body, 400, 'BadRequest');
  t.match(malformed.body.message, /JSON/);

  const empty = await a.request('POST', PS, { raw: '', contentType: 'application/json' });
  t.equal(empty.status, 400);

  const notObject = await a.request('POST', PS, { body: [1, 2] });
  t.equal(notObject.status, 400);

  const unknown = await a.request('POST', PS, { body: { ...ps('blog', { prot: 80 }), extra: 1 } });
  t.equal(unknown.status, 400);
  isStatus(t, unknown.body, 400, 'BadRequest');
  t.match(unknown.body.message, /spec\.prot/);
  t.match(unknown.body.message, /extra/);

  const invalid = await a.request('POST', PS, {
    body: ps('blog', { serviceType: 'ftp', port: 70000, env: [{ name: '1X', value: 'v' }] }, { labels: { 'bad key!': 'v' } }),
  });
  t.equal(invalid.status, 422);
  isStatus(t, invalid.body, 422, 'Invalid');
  const fields = invalid.body.details.causes.map((c: any) => c.field).sort();
  t.same(fields, ['metadata.labels', 'spec.env[0].name', 'spec.port', 'spec.serviceType'], 'every bad field at once');
  t.match(invalid.body.details.causes.find((c: any) => c.field === 'spec.serviceType').message, /Unsupported value: "ftp"/);

  const badName = await a.request('POST', PS, { body: ps('Not_A_Label') });
  t.equal(badName.status, 422);
  t.equal(badName.body.details.causes[0].field, 'metadata.name');

  const noName = await a.request('POST', PS, { body: { spec: { serviceType: 'static' } } });
  t.equal(noName.status, 422);
  t.equal(noName.body.details.causes[0].field, 'metadata.name');

  const wrongKind = await a.request('POST', PS, { body: { ...ps('blog'), kind: 'Route' } });
  t.equal(wrongKind.status, 400);
  t.match(wrongKind.body.message, /kind/);

  const tooBig = await a.request('POST', PS, { body: ps('big', {}, { annotations: { a: 'x'.repeat(1024 * 1024 + 10) } }) });
  t.equal(tooBig.status, 413);
  isStatus(t, tooBig.body, 413, 'RequestEntityTooLarge');

  const text = await a.request('POST', PS, { raw: 'hello', contentType: 'text/plain' });
  t.equal(text.status, 415);
  isStatus(t, text.body, 415, 'UnsupportedMediaType');

  const proto = await a.request('POST', PS, { raw: '{"__proto__": {"x": 1}, "metadata": {"name": "p"}, "spec": {"serviceType": "static"}}' });
  t.equal(proto.status, 400);

  const kind = await a.request('GET', '/apis/deployer.dev/v1/namespaces/default/widgets');
  t.equal(kind.status, 404);
  isStatus(t, kind.body, 404, 'NotFound');
  t.match(kind.body.message, /widgets/);

  const name = await a.request('GET', `${PS}/nope`);
  t.equal(name.status, 404);
  isStatus(t, name.body, 404, 'NotFound');
  t.match(name.body.message, /"nope" not found/);

  const path = await a.request('GET', '/nothing/here');
  t.equal(path.status, 404);
  isStatus(t, path.body, 404);

  const badNs = await a.request('GET', '/apis/deployer.dev/v1/namespaces/Bad..NS/projectservers');
  t.equal(badNs.status, 400);

  const traversal = await a.request('GET', `${PS}/..%2F..%2Fetc`);
  t.equal(traversal.status, 400);

  const post = await a.request('POST', `${PS}/blog`, { body: ps('blog') });
  t.equal(post.status, 405);
  isStatus(t, post.body, 405, 'MethodNotAllowed');
  t.ok(post.headers.get('allow'));
  const delColl = await a.request('DELETE', PS);
  t.equal(delColl.status, 405);

  const badLimit = await a.request('GET', `${PS}?limit=abc`);
  t.equal(badLimit.status, 400);
  const badSel = await a.request('GET', `${PS}?labelSelector=${encodeURIComponent('a in (')}`);
  t.equal(badSel.status, 400);
  t.match(badSel.body.message, /label selector/);
  const badField = await a.request('GET', `${PS}?fieldSelector=spec.port%3D1`);
  t.equal(badField.status, 400);
  t.match(badField.body.message, /spec\.port/);
  const badContinue = await a.request('GET', `${PS}?limit=1&continue=garbage`);
  t.equal(badContinue.status, 400);
  t.match(badContinue.body.message, /continue/);
  const badRv = await a.request('GET', `${PS}?watch=true&resourceVersion=abc`);
  t.equal(badRv.status, 400);
  const badPolicy = await a.request('DELETE', `${PS}/x?propagationPolicy=Sometimes`);
  t.equal(badPolicy.status, 400);
});

t.test('cross-field rules of the kinds', async (t) => {
  const a = await startApi(t);
  const retry = await a.request('POST', PS, { body: ps('a', { restartPolicy: { name: 'unless-stopped', maximumRetryCount: 3 } }) });
  t.equal(retry.status, 422);
  t.match(retry.body.message, /on-failure/);
  const ok = await a.request('POST', PS, { body: ps('b', { restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }) });
  t.equal(ok.status, 201);
  const hc = await a.request('POST', PS, { body: ps('c', { healthCheck: { intervalSeconds: 5 } }) });
  t.equal(hc.status, 422);
  const dep = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/deployments', {
    body: { metadata: { name: 'd' }, spec: { projectServer: 'b', source: { git: { url: 'x' }, image: { name: 'y' } } } },
  });
  t.equal(dep.status, 422);
  t.match(dep.body.message, /exactly one/);
  const depOk = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/deployments', {
    body: { metadata: { name: 'd' }, spec: { projectServer: 'b', source: { image: { name: 'y' } } } },
  });
  t.equal(depOk.status, 201);
  t.equal(depOk.body.spec.service, 'site', 'service defaults to site');
  const route = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/routes', {
    body: { metadata: { name: 'r' }, spec: { host: 'Example..com', projectServer: 'b' } },
  });
  t.equal(route.status, 422);
  const routeOk = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/routes', {
    body: { metadata: { name: 'r' }, spec: { host: 'example.com', projectServer: 'b' } },
  });
  t.equal(routeOk.body.spec.pathPrefix, '/', 'pathPrefix defaults to /');
  const event = await a.request('POST', '/apis/deployer.dev/v1/namespaces/default/events', {
    body: { metadata: { name: 'e1' }, involvedObject: { kind: 'ProjectServer', name: 'b' }, reason: 'Started', type: 'Normal', count: 1 },
  });
  t.equal(event.status, 201);
  t.equal(event.body.reason, 'Started');
  t.equal(event.body.spec, undefined, 'events are flat');
});

t.test('a JSON body nesting deeper than 100 levels is a 400 saying so, for creates, updates and patches (was a 500: the rules recurse)', async (t) => {
  const a = await startApi(t);
  const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  for (const [method, path, contentType] of [
    ['POST', PS, 'application/json'],
    ['PUT', `${PS}/nope`, 'application/json'],
    ['PATCH', `${PS}/nope`, 'application/merge-patch+json'],
  ] as const)
    for (const n of [101, 10_000, 100_000]) {
      const res = await a.request(method, path, { raw: deep(n), contentType });
      t.equal(res.status, 400, `${method} depth ${n}`);
      isStatus(t, res.body, 400, 'BadRequest');
      t.match(res.body.message, /nests deeper than 100 levels \(at a\.a\.a/);
    }
  // a hundred levels is allowed through to the object rules (which name the unknown field)
  const ok = await a.request('PUT', `${PS}/nope`, { raw: deep(100), contentType: 'application/json' });
  t.equal(ok.status, 400);
  t.match(ok.body.message, /unknown field "a"/);
});

t.test('a string or key with an unpaired UTF-16 surrogate is a 400 naming where (was a 500: Postgres cannot store it); a paired one is text', async (t) => {
  const a = await startApi(t);
  const body = (command: string, label = 'app') =>
    `{"apiVersion":"deployer.dev/v1","kind":"ProjectServer","metadata":{"name":"sur","labels":{"${label}":"x"}},"spec":{"serviceType":"docker","image":"x","command":["sh","-c","${command}"]}}`;
  for (const [raw, where] of [
    [body('\\ud800'), /at spec\.command\[2\]/],
    [body('a\\udfffb'), /at spec\.command\[2\]/],
    [body('ok', '\\udbff'), /key .* at metadata\.labels\./],
  ] as const) {
    const res = await a.request('PUT', `${PS}/sur`, { raw, contentType: 'application/json' });
    t.equal(res.status, 400, raw);
    isStatus(t, res.body, 400, 'BadRequest');
    t.match(res.body.message, /unpaired UTF-16 surrogate/);
    t.match(res.body.message, where);
  }
  const paired = await a.request('PUT', `${PS}/sur`, { raw: body('\\ud83d\\ude00'), contentType: 'application/json' });
  t.ok(paired.status < 300, `an emoji (a surrogate pair) is stored: ${paired.status} ${JSON.stringify(paired.body).slice(0, 200)}`);
});
