// `deployctl diff`: objects as YAML without the fields that change on every write, and a
// unified diff of two texts (LCS over lines; manifests are small).
import YAML from 'yaml';

const NOISE = ['resourceVersion', 'generation', 'managedFields'];

/** A copy with every mapping's keys sorted (apiVersion, kind, metadata first), so order never shows as a change. */
export function sortKeys(v: unknown, top = true): unknown {
  if (Array.isArray(v)) return v.map((x) => sortKeys(x, false));
  if (!v || typeof v !== 'object') return v;
  const first = top ? ['apiVersion', 'kind', 'metadata', 'spec'] : [];
  const keys = Object.keys(v).sort((a, b) => {
    const [ia, ib] = [first.indexOf(a), first.indexOf(b)];
    if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return Object.fromEntries(keys.map((k) => [k, sortKeys((v as Record<string, unknown>)[k], false)]));
}

/** A copy of `obj` without resourceVersion, generation and managedFields, keys sorted; null stays null. */
export function forDiff(obj: Record<string, any> | null): Record<string, any> | null {
  if (!obj) return null;
  const out = structuredClone(obj);
  if (out.metadata && typeof out.metadata === 'object') for (const k of NOISE) delete out.metadata[k];
  return sortKeys(out) as Record<string, any>;
}

export const toYaml = (obj: unknown): string => (obj === null || obj === undefined ? '' : YAML.stringify(obj, { sortMapEntries: false }));

type Op = { op: ' ' | '-' | '+'; line: string };

function lcsOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // dp[i][j]: length of the LCS of a[i..] and b[j..]
  const dp: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ op: ' ', line: a[i]! });
      i++;
      j++;
    } else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) ops.push({ op: '-', line: a[i++]! });
    else ops.push({ op: '+', line: b[j++]! });
  }
  while (i < n) ops.push({ op: '-', line: a[i++]! });
  while (j < m) ops.push({ op: '+', line: b[j++]! });
  return ops;
}

const splitText = (t: string) => (t === '' ? [] : t.replace(/\n$/, '').split('\n'));

/** A unified diff (`--- a`, `+++ b`, `@@` hunks with `context` lines), '' when equal. */
export function unifiedDiff(a: string, b: string, aName: string, bName: string, context = 3): string {
  const ops = lcsOps(splitText(a), splitText(b));
  if (!ops.some((o) => o.op !== ' ')) return '';
  const out = [`--- ${aName}`, `+++ ${bName}`];
  // positions (in ops) of changes, grouped into hunks whose context overlaps
  const changed = ops.flatMap((o, k) => (o.op === ' ' ? [] : [k]));
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && changed[end + 1]! - changed[end]! <= 2 * context + 1) end++;
    const from = Math.max(0, changed[start]! - context);
    const to = Math.min(ops.length - 1, changed[end]! + context);
    let aLine = 1;
    let bLine = 1;
    for (let k = 0; k < from; k++) {
      if (ops[k]!.op !== '+') aLine++;
      if (ops[k]!.op !== '-') bLine++;
    }
    const hunk = ops.slice(from, to + 1);
    const aCount = hunk.filter((o) => o.op !== '+').length;
    const bCount = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aCount ? aLine : aLine - 1},${aCount} +${bCount ? bLine : bLine - 1},${bCount} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    start = end + 1;
  }
  return out.join('\n') + '\n';
}

/** Colours a diff's lines: red removals, green additions, cyan hunk headers. */
export function colorDiff(diff: string): string {
  return diff
    .split('\n')
    .map((l) => (l.startsWith('---') || l.startsWith('+++') ? `\x1b[1m${l}\x1b[0m` : l.startsWith('-') ? `\x1b[31m${l}\x1b[0m` : l.startsWith('+') ? `\x1b[32m${l}\x1b[0m` : l.startsWith('@@') ? `\x1b[36m${l}\x1b[0m` : l))
    .join('\n');
}
