// DirectoryWatcher over real temporary directories (inotify has no fake): entries created,
// removed and renamed, a watched directory removed and re-created, one that appears later,
// debouncing, setDirs and close.
import t from 'tap';
import type { Test } from 'tap';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryWatcher } from '../../docker/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEBOUNCE_MS = 20;

/** A temp dir removed at teardown, and a watcher (closed at teardown) that counts its onChange calls. */
function setup(t: Test, dirs: (root: string) => string[], opts: { onError?: (err: Error) => void; onChange?: () => void } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'volume-watch-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const calls = { n: 0 };
  const errors: Error[] = [];
  const watcher = new DirectoryWatcher(
    dirs(root),
    () => {
      calls.n++;
      opts.onChange?.();
    },
    { debounceMs: DEBOUNCE_MS, onError: opts.onError ?? ((e) => errors.push(e)) },
  );
  t.teardown(() => watcher.close());
  /** Passes when onChange was called `n` times in all; fails after 2 s. */
  const calledTimes = async (n: number, what: string): Promise<void> => {
    const deadline = Date.now() + 2000;
    while (calls.n < n) {
      if (Date.now() > deadline) throw new Error(`onChange was not called for ${what} (calls: ${calls.n}, wanted ${n})`);
      await sleep(5);
    }
    t.pass(`onChange for ${what}`);
  };
  return { root, calls, errors, watcher, calledTimes };
}

t.test('a file created, then removed, is reported; its content changing is not', async (t) => {
  const { root, calls, errors, calledTimes } = setup(t, (r) => [r]);
  const started = Date.now();
  writeFileSync(join(root, 'a'), 'x');
  await calledTimes(1, 'a file created');
  t.comment(`reported after ${Date.now() - started} ms`);
  writeFileSync(join(root, 'a'), 'changed');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 1, 'writing to a file is not a change of the entries');
  rmSync(join(root, 'a'));
  await calledTimes(2, 'a file removed');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 2, 'one call each');
  t.same(errors, []);
});

t.test('events of one burst are debounced into one call', async (t) => {
  const { root, calls, calledTimes } = setup(t, (r) => [r]);
  for (let i = 0; i < 50; i++) writeFileSync(join(root, `f${i}`), 'x');
  await calledTimes(1, '50 files created');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 1);
});

t.test('a symlink replaced by a rename over it (the way `current` is switched)', async (t) => {
  const { root, calls, calledTimes } = setup(t, (r) => [join(r, 'site')]);
  const site = join(root, 'site');
  mkdirSync(site);
  await calledTimes(1, 'the directory appearing');
  mkdirSync(join(site, 'deployment-a'));
  mkdirSync(join(site, 'deployment-b'));
  symlinkSync('deployment-a', join(site, 'current'));
  await calledTimes(2, 'the entries created');
  await sleep(DEBOUNCE_MS * 3);
  const before = calls.n;
  symlinkSync('deployment-b', join(site, 'current.tmp'));
  renameSync(join(site, 'current.tmp'), join(site, 'current'));
  await calledTimes(before + 1, 'the symlink replaced');
  await sleep(DEBOUNCE_MS * 3);
  const after = calls.n;
  rmSync(join(site, 'deployment-a'), { recursive: true });
  await calledTimes(after + 1, 'rm -rf deployment-a');
});

t.test('a watched directory removed and re-created is watched again', async (t) => {
  const { root, calls, errors, calledTimes } = setup(t, (r) => [join(r, 'site')]);
  const site = join(root, 'site');
  mkdirSync(site);
  writeFileSync(join(site, 'x'), '');
  await calledTimes(1, 'setup');
  await sleep(DEBOUNCE_MS * 3);
  let n = calls.n;
  rmSync(site, { recursive: true });
  await calledTimes(n + 1, 'the directory removed');
  await sleep(DEBOUNCE_MS * 3);
  n = calls.n;
  mkdirSync(site);
  await calledTimes(n + 1, 'the directory re-created');
  await sleep(DEBOUNCE_MS * 3);
  n = calls.n;
  writeFileSync(join(site, 'y'), '');
  await calledTimes(n + 1, 'a file in the new directory');

  // Removed and re-created within one debounce: the new directory (another inode) is watched.
  await sleep(DEBOUNCE_MS * 3);
  n = calls.n;
  rmSync(site, { recursive: true });
  mkdirSync(site);
  await calledTimes(n + 1, 'the directory replaced');
  await sleep(DEBOUNCE_MS * 3);
  n = calls.n;
  writeFileSync(join(site, 'z'), '');
  await calledTimes(n + 1, 'a file in the replacing directory');
  t.same(errors, []);
});

t.test('a directory that does not exist yet is waited for, through missing ancestors', async (t) => {
  const { root, calls, errors, calledTimes } = setup(t, (r) => [join(r, 'a', 'b', 'site')]);
  const site = join(root, 'a', 'b', 'site');
  writeFileSync(join(root, 'unrelated'), '');
  mkdirSync(join(root, 'a'));
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 0, 'siblings and ancestors appearing are not a change of the directory');
  mkdirSync(join(root, 'a', 'b', 'site'), { recursive: true });
  await calledTimes(1, 'the directory appearing');
  await sleep(DEBOUNCE_MS * 3);
  writeFileSync(join(site, 'index.html'), '');
  await calledTimes(2, 'a file in it');

  // A file where the directory should be is not the directory; its replacement by one is seen.
  rmSync(join(root, 'a'), { recursive: true });
  await calledTimes(3, 'the whole tree removed');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(site, 'not a directory');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 3, 'a file of that name is not the directory');
  rmSync(site);
  mkdirSync(site);
  await calledTimes(4, 'the directory replacing the file');
  t.same(errors, []);
});

t.test('setDirs adds and drops directories; close stops everything and is idempotent', async (t) => {
  const { root, calls, watcher, calledTimes } = setup(t, (r) => [join(r, 'one')]);
  mkdirSync(join(root, 'one'));
  mkdirSync(join(root, 'two'));
  await calledTimes(1, 'one appearing');
  watcher.setDirs([join(root, 'two'), join(root, 'two')]);
  await sleep(DEBOUNCE_MS * 3);
  t.equal(calls.n, 1, 'a directory added is not reported as a change');
  writeFileSync(join(root, 'one', 'f'), '');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 1, 'a dropped directory is not watched');
  writeFileSync(join(root, 'two', 'f'), '');
  await calledTimes(2, 'the added directory');

  writeFileSync(join(root, 'two', 'g'), '');
  watcher.close(); // within the debounce: the pending call is dropped too
  watcher.close();
  writeFileSync(join(root, 'two', 'h'), '');
  rmSync(join(root, 'two'), { recursive: true });
  watcher.setDirs([root]);
  writeFileSync(join(root, 'i'), '');
  await sleep(DEBOUNCE_MS * 5);
  t.equal(calls.n, 2, 'no call after close');
});

t.test('an onChange that throws goes to onError and the watching goes on', async (t) => {
  const errors: Error[] = [];
  const { root, calledTimes } = setup(t, (r) => [r], {
    onError: (e) => errors.push(e),
    onChange: () => {
      throw new Error('boom');
    },
  });
  writeFileSync(join(root, 'a'), '');
  await calledTimes(1, 'the first file');
  await sleep(DEBOUNCE_MS * 3);
  writeFileSync(join(root, 'b'), '');
  await calledTimes(2, 'the second file');
  t.equal(errors.length, 2);
  t.match(errors[0]!.message, /^onChange threw: boom$/);
});

t.test('a failure to watch goes to onError, and is retried', async (t) => {
  // As root, permissions do not stop a watch; a directory of too long a name does (ENAMETOOLONG).
  const errors: Error[] = [];
  setup(t, (r) => [join(r, 'x'.repeat(300))], { onError: (e) => errors.push(e) });
  t.equal(errors.length, 1);
  t.match(errors[0]!.message, /^cannot watch .*x{300}: ENAMETOOLONG/);
  await sleep(1200);
  t.equal(errors.length, 2, 'retried after a second');
  await sleep(1200);
  t.equal(errors.length, 2, 'then after two');
});

t.test('the constructor rejects a negative debounce', async (t) => {
  t.throws(() => new DirectoryWatcher([], () => undefined, { debounceMs: -1 }), RangeError);
});
