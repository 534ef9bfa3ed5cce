// What a ProjectServer's container should be: a pure function of the object and the
// installation's settings. The spec hash (a label on the container) is the hash of this
// result, so any change that matters to Docker recreates the container and nothing else does
// (`spec.stopped` and `revisionHistoryLimit` are not in it).
import { containerName, LABELS, managedLabels, specHash, volumeName, type ContainerSpec, type HostAccessSpec } from '../../docker/index.js';
import type { ProjectServer, SecurityContext } from '../../schemas/index.js';
import type { ProbeSpec } from './prober.js';

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

/**
 * The static server's caddy config (`%s`: the port, filled in by the container's printf). Not
 * `caddy file-server`: that command closes a connection idle for 30 s — exactly the default
 * probe interval, so every probe paid for a new connection (and its close) instead of reusing
 * one (BENCHMARKS.md, "Idle CPU at full size"). Caddy's own default, 5 minutes, is kept here
 * explicitly; no admin endpoint, nothing saved.
 */
export const STATIC_SERVER_CONFIG = JSON.stringify({
  admin: { disabled: true, config: { persist: false } },
  apps: { http: { servers: { static: { listen: [':%s'], idle_timeout: '5m', routes: [{ handle: [{ handler: 'file_server', root: STATIC_ROOT }] }] } } } },
});

/**
 * How often a static server's default check (deployer's own Caddy file server, checked when the
 * spec names no check) is probed: Docker's default interval. A dead server is seen at once by
 * Docker's events; the check is for one that hangs, and every probe costs the deployer process
 * CPU (BENCHMARKS.md, "Idle CPU at full size": 200 static servers every 10 s were most of an
 * idle deployer's CPU). A check the spec names keeps DEFAULTS.intervalSeconds.
 */
export const STATIC_DEFAULT_INTERVAL_SECONDS = 30;

export const DEFAULTS = {
  staticPort: 80,
  intervalSeconds: 10,
  timeoutSeconds: 5,
  retries: 3,
  startPeriodSeconds: 0,
};

/**
 * Limits every server container gets unless its spec says otherwise (spec.resources): a
 * runaway process, a fork bomb or a leak stops at its own container.
 */
export const DEFAULT_LIMITS = { memory: '1Gi', cpus: 1, pids: 512 };

/** The spec's securityContext as Docker's terms; undefined when it asks for nothing. */
export function hostAccessOf(sc: SecurityContext | undefined): HostAccessSpec | undefined {
  if (!sc) return undefined;
  const host: HostAccessSpec = {
    ...(sc.privileged ? { privileged: true } : {}),
    ...(sc.hostNetwork ? { network: true } : {}),
    ...(sc.hostPID ? { pid: true } : {}),
    ...(sc.capAdd?.length ? { capAdd: sc.capAdd.map((c) => c.replace(/^CAP_/, '')) } : {}),
    ...(sc.devices?.length
      ? { devices: sc.devices.map((d) => ({ hostPath: d.hostPath, containerPath: d.containerPath ?? d.hostPath, permissions: d.permissions ?? 'rwm' })) }
      : {}),
    ...(sc.hostPaths?.length ? { binds: sc.hostPaths.map((b) => ({ hostPath: b.hostPath, target: b.containerPath, readOnly: b.readOnly === true })) } : {}),
  };
  return Object.keys(host).length ? host : undefined;
}

export interface DesiredContainer {
  spec: ContainerSpec;
  hash: string;
  /**
   * The httpGet health check, which deployer makes itself over HTTP (prober.ts) instead of
   * Docker; not part of the hash, so changing it recreates nothing.
   */
  probe?: ProbeSpec;
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
    cmd = ['sh', '-c', `echo ok > ${STATIC_ROOT}/${HEALTH_FILE} && printf '${STATIC_SERVER_CONFIG}' "$PORT" > /tmp/caddy.json && exec caddy run --config /tmp/caddy.json`];

  const hc = spec.healthCheck ?? (isStatic ? { httpGet: { path: `/${HEALTH_FILE}` }, intervalSeconds: STATIC_DEFAULT_INTERVAL_SECONDS } : undefined);
  let healthCheck: ContainerSpec['healthCheck'];
  let probe: ProbeSpec | undefined;
  if (hc?.httpGet) {
    // deployer probes it over HTTP (prober.ts): no Docker health check (and no wget needed in the
    // image), so not in the hash either
    probe = {
      path: hc.httpGet.path,
      port: hc.httpGet.port ?? port ?? 80,
      intervalMs: (hc.intervalSeconds ?? DEFAULTS.intervalSeconds) * 1000,
      timeoutMs: (hc.timeoutSeconds ?? DEFAULTS.timeoutSeconds) * 1000,
      retries: hc.retries ?? DEFAULTS.retries,
      startPeriodMs: (hc.startPeriodSeconds ?? DEFAULTS.startPeriodSeconds) * 1000,
    };
  } else if (hc) {
    const timeoutS = hc.timeoutSeconds ?? DEFAULTS.timeoutSeconds;
    healthCheck = {
      test: hc.exec!.command,
      intervalMs: (hc.intervalSeconds ?? DEFAULTS.intervalSeconds) * 1000,
      timeoutMs: timeoutS * 1000,
      retries: hc.retries ?? DEFAULTS.retries,
      startPeriodMs: (hc.startPeriodSeconds ?? DEFAULTS.startPeriodSeconds) * 1000,
    };
  }

  const rp = spec.restartPolicy ?? { name: 'unless-stopped' as const };
  const host = hostAccessOf(spec.securityContext);
  const body: Omit<ContainerSpec, 'labels' | 'name'> = {
    image: spec.image ?? settings.staticImage,
    ...(cmd ? { cmd } : {}),
    env,
    mounts: [{ volume, target: isStatic ? STATIC_ROOT : DATA_ROOT }],
    ...(healthCheck ? { healthCheck } : {}),
    restartPolicy: rp.name === 'on-failure' ? { name: 'on-failure', maximumRetryCount: rp.maximumRetryCount ?? 0 } : { name: rp.name },
    memoryBytes: parseMemory(spec.resources?.memory ?? DEFAULT_LIMITS.memory),
    nanoCpus: Math.round((spec.resources?.cpus ?? DEFAULT_LIMITS.cpus) * 1e9),
    pidsLimit: spec.resources?.pids ?? DEFAULT_LIMITS.pids,
    ...(port !== undefined ? { exposedPorts: [port] } : {}),
    // the host's network excludes every other: Docker refuses both
    ...(settings.network && !host?.network ? { networks: [settings.network] } : {}),
    ...(host ? { host } : {}),
    init: true,
  };
  const hash = specHash(body);
  return {
    spec: { ...body, name: slotName(containerName(settings.installation, owner), release?.slot ?? 'a'), labels: managedLabels(settings.installation, owner, 'server', hash) },
    hash,
    ...(probe ? { probe } : {}),
    volume,
    volumeLabels: { ...managedLabels(settings.installation, owner, 'data'), [LABELS.retain]: String(spec.retainVolumeOnDelete === true) },
  };
}
