// Acceptance 4 of the Deployments issue: `rm current`, `current` pointed elsewhere, and the
// active release's dir deleted are each healed (or fallen back from) with an Event; a rollback
// via fromDeployment goes live quickly (bench/deploy measures it).
import t from 'tap';
import { containerName, volumeName } from '../../docker/index.js';
import { ReleaseVolume } from '../../controllers/releases/volume.js';
import { startControllers } from '../helpers/controllers.js';
import { deploy, proxyPort, serviceDir, settled, site, st, staticSite } from '../helpers/deployments.js';

const NS = 'heal';

t.test('current is healed; a vanished release falls back; rollback is quick', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  await staticSite(h, NS, 'app');
  const port = await proxyPort(h);
  const body = async () => (await site(port, 'app.test')).body;
  const box = (await h.docker.inspect(containerName(h.installation, { namespace: NS, name: 'app' })))!.id;
  const sh = (script: string) => h.docker.exec(box, ['sh', '-c', `cd /srv/static/site && ${script}`]);
  const eventsWith = async (reason: string) => (await h.events(NS, 'app')).filter((e: any) => e.reason === reason);

  await deploy(h, NS, 'one', 'app', { inline: { files: { 'index.html': 'one' } } });
  t.equal(st(await settled(h, NS, 'one')).phase, 'active');
  await deploy(h, NS, 'two', 'app', { inline: { files: { 'index.html': 'two' } } });
  t.equal(st(await settled(h, NS, 'two')).phase, 'active');
  t.equal(await body(), 'two');

  // rm current
  let t0 = Date.now();
  await sh('rm current');
  await h.until(async () => (await serviceDir(h, NS, 'app')).current === 'deployment-two', 'current put back after rm', 10_000);
  t.comment(`rm current healed in ${Date.now() - t0} ms`);
  t.equal(await body(), 'two');
  await h.until(async () => (await eventsWith('SymlinkRepaired')).length >= 1, 'a SymlinkRepaired Event');

  // current pointed elsewhere
  t0 = Date.now();
  await sh('ln -sfn deployment-one .x && mv -Tf .x current');
  await h.until(async () => (await serviceDir(h, NS, 'app')).current === 'deployment-two', 'current put back after a hand edit', 10_000);
  t.comment(`a hand-pointed current healed in ${Date.now() - t0} ms`);
  t.equal(await body(), 'two');

  // the active dir deleted: fall back to the newest intact release, Degraded
  await sh('rm -rf deployment-two');
  await h.until(async () => (await serviceDir(h, NS, 'app')).current === 'deployment-one', 'the fall back to deployment-one', 10_000);
  t.equal(await body(), 'one');
  const ps = await h.until(async () => {
    const o = await h.get(NS, 'app');
    return st(o).currentDeployment === 'one' && st(o).conditions?.some((c: any) => c.type === 'Degraded' && c.status === 'True') && o;
  }, 'the server to report the fallback');
  t.match(st(ps).conditions.find((c: any) => c.type === 'Degraded'), { reason: 'ReleaseMissing', message: /deployment-two/ });
  t.equal(st(ps).services.site.fallbackFrom, 'deployment-two');
  await h.until(async () => (await eventsWith('ReleaseMissing')).length >= 1, 'a ReleaseMissing Event');

  // a new deployment clears the fallback; a rollback to it is quick
  await deploy(h, NS, 'three', 'app', { inline: { files: { 'index.html': 'three' } } });
  t.equal(st(await settled(h, NS, 'three')).phase, 'active');
  await h.until(async () => {
    const o = await h.get(NS, 'app');
    return st(o).conditions?.some((c: any) => c.type === 'Degraded' && c.status === 'False') && !st(o).services.site.fallbackFrom;
  }, 'Degraded cleared by a new release');
  t0 = Date.now();
  await deploy(h, NS, 'back-to-one', 'app', { fromDeployment: { name: 'one' } });
  const back = await settled(h, NS, 'back-to-one');
  const took = Date.now() - t0;
  t.equal(st(back).phase, 'active');
  t.equal(await body(), 'one');
  t.comment(`rollback PUT -> active in ${took} ms`);
  t.ok(took < 3000, 'the rollback is live within seconds (bench/deploy measures the 1 s goal)');

  // a rollback to a release whose files were pruned fails clearly
  await sh('rm -rf deployment-three');
  await deploy(h, NS, 'back-to-three', 'app', { fromDeployment: { name: 'three' } });
  const gone = await settled(h, NS, 'back-to-three');
  t.equal(st(gone).phase, 'failed');
  t.match(st(gone).message, /no longer on the server/);
  t.equal(await body(), 'one', 'the live release is untouched');

  // the listing read on the host equals the one an exec in the container gives (used where the
  // volume is not readable here, e.g. a remote engine)
  await sh('mkdir -p .tmp-deployment-x && ln -sfn deployment-one .current-y');
  const volume = volumeName(h.installation, { namespace: NS, name: 'app' });
  const onHost = await new ReleaseVolume(h.docker, box, await h.docker.volumeMountpoint(volume)).list('site');
  const byExec = await new ReleaseVolume(h.docker, box).list('site');
  t.same(byExec, onHost);
  t.match(byExec, { current: 'deployment-one', entries: [{ name: '.current-y' }, { name: '.tmp-deployment-x' }, { name: 'deployment-one', marker: /^one / }] });
  t.same(await new ReleaseVolume(h.docker, box).list('nothing-here'), { entries: [] });
});
