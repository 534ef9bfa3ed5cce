// Self-healing of a static server's releases. status.services says, per service, which
// release dir `current` must point at (the deployment controller writes it before it
// switches). Each check lists the service dir once (one exec) and:
// - `current` missing or pointing elsewhere → put back atomically (Warning SymlinkRepaired);
// - the live release's dir gone or incomplete → `current` falls back to the newest intact
//   retained release of that service (Warning ReleaseMissing); status.services records the
//   fallback (fallbackFrom), which makes the server Degraded until a new deployment goes live.
import type { ContainerRuntime } from '../../docker/index.js';
import { kindByName, type ResourceObject } from '../../resources/index.js';
import type { Deployment, ProjectServer } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import { dirOf, targetOf, byCreation } from '../deployment/logic.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { involvedObjectOf } from '../runtime/event-recorder.js';
import type { Fence } from '../../store/index.js';
import { ReleaseVolume } from '../releases/volume.js';

const DEPLOYMENT = kindByName('Deployment')!;

type Services = NonNullable<NonNullable<ProjectServer['status']>['services']>;

export interface HealOptions {
  store: Store;
  docker: ContainerRuntime;
  events: EventRecorder;
  fence: Fence;
  now: string;
}

export interface HealResult {
  /** The services map to record, when it changed (a fallback). */
  services?: Services;
  currentDeployment?: string;
}

export async function healReleases(ps: ProjectServer, containerId: string, o: HealOptions): Promise<HealResult> {
  const services = ps.status?.services ?? {};
  if (Object.keys(services).length === 0) return {};
  const vol = new ReleaseVolume(o.docker, containerId);
  const involved = involvedObjectOf(ps as unknown as ResourceObject);
  let changed: Services | undefined;
  let current: string | undefined;
  let deployments: Deployment[] | undefined;
  for (const [service, entry] of Object.entries(services)) {
    if (!entry.dir) continue;
    const want = { ...entry, dir: entry.dir };
    const listing = await vol.list(service);
    const intact = (dir: string) => listing.entries.some((e) => e.name === dir && e.marker !== undefined);
    if (intact(want.dir)) {
      if (listing.current !== want.dir) {
        await vol.switchCurrent(service, want.dir, 'heal');
        void o.events.record(involved, 'Warning', 'SymlinkRepaired', `${service}/current ${listing.current ? `pointed at ${listing.current}` : 'was missing'}; put back to ${want.dir}`, { fence: o.fence });
      }
      continue;
    }
    deployments ??= (await o.store.resources.list(DEPLOYMENT, { namespace: ps.metadata.namespace! })).items as unknown as Deployment[];
    const target = `${ps.metadata.namespace}/${ps.metadata.name}/${service}`;
    const candidates = deployments
      .filter((d) => targetOf(d) === target && (d.status?.phase === 'active' || d.status?.phase === 'superseded') && dirOf(d) !== want.dir && intact(dirOf(d)))
      .sort(byCreation)
      .reverse();
    const fallback = candidates[0];
    if (!fallback) {
      void o.events.record(involved, 'Warning', 'ReleaseMissing', `the files of ${want.dir} (service ${service}) are gone and no intact earlier release is left; deploy again`, { fence: o.fence });
      continue;
    }
    const dir = dirOf(fallback);
    await vol.switchCurrent(service, dir, 'heal');
    changed = { ...(changed ?? services), [service]: { deployment: fallback.metadata.name!, dir, since: o.now, fallbackFrom: want.dir } };
    current = fallback.metadata.name!;
    void o.events.record(
      involved,
      'Warning',
      'ReleaseMissing',
      `the files of ${want.dir} (Deployment "${want.deployment}", service ${service}) are gone; fell back to ${dir} (Deployment "${fallback.metadata.name}")`,
      { fence: o.fence },
    );
  }
  return changed ? { services: changed, ...(current ? { currentDeployment: current } : {}) } : {};
}
