// Acceptance 1 of the Deployments issue: static deployments from each source kind (inline,
// archive, git, a build step) end active and serve through a Route; bad sources (a 404 URL, a
// wrong sha256, an unknown git ref, a build that exits non-zero) end failed with a message
// saying why, and the previous release keeps serving.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { pack } from 'tar-stream';
import { startControllers } from '../helpers/controllers.js';
import { deploy, proxyPort, serviceDir, settled, site, st, staticSite } from '../helpers/deployments.js';

const run = promisify(execFile);
const NS = 'src';

async function archiveServer(t: Test, files: Record<string, Buffer>): Promise<string> {
  const server = http.createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function gitRepo(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-git-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
  await git('init', '-q', '-b', 'main');
  await writeFile(join(dir, 'index.html'), 'git one');
  await git('add', '.');
  await git('commit', '-qm', 'one');
  await git('tag', 'v1');
  await mkdir(join(dir, 'docs'));
  await writeFile(join(dir, 'index.html'), 'git two');
  await writeFile(join(dir, 'docs', 'a.txt'), 'docs a');
  await git('add', '.');
  await git('commit', '-qm', 'two');
  return dir;
}

t.test('every source kind goes live; bad sources fail and the site keeps serving', async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  await staticSite(h, NS, 'www');
  const port = await proxyPort(h);
  const body = async (path = '/') => (await site(port, 'www.test', path)).body;

  const tar = await tarOf({ 'index.html': 'from the archive', 'css/site.css': 'body{}' });
  const tgz = gzipSync(tar);
  const base = await archiveServer(t, { '/site.tar': tar, '/site.tar.gz': tgz });
  const sha = createHash('sha256').update(tgz).digest('hex');

  await deploy(h, NS, 'arch', 'www', { archive: { url: `${base}/site.tar.gz`, sha256: sha } });
  t.equal(st(await settled(h, NS, 'arch')).phase, 'active');
  t.equal(await body(), 'from the archive');
  t.equal(await body('/css/site.css'), 'body{}');

  await deploy(h, NS, 'arch-404', 'www', { archive: { url: `${base}/missing.tar` } });
  let d = await settled(h, NS, 'arch-404');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /404/);
  t.equal(st(d).phaseMetadata.failedPhase, 'pulling_source');
  t.equal(await body(), 'from the archive', 'the previous release serves after a 404 source');

  await deploy(h, NS, 'arch-sum', 'www', { archive: { url: `${base}/site.tar`, sha256: 'a'.repeat(64) } });
  d = await settled(h, NS, 'arch-sum');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /ChecksumMismatch/);
  t.equal(await body(), 'from the archive', 'the previous release serves after a checksum mismatch');

  const repo = await gitRepo(t);
  await deploy(h, NS, 'git-tag', 'www', { git: { url: repo, ref: 'v1' } });
  d = await settled(h, NS, 'git-tag');
  t.equal(st(d).phase, 'active', st(d).message);
  t.match(st(d).phaseMetadata.commit, /^[0-9a-f]{40}$/);
  t.equal(await body(), 'git one');
  await deploy(h, NS, 'git-main', 'www', { git: { url: repo, ref: 'main' } });
  t.equal(st(await settled(h, NS, 'git-main')).phase, 'active');
  t.equal(await body('/docs/a.txt'), 'docs a');

  await deploy(h, NS, 'git-bad', 'www', { git: { url: repo, ref: 'no-such-branch' } });
  d = await settled(h, NS, 'git-bad');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /no-such-branch/);
  t.equal(await body(), 'git two', 'the previous release serves after an unknown ref');

  // a build step: its output, not the source, is what is served
  await deploy(h, NS, 'built', 'www', { inline: { files: { 'src.txt': 'hello' } } }, {
    build: { command: ['sh', '-c', 'mkdir -p out && tr a-z A-Z < src.txt > out/index.html'], outputDir: 'out' },
  });
  d = await settled(h, NS, 'built');
  t.equal(st(d).phase, 'active', st(d).message);
  t.equal(await body(), 'HELLO');

  await deploy(h, NS, 'build-fails', 'www', { inline: { files: { 'src.txt': 'x' } } }, {
    build: { command: ['sh', '-c', 'echo compiling; echo "error: syntax" >&2; exit 7'] },
  });
  d = await settled(h, NS, 'build-fails');
  t.equal(st(d).phase, 'failed');
  t.match(st(d).message, /exited with code 7[\s\S]*error: syntax/);
  t.equal(st(d).phaseMetadata.failedPhase, 'building');
  t.equal(await body(), 'HELLO', 'the previous release serves after a failed build');

  const dir = await serviceDir(h, NS, 'www');
  t.equal(dir.current, 'deployment-built');
  t.same(dir.entries.filter((e) => e.startsWith('.')), [], 'no temporaries are left');
  t.same(await h.docker.listContainers([`deployer.dev/installation=${h.installation}`, 'deployer.dev/role=helper']), [], 'no helper is left');
  const events = await h.events(NS, 'build-fails');
  t.ok(events.some((e: any) => e.reason === 'BuildFailed' && e.type === 'Warning'), 'a Warning Event says the build failed');
});
