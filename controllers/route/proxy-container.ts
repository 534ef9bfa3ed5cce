// The proxy's container: made by deployer from the proxy image, restart policy unless-stopped
// (so it outlives deployer), on the network the servers share, its HTTP port published on the
// host and its admin API only on the host's loopback. Recreated when its spec hash changes,
// started when it is not running; adopted as it is otherwise (a restart of deployer never
// touches it). It carries every tenant's traffic, so it is bounded like a server container
// (DEFAULT_LIMITS: memory, CPU, processes) — one tenant's flood cannot take the host's memory —
// and, like every container deployer makes, runs with no-new-privileges (docker/mapping.ts).
import {
  installationOwner,
  managedLabels,
  managedOf,
  networkName,
  proxyContainerName,
  specHash,
  type ContainerRuntime,
  type ContainerSpec,
} from '../../docker/index.js';
import type { ProxySettings } from '../deps.js';
import { DEFAULT_LIMITS, parseMemory } from '../projectserver/container-spec.js';

/** Inside the container (images/caddy.ts uses the same). */
export const PROXY_PORTS = { http: 80, https: 443, admin: 2019 };

export interface ProxyEndpoint {
  adminUrl: string;
  /** The host ports the proxy's HTTP and HTTPS servers are published on. */
  httpPort: number;
  httpsPort: number;
  /** What ensureProxy had to do, for Events. */
  action?: 'created' | 'recreated' | 'started';
}

export async function ensureProxy(docker: ContainerRuntime, installation: string, settings: ProxySettings): Promise<ProxyEndpoint> {
  const owner = installationOwner(installation, 'proxy');
  const network = networkName(installation);
  await docker.ensureNetwork(network, managedLabels(installation, installationOwner(installation, 'network'), 'proxy'));
  const volume = `${proxyContainerName(installation)}-data`;
  await docker.ensureVolume(volume, managedLabels(installation, owner, 'proxy'));
  const body: Omit<ContainerSpec, 'name' | 'labels'> = {
    image: settings.image,
    restartPolicy: { name: 'unless-stopped' },
    mounts: [{ volume, target: '/data' }],
    networks: [network],
    publishedPorts: [
      { container: PROXY_PORTS.http, host: settings.httpPort },
      { container: PROXY_PORTS.https, host: settings.httpsPort },
      { container: PROXY_PORTS.admin, host: settings.adminPort, hostIp: '127.0.0.1' },
    ],
    init: true,
    memoryBytes: parseMemory(DEFAULT_LIMITS.memory),
    nanoCpus: Math.round(DEFAULT_LIMITS.cpus * 1e9),
    pidsLimit: DEFAULT_LIMITS.pids,
    // no `host`: no host access, so no-new-privileges is set
  };
  const hash = specHash(body);
  const name = proxyContainerName(installation);
  let state = await docker.inspect(name);
  let action: ProxyEndpoint['action'];
  if (state) {
    const m = managedOf(state.labels);
    if (!m || m.installation !== installation) throw new Error(`a container named "${name}" exists that deployer does not manage; remove or rename it`);
    if (m.specHash !== hash) {
      await docker.remove(state.id);
      state = null;
      action = 'recreated';
    }
  }
  if (!state) {
    const id = await docker.create({ ...body, name, labels: managedLabels(installation, owner, 'proxy', hash) });
    await docker.start(id);
    action ??= 'created';
    state = await docker.inspect(id);
  } else if (!state.running && !state.restarting) {
    await docker.start(state.id);
    action = 'started';
    state = await docker.inspect(state.id);
  }
  const port = (p: number) => state?.ports.find((x) => x.container === p && (x.hostIp === '0.0.0.0' || x.hostIp === '127.0.0.1' || x.hostIp === ''))?.hostPort;
  const admin = port(PROXY_PORTS.admin);
  if (!state?.running || admin === undefined) throw new Error(`the proxy container ${name} is not running (yet); Docker restarts it`);
  return { adminUrl: `http://127.0.0.1:${admin}`, httpPort: port(PROXY_PORTS.http) ?? settings.httpPort, httpsPort: port(PROXY_PORTS.https) ?? settings.httpsPort, action };
}
