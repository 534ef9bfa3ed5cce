#!/usr/bin/env node
// Starts the deployer server (server.ts) from a bundle of its sources (scripts/bundle-cache.mjs):
// node loads one plain ES module instead of tsx compiling some two hundred TypeScript files, so
// deployer is up about 1.5 s sooner — after a crash or an upgrade as much as in the tests, which
// start it dozens of times. The bundle, <package>/.deployer-server/main.mjs, is a cache: remade
// when a source is newer, and skipped (the sources run through tsx, as `node --import tsx
// server.ts` would) where it cannot be made or when DEPLOYER_NO_BUNDLE=1.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleUrl } from './scripts/bundle-cache.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const LAYERS = ['schemas', 'resources', 'store', 'metrics', 'api', 'controllers', 'docker', 'proxy', 'images'];

const url =
  process.env.DEPLOYER_NO_BUNDLE === '1'
    ? undefined
    : await bundleUrl({ root, entry: join(root, 'server.ts'), outfile: join(root, '.deployer-server', 'main.mjs'), sourceDirs: LAYERS.map((d) => join(root, d)) });
if (url) await import(url);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./server.ts');
}
