// DockerRuntime against the real engine: images FROM scratch, containers, helper runs, exec,
// logs, volumes, networks, and how failures are classified.
import t from 'tap';
import Dockerode from 'dockerode';
import { randomBytes } from 'node:crypto';
import { DockerError, DockerRuntime, installationFilter, managedLabels } from '../../docker/index.js';
import type { ContainerSpec, Owner } from '../../docker/index.js';
import { staticImage } from '../../images/index.js';
import { busyboxImage, dockerForTest } from '../helpers/docker.js';

const owner = (name: string): Owner => ({ kind: 'ProjectServer', namespace: 'default', name, uid: `uid-${name}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A container spec of this test's installation: the static image running `script` under sh. */
function spec(installation: string, image: string, name: string, script: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: `dp-${installation}-${name}`,
    image,
    cmd: ['sh', '-c', script],
    labels: managedLabels(installation, owner(name), 'server'),
    restartPolicy: { name: 'no' },
    ...extra,
  };
}

t.test('ensureImage builds FROM scratch once, then finds the image by its content tag', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const raw = new Dockerode();
  const repository = `deployer/test-${randomBytes(4).toString('hex')}`;
  const def = { ...staticImage({ repository }), workingDir: '/tmp', env: { PATH: '/bin', GREETING: 'say "$HOME"' } };
  t.teardown(async () => {
    for (const img of await raw.listImages({ filters: { reference: [repository] } })) await raw.getImage(img.Id).remove({ force: true });
  });

  // Count the builds that reach the engine (a test-only look inside the runtime).
  const client = (docker as unknown as { docker: Dockerode }).docker;
  const buildImage = client.buildImage.bind(client);
  let builds = 0;
  client.buildImage = ((...args: Parameters<typeof buildImage>) => {
    builds++;
    return buildImage(...args);
  }) as typeof client.buildImage;

  const started = Date.now();
  const [tag, same] = await Promise.all([docker.ensureImage(def), docker.ensureImage(def)]);
  t.equal(builds, 1, 'concurrent calls share one build');
  t.comment(`first build: ${Date.now() - started} ms`);
  t.match(tag, new RegExp(`^${repository}:[0-9a-f]{16}$`));
  t.equal(same, tag, 'and get the same tag');
  const first = await raw.getImage(tag).inspect();
  t.equal(first.Config.Labels?.['deployer.dev/managed'], 'true', 'the image is labelled as deployer-made');
  t.equal((await raw.listImages({ filters: { reference: [repository] } })).length, 1, 'one image was built');

  const again = Date.now();
  t.equal(await docker.ensureImage(def), tag, 'the same definition gives the same tag');
  t.comment(`second ensureImage: ${Date.now() - again} ms`);
  t.equal((await raw.getImage(tag).inspect()).Id, first.Id, 'and does not rebuild');
  t.equal(builds, 1);

  const other = await docker.ensureImage({ ...def, cmd: ['true'] });
  t.not(other, tag, 'another config is another tag');

  const r = await docker.run({
    image: tag,
    argv: ['sh', '-c', 'pwd; echo "$GREETING"; readlink /bin/sh; ls -ld /tmp'],
    labels: managedLabels(installation, owner('image'), 'helper'),
  });
  const [pwd, greeting, link, tmp] = r.stdout.split('\n');
  t.equal(pwd, '/tmp', 'WORKDIR');
  t.equal(greeting, 'say "$HOME"', 'ENV values are taken literally');
  t.equal(link, 'busybox', 'COPY kept the applets as symlinks');
  t.match(tmp, /^drwxrwxrwt/, '/tmp is a 1777 directory');

  await t.rejects(docker.ensureImage({ repository, files: { '/bin/x': { hostPath: '/nonexistent/x' } } }), { name: 'DockerError', kind: 'bad_request' });
  t.throws(() => staticImage({ busybox: '/nonexistent/busybox' }), /\/nonexistent\/busybox.*apt-get install busybox-static/);
});

t.test('the static image runs sh, httpd and wget; run() collects output and removes the helper', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const labels = managedLabels(installation, owner('helper'), 'helper');

  const started = Date.now();
  const r = await docker.run({ image, argv: ['sh', '-c', 'echo hi; echo oops >&2; exit 3'], labels });
  t.comment(`run (create, start, wait, logs, remove): ${Date.now() - started} ms`);
  t.same(r, { exitCode: 3, stdout: 'hi\n', stderr: 'oops\n', timedOut: false });

  const web = await docker.run({
    image,
    argv: ['sh', '-c', 'mkdir /www && echo hello > /www/index.html && httpd -p 8080 -h /www && wget -qO- http://127.0.0.1:8080/'],
    env: { UNUSED: 'x' },
    labels,
  });
  t.same(web, { exitCode: 0, stdout: 'hello\n', stderr: '', timedOut: false }, 'httpd serves and wget fetches');
  t.same(await docker.listContainers(installationFilter(installation)), [], 'helpers are removed afterwards');
});

t.test('run(): a timeout kills the helper, an abort rejects; both remove it', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const labels = managedLabels(installation, owner('slow'), 'helper');

  const started = Date.now();
  const r = await docker.run({ image, argv: ['sleep', '30'], labels, timeoutMs: 500 });
  const took = Date.now() - started;
  t.equal(r.timedOut, true);
  t.equal(r.exitCode, 137, 'killed');
  t.ok(took < 5000, `returned after the timeout (${took} ms)`);

  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  await t.rejects(docker.run({ image, argv: ['sleep', '30'], labels, signal: ac.signal }), { name: 'AbortError' });
  t.same(await docker.listContainers(installationFilter(installation)), [], 'no helper is left behind');
});

t.test('create, start, health, stop, restart, remove', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const s = spec(installation, image, 'web', 'sleep 0.5; touch /tmp/ready; exec sleep 1000', {
    healthCheck: { test: ['test', '-f', '/tmp/ready'], intervalMs: 200, timeoutMs: 1000, retries: 3, startPeriodMs: 0 },
    env: { A: '1', B: 'two words' },
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 500_000_000,
    exposedPorts: [8080],
  });

  let mark = Date.now();
  const id = await docker.create(s);
  const created = (await docker.inspect(id))!;
  t.match(created, { id, name: s.name, image, status: 'created', running: false, restartCount: 0, exitCode: 0 });
  t.same(created.labels, s.labels, 'labels as given');
  t.equal(created.startedAt, undefined, "Docker's zero time becomes undefined");
  t.equal(created.finishedAt, undefined);
  await docker.start(id);
  const createStartMs = Date.now() - mark;
  const running = (await docker.inspect(s.name))!;
  t.equal(running.running, true, 'inspect by name works too');
  t.equal(running.health?.status, 'starting');
  t.ok(running.startedAt, 'startedAt is set');
  await docker.start(id); // starting a running container is fine
  const healthy = await waitFor('healthy', async () => {
    const st = await docker.inspect(id);
    return st?.health?.status === 'healthy' ? st : undefined;
  });
  t.same(healthy.health, { status: 'healthy', failingStreak: 0, lastOutput: '' });
  t.same((await docker.exec(id, ['env'])).stdout.split('\n').filter((l) => /^[AB]=/.test(l)).sort(), ['A=1', 'B=two words']);

  mark = Date.now();
  await docker.stop(id);
  const stopMs = Date.now() - mark;
  t.ok(stopMs < 2000, `with init, stop takes well under the 5 s timeout (${stopMs} ms)`);
  const stopped = (await docker.inspect(id))!;
  t.match(stopped, { status: 'exited', running: false, exitCode: 143 });
  t.ok(stopped.finishedAt);
  await docker.stop(id); // stopping a stopped container is fine

  mark = Date.now();
  await docker.restart(id);
  const restartMs = Date.now() - mark;
  t.match(await docker.inspect(id), { running: true, restartCount: 0 }, "a restart by request is not Docker's restart count");
  t.comment(`create+start ${createStartMs} ms, stop ${stopMs} ms, restart ${restartMs} ms`);

  await docker.remove(id);
  t.equal(await docker.inspect(id), null, 'inspect of a missing container is null');
  await docker.remove(id); // removing a missing container is fine
  await t.rejects(docker.start(id), { name: 'DockerError', kind: 'not_found', statusCode: 404 });
});

t.test('without init a shell ignores SIGTERM as PID 1 and stop waits for the timeout', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const id = await docker.create(spec(installation, image, 'noinit', 'sleep 1000', { init: false }));
  await docker.start(id);
  const mark = Date.now();
  await docker.stop(id, 1);
  const took = Date.now() - mark;
  t.ok(took >= 900, `stop waited for the 1 s timeout (${took} ms)`);
  t.equal((await docker.inspect(id))!.exitCode, 137, 'and killed it');
  await docker.remove(id);
});

t.test('errors: a taken name is a conflict, a missing image not_found, a missing socket unavailable', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const s = spec(installation, image, 'dup', 'sleep 1000');
  const id = await docker.create(s);
  const err = await docker.create(s).catch((e: unknown) => e);
  t.ok(err instanceof DockerError);
  t.match(err, { name: 'DockerError', kind: 'conflict', statusCode: 409, message: new RegExp(`create container ${s.name}: .*already in use`) });
  await t.rejects(docker.create({ ...s, name: `${s.name}-2`, image: 'deployer/does-not-exist:1' }), { name: 'DockerError', kind: 'not_found' });
  await docker.remove(id);

  const gone = new DockerRuntime({ socketPath: '/nonexistent/docker.sock' });
  await t.rejects(gone.ping(), { name: 'DockerError', kind: 'unavailable', message: 'Docker is not reachable at /nonexistent/docker.sock: connect ENOENT' });
  await t.rejects(gone.inspect('x'), { name: 'DockerError', kind: 'unavailable' }, 'inspect does not mistake an absent engine for an absent container');
  await t.rejects(new DockerRuntime({ host: 'tcp://127.0.0.1:1' }).listContainers([]), {
    kind: 'unavailable',
    message: /tcp:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/,
  });
  await new DockerRuntime({ host: 'unix:///var/run/docker.sock' }).ping();
});

t.test('restart policy on-failure stops after the maximum retry count', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const id = await docker.create(spec(installation, image, 'crash', 'exit 1', { restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } }));
  await docker.start(id);
  const done = await waitFor('the retries to end', async () => {
    const st = await docker.inspect(id);
    return st && st.status === 'exited' && !st.restarting && st.restartCount === 2 ? st : undefined;
  });
  t.match(done, { exitCode: 1, restartCount: 2, running: false });
  await sleep(1000);
  t.equal((await docker.inspect(id))!.restartCount, 2, 'no third restart');
  await docker.remove(id);
});

t.test('exec runs argv in a running container', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const id = await docker.create(spec(installation, image, 'exec', 'exec sleep 1000'));
  await docker.start(id);
  t.same(await docker.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 4']), { exitCode: 4, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  t.same(await docker.exec(id, ['id', '-u'], { user: '1000' }), { exitCode: 0, stdout: '1000\n', stderr: '', timedOut: false });
  const slow = await docker.exec(id, ['sleep', '5'], { timeoutMs: 300 });
  t.match(slow, { timedOut: true, exitCode: -1 });
  await docker.stop(id);
  await t.rejects(docker.exec(id, ['true']), { name: 'DockerError', kind: 'conflict' }, 'exec in a stopped container');
  await docker.remove(id);
});

t.test('logs and followLogs', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const id = await docker.create(spec(installation, image, 'logs', 'echo err >&2; sleep 0.1; echo one; echo two; echo three; sleep 1; echo four; printf partial'));
  // (the pause after the stderr line: Docker orders stdout and stderr lines of one instant by neither)
  await docker.start(id);
  await sleep(500);
  t.equal(await docker.logs(id, { tail: 2 }), 'two\nthree\n', 'the last lines');
  t.same((await docker.logs(id, { tail: 10 })).split('\n').sort(), ['', 'err', 'one', 'three', 'two'], 'stdout and stderr');

  const lines: string[] = [];
  await docker.followLogs(id, { tail: 1, signal: new AbortController().signal }, (l) => lines.push(l));
  // Docker 20.10 does not send a follower the last line when it has no newline; logs() has it.
  t.same(lines.filter((l) => l !== 'partial'), ['three', 'four'], 'follows until the container stops');
  t.match(await docker.logs(id, { tail: 1 }), /partial$/);
  t.match((await docker.inspect(id))!, { running: false });
  await docker.remove(id);

  const ticker = await docker.create(spec(installation, image, 'ticker', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done'));
  await docker.start(ticker);
  const ac = new AbortController();
  const ticks: string[] = [];
  await docker.followLogs(ticker, { tail: 0, signal: ac.signal }, (l) => {
    ticks.push(l);
    if (ticks.length === 3) ac.abort();
  });
  t.equal(ticks.length, 3, 'resolves when the signal aborts');
  t.match(ticks[0], /^tick\d+$/);
  await docker.remove(ticker);
  await t.rejects(docker.logs(ticker, { tail: 1 }), { name: 'DockerError', kind: 'not_found' });
});

t.test('volumes and networks', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const vol = `dp-${installation}-data`;
  const labels = managedLabels(installation, owner('vol'), 'data');
  await docker.ensureVolume(vol, labels);
  await docker.ensureVolume(vol, { ...labels, ignored: 'x' });
  t.same(await docker.listVolumes(installationFilter(installation)), [{ name: vol, labels }], 'listed with the labels of its creation');
  const helper = managedLabels(installation, owner('vol'), 'helper');
  await docker.run({ image, argv: ['sh', '-c', 'echo kept > /data/f'], labels: helper, mounts: [{ volume: vol, target: '/data' }] });
  const read = await docker.run({ image, argv: ['cat', '/data/f'], labels: helper, mounts: [{ volume: vol, target: '/data', readOnly: true }] });
  t.equal(read.stdout, 'kept\n', 'data outlives the helper that wrote it');
  const ro = await docker.run({ image, argv: ['touch', '/data/g'], labels: helper, mounts: [{ volume: vol, target: '/data', readOnly: true }] });
  t.not(ro.exitCode, 0, 'a read-only mount is read-only');

  const user = await docker.create(spec(installation, image, 'voluser', 'exec sleep 1000', { mounts: [{ volume: vol, target: '/data' }] }));
  await t.rejects(docker.removeVolume(vol), { name: 'DockerError', kind: 'conflict' }, 'a volume in use cannot be removed');
  await docker.remove(user);
  await docker.removeVolume(vol);
  await docker.removeVolume(vol); // a missing volume is fine
  t.same(await docker.listVolumes(installationFilter(installation)), []);

  const front = `dp-${installation}-front`;
  const back = `dp-${installation}-back`;
  const netLabels = managedLabels(installation, owner('net'), 'proxy');
  await docker.ensureNetwork(front, netLabels);
  await docker.ensureNetwork(front, netLabels);
  await docker.ensureNetwork(back, netLabels);
  t.same((await docker.listNetworks(installationFilter(installation))).map((n) => n.name).sort(), [back, front]);
  const server = spec(installation, image, 'srv', 'mkdir /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www', {
    networks: [front, back],
  });
  const serverId = await docker.create(server);
  const info = await new Dockerode().getContainer(serverId).inspect();
  t.same(Object.keys(info.NetworkSettings.Networks).sort(), [back, front], 'attached to both networks');
  await docker.start(serverId);
  const client = spec(installation, image, 'cli', `wget -qO- http://${server.name}:8080/`, { networks: [back] });
  const clientId = await docker.create(client);
  const fetched = await waitFor('the server to answer by name', async () => {
    await docker.start(clientId);
    await waitFor('the client to exit', async () => !(await docker.inspect(clientId))!.running);
    return (await docker.inspect(clientId))!.exitCode === 0;
  });
  t.ok(fetched);
  t.equal(await docker.logs(clientId, { tail: 1 }), 'served\n', 'containers on one network reach each other by name');
  await docker.remove(clientId);
  await docker.remove(serverId);
  await docker.removeNetwork(front);
  await docker.removeNetwork(back);
  await docker.removeNetwork(back); // a missing network is fine
});

t.test('listContainers returns only the containers matching the label filters', async (t) => {
  const a = await dockerForTest(t);
  const b = await dockerForTest(t);
  const image = await busyboxImage(a.docker);
  const mine = await a.docker.create(spec(a.installation, image, 'mine', 'true'));
  const theirs = await b.docker.create(spec(b.installation, image, 'theirs', 'true'));
  const helperSpec = spec(a.installation, image, 'helper', 'true');
  const helper = await a.docker.create({ ...helperSpec, labels: managedLabels(a.installation, owner('helper'), 'helper') });
  const listed = await a.docker.listContainers(installationFilter(a.installation));
  t.same(listed.map((c) => c.id).sort(), [helper, mine].sort(), "another installation's containers are not listed");
  const one = listed.find((c) => c.id === mine)!;
  t.match(one, { name: `dp-${a.installation}-mine`, state: 'created', labels: managedLabels(a.installation, owner('mine'), 'server') });
  t.ok(Math.abs(one.created - Date.now() / 1000) < 60, 'created is in Unix seconds');
  t.same(
    (await a.docker.listContainers(installationFilter(a.installation, 'helper'))).map((c) => c.id),
    [helper],
    'filters combine (installation and role)',
  );
  for (const id of [mine, theirs, helper]) await a.docker.remove(id);
});

t.test('the teardown removes what a test left and reports it', async (t) => {
  const { docker, installation, cleanup } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  await docker.create(spec(installation, image, 'left', 'true'));
  await docker.ensureVolume(`dp-${installation}-left`, managedLabels(installation, owner('left'), 'data'));
  t.same((await cleanup()).sort(), [`container dp-${installation}-left`, `volume dp-${installation}-left`]);
  t.same(await docker.listContainers(installationFilter(installation)), []);
});

