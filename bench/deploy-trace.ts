// Where a deployment's time goes in bench/deploy: the controllers' Docker calls, each with when
// it began and ended (an exec is named by the volume script it runs: list, remove, promote,
// switch), and every status a Deployment went through, as a watch on the store delivers it.
//
// The phase of a Deployment is written when the step before it has finished (status.phase =
// pulling_source means "the queued step is done, pulling now"), and phaseUpdatedAt is
// overwritten by the next phase, so the only way to see how long each phase took is to see
// every revision: a watch hands over every one, in order, a few ms after its commit.
import { DockerRuntime, type ContainerSpec, type ContainerState, type ContainerSummary, type RunResult } from '../docker/index.js';
import { COPY_OUTPUT_SCRIPT, LIST_SCRIPT, PROMOTE_SCRIPT, REMOVE_SCRIPT, SWITCH_SCRIPT } from '../controllers/releases/layout.js';
import { kindByName } from '../resources/index.js';
import { startWatch, type Store, type Watch } from '../store/index.js';
import { now, sleep } from './health-docker.js';

export interface Call {
  /** inspect, putArchive, exec list, exec switch, … */
  op: string;
  t0: number;
  /** NaN while the call runs. */
  t1: number;
  /** exec: the script's arguments. */
  args?: string[];
  /** inspect: the name or id asked about. */
  target?: string;
}

const SCRIPTS = new Map([
  [LIST_SCRIPT, 'list'],
  [REMOVE_SCRIPT, 'remove'],
  [PROMOTE_SCRIPT, 'promote (mv)'],
  [SWITCH_SCRIPT, 'switch (ln + mv)'],
  [COPY_OUTPUT_SCRIPT, 'copy output'],
]);

/** `sh -c <script> sh args…` as the releases' volume runs it: the script's name and its args. */
export function execName(argv: string[]): { op: string; args: string[] } {
  if (argv[0] === 'sh' && argv[1] === '-c' && argv[2] !== undefined) return { op: `exec ${SCRIPTS.get(argv[2]) ?? 'sh -c …'}`, args: argv.slice(4) };
  return { op: `exec ${argv[0]}`, args: argv.slice(1) };
}

/** A DockerRuntime that records every call a controller makes that matters to a deployment or a heal. */
export class TracedRuntime extends DockerRuntime {
  readonly calls: Call[] = [];

  private async timed<T>(op: string, fn: () => Promise<T>, extra: Pick<Call, 'args' | 'target'> = {}): Promise<T> {
    const call: Call = { op, t0: now(), t1: NaN, ...extra };
    this.calls.push(call);
    try {
      return await fn();
    } finally {
      call.t1 = now();
    }
  }

  override exec(id: string, argv: string[], opts?: { timeoutMs?: number; user?: string }): Promise<RunResult> {
    const { op, args } = execName(argv);
    return this.timed(op, () => super.exec(id, argv, opts), { args });
  }
  override putArchive(id: string, path: string, tar: Buffer, opts?: { signal?: AbortSignal }): Promise<void> {
    return this.timed('putArchive', () => super.putArchive(id, path, tar, opts));
  }
  override inspect(idOrName: string): Promise<ContainerState | null> {
    return this.timed('inspect', () => super.inspect(idOrName), { target: idOrName });
  }
  override listContainers(labelFilters: string[]): Promise<ContainerSummary[]> {
    return this.timed('listContainers', () => super.listContainers(labelFilters));
  }
  override create(spec: ContainerSpec): Promise<string> {
    return this.timed('create', () => super.create(spec));
  }
  override start(id: string): Promise<void> {
    return this.timed('start', () => super.start(id));
  }
  override remove(id: string): Promise<void> {
    return this.timed('remove', () => super.remove(id));
  }

  /** The calls that began in [from, to). */
  between(from: number, to: number): Call[] {
    return this.calls.filter((c) => c.t0 >= from && c.t0 < to);
  }

  /** When the last call ended (Infinity while one runs). */
  lastEnd(): number {
    let last = 0;
    for (let i = Math.max(0, this.calls.length - 50); i < this.calls.length; i++) {
      const c = this.calls[i]!;
      last = Math.max(last, Number.isNaN(c.t1) ? Infinity : c.t1);
    }
    return last;
  }
}

/** Milliseconds and counts by op, over some calls: `<op>` (sum of durations) and `<op> (calls)` (how many). */
export function byOp(calls: readonly Call[], to = Infinity): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) {
    out[c.op] = (out[c.op] ?? 0) + Math.min(Number.isNaN(c.t1) ? to : c.t1, to) - c.t0;
    out[`${c.op} (calls)`] = (out[`${c.op} (calls)`] ?? 0) + 1;
  }
  return out;
}

/** How long, in all, `mine` ran while one of `theirs` ran too (ms; pairwise overlaps summed). */
export function overlapMs(mine: readonly Call[], theirs: readonly Call[], to = Infinity): number {
  let sum = 0;
  for (const a of mine)
    for (const b of theirs) {
      const end = Math.min(Number.isNaN(a.t1) ? to : a.t1, Number.isNaN(b.t1) ? to : b.t1);
      sum += Math.max(0, end - Math.max(a.t0, b.t0));
    }
  return sum;
}

export interface PhaseSeen {
  /** When the watch delivered it. */
  t: number;
  name: string;
  phase: string;
  message?: string;
}

/** Every status revision of the namespace's Deployments, as delivered by a store watch. */
export class PhaseLog {
  readonly seen: PhaseSeen[] = [];
  private watch?: Watch;

  async start(store: Store, namespace: string): Promise<void> {
    this.watch = await startWatch(store, kindByName('Deployment')!, { namespace }, (item) => {
      const ev = JSON.parse(item.json) as { object: { metadata: { name: string }; status?: { phase?: string; message?: string } } };
      const phase = ev.object.status?.phase;
      if (phase) this.seen.push({ t: now(), name: ev.object.metadata.name, phase, message: ev.object.status?.message });
    });
  }

  /** When each phase of `name` was first seen. */
  timeline(name: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.seen) if (s.name === name && !out.has(s.phase)) out.set(s.phase, s.t);
    return out;
  }

  /** Waits for one of `phases` of `name`; the sighting. */
  async waitFor(name: string, phases: string[], timeoutMs: number): Promise<PhaseSeen> {
    const end = now() + timeoutMs;
    for (let from = 0; ; ) {
      for (; from < this.seen.length; from++) {
        const s = this.seen[from]!;
        if (s.name === name && phases.includes(s.phase)) return s;
      }
      if (now() > end) {
        const last = this.seen.filter((s) => s.name === name).at(-1);
        throw new Error(`timed out after ${timeoutMs} ms waiting for Deployment ${name} to be ${phases.join(' or ')} (last: ${last ? `${last.phase}: ${last.message}` : 'nothing seen'})`);
      }
      await sleep(2);
    }
  }

  close(): void {
    this.watch?.close();
  }
}

/**
 * One deployment's steps, ms, from the phases the watch saw (in order, with when) and the
 * deployment controller's calls. A phase's span runs from its sighting to the next one (the
 * last: to `end`, the sighting of active), so it holds the step, its status write and the next
 * pass's reads. A call counts in the span in which it ended: the watch sees a phase a few ms
 * after its commit, while the step after it may already have begun, but no Docker call of a
 * step ends before the commit that began it. Calls are clipped to the span they ended in.
 */
export function stepSplit(calls: readonly Call[], timeline: readonly [string, number][], end: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let k = 0; k < timeline.length; k++) {
    const [phase, from] = timeline[k]!;
    const to = k + 1 < timeline.length ? timeline[k + 1]![1] : end;
    out[`step ${phase}`] = to - from;
    const inside = calls.filter((c) => {
      const t = Number.isNaN(c.t1) ? end : c.t1;
      return t >= from && t < to;
    });
    // clipped to the span: a call begun a moment before the sighting counts only from it
    const clipped = inside.map((c) => ({ ...c, t0: Math.max(c.t0, from) }));
    let docker = 0;
    for (const [op, v] of Object.entries(byOp(clipped, to))) {
      out[`step ${phase}: ${op}`] = v;
      if (!op.endsWith(' (calls)')) docker += v;
    }
    out[`step ${phase}: outside Docker calls`] = to - from - docker;
  }
  return out;
}
