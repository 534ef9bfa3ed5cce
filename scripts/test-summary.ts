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
for (const f of files(root)) {
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    // top-level points only: subtests' results are indented
    if (/^ok \d+/.test(line) && !/# SKIP/.test(line)) passed++;
    else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) failed++;
  }
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
