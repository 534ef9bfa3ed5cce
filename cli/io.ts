// The process' edges, behind one small interface so commands can be run in tests with
// strings in and strings out.
import { readFileSync } from 'node:fs';

/**
 * Where a command writes and what it may know about the terminal. `progress` lines appear
 * only when stderr is a terminal and are erased by the next write; `color` is true only when
 * stdout is a terminal and NO_COLOR is unset or empty (https://no-color.org: an empty value
 * does not turn colour off).
 */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  progress(text: string): void;
  readonly color: boolean;
  readStdin(): Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  now(): number;
}

export function processIo(): Io {
  const errTty = Boolean(process.stderr.isTTY);
  let progressShown = false;
  const clear = () => {
    if (progressShown) process.stderr.write('\r\x1b[K');
    progressShown = false;
  };
  return {
    out(text) {
      clear();
      process.stdout.write(text);
    },
    err(text) {
      clear();
      process.stderr.write(text);
    },
    progress(text) {
      if (!errTty) return;
      clear();
      if (text === '') return;
      process.stderr.write(text.slice(0, (process.stderr.columns || 80) - 1));
      progressShown = true;
    },
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    now: () => Date.now(),
  };
}

/** deployctl's own version: the package's. */
export function clientVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const paint = (on: boolean, code: number, text: string) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
