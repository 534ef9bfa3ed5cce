// Acceptance 1 of the Deployments issue (inline part) and the basic life of releases: inline
// deployments go active and serve through a Route; a newer one supersedes; a rollback reuses
// an older release's files; a failing health check rolls back.
import t from 'tap';
import { startControllers } from '../helpers/controllers.js';
import { DEPLOYMENT, deploy, proxyPort, serviceDir, settled, site, st, staticSite } from '../helpers/deployments.js';

const NS = 'web';

t.test('inline deployments go live, supersede, roll back', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  await staticSite(h, NS, 'blog');
  const port = await proxyPort(h);

  await deploy(h, NS, 'v1', 'blog', { inline: { files: { 'index.html': 'v1 home', 'a/b.txt': 'deep' } } });
  const d1 = await settled(h, NS, 'v1');
  t.equal(st(d1).phase, 'active', st(d1).message);
  t.equal((await site(port, 'blog.test')).body, 'v1 home');
  t.equal((await site(port, 'blog.test', '/a/b.txt')).body, 'deep');
  t.same(await serviceDir(h, NS, 'blog'), { current: 'deployment-v1', entries: ['current', 'deployment-v1'] });

  await deploy(h, NS, 'v2', 'blog', { inline: { files: { 'index.html': 'v2 home' } } }, { healthCheck: { path: '/', contains: 'v2' } });
  t.equal(st(await settled(h, NS, 'v2')).phase, 'active');
  t.equal((await site(port, 'blog.test')).body, 'v2 home');
  await h.until(async () => st(await h.store.resources.get(DEPLOYMENT, NS, 'v1')).phase === 'superseded', 'v1 superseded');
  t.equal(st(await h.get(NS, 'blog')).currentDeployment, 'v2');

  const t0 = Date.now();
  await deploy(h, NS, 'back', 'blog', { fromDeployment: { name: 'v1' } });
  const back = await settled(h, NS, 'back');
  t.equal(st(back).phase, 'active', st(back).message);
  t.ok(Date.now() - t0 < 3000, `rollback took ${Date.now() - t0} ms`);
  t.equal((await site(port, 'blog.test')).body, 'v1 home');
  t.equal(st(await h.get(NS, 'blog')).currentDeployment, 'back');

  await deploy(h, NS, 'bad', 'blog', { inline: { files: { 'index.html': 'broken' } } }, { healthCheck: { path: '/', contains: 'never there' }, progressDeadlineSeconds: 5 });
  const bad = await settled(h, NS, 'bad');
  t.equal(st(bad).phase, 'failed');
  t.match(st(bad).message, /never there/);
  t.equal((await site(port, 'blog.test')).body, 'v1 home', 'the previous release serves again');
  const dir = await serviceDir(h, NS, 'blog');
  t.equal(dir.current, 'deployment-v1');
  t.notOk(dir.entries.some((e) => e.includes('bad')), 'nothing of the failed release is left');
});

t.test('a newer deployment supersedes one still building; a missing server runs into the deadline', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  await staticSite(h, NS, 'docs');
  const port = await proxyPort(h);
  await deploy(h, NS, 'slow', 'docs', { inline: { files: { 'index.html': 'slow' } } }, { build: { command: ['sh', '-c', 'sleep 3'] } });
  await h.until(async () => st(await h.store.resources.get(DEPLOYMENT, NS, 'slow')).phase === 'building', 'slow to build');
  await deploy(h, NS, 'quick', 'docs', { inline: { files: { 'index.html': 'quick' } } });
  t.equal(st(await settled(h, NS, 'quick')).phase, 'active');
  const slow = await settled(h, NS, 'slow');
  t.equal(st(slow).phase, 'superseded');
  t.match(st(slow).message, /superseded by the newer Deployment "quick"/);
  t.equal((await site(port, 'docs.test')).body, 'quick');
  const dir = await serviceDir(h, NS, 'docs');
  t.same(dir, { current: 'deployment-quick', entries: ['current', 'deployment-quick'] }, 'nothing of the superseded one is left');

  await deploy(h, NS, 'nowhere', 'no-such-server', { inline: { files: { 'index.html': 'x' } } }, { progressDeadlineSeconds: 2 });
  const d = await settled(h, NS, 'nowhere', 15_000);
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /^ProgressDeadlineExceeded: .*within 2 s/);
  t.match(st(d).conditions, [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }]);
});
