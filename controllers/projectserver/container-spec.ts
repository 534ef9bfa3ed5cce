// What a ProjectServer's container should be: a pure function of the object and the
// installation's settings. The spec hash (a label on the container) is the hash of this
// result, so any change that matters to Docker recreates the container and nothing else does
// (`spec.stopped` and `revisionHistoryLimit` are not in it).
import { containerName, LABELS, managedLabels, specHash, volumeName, type ContainerSpec } from '../../docker/index.js';
import type { ProjectServer } from '../../schemas/index.js';

export interface ServerSettings {
  /** Labels every Docker object with it (one installation per database). */
  installation: string;
  /** The image a static server runs unless its spec names one (a local deployer/static tag). */
  staticImage: string;
  /** The Docker network shared with the proxy (upstreams by container name). */
  network?: string;
}

/** Where a static server's volume is mounted and what it serves. */
export const STATIC_ROOT = '/srv/static';
/** Where a docker server's volume is mounted. */
export const DATA_ROOT = '/data';
/** The file a static server's default health check fetches; written at every start. */
export const HEALTH_FILE = '.deployer-health';

export const DEFAULTS = {
  staticPort: 80,
  intervalSeconds: 10,
  timeoutSeconds: 5,
  retries: 3,
  startPeriodSeconds: 0,
};

export interface DesiredContainer {
  spec: ContainerSpec;
  hash: string;
  volume: string;
  volumeLabels: Record<string, string>;
}

/** "512Mi", "1G", "1.5g", "1048576" → bytes. */
export function parseMemory(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kKmMgG]i?)?$/.exec(s);
  if (!m) throw new Error(`bad memory quantity "${s}"`);
  const unit = (m[2] ?? '').toLowerCase();
  const base = unit.endsWith('i') ? 1024 : 1000;
  const pow = { '': 0, k: 1, m: 2, g: 3 }[unit.replace('i', '') as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * base ** pow);
}

/**
 * A docker server's release (blue/green): the image a Deployment put live and the slot its
 * container runs in. Slot "a" is the server's own name, slot "b" that name with `_b`; a new
 * release starts in the slot the live one does not use.
 */
export interface Release {
  image: string;
  slot: 'a' | 'b';
}

export const slotName = (base: string, slot: 'a' | 'b') => (slot === 'a' ? base : `${base}_b`);

/** The release live on a docker server, from its status (written by the deployment controller). */
export function liveRelease(ps: ProjectServer): Release | undefined {
  const live = ps.status?.services?.site;
  return ps.spec.serviceType === 'docker' && live?.image ? { image: live.image, slot: live.slot ?? 'a' } : undefined;
}

export function desiredContainer(ps: ProjectServer, settings: ServerSettings, release: Release | undefined = liveRelease(ps)): DesiredContainer {
  const spec = release ? { ...ps.spec, image: release.image } : ps.spec;
  const owner = { kind: 'ProjectServer', namespace: ps.metadata.namespace!, name: ps.metadata.name!, uid: ps.metadata.uid! };
  const isStatic = spec.serviceType === 'static';
  const port = spec.port ?? (isStatic ? DEFAULTS.staticPort : undefined);
  const volume = volumeName(settings.installation, owner);
  const env: Record<string, string> = {};
  if (port !== undefined) env.PORT = String(port);
  for (const e of spec.env ?? []) env[e.name] = e.value;

  let cmd = spec.command;
  if (isStatic && !cmd && spec.image === undefined)
    // A fixed script (no user data in it; the port comes from $PORT): write the health file,
    // then serve the volume in the foreground with caddy's file server (images/static.ts says
    // why not busybox httpd). A restart rewrites a health file that went.
    cmd = ['sh', '-c', `echo ok > ${STATIC_ROOT}/${HEALTH_FILE} && exec caddy file-server --root ${STATIC_ROOT} --listen ":$PORT"`];

  const hc = spec.healthCheck ?? (isStatic ? { httpGet: { path: `/${HEALTH_FILE}` } } : undefined);
  let healthCheck: ContainerSpec['healthCheck'];
  if (hc) {
    const timeoutS = hc.timeoutSeconds ?? DEFAULTS.timeoutSeconds;
    const test = hc.exec
      ? hc.exec.command
      : // no -T: Debian's static busybox 1.35 wget segfaults with it; Docker's timeout applies
        ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${hc.httpGet!.port ?? port ?? 80}${hc.httpGet!.path}`];
    healthCheck = {
      test,
      intervalMs: (hc.intervalSeconds ?? DEFAULTS.intervalSeconds) * 1000,
      timeoutMs: timeoutS * 1000,
      retries: hc.retries ?? DEFAULTS.retries,
      startPeriodMs: (hc.startPeriodSeconds ?? DEFAULTS.startPeriodSeconds) * 1000,
    };
  }

  const rp = spec.restartPolicy ?? { name: 'unless-stopped' as const };
  const body: Omit<ContainerSpec, 'labels' | 'name'> = {
    image: spec.image ?? settings.staticImage,
    ...(cmd ? { cmd } : {}),
    env,
    mounts: [{ volume, target: isStatic ? STATIC_ROOT : DATA_ROOT }],
    ...(healthCheck ? { healthCheck } : {}),
    restartPolicy: rp.name === 'on-failure' ? { name: 'on-failure', maximumRetryCount: rp.maximumRetryCount ?? 0 } : { name: rp.name },
    ...(spec.resources?.memory ? { memoryBytes: parseMemory(spec.resources.memory) } : {}),
    ...(spec.resources?.cpus ? { nanoCpus: Math.round(spec.resources.cpus * 1e9) } : {}),
    ...(port !== undefined ? { exposedPorts: [port] } : {}),
    ...(settings.network ? { networks: [settings.network] } : {}),
    init: true,
  };
  const hash = specHash(body);
  return {
    spec: { ...body, name: slotName(containerName(settings.installation, owner), release?.slot ?? 'a'), labels: managedLabels(settings.installation, owner, 'server', hash) },
    hash,
    volume,
    volumeLabels: { ...managedLabels(settings.installation, owner, 'data'), [LABELS.retain]: String(spec.retainVolumeOnDelete === true) },
  };
}
