// The deployctl bin's bundle (cli/deployctl.mjs): made on the first run, remade when a source
// is newer, safe when several runs make it at once, and never needed (DEPLOYCTL_NO_BUNDLE=1
// runs the sources through tsx). Runs on a copy of cli/, schemas/ and package.json, so the
// checkout's own bundle is left alone.
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

t.test('the bin bundles cli/ once, again after a change, and can do without', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployctl-bin-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const p of ['cli', 'schemas', 'package.json', 'scripts/bundle-cache.mjs']) await cp(join(ROOT, p), join(dir, p), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const bin = join(dir, 'cli', 'deployctl.mjs');
  const bundle = join(dir, '.deployctl', 'main.mjs');
  // the child must not inherit tap's loader or coverage settings
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('NODE_V8_COVERAGE') && !k.startsWith('TAP') && k !== 'NODE_OPTIONS') env[k] = v;
  const t0 = Date.now();
  const version = async (extra: Record<string, string> = {}) => (await run(process.execPath, [bin, 'version', '--client'], { env: { ...env, ...extra } })).stdout;
  const { version: want } = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default as { version: string };

  // four first runs at once: each makes the bundle through its own temporary file
  const outs = await Promise.all([1, 2, 3, 4].map(() => version()));
  t.same(outs, outs.map(() => `Client Version: ${want}\n`), 'every concurrent first run works');
  const first = (await stat(bundle)).mtimeMs;
  t.same((await import('node:fs')).readdirSync(join(dir, '.deployctl')), ['main.mjs'], 'no temporary file is left');

  t.equal(await version(), `Client Version: ${want}\n`);
  t.equal((await stat(bundle)).mtimeMs, first, 'an up-to-date bundle is used as it is');

  await new Promise((r) => setTimeout(r, 20));
  await appendFile(join(dir, 'cli', 'io.ts'), '\nexport const touchedByTheTest = 1;\n');
  t.equal(await version(), `Client Version: ${want}\n`);
  t.ok((await stat(bundle)).mtimeMs > first, 'a newer source remakes the bundle');

  await rm(join(dir, '.deployctl'), { recursive: true });
  t.equal(await version({ DEPLOYCTL_NO_BUNDLE: '1' }), `Client Version: ${want}\n`, 'the sources run through tsx');
  await t.rejects(stat(bundle), 'and no bundle was made');
  t.comment(`${Date.now() - t0} ms`);
});
