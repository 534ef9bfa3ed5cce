// Summaries and plain-text tables for the benches that print samples (bench/route; bench/health
// has its own copy from before this file).
//
// Percentiles are nearest-rank over the values that were measured: NaN (a step not seen in
// that sample) is left out and lowers `n`, it is never counted as zero.

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[] = []): Summary {
  const a = values.filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  const n = a.length;
  if (n === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const rank = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  return { n, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: a[n - 1] };
}

/** Columns padded to their widest cell; the first left-aligned, the others right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

/** `x` with `digits` decimals, or "–" when it was not measured. */
export const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
