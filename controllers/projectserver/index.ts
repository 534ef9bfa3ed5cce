// The projectserver controller: ProjectServer objects plus their containers' Docker events
// (die, start, health_status, destroy, oom, stop) and the verdicts of deployer's own HTTP
// probes of httpGet health checks (prober.ts) feed one work queue, so a killed, removed or unhealthy
// container is looked at within milliseconds; the resync is only a backstop.
import { managedOf } from '../../docker/index.js';
import { kindByName } from '../../resources/index.js';
import type { ControllerDeps } from '../deps.js';
import { systemClock } from '../runtime/clock.js';
import { Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { objectKey } from '../runtime/informer.js';
import { HttpProber } from './prober.js';
import { ProjectServerReconciler } from './reconciler.js';
import { ReleaseWatchers } from './release-watchers.js';

export { ProjectServerReconciler, FINALIZER } from './reconciler.js';
export { desiredContainer, type ServerSettings } from './container-spec.js';

const KIND = kindByName('ProjectServer')!;

/**
 * The backstop resync: every ProjectServer reconciled again though nothing happened. Docker's
 * events (and a resync whenever their stream reconnects), the probes' verdicts and inotify on
 * the volumes bring every change at once; this catches only what they would all miss. Each pass
 * is a store read, a `docker inspect` and a look at the releases per server: at 200 servers
 * every 2 minutes it was a good part of an idle deployer's CPU (BENCHMARKS.md, "Idle CPU at full
 * size"), so 10 minutes, as controller-runtime's is hours.
 */
export const RESYNC_MS = 10 * 60_000;

export function projectServerController(deps: ControllerDeps): Controller {
  const docker = deps.docker;
  if (!docker) throw new Error('the projectserver controller needs Docker (no engine is connected)');
  const clock = deps.clock ?? systemClock;
  const events = new EventRecorder({
    resources: deps.store.resources,
    component: 'projectserver-controller',
    instance: deps.identity,
    clock,
    log: (m, e) => deps.log(m, e, { controller: 'projectserver' }),
  });
  // httpGet health probes, from the leading process only: closed when the controller stops
  const prober = new HttpProber({ wake: (key) => controller.enqueue(key) });
  const watchers = new ReleaseWatchers(docker.runtime, (key) => controller.enqueue(key), (m, e) => deps.log(m, e, { controller: 'projectserver' }));
  const controller: Controller = new Controller({
    name: 'projectserver',
    kind: KIND,
    store: deps.store,
    reconciler: new ProjectServerReconciler({
      store: deps.store,
      docker: docker.runtime,
      settings: { installation: docker.installation, staticImage: docker.staticImage, network: docker.network },
      events,
      clock,
      watchReleases: (key, volume, services) => watchers.watch(key, volume, services),
      prober,
    }),
    workers: 4,
    resyncMs: RESYNC_MS,
    baseDelayMs: 200,
    maxDelayMs: 30_000,
    clock: deps.clock,
    log: deps.log,
    onStop: () => {
      watchers.closeAll();
      prober.closeAll();
    },
  });
  docker.events.onEvent((e) => {
    const m = managedOf(e.labels);
    if (m && m.installation === docker.installation && m.role === 'server' && m.owner.kind === 'ProjectServer')
      controller.enqueue(objectKey('ProjectServer', m.owner.namespace, m.owner.name));
  });
  docker.events.onReconnect(() => controller.resync());
  // the engine went away: every server's status says so now, not at the next resync
  docker.events.onDisconnect?.(() => controller.resync());
  return controller;
}
