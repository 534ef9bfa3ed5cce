// One cleanup sweep over this installation's Docker objects:
// - containers whose owner (by kind and uid) no longer exists — zombies — are removed;
// - helper containers older than the TTL are removed, whatever their owner;
// - volumes whose owner is gone are removed unless they were made to be retained.
// Each removal writes an Event about the (former) owner. Anything without deployer's full
// labels, or of another installation, is never looked at twice: the Docker queries filter on
// the installation label and managedOf() rejects partial label sets. The proxy (role
// "proxy") belongs to the installation, not to an object, and is never removed here.
import { containerName, LABELS, installationFilter, managedOf, type ContainerRuntime, type Managed } from '../../docker/index.js';
import { kindByName } from '../../resources/index.js';
import type { Fence, Store } from '../../store/index.js';
import type { EventRecorder } from '../runtime/event-recorder.js';

export interface CleanupCounts {
  zombiesFound: number;
  zombiesRemoved: number;
  helpersRemoved: number;
  volumesRemoved: number;
  lastSweepAt?: string;
}

export const EMPTY_COUNTS: CleanupCounts = { zombiesFound: 0, zombiesRemoved: 0, helpersRemoved: 0, volumesRemoved: 0 };

export interface SweepOptions {
  store: Store;
  docker: ContainerRuntime;
  installation: string;
  events: EventRecorder;
  helperTtlMs: number;
  now: number;
  fence?: Fence;
  log?: (msg: string, err?: unknown) => void;
}

/** Runs one sweep; returns what it found and removed in this sweep. */
export async function sweep(o: SweepOptions): Promise<CleanupCounts> {
  const counts: CleanupCounts = { ...EMPTY_COUNTS };
  // Docker first, then the store: a container listed here was made for an object that
  // existed before it, so an owner missing from the later list is really gone.
  const containers = await o.docker.listContainers(installationFilter(o.installation));
  const volumes = await o.docker.listVolumes(installationFilter(o.installation));
  const owners = new Map<string, Set<string>>();
  const ownerExists = async (m: Managed): Promise<boolean> => {
    let uids = owners.get(m.owner.kind);
    if (!uids) {
      const info = kindByName(m.owner.kind);
      uids = new Set(info ? (await o.store.resources.list(info)).items.map((i) => i.metadata.uid!) : []);
      owners.set(m.owner.kind, uids);
    }
    return uids.has(m.owner.uid);
  };
  const event = (m: Managed, reason: string, message: string) =>
    void o.events.record({ kind: m.owner.kind, namespace: m.owner.namespace, name: m.owner.name }, 'Normal', reason, message, { fence: o.fence });

  for (const c of containers) {
    const m = managedOf(c.labels);
    if (!m || m.installation !== o.installation || m.role === 'proxy' || !kindByName(m.owner.kind)) continue;
    if (m.role === 'helper' && o.now - c.created * 1000 > o.helperTtlMs) {
      await o.docker.remove(c.id);
      counts.helpersRemoved++;
      event(m, 'HelperRemoved', `removed helper container ${c.name} (older than ${Math.round(o.helperTtlMs / 1000)} s)`);
      continue;
    }
    if (await ownerExists(m)) {
      // A server container under a name its owner no longer gets (the `<namespace>-<name>`
      // names before the `_` separator) is a leftover: its owner runs under the current name.
      const expected = containerName(o.installation, m.owner);
      const name = c.name.replace(/^\//, '');
      if (m.role !== 'server' || name === expected || name === `${expected}_b`) continue;
      counts.zombiesFound++;
      await o.docker.remove(c.id);
      counts.zombiesRemoved++;
      event(m, 'StrayRemoved', `removed container ${name}: ${m.owner.kind} ${m.owner.namespace}/${m.owner.name} runs as ${expected}`);
      continue;
    }
    counts.zombiesFound++;
    await o.docker.remove(c.id);
    counts.zombiesRemoved++;
    event(m, 'ZombieRemoved', `removed container ${c.name}: its ${m.owner.kind} ${m.owner.namespace}/${m.owner.name} (uid ${m.owner.uid}) no longer exists`);
  }
  for (const v of volumes) {
    const m = managedOf(v.labels);
    if (!m || m.installation !== o.installation || m.role === 'proxy' || v.labels[LABELS.retain] === 'true') continue;
    if (!kindByName(m.owner.kind)) continue; // the installation's own (not an object's)
    if (await ownerExists(m)) continue;
    try {
      await o.docker.removeVolume(v.name);
    } catch (err) {
      o.log?.(`could not remove orphaned volume ${v.name} (in use?); trying again next sweep`, err);
      continue;
    }
    counts.volumesRemoved++;
    event(m, 'VolumeRemoved', `removed volume ${v.name}: its ${m.owner.kind} ${m.owner.namespace}/${m.owner.name} no longer exists`);
  }
  counts.lastSweepAt = new Date(o.now).toISOString();
  return counts;
}
