// Nothing a client sends gets a 5xx: random bodies, names, query strings and patches against
// every kind and method (a small property test; issue 9 grows it). Every rejection is a
// Status, and a rejected request writes nothing (the global revision does not move).
import fc from 'fast-check';
import t from 'tap';
import { startApi } from '../helpers/api.js';

const PLURALS = ['projectservers', 'deployments', 'routes', 'events', 'widgets'];
const name = fc.oneof(fc.constantFrom('a', 'blog', 'x-1'), fc.string({ maxLength: 70 }), fc.constantFrom('..', '../etc', '%00', 'A_B', ''));
const specLike = fc.oneof(
  fc.anything(),
  fc.record({ serviceType: fc.oneof(fc.constantFrom('static', 'docker'), fc.string()), port: fc.oneof(fc.integer(), fc.string()) }, { requiredKeys: [] }),
  fc.record({ projectServer: fc.string(), source: fc.object(), host: fc.string() }, { requiredKeys: [] }),
);
const body = fc.oneof(
  fc.anything(),
  fc.record(
    {
      apiVersion: fc.constantFrom('deployer.dev/v1', 'v1', 'x'),
      kind: fc.constantFrom('ProjectServer', 'Deployment', 'Route', 'Event', 'Nope'),
      metadata: fc.oneof(fc.object(), fc.record({ name, labels: fc.dictionary(fc.string(), fc.string()), finalizers: fc.array(fc.string()) }, { requiredKeys: [] })),
      spec: specLike,
      status: fc.anything(),
      involvedObject: fc.anything(),
    },
    { requiredKeys: [] },
  ),
);
const patch = fc.oneof(fc.anything(), fc.array(fc.record({ op: fc.constantFrom('add', 'remove', 'replace', 'test', 'move', 'copy', 'bogus'), path: fc.constantFrom('/spec/port', '/metadata/uid', '/status', '/metadata/labels/a', '', '/x/y/z', '/metadata/__proto__/p'), value: fc.anything(), from: fc.constantFrom('/spec', '/nope') }, { requiredKeys: ['op'] })));
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?labelSelector=a%20in%20(', '?fieldSelector=spec.x%3D1', '?limit=-1', '?continue=%%', '?watch=yes', '?dryRun=Some', '?propagationPolicy=x', '?resourceVersion=abc&watch=true&timeoutSeconds=1'),
  fc.string({ maxLength: 40 }).map((s) => `?labelSelector=${encodeURIComponent(s)}`),
);
const contentType = fc.constantFrom('application/json', 'application/merge-patch+json', 'application/json-patch+json', 'text/plain', 'application/yaml');

t.test('random requests never get a 5xx and rejections are Status objects', async (t) => {
  const a = await startApi(t);
  await a.request('PUT', '/apis/deployer.dev/v1/namespaces/default/projectservers/blog', { body: { metadata: { name: 'blog' }, spec: { serviceType: 'static' } } });
  let requests = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
      fc.constantFrom(...PLURALS),
      name,
      fc.boolean(),
      query,
      body,
      patch,
      contentType,
      async (method, plural, n, status, q, b, p, ct) => {
        requests++;
        const path = `/apis/deployer.dev/v1/namespaces/default/${plural}/${encodeURIComponent(n)}${status ? '/status' : ''}${q}`;
        const payload = method === 'PATCH' ? p : b;
        const rev = await a.store.resources.currentRevision();
        const res = await a.request(method, path, method === 'GET' || method === 'DELETE' ? {} : { raw: JSON.stringify(payload) ?? 'null', contentType: ct });
        if (res.status >= 500) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
        if (res.status >= 400) {
          if (res.body?.kind !== 'Status' || typeof res.body.message !== 'string' || res.body.code !== res.status)
            throw new Error(`${method} ${path} → ${res.status} without a proper Status: ${JSON.stringify(res.body)}`);
          if ((await a.store.resources.currentRevision()) !== rev) throw new Error(`${method} ${path} → ${res.status} but something was written`);
        }
      },
    ),
    { numRuns: 400, seed: 20261128 },
  );
  t.ok(requests >= 400, `${requests} random requests, no 5xx`);
  t.equal((await a.request('GET', '/readyz', { token: null })).status, 200, 'the server is still well');
});
