// Our container types to Docker's API objects and back. Pure.
import type Dockerode from 'dockerode';
import type { ContainerSpec, ContainerState, HelperRun, HostAccessSpec } from './types.js';

/**
 * What every helper container (builds, file operations) gets unless its caller says
 * otherwise: enough for a `npm run build`, not enough to take the host down.
 */
export const HELPER_LIMITS = { memoryBytes: 2 * 1024 ** 3, nanoCpus: 1e9, pidsLimit: 1024 };

/**
 * The host-facing part of HostConfig every container deployer makes gets: no privilege
 * escalation through setuid binaries (unless an admin asked for privileged mode, which grants
 * everything anyway), Docker's default capabilities plus what an admin added, and nothing of
 * the host unless an admin asked for it.
 */
export function hostConfigOf(host: HostAccessSpec | undefined): Dockerode.HostConfig {
  return {
    Privileged: host?.privileged === true,
    SecurityOpt: host?.privileged ? [] : ['no-new-privileges:true'],
    ...(host?.capAdd?.length ? { CapAdd: host.capAdd } : {}),
    ...(host?.pid ? { PidMode: 'host' } : {}),
    ...(host?.devices?.length
      ? { Devices: host.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions })) }
      : {}),
  };
}

/** Docker's health check durations are nanoseconds. */
const NANOS_PER_MS = 1_000_000;

/** The body of POST /containers/create. Only the first network is attached here; the others are connected after. */
export function createOptions(spec: ContainerSpec): Dockerode.ContainerCreateOptions {
  const primary = spec.networks?.[0];
  const hc = spec.healthCheck;
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.cmd,
    Entrypoint: spec.entrypoint,
    Env: envList(spec.env),
    Labels: spec.labels,
    ExposedPorts:
      spec.exposedPorts || spec.publishedPorts
        ? Object.fromEntries([...(spec.exposedPorts ?? []), ...(spec.publishedPorts ?? []).map((p) => p.container)].map((p) => [`${p}/tcp`, {}]))
        : undefined,
    Healthcheck: hc
      ? {
          Test: ['CMD', ...hc.test],
          Interval: hc.intervalMs * NANOS_PER_MS,
          Timeout: hc.timeoutMs * NANOS_PER_MS,
          Retries: hc.retries,
          StartPeriod: hc.startPeriodMs * NANOS_PER_MS,
        }
      : undefined,
    HostConfig: {
      ...hostConfigOf(spec.host),
      Init: spec.init ?? true,
      // Docker rejects MaximumRetryCount with any policy but on-failure.
      RestartPolicy:
        spec.restartPolicy.name === 'on-failure'
          ? { Name: 'on-failure', MaximumRetryCount: spec.restartPolicy.maximumRetryCount ?? 0 }
          : { Name: spec.restartPolicy.name },
      Memory: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      PidsLimit: spec.pidsLimit,
      Mounts: [...(mountsOf(spec.mounts) ?? []), ...bindsOf(spec.host?.binds)],
      NetworkMode: spec.host?.network ? 'host' : primary,
      PortBindings: spec.publishedPorts
        ? Object.fromEntries(
            spec.publishedPorts.map((p) => [`${p.container}/tcp`, [{ HostIp: p.hostIp ?? '', HostPort: p.host ? String(p.host) : '' }]]),
          )
        : undefined,
    },
    NetworkingConfig: primary ? { EndpointsConfig: { [primary]: {} } } : undefined,
  };
}

export function envList(env: Record<string, string> | undefined): string[] | undefined {
  return env ? Object.entries(env).map(([k, v]) => `${k}=${v}`) : undefined;
}

export function mountsOf(mounts: { volume: string; target: string; readOnly?: boolean }[] | undefined): Dockerode.MountSettings[] | undefined {
  return mounts?.map((m) => ({ Type: 'volume', Source: m.volume, Target: m.target, ReadOnly: m.readOnly ?? false }));
}

function bindsOf(binds: HostAccessSpec['binds']): Dockerode.MountSettings[] {
  return (binds ?? []).map((b) => ({ Type: 'bind', Source: b.hostPath, Target: b.target, ReadOnly: b.readOnly }));
}

/** The body of POST /containers/create for a helper container, limits defaulted. */
export function helperCreateOptions(helper: HelperRun, labels: Record<string, string>): Dockerode.ContainerCreateOptions {
  return {
    Image: helper.image,
    Cmd: helper.argv,
    Entrypoint: helper.entrypoint,
    Env: envList(helper.env),
    Labels: labels,
    WorkingDir: helper.workingDir,
    HostConfig: {
      ...hostConfigOf(undefined),
      Init: true,
      AutoRemove: false,
      Mounts: mountsOf(helper.mounts),
      Memory: helper.memoryBytes ?? HELPER_LIMITS.memoryBytes,
      NanoCpus: helper.nanoCpus ?? HELPER_LIMITS.nanoCpus,
      PidsLimit: helper.pidsLimit ?? HELPER_LIMITS.pidsLimit,
    },
  };
}

/** Docker's zero time ("0001-01-01T00:00:00Z": never started/finished) as undefined. */
function time(t: string | undefined): string | undefined {
  return !t || t.startsWith('0001-01-01') ? undefined : t;
}

/** A container inspect as ContainerState; health only when the container has a health check. */
export function stateOf(info: Dockerode.ContainerInspectInfo): ContainerState {
  const s = info.State;
  const health = s.Health as { Status?: string; FailingStreak?: number; Log?: { Output?: string }[] } | undefined;
  const healthStatus = health?.Status;
  const log = health?.Log ?? [];
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    image: info.Config.Image,
    labels: info.Config.Labels ?? {},
    status: s.Status,
    running: s.Running,
    restarting: s.Restarting,
    exitCode: s.ExitCode,
    oomKilled: s.OOMKilled,
    startedAt: time(s.StartedAt),
    finishedAt: time(s.FinishedAt),
    createdAt: info.Created,
    restartCount: info.RestartCount,
    ports: portsOf(info),
    networks: Object.keys(info.NetworkSettings?.Networks ?? {}),
    addresses: addressesOf(info),
    health:
      healthStatus === 'starting' || healthStatus === 'healthy' || healthStatus === 'unhealthy'
        ? { status: healthStatus, failingStreak: health?.FailingStreak ?? 0, lastOutput: log[log.length - 1]?.Output }
        : undefined,
  };
}

/** Published ports (while running): container port → the host address Docker bound. */
function portsOf(info: Dockerode.ContainerInspectInfo): { container: number; hostIp: string; hostPort: number }[] {
  const out: { container: number; hostIp: string; hostPort: number }[] = [];
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {}))
    for (const b of (bindings as { HostIp: string; HostPort: string }[] | null) ?? [])
      out.push({ container: Number(key.split('/')[0]), hostIp: b.HostIp, hostPort: Number(b.HostPort) });
  return out;
}

/** Network → IPv4 address; Docker reports "" on networks where the container has none (stopped). */
function addressesOf(info: Dockerode.ContainerInspectInfo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) if (n?.IPAddress) out[name] = n.IPAddress;
  return out;
}
