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
import { byCreation, dirOf, inSwitchZone, targetOf } from '../deployment/logic.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { involvedObjectOf } from '../runtime/event-recorder.js';
import type { Fence } from '../../store/index.js';
import { MOVED } from '../releases/layout.js';
import { ReleaseVolume, VolumeOpError } from '../releases/volume.js';

const DEPLOYMENT = kindByName('Deployment')!;
const SERVER = kindByName('ProjectServer')!;

/** Switches `current` to `dir` if it still is `seen`; false when someone switched it meanwhile. */
async function switched(vol: ReleaseVolume, service: string, dir: string, seen: string | undefined): Promise<boolean> {
  try {
    await vol.switchCurrent(service, dir, 'heal', undefined, seen ?? null);
    return true;
  } catch (err) {
    if (err instanceof VolumeOpError && err.exitCode === MOVED) return false;
    throw err;
  }
}

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

export async function healReleases(ps: ProjectServer, containerId: string, hostRoot: string | null, o: HealOptions): Promise<HealResult> {
  const services = ps.status?.services ?? {};
  if (Object.keys(services).length === 0) return {};
  const vol = new ReleaseVolume(o.docker, containerId, hostRoot);
  const involved = involvedObjectOf(ps as unknown as ResourceObject);
  let changed: Services | undefined;
  let current: string | undefined;
  let deployments: Deployment[] | undefined;
  for (const [service, entry] of Object.entries(services)) {
    if (!entry.dir) continue;
    const want = { ...entry, dir: entry.dir };
    const listing = await vol.list(service);
    const intact = (dir: string) => listing.entries.some((e) => e.name === dir && e.marker !== undefined);
    if (intact(want.dir) && listing.current === want.dir) continue;
    // Something to repair. Not while a deployment of this service switches (it told the
    // server's status before switching, but this reconcile may have read the status earlier),
    // and only if the status still says so now, and `current` is still what was listed.
    deployments ??= (await o.store.resources.list(DEPLOYMENT, { namespace: ps.metadata.namespace! })).items as unknown as Deployment[];
    const target = `${ps.metadata.namespace}/${ps.metadata.name}/${service}`;
    if (deployments.some((d) => targetOf(d) === target && !d.metadata.deletionTimestamp && inSwitchZone(d.status?.phase))) continue;
    const now = ((await o.store.resources.get(SERVER, ps.metadata.namespace!, ps.metadata.name!)) as unknown as ProjectServer).status?.services?.[service];
    if (now?.dir !== want.dir || now.deployment !== want.deployment) continue;
    if (intact(want.dir)) {
      if (await switched(vol, service, want.dir, listing.current))
        void o.events.record(involved, 'Warning', 'SymlinkRepaired', `${service}/current ${listing.current ? `pointed at ${listing.current}` : 'was missing'}; put back to ${want.dir}`, { fence: o.fence });
      continue;
    }
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
    if (!(await switched(vol, service, dir, listing.current))) continue;
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
