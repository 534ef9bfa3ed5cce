// The deployment controller: Deployments feed the work queue; a ProjectServer's change (its
// container came up, its status moved) hands the Deployments of that server in progress back
// to the workers, so one waiting for its server goes on at once. When it becomes leader it
// lists every Deployment and resumes each one in progress at its recorded phase.
import { kindByName } from '../../resources/index.js';
import type { Deployment } from '../../schemas/index.js';
import type { ControllerDeps } from '../deps.js';
import { systemClock } from '../runtime/clock.js';
import { Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/event-recorder.js';
import { faultHook, parseFault } from '../runtime/fault.js';
import { objectKey, parseKey } from '../runtime/informer.js';
import type { LogFn } from '../runtime/log.js';
import { isTerminal } from './logic.js';
import { DeploymentReconciler } from './reconciler.js';

export { DeploymentReconciler } from './reconciler.js';

const KIND = kindByName('Deployment')!;
const SERVER = kindByName('ProjectServer')!;

export function deploymentController(deps: ControllerDeps): Controller {
  const docker = deps.docker;
  if (!docker) throw new Error('the deployment controller needs Docker (no engine is connected)');
  const clock = deps.clock ?? systemClock;
  const log: LogFn = (m, e, f) => deps.log(m, e, { controller: 'deployment', ...f });
  const events = new EventRecorder({ resources: deps.store.resources, component: 'deployment-controller', instance: deps.identity, clock, log });
  const fault = faultHook(parseFault(process.env.DEPLOYER_FAULT), (f) => log(`fault hook: ${f.action} at ${f.point}`));
  const controller: Controller = new Controller({
    name: 'deployment',
    kind: KIND,
    store: deps.store,
    reconciler: new DeploymentReconciler({
      store: deps.store,
      docker: docker.runtime,
      installation: docker.installation,
      staticImage: docker.staticImage,
      network: docker.network,
      events,
      clock,
      fault,
      log,
    }),
    workers: 4,
    resyncMs: 60_000,
    // a finished Deployment has nothing left to do (its reconcile returns at once): the minute's
    // backstop need not hand thousands of them to the workers; being deleted is not finished
    resyncFilter: (o) => !isTerminal((o as unknown as Deployment).status?.phase) || !!o.metadata.deletionTimestamp,
    baseDelayMs: 250,
    maxDelayMs: 10_000,
    clock: deps.clock,
    log: deps.log,
    watches: [
      {
        kind: SERVER,
        map: (key) => {
          const { namespace, name } = parseKey(key);
          return controller
            .cachedObjects()
            .map((o) => o as unknown as Deployment)
            .filter((d) => d.metadata.namespace === namespace && d.spec.projectServer === name && !isTerminal(d.status?.phase))
            .map((d) => objectKey('Deployment', namespace, d.metadata.name!));
        },
      },
    ],
  });
  // back from an outage (or a dropped stream): the deployments waiting for Docker go on at once
  docker.events.onReconnect(() => controller.resync());
  return controller;
}
