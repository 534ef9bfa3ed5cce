// Release sources (controllers/deployment/sources.ts) and the release tar
// (controllers/deployment/release-tar.ts): inline files, archives from a local HTTP server,
// git repositories made in a temp dir, malicious tars, and the tar uploaded to a container.
import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { normalizeReleasePath, packTar, parseTar, type ReleaseEntry } from '../../controllers/deployment/release-tar.js';
import { fetchSource, SourceError, type SourceFailureReason } from '../../controllers/deployment/sources.js';

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'; data?: string; linkname?: string; mode?: number };

async function makeTar(members: Member[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve) => p.on('end', () => resolve(Buffer.concat(chunks))));
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  for (const m of members) p.entry({ name: m.name, type: m.type ?? 'file', linkname: m.linkname, mode: m.mode ?? 0o644 }, m.data ?? '');
  p.finalize();
  return done;
}

/** Member names and types in order, as a container's putArchive would see them. */
async function listTar(buf: Buffer): Promise<string[]> {
  const out: string[] = [];
  const ex = extract();
  ex.end(buf);
  for await (const e of ex) {
    out.push(`${e.header.type} ${e.header.name}`);
    e.resume();
  }
  return out;
}

const rejects = async (t: Test, p: Promise<unknown>, reason: SourceFailureReason, terminal: boolean, message?: RegExp) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof SourceError, `rejects with a SourceError (${String(err)})`);
  t.match(err, { reason, terminal, ...(message ? { message } : {}) });
};
const files = (entries: readonly ReleaseEntry[]) =>
  Object.fromEntries(entries.filter((e) => e.type !== 'dir').map((e) => [e.path, e.type === 'file' ? `${e.data!.toString()}|${e.mode.toString(8)}` : `-> ${e.linkTarget}`]));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function serve(t: Test, routes: Record<string, { status?: number; body?: Buffer; hang?: boolean }>): Promise<string> {
  const server: Server = createServer((req, res) => {
    const r = routes[req.url ?? ''];
    if (r?.hang) return void res.writeHead(200, { 'content-length': '1000' });
    res.writeHead(r ? (r.status ?? 200) : 404).end(r?.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('normalizeReleasePath', async (t) => {
  t.equal(normalizeReleasePath('./a//b/'), 'a/b');
  t.equal(normalizeReleasePath('a/./b..c'), 'a/b..c', '".." inside a name is a name');
  for (const bad of ['', '.', './', '/etc/passwd', 'a/../b', '..', 'a\\b', 'a\0b', 'a\nb', 'x'.repeat(4097)]) {
    t.equal(normalizeReleasePath(bad), undefined, JSON.stringify(bad.slice(0, 20)));
  }
});

t.test('inline: paths normalized, content utf8 0644, digest independent of order; unsafe and too large rejected', async (t) => {
  const a = await fetchSource({ inline: { files: { './index.html': 'héllo', 'css//site.css': 'b{}' } } }, {});
  t.same(files(a.entries), { 'css/site.css': 'b{}|644', 'index.html': 'héllo|644' });
  t.match(a, { files: 2, bytes: Buffer.byteLength('héllo') + 3, digest: /^[0-9a-f]{64}$/ });
  const b = await fetchSource({ inline: { files: { 'css/site.css': 'b{}', 'index.html': 'héllo' } } }, {});
  t.equal(b.digest, a.digest);
  await rejects(t, fetchSource({ inline: { files: { '../x': '' } } }, {}), 'UnsafePath', true, /"\.\.\/x"/);
  await rejects(t, fetchSource({ inline: { files: { 'a': '', './a': '' } } }, {}), 'UnsafePath', true, /same path/);
  await rejects(t, fetchSource({ inline: { files: { a: 'x'.repeat(11) } } }, { limits: { inlineMaxBytes: 10 } }), 'TooLarge', true);
  await t.rejects(fetchSource({ fromDeployment: { name: 'x' } } as never, {}), /not fromDeployment/);
});

t.test('archive: .tar and .tar.gz give the same content and digest; sha256 checked; 404 terminal, 500 and refused retried', async (t) => {
  const tar = await makeTar([
    { name: './', type: 'directory' },
    { name: './site/', type: 'directory', mode: 0o700 },
    { name: './site/index.html', data: 'hi' },
    { name: './run.sh', data: '#!/bin/sh', mode: 0o700 },
    { name: './link', type: 'symlink', linkname: 'site/index.html' },
    { name: './empty/', type: 'directory' },
  ]);
  // The same content, other order, no explicit parent dirs, compressed.
  const other = await makeTar([{ name: 'link', type: 'symlink', linkname: 'site/index.html' }, { name: 'empty/', type: 'directory' }, { name: 'run.sh', data: '#!/bin/sh', mode: 0o755 }, { name: 'site/index.html', data: 'hi' }]);
  const tgz = gzipSync(other);
  const base = await serve(t, { '/r.tar': { body: tar }, '/r.tar.gz': { body: tgz }, '/boom': { status: 500 }, '/hang': { hang: true } });
  const plain = await fetchSource({ archive: { url: `${base}/r.tar`, sha256: sha(tar) } }, {});
  const gz = await fetchSource({ archive: { url: `${base}/r.tar.gz`, sha256: sha(tgz) } }, {});
  t.same(files(plain.entries), { link: '-> site/index.html', 'run.sh': '#!/bin/sh|755', 'site/index.html': 'hi|644' });
  t.same(files(gz.entries), files(plain.entries));
  t.ok(plain.entries.some((e) => e.path === 'empty' && e.type === 'dir' && e.mode === 0o755), 'an empty dir is kept');
  t.equal(gz.digest, plain.digest, 'equal content, equal digest');
  t.match(plain, { files: 2, bytes: 11 });

  await rejects(t, fetchSource({ archive: { url: `${base}/r.tar`, sha256: sha(tgz) } }, {}), 'ChecksumMismatch', true, new RegExp(`expected sha256 ${sha(tgz)}, got ${sha(tar)}`));
  await rejects(t, fetchSource({ archive: { url: `${base}/nope.tar` } }, {}), 'SourceNotFound', true, /GET http:\/\/127\.0\.0\.1:\d+\/nope\.tar answered 404 Not Found/);
  await rejects(t, fetchSource({ archive: { url: `${base}/boom` } }, {}), 'SourceUnavailable', false, /500/);
  await rejects(t, fetchSource({ archive: { url: 'ftp://example.com/r.tar' } }, {}), 'SourceNotFound', true, /http: or https:/);
  await rejects(t, fetchSource({ archive: { url: `${base}/r.tar` } }, { limits: { maxBytes: 100 } }), 'TooLarge', true);

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await rejects(t, fetchSource({ archive: { url: `http://127.0.0.1:${port}/r.tar` } }, {}), 'SourceUnavailable', false, /ECONNREFUSED/);

  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('deadline')), 50);
  await t.rejects(fetchSource({ archive: { url: `${base}/hang` } }, { signal: ac.signal }), /deadline/, 'a hanging download ends with the signal');
});

t.test('malicious archives are rejected, naming the member', async (t) => {
  const cases: [string, Member[], SourceFailureReason, RegExp][] = [
    ['dot-dot', [{ name: '../evil', data: 'x' }], 'UnsafePath', /"\.\.\/evil"/],
    ['absolute', [{ name: '/abs', data: 'x' }], 'UnsafePath', /"\/abs"/],
    ['symlink out', [{ name: 'a/passwd', type: 'symlink', linkname: '../../etc/passwd' }], 'UnsafePath', /"a\/passwd".*leaves the release/],
    ['absolute symlink', [{ name: 'p', type: 'symlink', linkname: '/etc/passwd' }], 'UnsafePath', /"p"/],
    ['symlink chain', [{ name: 'a', type: 'symlink', linkname: '.' }, { name: 'b', type: 'symlink', linkname: 'a/..' }], 'UnsafePath', /"b"/],
    ['write through symlink', [{ name: 'l', type: 'symlink', linkname: 'd' }, { name: 'l/x', data: 'x' }], 'UnsafePath', /"l\/x" is inside the symlink "l"/],
    ['hardlink', [{ name: 'f', data: 'x' }, { name: 'h', type: 'link', linkname: 'f' }], 'BadArchive', /"h" is a hard link/],
    ['fifo', [{ name: 'q', type: 'fifo' }], 'BadArchive', /"q" is a fifo/],
  ];
  for (const [, members, reason, message] of cases) await rejects(t, parseTar(await makeTar(members)), reason, true, message);
  t.same(files(await parseTar(await makeTar([{ name: 'd/l', type: 'symlink', linkname: '../x' }]))), { 'd/l': '-> ../x' }, 'a link up to the root is fine');
  await rejects(t, parseTar(Buffer.from('not a tar at all'.repeat(64))), 'BadArchive', true);
  await rejects(t, parseTar(gzipSync(Buffer.from('x'.repeat(100))).subarray(0, 20)), 'BadArchive', true, /tar\.gz/);
  t.same(await parseTar(gzipSync(Buffer.alloc(1 << 20))), [], 'zero blocks are an empty tar');
  const many = await makeTar([{ name: 'a', data: 'aaaa' }, { name: 'b', data: 'bbbb' }]);
  await rejects(t, parseTar(many, { maxEntries: 1 }), 'TooLarge', true);
  await rejects(t, parseTar(many, { maxBytes: 7 }), 'TooLarge', true, /"b"/);
});

t.test('packTar: under a prefix, parents first, deterministic, round-trips through parseTar', async (t) => {
  const entries: ReleaseEntry[] = [
    { path: 'b/c/page.html', type: 'file', mode: 0o644, data: Buffer.from('page') },
    { path: 'a.sh', type: 'file', mode: 0o755, data: Buffer.from('run') },
    { path: 'ln', type: 'symlink', mode: 0o777, linkTarget: 'b/c/page.html' },
    { path: 'b', type: 'dir', mode: 0o755 },
  ];
  const marker: ReleaseEntry = { path: '.deployer-release', type: 'file', mode: 0o644, data: Buffer.from('x') };
  const opts = { prefix: 'site/.tmp-deployment-x', extra: [marker] };
  const buf = await packTar(entries, opts);
  t.same(await listTar(buf), [
    'directory site/',
    'directory site/.tmp-deployment-x/',
    'file site/.tmp-deployment-x/a.sh',
    'directory site/.tmp-deployment-x/b/',
    'directory site/.tmp-deployment-x/b/c/',
    'file site/.tmp-deployment-x/b/c/page.html',
    'symlink site/.tmp-deployment-x/ln',
    'file site/.tmp-deployment-x/.deployer-release',
  ]);
  t.ok(buf.equals(await packTar([...entries].reverse(), opts)), 'same entries, same bytes');
  const back = await parseTar(buf);
  t.same(files(back), {
    'site/.tmp-deployment-x/a.sh': 'run|755',
    'site/.tmp-deployment-x/b/c/page.html': 'page|644',
    'site/.tmp-deployment-x/ln': '-> b/c/page.html',
    'site/.tmp-deployment-x/.deployer-release': 'x|644',
  });
  t.ok(back.some((e) => e.path === 'site/.tmp-deployment-x' && e.type === 'dir'), 'prefix dirs present');
  await t.rejects(packTar(entries, { prefix: '/abs/' }), /invalid tar prefix/);
});

t.test('git: branch, tag and HEAD of a local repository; unknown ref and missing repository are terminal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-sources-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env }).toString().trim();
  mkdirSync(repo);
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'index.html'), 'v1');
  git('add', '.');
  git('commit', '-q', '-m', 'one');
  git('tag', '-a', 'v1', '-m', 'first release');
  const first = git('rev-parse', 'HEAD');
  writeFileSync(join(repo, 'index.html'), 'v2');
  mkdirSync(join(repo, 'bin'));
  writeFileSync(join(repo, 'bin/run'), 'go');
  chmodSync(join(repo, 'bin/run'), 0o755);
  symlinkSync('index.html', join(repo, 'home.html'));
  git('add', '.');
  git('commit', '-q', '-m', 'two');
  const second = git('rev-parse', 'HEAD');
  git('checkout', '-q', '-b', 'other', first); // HEAD of the repository stays a branch, not main

  const v2 = { 'bin/run': 'go|755', 'home.html': '-> index.html', 'index.html': 'v2|644' };
  const main = await fetchSource({ git: { url: repo, ref: 'main' } }, {});
  t.same(files(main.entries), v2);
  t.equal(main.commit, second);
  const tag = await fetchSource({ git: { url: repo, ref: 'v1' } }, {});
  t.same(files(tag.entries), { 'index.html': 'v1|644' });
  t.equal(tag.commit, first, 'an annotated tag resolves to its commit');
  const head = await fetchSource({ git: { url: `file://${repo}` } }, {});
  t.match(head, { commit: first, files: 1 }, 'no ref: the repository HEAD');
  t.equal((await fetchSource({ git: { url: repo, ref: second } }, {})).digest, main.digest, 'a full commit id works');

  await rejects(t, fetchSource({ git: { url: repo, ref: 'nope' } }, {}), 'GitRefNotFound', true, new RegExp(`"nope" was not found in ${repo}`));
  await rejects(t, fetchSource({ git: { url: join(dir, 'missing') } }, {}), 'SourceNotFound', true, /missing/);
  await rejects(t, fetchSource({ git: { url: repo, ref: '--upload-pack=touch /tmp/x' } }, {}), 'GitRefNotFound', true);
  await rejects(t, fetchSource({ git: { url: repo, ref: 'a..b' } }, {}), 'GitRefNotFound', true);
  await rejects(t, fetchSource({ git: { url: '--upload-pack=x' } }, {}), 'GitFailed', true);
  await rejects(t, fetchSource({ git: { url: 'repo' } }, {}), 'GitFailed', true, /absolute path or a URL/);
  await rejects(t, fetchSource({ git: { url: repo } }, { limits: { maxBytes: 1, maxEntries: 1 } }), 'TooLarge', true);
});
