// Command-line parsing: the command words, then flags as each command defines them (`-f` is a
// file for apply and "follow" for logs). `--flag=value`, `--flag value`, `-f value`, `-fVALUE`,
// `--bool`, `--bool=false`, and `--` ending the flags.
import { CliError } from './errors.js';

export interface FlagSpec {
  long: string;
  short?: string;
  type: 'string' | 'boolean' | 'strings';
  /** For booleans: the value when the flag is absent. */
  default?: boolean | string;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  positionals: string[];
  flags: FlagValues;
}

/** Flags every command takes. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { long: 'server', short: 's', type: 'string' },
  { long: 'token', type: 'string' },
  { long: 'context', type: 'string' },
  { long: 'namespace', short: 'n', type: 'string' },
  { long: 'all-namespaces', short: 'A', type: 'boolean' },
  { long: 'help', short: 'h', type: 'boolean' },
];

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/**
 * Parses `argv` with `specs`; throws a CliError naming an unknown flag or a flag without its
 * value. Boolean flags absent from argv take their default (or stay undefined).
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): Parsed {
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: FlagValues = {};
  for (const s of specs) if (s.default !== undefined) flags[s.long] = s.default;
  const positionals: string[] = [];
  const set = (spec: FlagSpec, value: string | undefined, name: string, next: () => string | undefined) => {
    if (spec.type === 'boolean') {
      if (value === undefined) flags[spec.long] = true;
      else if (TRUE.has(value)) flags[spec.long] = true;
      else if (FALSE.has(value)) flags[spec.long] = false;
      else throw new CliError(`invalid value "${value}" for flag ${name}: true or false`);
      return;
    }
    const v = value ?? next();
    if (v === undefined) throw new CliError(`flag needs an argument: ${name}`);
    if (spec.type === 'strings') flags[spec.long] = [...((flags[spec.long] as string[] | undefined) ?? []), v];
    else flags[spec.long] = v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => (i + 1 < argv.length ? argv[++i] : undefined);
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw new CliError(`unknown flag: --${name}`);
      set(spec, eq >= 0 ? a.slice(eq + 1) : undefined, `--${name}`, next);
    } else if (a.startsWith('-') && a.length > 1) {
      const spec = byShort.get(a[1]!);
      if (!spec) throw new CliError(`unknown shorthand flag: '${a[1]}' in ${a}`);
      const inline = a.length > 2 ? a.slice(a[2] === '=' ? 3 : 2) : undefined;
      if (spec.type === 'boolean' && inline !== undefined && a[2] !== '=') throw new CliError(`unknown flag: ${a} (combine no short flags)`);
      set(spec, inline, `-${a[1]}`, next);
    } else positionals.push(a);
  }
  return { positionals, flags };
}

/**
 * The command words at the front of argv (e.g. `rollout status`), skipping global flags and
 * their values, so the command's own flags can be known before the full parse.
 */
export function commandWords(argv: readonly string[], max: number): string[] {
  const takesValue = new Set<string>();
  for (const s of GLOBAL_FLAGS)
    if (s.type !== 'boolean') {
      takesValue.add(`--${s.long}`);
      if (s.short) takesValue.add(`-${s.short}`);
    }
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < max; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (takesValue.has(a)) i++;
      continue;
    }
    words.push(a);
  }
  return words;
}

/** "90s", "5m", "1h", "1m30s" or plain seconds → milliseconds. */
export function parseDuration(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== text.length || text === '') throw new CliError(`invalid duration "${text}": e.g. 90s, 5m, 1h`);
  return total;
}

export const str = (f: FlagValues, k: string): string | undefined => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
export const strs = (f: FlagValues, k: string): string[] => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
export const bool = (f: FlagValues, k: string): boolean => f[k] === true;
