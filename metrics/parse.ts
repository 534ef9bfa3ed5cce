// A reader of the Prometheus text format (0.0.4) as deployer writes it: for tests and tools
// that read a scrape. It handles what prom-client emits — # HELP/# TYPE lines, samples with
// quoted, escaped label values, +Inf/NaN — and not the OpenMetrics extensions (exemplars,
// timestamps are skipped).

export interface Sample {
  /** The sample's name (histograms: `…_bucket`, `…_sum`, `…_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  /** # TYPE of each metric family. */
  types: Map<string, string>;
  /** Samples named `name` whose labels include every pair of `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
  /** The sum of those samples' values (0 when none). */
  sum(name: string, labels?: Record<string, string>): number;
}

const UNESCAPE: Record<string, string> = { n: '\n', '\\': '\\', '"': '"' };

/** As Go's ParseFloat, which Prometheus uses: NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(s: string): number {
  const lower = s.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return s.trim() === '' ? NaN : Number(s);
}

/** Throws an Error naming the line when a sample line is malformed. */
export function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (!name) throw new Error(`line ${i + 1}: no metric name in ${JSON.stringify(line)}`);
    let at = name.length;
    const labels: Record<string, string> = {};
    if (line[at] === '{') {
      at++;
      for (;;) {
        while (line[at] === ' ' || line[at] === ',') at++;
        if (line[at] === '}') {
          at++;
          break;
        }
        const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
        if (!key || line[at + key.length] !== '=' || line[at + key.length + 1] !== '"') throw new Error(`line ${i + 1}: bad label in ${JSON.stringify(line)}`);
        at += key.length + 2;
        let value = '';
        while (at < line.length && line[at] !== '"') {
          if (line[at] === '\\') {
            value += UNESCAPE[line[at + 1]!] ?? line[at + 1];
            at += 2;
          } else value += line[at++];
        }
        if (line[at] !== '"') throw new Error(`line ${i + 1}: unterminated label value in ${JSON.stringify(line)}`);
        at++;
        labels[key] = value;
      }
    }
    const valueText = line.slice(at).trim().split(/\s+/)[0] ?? '';
    const value = parseValue(valueText);
    if (Number.isNaN(value) && valueText.toLowerCase() !== 'nan') throw new Error(`line ${i + 1}: bad value in ${JSON.stringify(line)}`);
    samples.push({ name, labels, value });
  }
  const find: Scrape['find'] = (name, want = {}) =>
    samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
  return { samples, types, find, sum: (name, want) => find(name, want).reduce((a, s) => a + s.value, 0) };
}
