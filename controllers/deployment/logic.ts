// The deployment controller's decisions that need no I/O: phase order, who supersedes whom,
// who must wait for whom, what may be pruned. Pure, so the rules are unit-tested apart from
// Docker.
//
// The rules, per server and service ("target"):
// - Newer means created later (creationTimestamp, then name: timestamps have second
//   resolution, so two created in one second are ordered by name).
// - Before it switches `current`, a deployment is superseded by any newer one that has not
//   failed: only the newest release is worth finishing.
// - From creating_symlinks on (the "switch zone"), a deployment is never superseded: it is at
//   most seconds from active or a rollback. A newer one waits at the zone's door while an older
//   one is inside, so two deployments never switch one link at once.
// - Pruning keeps the live dir, the dirs of deployments still in progress, and the dirs of the
//   newest `limit` retained releases besides the live one; it removes every other release dir.
import type { Deployment, Route } from '../../schemas/index.js';
import { releaseDir } from '../releases/layout.js';

export type Phase = NonNullable<NonNullable<Deployment['status']>['phase']>;

export const PROGRESS: Record<Phase, number> = {
  queued: 0,
  pulling_source: 10,
  building: 25,
  copying_files: 50,
  creating_symlinks: 70,
  updating_routes: 80,
  health_check: 90,
  active: 100,
  superseded: 100,
  failed: 100,
};

export const TERMINAL: readonly Phase[] = ['active', 'superseded', 'failed'];
export const SWITCH_ZONE: readonly Phase[] = ['creating_symlinks', 'updating_routes', 'health_check'];
export const DEFAULT_DEADLINE_S = 600;
export const DEFAULT_HISTORY_LIMIT = 5;

export const isTerminal = (p: Phase | undefined) => p !== undefined && TERMINAL.includes(p);
export const inSwitchZone = (p: Phase | undefined) => p !== undefined && SWITCH_ZONE.includes(p);

export const targetOf = (d: Deployment) => `${d.metadata.namespace}/${d.spec.projectServer}/${d.spec.service ?? 'site'}`;

/** < 0 when a was created before b. */
export function byCreation(a: Deployment, b: Deployment): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

const live = (d: Deployment) => !d.metadata.deletionTimestamp;

/** The newer deployment of the same target that supersedes `d`, if any (see the rules above). */
export function supersededBy(d: Deployment, all: readonly Deployment[]): Deployment | undefined {
  if (isTerminal(d.status?.phase) || inSwitchZone(d.status?.phase)) return undefined;
  return all
    .filter((o) => live(o) && o.metadata.uid !== d.metadata.uid && targetOf(o) === targetOf(d) && byCreation(d, o) < 0 && o.status?.phase !== 'failed')
    .sort(byCreation)
    .at(-1);
}

/** An older deployment of the same target inside the switch zone, which `d` must wait for. */
export function mustWaitFor(d: Deployment, all: readonly Deployment[]): Deployment | undefined {
  return all.find((o) => o.metadata.uid !== d.metadata.uid && targetOf(o) === targetOf(d) && byCreation(o, d) < 0 && inSwitchZone(o.status?.phase));
}

/** The release dir a deployment serves: its own, or (a rollback) the one it reuses. */
export function dirOf(d: Deployment): string {
  const dir = d.status?.phaseMetadata?.dir;
  return typeof dir === 'string' ? dir : releaseDir(d.metadata.name!);
}

/** When `d` must be done by (ms since the epoch), from status.startedAt. */
export function deadlineOf(d: Deployment, now: number): number {
  const started = Date.parse(d.status?.startedAt ?? '') || now;
  return started + (d.spec.progressDeadlineSeconds ?? DEFAULT_DEADLINE_S) * 1000;
}

/**
 * Which release dirs of a service dir to remove. `dirs` are the `deployment-*` entries found;
 * `liveDir` the one `current` must point at; `all` the Deployments of the namespace.
 */
export function prunable(dirs: readonly string[], liveDir: string | undefined, target: string, all: readonly Deployment[], limit: number): string[] {
  const mine = all.filter((d) => targetOf(d) === target && live(d));
  const keep = new Set<string>();
  if (liveDir) keep.add(liveDir);
  for (const d of mine) if (!isTerminal(d.status?.phase)) keep.add(dirOf(d));
  const retained = mine
    .filter((d) => d.status?.phase === 'active' || d.status?.phase === 'superseded')
    .sort(byCreation)
    .reverse()
    .map(dirOf)
    .filter((dir) => dir !== liveDir && dirs.includes(dir));
  for (const dir of [...new Set(retained)].slice(0, limit)) keep.add(dir);
  return dirs.filter((dir) => !keep.has(dir));
}

/**
 * Temporaries (`.tmp-deployment-x`, `.build-x`, `.current-x`) that no deployment in progress
 * owns: left by a crash or a superseded run.
 */
export function strayTemporaries(entries: readonly string[], target: string, all: readonly Deployment[]): string[] {
  const busy = new Set(all.filter((d) => targetOf(d) === target && live(d) && !isTerminal(d.status?.phase)).map((d) => d.metadata.name!));
  return entries.filter((e) => {
    const m = /^\.(?:tmp-deployment|build|current)-(.+)$/.exec(e);
    return m !== null && !busy.has(m[1]!);
  });
}

/**
 * What updating_routes says about the Routes to a service: the ready ones serve it; one not
 * ready (a conflict it lost, a server not ready yet) is named apart, so the message never claims
 * a Route the proxy does not apply.
 */
export function routesMessage(routes: readonly Route[]): string {
  if (routes.length === 0) return 'no Route serves this service yet';
  const names = (rs: readonly Route[]) => rs.map((r) => r.metadata.name).join(', ');
  const ready = routes.filter((r) => r.status?.ready);
  const notReady = routes.filter((r) => !r.status?.ready);
  if (ready.length === 0) return `no Route serves this service yet (not ready: ${names(notReady)})`;
  return `served by Route ${names(ready)}${notReady.length ? ` (not ready: ${names(notReady)})` : ''}`;
}
