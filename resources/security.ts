// Host access: what a ProjectServer's `spec.securityContext` asks of the host (privileged
// mode, the host's network or PID namespace, added capabilities, devices, bind mounts of host
// paths). Only an admin token may grant it. Pure; rules.ts applies it to the object a write
// would store (not to the request body), so a patch or an apply cannot slip one in.
//
// The rule for writes by other tokens: they may keep what an admin granted, unchanged, and may
// remove or narrow it (a bind mount made read-only, fewer device permissions); anything new or
// wider is refused with 403 naming each field. So an editor can still change the image or env
// of a server an admin made privileged, and `kubectl apply` of the unchanged manifest works.
import type { StatusCause } from '../schemas/index.js';
import { ApiError, type ObjectRef } from './errors.js';

/** One thing a spec asks of the host. */
export interface HostAccess {
  /** The field that asks, e.g. `spec.securityContext.capAdd[0]`. */
  field: string;
  /** What it is, for people: "privileged mode", "capability NET_ADMIN". */
  what: string;
  /** Identity across writes (the same grant in another list position is the same grant). */
  key: string;
  /** What it allows (a bind mount: r, w; a device: r, w, m); a grant covers another of its key with no more rights. */
  rights: string[];
}

interface SecurityContextLike {
  privileged?: unknown;
  hostNetwork?: unknown;
  hostPID?: unknown;
  capAdd?: unknown;
  devices?: unknown;
  hostPaths?: unknown;
}

const ALL = ['all'];
const capName = (c: string) => c.toUpperCase().replace(/^CAP_/, '');
const perms = (p: unknown) => [...new Set(typeof p === 'string' && p !== '' ? p.split('') : ['r', 'w', 'm'])];

/** Everything `spec` asks of the host, in field order. A spec without securityContext asks nothing. */
export function hostAccessOf(spec: { securityContext?: unknown } | undefined | null): HostAccess[] {
  const sc = spec?.securityContext as SecurityContextLike | undefined;
  if (!sc || typeof sc !== 'object') return [];
  const out: HostAccess[] = [];
  const base = 'spec.securityContext';
  if (sc.privileged === true) out.push({ field: `${base}.privileged`, what: 'privileged mode', key: 'privileged', rights: ALL });
  if (sc.hostNetwork === true) out.push({ field: `${base}.hostNetwork`, what: "the host's network", key: 'hostNetwork', rights: ALL });
  if (sc.hostPID === true) out.push({ field: `${base}.hostPID`, what: "the host's PID namespace", key: 'hostPID', rights: ALL });
  if (Array.isArray(sc.capAdd))
    sc.capAdd.forEach((c, i) => {
      if (typeof c === 'string') out.push({ field: `${base}.capAdd[${i}]`, what: `capability ${capName(c)}`, key: `cap:${capName(c)}`, rights: ALL });
    });
  if (Array.isArray(sc.devices))
    sc.devices.forEach((d: { hostPath?: unknown; containerPath?: unknown; permissions?: unknown }, i) => {
      if (!d || typeof d.hostPath !== 'string') return;
      out.push({
        field: `${base}.devices[${i}]`,
        what: `device ${d.hostPath}`,
        key: `device:${d.hostPath}:${typeof d.containerPath === 'string' ? d.containerPath : d.hostPath}`,
        rights: perms(d.permissions),
      });
    });
  if (Array.isArray(sc.hostPaths))
    sc.hostPaths.forEach((m: { hostPath?: unknown; containerPath?: unknown; readOnly?: unknown }, i) => {
      if (!m || typeof m.hostPath !== 'string') return;
      const readOnly = m.readOnly === true;
      out.push({
        field: `${base}.hostPaths[${i}]`,
        what: `a ${readOnly ? 'read-only' : 'writable'} bind mount of host path ${m.hostPath}`,
        key: `bind:${m.hostPath}:${String(m.containerPath)}`,
        rights: readOnly ? ['r'] : ['r', 'w'],
      });
    });
  return out;
}

/** What `after` asks of the host that `before` did not grant (new, or wider than before). */
export function newHostAccess(before: { securityContext?: unknown } | undefined | null, after: { securityContext?: unknown } | undefined | null): HostAccess[] {
  const had = new Map(hostAccessOf(before).map((a) => [a.key, a]));
  return hostAccessOf(after).filter((a) => {
    const earlier = had.get(a.key);
    return !earlier || !a.rights.every((r) => earlier.rights.includes(r));
  });
}

/**
 * Throws 403 Forbidden, naming every field, when a writer that may not grant host access
 * (any token but an admin one) would store a spec asking for more than `before` had.
 */
export function checkHostAccess(ref: ObjectRef, before: { securityContext?: unknown } | undefined | null, after: { securityContext?: unknown } | undefined | null): void {
  const added = newHostAccess(before, after);
  if (added.length === 0) return;
  const causes: StatusCause[] = added.map((a) => ({
    field: a.field,
    reason: 'FieldValueForbidden',
    message: `${a.field}: only an admin token may ask for ${a.what}`,
  }));
  throw new ApiError(
    403,
    'Forbidden',
    `${ref.kind} "${ref.name}" is forbidden: ${causes.map((c) => c.message).join('; ')}${before ? ' (a write by another token may keep what an admin granted, but not add to it)' : ''}`,
    { group: 'deployer.dev', kind: ref.kind, name: ref.name, causes },
  );
}
