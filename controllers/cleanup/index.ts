// The cleanup controller: removes what deployer made and nobody owns any more (sweeper.ts),
// and records its running totals for GET /api/monitoring/health in the store. It sweeps when
// it starts leading, when Docker reports a container of this installation created, started
// or destroyed, when a ProjectServer goes, on every resync request, and every minute.
import { managedOf } from '../../docker/index.js';
import { kindByName } from '../../resources/index.js';
import { ApiError } from '../../resources/index.js';
import { CLEANUP_RECORD } from '../../store/index.js';
import type { ControllerDeps } from '../deps.js';
import { systemClock } from '../runtime/clock.js';
import { Controller, type ReconcileContext } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { parseKey } from '../runtime/informer.js';
import { EMPTY_COUNTS, sweep, type CleanupCounts } from './sweeper.js';

export { sweep, type CleanupCounts } from './sweeper.js';

export const SWEEP_KEY = 'sweep';
const KIND = kindByName('ProjectServer')!;

export interface CleanupOptions {
  helperTtlMs?: number;
  sweepEveryMs?: number;
}

export function cleanupController(deps: ControllerDeps, opts: CleanupOptions = {}): Controller {
  const docker = deps.docker;
  if (!docker) throw new Error('the cleanup controller needs Docker (no engine is connected)');
  const clock = deps.clock ?? systemClock;
  const log = (m: string, e?: unknown) => deps.log(m, e, { controller: 'cleanup' });
  const events = new EventRecorder({ resources: deps.store.resources, component: 'cleanup-controller', instance: deps.identity, clock, log });
  let totals: CleanupCounts | null = null;
  let leadingToken: number | undefined;

  const reconcile = async (key: string, _signal: AbortSignal, ctx: ReconcileContext) => {
    if (key !== SWEEP_KEY) {
      const { namespace, name } = parseKey(key);
      try {
        await deps.store.resources.get(KIND, namespace, name);
      } catch (err) {
        if (err instanceof ApiError && err.code === 404) controller.enqueue(SWEEP_KEY);
        else throw err;
      }
      return;
    }
    if (totals === null || leadingToken !== ctx.fence.token) {
      totals = { ...EMPTY_COUNTS, ...((await deps.store.records.get<CleanupCounts>(CLEANUP_RECORD))?.data ?? {}) };
      leadingToken = ctx.fence.token;
    }
    const found = await sweep({
      store: deps.store,
      docker: docker.runtime,
      installation: docker.installation,
      events,
      helperTtlMs: opts.helperTtlMs ?? 3_600_000,
      now: clock.now(),
      fence: ctx.fence,
      log,
    });
    const next: CleanupCounts = {
      zombiesFound: totals.zombiesFound + found.zombiesFound,
      zombiesRemoved: totals.zombiesRemoved + found.zombiesRemoved,
      helpersRemoved: totals.helpersRemoved + found.helpersRemoved,
      volumesRemoved: totals.volumesRemoved + found.volumesRemoved,
      lastSweepAt: found.lastSweepAt,
    };
    await deps.store.records.put(CLEANUP_RECORD, next, ctx.fence);
    totals = next;
    return { requeueAfterMs: opts.sweepEveryMs ?? 60_000 };
  };

  const controller: Controller = new Controller({
    name: 'cleanup',
    kind: KIND,
    store: deps.store,
    reconciler: { reconcile },
    workers: 1,
    startKeys: [SWEEP_KEY],
    clock: deps.clock,
    log: deps.log,
  });
  docker.events.onEvent((e) => {
    if (e.action !== 'create' && e.action !== 'start' && e.action !== 'destroy') return;
    const m = managedOf(e.labels);
    if (m && m.installation === docker.installation) controller.enqueue(SWEEP_KEY);
  });
  docker.events.onReconnect(() => controller.enqueue(SWEEP_KEY));
  return controller;
}
