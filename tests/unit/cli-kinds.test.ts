// Kind resolution from discovery: plural, singular, short name or Kind, in any case; an
// unknown word names what deployer has.
import t from 'tap';
import { kindsOf, resolveKind, splitTypeName } from '../../cli/kinds.js';

const LIST = {
  resources: [
    { name: 'projectservers', singularName: 'projectserver', kind: 'ProjectServer', shortNames: ['ps'], namespaced: true },
    { name: 'projectservers/status', singularName: '', kind: 'ProjectServer' },
    { name: 'deployments', singularName: 'deployment', kind: 'Deployment', shortNames: ['deploy'], namespaced: true },
    { name: 'routes', singularName: 'route', kind: 'Route', shortNames: ['rt'], namespaced: true },
    { name: 'events', singularName: 'event', kind: 'Event', shortNames: ['ev'], namespaced: true },
  ],
};

t.test('subresources are not kinds', async (t) => {
  t.same(kindsOf(LIST).map((k) => k.plural), ['projectservers', 'deployments', 'routes', 'events']);
});

t.test('every way to name a kind', async (t) => {
  const kinds = kindsOf(LIST);
  for (const w of ['ps', 'PS', 'projectserver', 'ProjectServer', 'projectservers', 'PROJECTSERVERS']) t.equal(resolveKind(kinds, w).kind, 'ProjectServer', w);
  for (const [w, k] of [['deploy', 'Deployment'], ['rt', 'Route'], ['ev', 'Event'], ['events', 'Event']]) t.equal(resolveKind(kinds, w!).kind, k, w);
});

t.test('an unknown kind names the kinds deployer has', async (t) => {
  t.throws(() => resolveKind(kindsOf(LIST), 'pods'), {
    message: 'the server doesn\'t have a resource type "pods"; deployer has: projectservers (ps), deployments (deploy), routes (rt), events (ev)',
  });
});

t.test('kind/name and kind name', async (t) => {
  t.same(splitTypeName(['deployment/blog-1'], 'x'), { kindWord: 'deployment', name: 'blog-1' });
  t.same(splitTypeName(['ps', 'blog'], 'x'), { kindWord: 'ps', name: 'blog' });
  t.same(splitTypeName(['ps'], 'x'), { kindWord: 'ps', name: undefined });
  t.throws(() => splitTypeName([], 'get'), { message: /get: name a kind/ });
  t.throws(() => splitTypeName(['ps/'], 'get'), { message: /name is missing/ });
  t.throws(() => splitTypeName(['ps/a', 'b'], 'get'), { message: /no need to name the kind twice/ });
});
