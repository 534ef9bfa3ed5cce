// deployctl's manifest parsing: several YAML documents, JSON, List kinds, readable errors, and
// the order apply and delete use.
import t from 'tap';
import { CliError } from '../../cli/errors.js';
import { applyOrder, deleteOrder, parseManifests } from '../../cli/manifests.js';

t.test('several YAML documents, empty ones skipped', async (t) => {
  const objs = parseManifests(
    `---
apiVersion: deployer.dev/v1
kind: ProjectServer
metadata: { name: blog }
spec: { serviceType: static }
---
# only a comment
---
kind: Route
metadata: { name: blog, namespace: team-a }
spec: { host: blog.test, projectServer: blog }
---
`,
    'a.yaml',
  );
  t.same(objs.map((o) => `${o.kind}/${o.metadata.name}`), ['ProjectServer/blog', 'Route/blog']);
  t.equal(objs[1]!.metadata.namespace, 'team-a');
});

t.test('JSON, and List kinds unpacked (nested too)', async (t) => {
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { kind: 'Deployment', metadata: { name: 'd1' }, spec: {} },
      { kind: 'DeploymentList', items: [{ kind: 'Deployment', metadata: { name: 'd2' } }] },
    ],
  });
  t.same(parseManifests(json, 'b.json').map((o) => o.metadata.name), ['d1', 'd2']);
});

t.test('errors name the file and document', async (t) => {
  t.throws(() => parseManifests('kind: Route\nmetadata: {name: a}\n---\nmetadata: {name: b}\n', 'x.yaml'), { message: /x\.yaml \(document 2\).*no "kind"/ });
  t.throws(() => parseManifests('kind: Route\nspec: {}\n', 'y.yaml'), { message: /y\.yaml.*Route has no metadata\.name/ });
  t.throws(() => parseManifests('kind: [unclosed\n', 'z.yaml'), { message: /error parsing z\.yaml/ });
  t.throws(() => parseManifests('- 1\n- 2\n', 'l.yaml'), CliError);
});

t.test('ProjectServers are applied first and deleted last; the rest keep their order', async (t) => {
  const objs = [{ kind: 'Route', n: 1 }, { kind: 'Deployment', n: 2 }, { kind: 'ProjectServer', n: 3 }, { kind: 'Route', n: 4 }];
  t.same(applyOrder(objs).map((o) => o.n), [3, 1, 2, 4]);
  t.same(deleteOrder(objs).map((o) => o.n), [4, 2, 1, 3]);
});
