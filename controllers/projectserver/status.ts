// The ProjectServer status deployer reports, computed from the object, what Docker says and
// the restart bookkeeping. Pure. Conditions are merged by type into the stored list, so a
// condition another writer owns (e.g. Reconciled) is never lost.
import { setCondition } from '../../resources/index.js';
import type { Condition, ProjectServer } from '../../schemas/index.js';
import type { ContainerState } from '../../docker/index.js';
import type { Bookkeeping } from './restarts.js';
import { crashLooping, recentRestarts } from './restarts.js';
import { DOCKER_UNAVAILABLE } from '../docker-outage.js';

type Status = NonNullable<ProjectServer['status']>;

export interface Observation {
  state: ContainerState | null;
  book: Required<Bookkeeping>;
  image: string;
  now: number;
  /** A problem that kept the container from being made (image missing, name taken…). */
  failure?: { reason: string; message: string };
  /** Deployer is waiting before its next restart (back-off). */
  waitingMs?: number;
}

function cond(type: string, status: Condition['status'], reason: string, message: string, generation: number): Condition {
  return { type, status, reason, message: message.slice(0, 4000), observedGeneration: generation };
}

export function computeStatus(ps: ProjectServer, o: Observation): Status {
  const gen = ps.metadata.generation ?? 0;
  const st = o.state;
  const stopped = ps.spec.stopped === true;
  const looping = crashLooping(o.book.restartHistory, o.now);
  const health = st?.health;
  const lastOutput = health?.lastOutput?.trim();
  const now = new Date(o.now).toISOString().replace(/\.\d{3}Z$/, 'Z');

  let phase: Status['phase'];
  let ready: Condition;
  let healthy: Condition;
  let issue: string | undefined;
  if (ps.metadata.deletionTimestamp) {
    phase = 'Terminating';
    ready = cond('Ready', 'False', 'Terminating', 'the server is being deleted', gen);
    healthy = cond('Healthy', 'Unknown', 'Terminating', 'the server is being deleted', gen);
  } else if (o.failure) {
    phase = 'Failed';
    issue = o.failure.message;
    ready = cond('Ready', 'False', o.failure.reason, o.failure.message, gen);
    healthy = cond('Healthy', 'Unknown', o.failure.reason, 'no container', gen);
  } else if (stopped) {
    phase = st?.running ? 'Pending' : 'Stopped';
    ready = cond('Ready', 'False', 'Stopped', 'stopped on purpose (spec.stopped)', gen);
    healthy = cond('Healthy', 'Unknown', 'Stopped', 'stopped on purpose (spec.stopped)', gen);
  } else if (!st) {
    phase = 'Pending';
    ready = cond('Ready', 'False', 'ContainerMissing', 'the container does not exist yet', gen);
    healthy = cond('Healthy', 'Unknown', 'ContainerMissing', 'the container does not exist yet', gen);
  } else if (!st.running) {
    phase = looping ? 'Degraded' : 'Pending';
    issue = st.restarting
      ? `exited with code ${st.exitCode}; Docker restarts it`
      : o.waitingMs
        ? `exited with code ${st.exitCode}; restarting in ${Math.ceil(o.waitingMs / 1000)} s (back-off)`
        : `exited with code ${st.exitCode}${st.oomKilled ? ' (out of memory)' : ''}`;
    ready = cond('Ready', 'False', 'ContainerNotRunning', issue, gen);
    healthy = cond('Healthy', 'False', 'ContainerNotRunning', issue, gen);
  } else if (health?.status === 'unhealthy') {
    phase = looping ? 'Degraded' : 'Running';
    issue = `health check failing (${health.failingStreak} in a row)${lastOutput ? `: ${lastOutput}` : ''}`;
    ready = cond('Ready', 'False', 'Unhealthy', issue, gen);
    healthy = cond('Healthy', 'False', 'HealthCheckFailing', issue, gen);
  } else if (health?.status === 'starting') {
    phase = looping ? 'Degraded' : 'Running';
    ready = cond('Ready', 'False', 'Starting', 'waiting for the first passing health check', gen);
    healthy = cond('Healthy', 'Unknown', 'Starting', 'waiting for the first passing health check', gen);
  } else {
    phase = looping ? 'Degraded' : 'Running';
    ready = cond('Ready', 'True', 'Running', 'the container is running' + (health ? ' and healthy' : ''), gen);
    healthy = cond('Healthy', 'True', health ? 'HealthCheckPassing' : 'Running', health ? 'the health check passes' : 'running (no health check)', gen);
  }
  const fallback = Object.entries(ps.status?.services ?? {}).find(([, e]) => e.fallbackFrom);
  const degraded = looping
    ? cond('Degraded', 'True', 'CrashLoopBackOff', `restarted ${recentRestarts(o.book.restartHistory, o.now).length} times within 5 minutes; deployer backs off between its restarts`, gen)
    : fallback
      ? cond('Degraded', 'True', 'ReleaseMissing', `the files of ${fallback[1].fallbackFrom} (service ${fallback[0]}) are gone; serving the older ${fallback[1].dir} until a new deployment goes live`, gen)
      : cond('Degraded', 'False', 'AsExpected', 'no restart storm', gen);

  let conditions = ps.status?.conditions;
  for (const c of [ready, healthy, degraded]) conditions = setCondition(conditions, c, now);
  const healthValue: Status['health'] =
    stopped || ps.metadata.deletionTimestamp
      ? 'unknown'
      : ready.status === 'True'
        ? looping || fallback
          ? 'degraded'
          : 'healthy'
        : healthy.reason === 'Starting'
          ? 'degraded'
          : 'unhealthy';
  const out: Status = {
    ...(ps.status ?? {}),
    observedGeneration: gen,
    phase,
    health: healthValue,
    restartCount: o.book.restartCount,
    restartHistory: o.book.restartHistory,
    dockerRestartCount: o.book.dockerRestartCount,
    image: o.image,
    conditions,
  };
  if (st) {
    out.containerId = st.id;
    if (st.startedAt) out.startedAt = st.startedAt;
  } else delete out.containerId;
  if (issue) out.lastHealthIssue = issue.slice(0, 4096);
  return out;
}

/**
 * The status while the Docker engine does not answer: what the container does is unknown, so
 * Ready and Healthy become Unknown with reason DockerUnavailable and `message`, and `health`
 * becomes `unknown` (never `healthy` from stale data). The phase, the container id, the
 * restart bookkeeping and the Degraded condition are kept as last seen: an outage is not a
 * crash of the server, and the first pass that reaches Docker again recomputes them all.
 */
export function outageStatus(ps: ProjectServer, message: string, now: number): Status {
  const gen = ps.metadata.generation ?? 0;
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  let conditions = ps.status?.conditions;
  for (const type of ['Ready', 'Healthy']) conditions = setCondition(conditions, cond(type, 'Unknown', DOCKER_UNAVAILABLE, message, gen), at);
  return { ...(ps.status ?? {}), observedGeneration: gen, phase: ps.status?.phase ?? 'Pending', health: 'unknown', conditions };
}

/** True when `status` says Docker did not answer (outageStatus wrote it). */
export function waitsForDocker(status: ProjectServer['status']): boolean {
  return status?.conditions?.some((c) => c.type === 'Ready' && c.reason === DOCKER_UNAVAILABLE) ?? false;
}
