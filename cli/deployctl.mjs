#!/usr/bin/env node
// The `deployctl` bin: runs one command of the TypeScript client in cli/.
//
// It runs a bundle of cli/ (and the schemas/ it imports) as one plain ES module, kept in
// <package>/.deployctl/main.mjs (scripts/bundle-cache.mjs says how and why): node starts that in
// a fraction of the time tsx takes to load and compile the sources. Where it cannot be made (no
// esbuild, a read-only install) the sources run through tsx, as they always may.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleUrl } from '../scripts/bundle-cache.mjs';

const cliDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(cliDir);
// one level below the package, so that the bundle finds ../package.json as cli/ does
const bundle = join(root, '.deployctl', 'main.mjs');

const bundled = () => bundleUrl({ root, entry: join(cliDir, 'main.ts'), outfile: bundle, sourceDirs: [cliDir, join(root, 'schemas')] });

async function load() {
  if (process.env.DEPLOYCTL_NO_BUNDLE !== '1') {
    const url = await bundled();
    if (url) return import(url);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import('./main.ts');
}

const { main } = await load();
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0); // `deployctl get … | head`
  throw err;
});
let code;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`deployctl: unexpected error: ${err && err.stack ? err.stack : err}\n`);
  code = 2;
}
// open keep-alive sockets must not hold the process: the run is over
process.exit(code);
