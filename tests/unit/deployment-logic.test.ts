// The deployment controller's pure rules: who supersedes whom, who waits at the switch, what
// is pruned, which temporaries are stray; the fault hook's parsing; the volume listing parser.
import t from 'tap';
import { byCreation, deadlineOf, mustWaitFor, prunable, routesMessage, strayTemporaries, supersededBy } from '../../controllers/deployment/logic.js';
import { parseListing } from '../../controllers/releases/layout.js';
import { parseFault } from '../../controllers/runtime/fault.js';
import type { Deployment, Route } from '../../schemas/index.js';

let n = 0;
function dep(name: string, phase?: string, extra: { server?: string; service?: string; created?: string; dir?: string; deleting?: boolean } = {}): Deployment {
  n++;
  return {
    apiVersion: 'deployer.dev/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      creationTimestamp: extra.created ?? `2026-01-01T00:00:${String(n).padStart(2, '0')}Z`,
      ...(extra.deleting ? { deletionTimestamp: '2026-01-02T00:00:00Z' } : {}),
    },
    spec: { projectServer: extra.server ?? 'web', service: extra.service ?? 'site', source: { inline: { files: { a: 'b' } } } },
    ...(phase ? { status: { phase: phase as never, ...(extra.dir ? { phaseMetadata: { dir: extra.dir } } : {}) } } : {}),
  } as Deployment;
}

t.test('a newer deployment that has not failed supersedes one before its switch', async (t) => {
  const a = dep('a', 'copying_files');
  const b = dep('b', 'queued');
  t.equal(supersededBy(a, [a, b])?.metadata.name, 'b');
  t.equal(supersededBy(b, [a, b]), undefined, 'an older one never supersedes');
  t.equal(supersededBy(a, [a, dep('c', 'failed')]), undefined, 'a failed newer one does not');
  t.equal(supersededBy(a, [a, dep('d', 'queued', { service: 'docs' })]), undefined, 'another service does not');
  t.equal(supersededBy(a, [a, dep('e', 'queued', { server: 'other' })]), undefined, 'another server does not');
  t.equal(supersededBy(a, [a, dep('f', 'queued', { deleting: true })]), undefined, 'one being deleted does not');
  t.equal(supersededBy(dep('g', 'health_check'), [b]), undefined, 'inside the switch zone nothing is superseded');
  t.equal(supersededBy(dep('h', 'active'), [b]), undefined, 'terminal ones are not');
});

t.test('creation order: timestamp, then name', async (t) => {
  const x = dep('x', 'queued', { created: '2026-01-01T00:00:00Z' });
  const y = dep('y', 'queued', { created: '2026-01-01T00:00:00Z' });
  t.ok(byCreation(x, y) < 0);
  t.ok(byCreation(y, x) > 0);
  t.equal(byCreation(x, x), 0);
});

t.test('a deployment waits at the switch for an older one inside it', async (t) => {
  const old = dep('old', 'health_check');
  const mine = dep('mine', 'creating_symlinks');
  t.equal(mustWaitFor(mine, [old, mine])?.metadata.name, 'old');
  t.equal(mustWaitFor(old, [old, mine]), undefined, 'the older one does not wait for the newer');
  t.equal(mustWaitFor(mine, [dep('done', 'active'), mine]), undefined);
});

t.test('pruning keeps the live dir, dirs in progress and the newest retained ones', async (t) => {
  const ds = [dep('r1', 'superseded'), dep('r2', 'superseded'), dep('r3', 'superseded'), dep('r4', 'active'), dep('busy', 'copying_files'), dep('rb', 'superseded', { dir: 'deployment-r1' })];
  const dirs = ['deployment-r1', 'deployment-r2', 'deployment-r3', 'deployment-r4', 'deployment-busy', 'deployment-gone'];
  const target = 'ns/web/site';
  t.same(prunable(dirs, 'deployment-r4', target, ds, 1).sort(), ['deployment-gone', 'deployment-r2', 'deployment-r3'], 'limit 1: the newest retained (rb reuses r1)');
  t.same(prunable(dirs, 'deployment-r4', target, ds, 0).sort(), ['deployment-gone', 'deployment-r1', 'deployment-r2', 'deployment-r3']);
  t.same(prunable(dirs, 'deployment-r4', target, ds, 5), ['deployment-gone'], 'a dir no Deployment names goes');
  t.notOk(prunable(dirs, 'deployment-r2', target, ds, 0).includes('deployment-r2'), 'never the live one');
});

t.test('temporaries of deployments not in progress are stray', async (t) => {
  const ds = [dep('busy', 'building'), dep('done', 'active')];
  t.same(strayTemporaries(['.tmp-deployment-busy', '.build-busy', '.tmp-deployment-done', '.current-done', '.current-heal', 'deployment-done', 'current'], 'ns/web/site', ds), [
    '.tmp-deployment-done',
    '.current-done',
    '.current-heal',
  ]);
});

t.test('the deadline counts from startedAt', async (t) => {
  const d = dep('a', 'queued');
  d.status!.startedAt = '2026-01-01T00:00:00Z';
  t.equal(deadlineOf(d, 0), Date.parse('2026-01-01T00:10:00Z'));
  d.spec.progressDeadlineSeconds = 5;
  t.equal(deadlineOf(d, 0), Date.parse('2026-01-01T00:00:05Z'));
});

t.test('the fault hook setting', async (t) => {
  t.equal(parseFault(undefined), undefined);
  t.same(parseFault('copying_files'), { point: 'copying_files', action: 'crash' });
  t.same(parseFault('health_check:pause'), { point: 'health_check', action: 'pause' });
  t.throws(() => parseFault('x:explode'), /expected/);
});

t.test('a service dir listing', async (t) => {
  t.same(parseListing('current deployment-a\nentry deployment-a a uid-a \nentry .tmp-deployment-b\n'), {
    current: 'deployment-a',
    entries: [{ name: '.tmp-deployment-b' }, { name: 'deployment-a', marker: 'a uid-a' }],
  });
  t.same(parseListing('current \n'), { entries: [] }, 'no link');
  t.same(parseListing(''), { entries: [] }, 'no dir');
});

t.test("updating_routes' message names the ready Routes as serving, and the others apart", async (t) => {
  const rt = (name: string, ready: boolean) => ({ metadata: { name }, spec: { host: `${name}.test`, projectServer: 'blog' }, status: { ready } }) as unknown as Route;
  t.equal(routesMessage([]), 'no Route serves this service yet');
  t.equal(routesMessage([rt('site', true)]), 'served by Route site');
  t.equal(routesMessage([rt('site', true), rt('site-copy', false)]), 'served by Route site (not ready: site-copy)', 'a Route that lost a conflict is not claimed');
  t.equal(routesMessage([rt('a', false)]), 'no Route serves this service yet (not ready: a)');
});
