// Hostile archives (issue 9): generated tars whose members have "..", absolute, NUL and
// backslash paths, symlinks out of the root (directly, through chains and through other
// links), members written through symlinks, hardlinks and devices. parseTar must reject
// every unsafe one (a terminal SourceError naming a member) and whatever it accepts, packed
// by packTar and extracted by GNU tar into a directory, writes nothing outside that
// directory and leaves no symlink that resolves outside it.
//
// Replay: FUZZ_SEED=<seed> FUZZ_RUNS=<n> (both printed).
import fc from 'fast-check';
import t from 'tap';
import { tarOf } from '../helpers/tar.js';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { packTar, parseTar, SourceError } from '../../controllers/deployment/release-tar.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 300;

type Member = { name: string; type: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo'; linkname?: string; data?: string };

function makeTar(members: Member[]): Promise<Buffer> {
  return tarOf(
    members.map((m) =>
      m.type === 'file'
        ? { header: { name: m.name, type: m.type, mode: 0o644 }, body: m.data ?? 'x' }
        : { header: { name: m.name, type: m.type, linkname: m.linkname, mode: 0o644 } },
    ),
  );
}

// Path pieces that attack: traversal, absolute, NUL, backslash, dot segments, long names.
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'site', 'index.html', 'l', 'x') },
  { weight: 3, arbitrary: fc.constantFrom('..', '.', '', '...', 'a..b', '..\\..', 'a\u0000b', 'a\nb', '\u202e', 'ü') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const memberPath = fc.tuple(fc.constantFrom('', '', '', '/', './', '../', '//'), fc.array(segment, { minLength: 1, maxLength: 4 }), fc.constantFrom('', '', '/')).map(([lead, segs, tail]) => lead + segs.join('/') + tail);
const linkTarget = fc.oneof(
  memberPath,
  fc.constantFrom('/etc/passwd', '../../etc', '..', '.', 'a/../..', 'l/..', 'b/../../x', '/', 'a/b/../../..', 'l'),
);
const member: fc.Arbitrary<Member> = fc.oneof(
  { weight: 4, arbitrary: memberPath.map((name) => ({ name, type: 'file' as const, data: 'data' })) },
  { weight: 1, arbitrary: memberPath.map((name) => ({ name, type: 'directory' as const })) },
  { weight: 3, arbitrary: fc.tuple(memberPath, linkTarget).map(([name, linkname]) => ({ name, type: 'symlink' as const, linkname })) },
  { weight: 1, arbitrary: fc.tuple(memberPath, linkTarget, fc.constantFrom('link', 'character-device', 'fifo') as fc.Arbitrary<Member['type']>).map(([name, linkname, type]) => ({ name, type, linkname })) },
);

/** The oracle, written apart from release-tar.ts: absolute, a ".." segment, a backslash or a control character. */
function unsafeName(name: string): boolean {
  return name.startsWith('/') || name.split('/').includes('..') || /[\x00-\x1f\x7f\\]/.test(name);
}

/** The member names and types as the archive holds them (a ustar name ends at a NUL). */
async function headers(tar: Buffer): Promise<{ name: string; type: string }[]> {
  const out: { name: string; type: string }[] = [];
  const ex = extract();
  ex.end(tar);
  for await (const e of ex) {
    out.push({ name: e.header.name, type: e.header.type ?? 'file' });
    e.resume();
  }
  return out;
}

/** Every path under `dir` (lstat, links not followed). */
function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    out.push(p);
    if (lstatSync(p).isDirectory()) walk(p, out);
  }
  return out;
}

t.test(`hostile archives: ${RUNS} generated tars (seed ${SEED})`, async (t) => {
  t.comment(`fuzz seed ${SEED}, ${RUNS} archives; replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} node_modules/.bin/tap tests/unit/release-tar-hostile.test.ts`);
  const work = mkdtempSync(join(tmpdir(), 'deployer-tar-fuzz-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  // A sentinel beside the target: nothing may reach it.
  const outsideFile = join(work, 'outside.txt');
  writeFileSync(outsideFile, 'untouched');
  let accepted = 0;
  let rejected = 0;
  let run = 0;

  const out = await fc.check(
    fc.asyncProperty(fc.array(member, { minLength: 1, maxLength: 6 }), fc.boolean(), async (members, gzip) => {
      run++;
      const tar = await makeTar(members);
      let entries;
      try {
        entries = await parseTar(gzip ? gzipSync(tar) : tar);
      } catch (err) {
        if (!(err instanceof SourceError) || !err.terminal || !/archive (member|is not)/.test(err.message)) throw new Error(`not a terminal SourceError naming the member: ${String(err)}`);
        rejected++;
        return;
      }
      // Accepted: no unsafe name got through, and what it holds stays inside when extracted.
      for (const m of await headers(tar)) {
        if (unsafeName(m.name)) throw new Error(`accepted an unsafe member name ${JSON.stringify(m.name)}`);
        if (m.type !== 'file' && m.type !== 'directory' && m.type !== 'symlink') throw new Error(`accepted a ${m.type}`);
      }
      accepted++;
      const target = join(work, `t${run}`, 'target');
      mkdirSync(target, { recursive: true });
      const packed = await packTar(entries, { prefix: 'site' });
      execFileSync('tar', ['-x', '-C', target, '-f', '-'], { input: packed });
      const root = realpathSync(target);
      for (const p of walk(target)) {
        if (lstatSync(p).isSymbolicLink()) {
          // Resolve the link's text from where it sits, lexically and then on disk.
          const text = execFileSync('readlink', [p]).toString().trim();
          const lexical = posix.normalize(posix.join(posix.dirname(relative(root, p)), text));
          if (lexical.startsWith('..') || posix.isAbsolute(text)) throw new Error(`extracted a symlink ${relative(root, p)} -> ${text} that leaves the target`);
          try {
            const real = realpathSync(p);
            if (!real.startsWith(root + '/') && real !== root) throw new Error(`symlink ${relative(root, p)} resolves outside the target (${real})`);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
          }
        } else if (!realpathSync(p).startsWith(root + '/')) throw new Error(`wrote ${p} outside the target (${realpathSync(p)})`);
      }
      const siblings = readdirSync(join(work, `t${run}`));
      if (siblings.length !== 1) throw new Error(`extraction wrote beside the target: ${siblings.join(', ')}`);
      if (readdirSync(work).some((f) => !/^(t\d+|outside\.txt)$/.test(f))) throw new Error(`extraction wrote into ${work}: ${readdirSync(work).join(', ')}`);
      rmSync(join(work, `t${run}`), { recursive: true, force: true });
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  if (out.failed) t.fail(`${String((out.errorInstance as Error)?.message ?? out.errorInstance)}\ncounterexample ${JSON.stringify(out.counterexample)}\nreplay: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
  else t.pass(`${RUNS} archives: ${rejected} rejected, ${accepted} accepted and extracted inside the target`);
  t.ok(rejected > RUNS / 10 && accepted > 0, 'both unsafe and safe archives were generated');
  t.equal(readFileSync(outsideFile, 'utf8'), 'untouched', 'the file beside the target is untouched');
});

t.test('each kind of hostile member is rejected, naming it', async (t) => {
  const cases: [string, Member[], RegExp][] = [
    ['dot-dot', [{ name: 'a/../../evil', type: 'file' }], /"a\/\.\.\/\.\.\/evil"/],
    ['absolute', [{ name: '/etc/cron.d/x', type: 'file' }], /"\/etc\/cron\.d\/x"/],
    ['NUL via pax', [{ name: `a\u0000b/${'x'.repeat(120)}`, type: 'file' }], /unsafe path/],
    ['backslash', [{ name: '..\\..\\evil', type: 'file' }], /unsafe path/],
    ['symlink to absolute', [{ name: 'l', type: 'symlink', linkname: '/etc' }], /"l"/],
    ['symlink up and out', [{ name: 'a/l', type: 'symlink', linkname: '../../x' }], /"a\/l".*leaves the release/],
    ['symlink via another symlink', [{ name: 'a', type: 'symlink', linkname: '.' }, { name: 'b', type: 'symlink', linkname: 'a/a/a/..' }], /"b"/],
    ['write through a symlink', [{ name: 'l', type: 'symlink', linkname: 'site' }, { name: 'l/index.html', type: 'file' }], /"l\/index\.html" is inside the symlink "l"/],
    ['a link loop', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }], /"a"|"b"/],
    ['hardlink', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /"h" is a hard link/],
    ['device', [{ name: 'd', type: 'character-device' }], /"d" is a character-device/],
  ];
  for (const [what, members, message] of cases) {
    const err = await parseTar(await makeTar(members)).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof SourceError && err.terminal, `${what}: rejected (${String(err)})`);
    t.match((err as Error)?.message, message, `${what}: the message names the member`);
  }
});
