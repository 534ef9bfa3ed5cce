// Getting files to containers and to the host: putArchive into running and created containers
// (and so into their volumes), volumeMountpoint and a DirectoryWatcher on it, and the
// addresses of a container on a user network, reached from this process.
import t from 'tap';
import { tarOf } from '../helpers/tar.js';
import { access, constants, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryWatcher, managedLabels } from '../../docker/index.js';
import type { ContainerSpec, Owner } from '../../docker/index.js';
import { busyboxImage, dockerForTest } from '../helpers/docker.js';

const owner = (name: string): Owner => ({ kind: 'ProjectServer', namespace: 'default', name, uid: `uid-${name}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

t.test('putArchive into a created container (through its volume) and a running one; volumeMountpoint sees the files', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const vol = `dp-${installation}-site`;
  await docker.ensureVolume(vol, managedLabels(installation, owner('site'), 'data'));
  const mounts = [{ volume: vol, target: '/srv' }];

  const mountpoint = await docker.volumeMountpoint(vol);
  t.ok(mountpoint, `a fresh volume has a mountpoint here (${mountpoint})`);
  await access(mountpoint!, constants.R_OK | constants.X_OK);
  t.equal(await docker.volumeMountpoint(`dp-${installation}-missing`), null, 'a missing volume has none');

  // A watcher on a directory of the volume that does not exist yet.
  let changes = 0;
  const watcher = new DirectoryWatcher([join(mountpoint!, 'site')], () => changes++, { onError: (e) => t.fail(e.message) });
  t.teardown(() => watcher.close());

  const created = await docker.create(spec(installation, image, 'created', 'exec sleep 1000', { mounts }));
  const first = await tarOf([
    { header: { name: 'site', type: 'directory', mode: 0o755 } },
    { header: { name: 'site/deployment-a', type: 'directory', mode: 0o755 } },
    { header: { name: 'site/deployment-a/index.html', mode: 0o644 }, body: 'hello a\n' },
    { header: { name: 'site/deployment-a/secret', mode: 0o600, uid: 1000, gid: 1000 }, body: 'owned\n' },
    { header: { name: 'site/current', type: 'symlink', linkname: 'deployment-a' } },
  ]);
  await docker.putArchive(created, '/srv', first);
  t.equal((await docker.inspect(created))!.status, 'created', 'the container was not started for it');

  t.equal(await readFile(join(mountpoint!, 'site/deployment-a/index.html'), 'utf8'), 'hello a\n', 'the file is in the volume on the host');
  t.equal(await readlink(join(mountpoint!, 'site/current')), 'deployment-a', 'symlinks are kept');
  const secret = await stat(join(mountpoint!, 'site/deployment-a/secret'));
  t.same([secret.uid, secret.gid, secret.mode & 0o777], [1000, 1000, 0o600], 'owner and mode come from the tar headers');
  await waitFor('the watcher to see site/ appear', async () => changes > 0, 2000);
  t.pass('the watcher saw site/ appear');

  const helper = managedLabels(installation, owner('reader'), 'helper');
  const read = await docker.run({ image, argv: ['cat', '/mnt/site/current/index.html'], labels: helper, mounts: [{ volume: vol, target: '/mnt', readOnly: true }] });
  t.equal(read.stdout, 'hello a\n', 'another container mounting the volume sees it');

  const running = await docker.create(spec(installation, image, 'running', 'exec sleep 1000', { mounts }));
  await docker.start(running);
  const seen = changes;
  const second = await tarOf([
    { header: { name: 'deployment-b/index.html', mode: 0o644 }, body: 'hello b\n' },
    { header: { name: 'deployment-a/index.html', mode: 0o644 }, body: 'replaced\n' },
  ]);
  await docker.putArchive(running, '/srv/site', second);
  t.equal((await docker.exec(running, ['cat', '/srv/site/deployment-b/index.html'])).stdout, 'hello b\n', 'into a running container');
  t.equal((await docker.exec(running, ['cat', '/srv/site/current/index.html'])).stdout, 'replaced\n', 'an existing file is replaced');
  t.equal((await docker.exec(running, ['cat', '/srv/site/deployment-a/secret'])).stdout, 'owned\n', 'other files stay');
  await waitFor('the watcher to see deployment-b', async () => changes > seen, 2000);
  t.pass('the watcher saw deployment-b created');

  // Errors: Docker answers 404 for a missing container and for a missing directory, and (20.10) 500 for a file.
  const missing = await docker.putArchive(`dp-${installation}-nope`, '/srv', first).catch((e: unknown) => e);
  t.match(missing, { name: 'DockerError', kind: 'not_found', statusCode: 404, message: /no such container/i });
  await t.rejects(docker.putArchive(running, '/srv/nope', first), { name: 'DockerError', kind: 'not_found', statusCode: 404 }, 'a missing directory');
  await t.rejects(
    docker.putArchive(running, '/srv/site/deployment-b/index.html', first),
    { name: 'DockerError', kind: 'bad_request', message: /not a directory/ },
    'a path that is not a directory',
  );
  await t.rejects(docker.putArchive(running, '/srv', Buffer.from('not a tar '.repeat(100))), { name: 'DockerError', kind: 'bad_request' }, 'not a tar');
  const escape = await tarOf([{ header: { name: '../../etc/escaped' }, body: 'x' }]);
  await t.rejects(docker.putArchive(running, '/srv', escape), { name: 'DockerError', kind: 'bad_request', message: /outside/ }, 'an entry outside the path');
  const ro = await docker.create(spec(installation, image, 'ro', 'exec sleep 1000', { mounts: [{ volume: vol, target: '/srv', readOnly: true }] }));
  await t.rejects(docker.putArchive(ro, '/srv', second), { name: 'DockerError', kind: 'bad_request', message: /read-only/ }, 'a read-only mount');
  const ac = new AbortController();
  ac.abort();
  await t.rejects(docker.putArchive(running, '/srv', first, { signal: ac.signal }), { name: 'AbortError' }, 'an aborted signal');

  for (const id of [created, running, ro]) await docker.remove(id);
  await docker.removeVolume(vol);
  t.equal(await docker.volumeMountpoint(vol), null, 'a removed volume has no mountpoint');
});

t.test('timings: putArchive of 1,000 files (10 MB) into a running container; exec of true', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const vol = `dp-${installation}-bench`;
  await docker.ensureVolume(vol, managedLabels(installation, owner('bench'), 'data'));
  const id = await docker.create(spec(installation, image, 'bench', 'exec sleep 1000', { mounts: [{ volume: vol, target: '/srv' }] }));
  await docker.start(id);

  const FILES = 1000;
  const SIZE = 10_000;
  const body = Buffer.alloc(SIZE, 'x');
  const puts: number[] = [];
  for (let run = 0; run < 3; run++) {
    let mark = performance.now();
    const tar = await tarOf(Array.from({ length: FILES }, (_, i) => ({ header: { name: `d${run}/f${i}.html`, mode: 0o644 }, body })));
    const buildMs = performance.now() - mark;
    mark = performance.now();
    await docker.putArchive(id, '/srv', tar);
    puts.push(performance.now() - mark);
    t.comment(`run ${run}: tar of ${FILES} files (${(tar.length / 1e6).toFixed(1)} MB) built in ${buildMs.toFixed(0)} ms, putArchive ${puts[run]!.toFixed(0)} ms`);
  }
  const check = await docker.exec(id, ['sh', '-c', 'ls /srv/d2 | wc -l; cat /srv/d2/* | wc -c']);
  t.same(check.stdout.trim().split(/\s+/).map(Number), [FILES, FILES * SIZE], 'all files arrived');

  const execs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const mark = performance.now();
    const r = await docker.exec(id, ['true']);
    execs.push(performance.now() - mark);
    t.equal(r.exitCode, 0);
  }
  t.comment(`putArchive 1,000 files / 10 MB: median ${median(puts).toFixed(0)} ms of ${puts.map((x) => x.toFixed(0)).join(', ')}`);
  t.comment(`exec true: median ${median(execs).toFixed(1)} ms (min ${Math.min(...execs).toFixed(1)}, max ${Math.max(...execs).toFixed(1)})`);

  await docker.remove(id);
  await docker.removeVolume(vol);
});

t.test('addresses: a container on a user network is reachable by HTTP from this process at its address', async (t) => {
  const { docker, installation } = await dockerForTest(t);
  const image = await busyboxImage(docker);
  const net = `dp-${installation}-net`;
  await docker.ensureNetwork(net, managedLabels(installation, owner('net'), 'proxy'));
  const id = await docker.create(
    spec(installation, image, 'web', 'mkdir /www && echo "served at $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www', {
      networks: [net],
    }),
  );
  t.same((await docker.inspect(id))!.addresses, {}, 'no address before it starts');
  await docker.start(id);
  const state = (await docker.inspect(id))!;
  const ip = state.addresses?.[net];
  t.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `an IPv4 address on ${net} (${ip})`);
  t.same(Object.keys(state.addresses ?? {}), [net], 'only the networks it is on');

  const body = await waitFor('httpd to answer', async () => {
    const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? res.text() : undefined;
  });
  t.equal(body, `served at ${id.slice(0, 12)}\n`, 'reached from this process');

  await docker.stop(id);
  t.same((await docker.inspect(id))!.addresses, {}, 'none once stopped');
  await docker.remove(id);
  await docker.removeNetwork(net);
});
