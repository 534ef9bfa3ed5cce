// Names and labels of everything deployer creates in Docker, in one place.
//
// Every container, volume and network deployer creates carries `deployer.dev/managed=true`,
// the installation it belongs to (one per database, so two deployers — or two test runs —
// sharing a Docker engine never touch each other's things), its owner's kind, namespace,
// name and uid, its role, and the hash of the spec it was made from. `ownerOf` returns
// undefined for anything without the full set: such objects are never touched.
import { createHash } from 'node:crypto';

export const LABELS = {
  managed: 'deployer.dev/managed',
  installation: 'deployer.dev/installation',
  ownerKind: 'deployer.dev/owner-kind',
  ownerNamespace: 'deployer.dev/owner-namespace',
  ownerName: 'deployer.dev/owner-name',
  ownerUid: 'deployer.dev/owner-uid',
  role: 'deployer.dev/role',
  specHash: 'deployer.dev/spec-hash',
  /** On volumes: "true" when the owner asked to keep the volume after its deletion. */
  retain: 'deployer.dev/retain',
} as const;

/** What a Docker object is for: a ProjectServer's container, a short helper run, the proxy. */
export type Role = 'server' | 'helper' | 'proxy' | 'data';

export interface Owner {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface Managed {
  installation: string;
  owner: Owner;
  role: Role;
  specHash?: string;
}

export function managedLabels(installation: string, owner: Owner, role: Role, specHash?: string): Record<string, string> {
  return {
    [LABELS.managed]: 'true',
    [LABELS.installation]: installation,
    [LABELS.ownerKind]: owner.kind,
    [LABELS.ownerNamespace]: owner.namespace,
    [LABELS.ownerName]: owner.name,
    [LABELS.ownerUid]: owner.uid,
    [LABELS.role]: role,
    ...(specHash ? { [LABELS.specHash]: specHash } : {}),
  };
}

/** The deployer identity in a Docker object's labels, or undefined when it is not (fully) ours. */
export function managedOf(labels: Record<string, string> | null | undefined): Managed | undefined {
  if (!labels || labels[LABELS.managed] !== 'true') return undefined;
  const installation = labels[LABELS.installation];
  const kind = labels[LABELS.ownerKind];
  const namespace = labels[LABELS.ownerNamespace];
  const name = labels[LABELS.ownerName];
  const uid = labels[LABELS.ownerUid];
  const role = labels[LABELS.role] as Role | undefined;
  if (!installation || !kind || !namespace || !name || !uid || !role) return undefined;
  return { installation, owner: { kind, namespace, name, uid }, role, specHash: labels[LABELS.specHash] };
}

/** Label filters (`key=value`) selecting one installation's objects, optionally of one role. */
export function installationFilter(installation: string, role?: Role): string[] {
  return [`${LABELS.managed}=true`, `${LABELS.installation}=${installation}`, ...(role ? [`${LABELS.role}=${role}`] : [])];
}

/**
 * Docker names: `dp-<installation[0..6]>-<namespace>_<name>` for a server's container and
 * `…-data` for its volume. Namespace and name are DNS labels, so the name is always valid
 * for Docker, and the `_` (which a DNS label cannot hold) keeps `a-b`/`c` and `a`/`b-c`
 * apart: two tenants can never be given one container or one volume. The installation
 * prefix keeps two installations on one engine apart.
 */
export function containerName(installation: string, owner: Pick<Owner, 'namespace' | 'name'>): string {
  return `dp-${installation.slice(0, 6)}-${owner.namespace}_${owner.name}`;
}

export function volumeName(installation: string, owner: Pick<Owner, 'namespace' | 'name'>): string {
  return `${containerName(installation, owner)}-data`;
}

/** A stable hash of a JSON value (object keys sorted): 16 hex characters. */
export function specHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/** The owner deployer records on what belongs to the installation itself (the proxy, the network). */
export function installationOwner(installation: string, name: string): Owner {
  return { kind: 'Installation', namespace: 'deployer', name, uid: installation };
}

/** The Docker network the proxy and every server container share (upstreams by container name). */
export function networkName(installation: string): string {
  return `dp-${installation.slice(0, 6)}-net`;
}

export function proxyContainerName(installation: string): string {
  return `dp-${installation.slice(0, 6)}-proxy`;
}
