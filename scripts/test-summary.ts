// Prints the plain closing line CI reads: "N passed, N failed". It counts the top-level
// test points of every tap result file written since the run started (tap keeps one
// file per test file under .tap/test-results/).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const since = Number(process.argv[2] ?? 0) * 1000;
const root = '.tap/test-results';

function files(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (p.endsWith('.tap') && statSync(p).mtimeMs >= since) out.push(p);
  }
  return out;
}

let passed = 0;
let failed = 0;
// CI shows only the end of the output: name each failure there, with the subtests that
// failed under it (the innermost `not ok` lines), so a flaky run can be told apart at once.
const failures: string[] = [];
for (const f of files(root)) {
  const lines = readFileSync(f, 'utf8').split('\n');
  const inner: string[] = [];
  for (const line of lines) {
    // top-level points only: subtests' results are indented
    if (/^ok \d+/.test(line) && !/# SKIP/.test(line)) passed++;
    else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
    else if (/^\s+not ok \d+/.test(line) && !/# TODO/.test(line)) inner.push(line.trim().replace(/^not ok \d+ - /, ''));
  }
  if (lines.some((l) => /^not ok \d+/.test(l) && !/# TODO/.test(l)))
    failures.push(`FAILED ${f.slice(root.length + 1).replace(/\.tap$/, '')}${inner.length ? `:\n${inner.slice(0, 12).map((l) => `  - ${l.slice(0, 200)}`).join('\n')}` : ''}`);
}
if (failures.length) process.stdout.write(`${failures.join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
