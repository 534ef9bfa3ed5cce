// scripts/test-summary.ts: the closing line CI reads, and the failures named above it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

t.test('counts top-level points and names each failing file with its failed subtests', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'test-summary-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const results = join(dir, '.tap', 'test-results', 'tests', 'e2e');
  await mkdir(results, { recursive: true });
  await writeFile(join(results, 'good.test.ts.tap'), 'TAP version 14\nok 1 - one\nok 2 - two # SKIP\n1..2\n');
  await writeFile(
    join(results, 'bad.test.ts.tap'),
    'TAP version 14\n# Subtest: a case\n    ok 1 - fine\n    not ok 2 - the site serves it\n    not ok 3 - known # TODO later\n    1..3\nnot ok 1 - a case # time=1ms\n1..1\n',
  );
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'test-summary.ts'), '0'], { cwd: dir });
  t.equal(stdout, 'FAILED tests/e2e/bad.test.ts:\n  - the site serves it\n1 passed, 1 failed\n');
});
