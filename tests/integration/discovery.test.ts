// Discovery documents and the OpenAPI file.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { renderOpenApi } from '../../api/openapi.js';
import { startApi } from '../helpers/api.js';

t.test('/version, /apis, /apis/deployer.dev, /apis/deployer.dev/v1', async (t) => {
  const a = await startApi(t);
  const v = await a.request('GET', '/version', { token: null });
  t.equal(v.body.major, '1');
  t.equal(v.body.minor, '32', 'kubectl picks its own version from this minor');
  const apis = await a.request('GET', '/apis');
  t.equal(apis.body.kind, 'APIGroupList');
  t.equal(apis.body.groups[0].name, 'deployer.dev');
  t.equal(apis.body.groups[0].preferredVersion.groupVersion, 'deployer.dev/v1');
  const group = await a.request('GET', '/apis/deployer.dev');
  t.equal(group.body.kind, 'APIGroup');
  const list = await a.request('GET', '/apis/deployer.dev/v1');
  t.equal(list.body.kind, 'APIResourceList');
  const byName = Object.fromEntries(list.body.resources.map((r: any) => [r.name, r]));
  t.same(byName.projectservers.shortNames, ['ps']);
  t.same(byName.deployments.shortNames, ['deploy']);
  t.same(byName.routes.shortNames, ['rt']);
  t.same(byName.events.shortNames, ['ev']);
  t.equal(byName.projectservers.kind, 'ProjectServer');
  t.ok(byName.projectservers.namespaced);
  t.ok(byName.projectservers.verbs.includes('watch'));
  t.ok(byName.projectservers.categories.includes('all'));
  t.ok(byName['projectservers/status'], 'the status subresource is listed');
  t.notOk(byName['events/status'], 'events have no status subresource');
});

t.test('openapi.yaml is committed, current, and served', async (t) => {
  const committed = await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8');
  const fresh = await renderOpenApi();
  t.ok(committed === fresh, 'openapi.yaml matches the route schemas (run `npm run openapi` and commit it)');
  const a = await startApi(t);
  const served = await a.request('GET', '/openapi.yaml');
  t.equal(served.status, 200);
  t.match(served.headers.get('content-type'), /yaml/);
  t.equal(served.body, fresh);
  for (const path of ['/apis/deployer.dev/v1/namespaces/{namespace}/{plural}/{name}/status', '/api/tokens', '/version'])
    t.ok(fresh.includes(`${path}:`), `documents ${path}`);
  t.match(fresh, /ProjectServer:/);
});
