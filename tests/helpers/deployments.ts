// Deployments in integration and end-to-end tests: create a static site with a Route, deploy
// into it, wait for a phase, read the proxy's port and what a service dir holds.
import { containerName, installationFilter, proxyContainerName, type DockerRuntime } from '../../docker/index.js';
import { staticImage } from '../../images/index.js';
import { kindByName, type ResourceObject } from '../../resources/index.js';
import type { Store } from '../../store/index.js';
import { getWithHost } from './installation.js';

export const DEPLOYMENT = kindByName('Deployment')!;
export const ROUTE = kindByName('Route')!;
export const SERVER = kindByName('ProjectServer')!;
export const st = (o: ResourceObject | null | undefined) => ((o?.status ?? {}) as Record<string, any>);

type Until = <T>(fn: () => Promise<T | undefined | null | false>, what: string, ms?: number) => Promise<T>;

export interface DeployEnv {
  store: Store;
  docker: DockerRuntime;
  installation: string;
  until: Until;
}

export async function getOrNull(store: Store, kind: typeof DEPLOYMENT, ns: string, name: string): Promise<ResourceObject | null> {
  try {
    return await store.resources.get(kind, ns, name);
  } catch (err) {
    if ((err as { code?: number }).code === 404) return null;
    throw err;
  }
}

/** A static server and a Route `<name>.test` to it; resolves when the server runs. */
export async function staticSite(e: DeployEnv, ns: string, name: string, spec: Record<string, unknown> = {}): Promise<void> {
  await e.store.resources.create(SERVER, ns, { metadata: { name }, spec: { serviceType: 'static', ...spec } });
  await e.store.resources.create(ROUTE, ns, { metadata: { name }, spec: { host: `${name}.test`, projectServer: name } });
  await e.until(async () => (await e.docker.inspect(containerName(e.installation, { namespace: ns, name })))?.running, `server ${name} running`, 30_000);
}

export async function deploy(e: DeployEnv, ns: string, name: string, server: string, source: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  await e.store.resources.create(DEPLOYMENT, ns, { metadata: { name }, spec: { projectServer: server, source, ...extra } });
}

/** Waits until the Deployment reaches a terminal phase; returns it. */
export async function settled(e: DeployEnv, ns: string, name: string, ms = 60_000): Promise<ResourceObject> {
  return e.until(async () => {
    const d = await getOrNull(e.store, DEPLOYMENT, ns, name);
    return d && ['active', 'failed', 'superseded'].includes(st(d).phase) ? d : undefined;
  }, `Deployment ${name} to settle`, ms);
}

export async function proxyPort(e: DeployEnv): Promise<number> {
  const s = await e.until(async () => {
    const x = await e.docker.inspect(proxyContainerName(e.installation));
    return x?.running && x.ports.some((p) => p.container === 80) ? x : undefined;
  }, 'the proxy');
  return s.ports.find((p) => p.container === 80)!.hostPort;
}

/** What `/srv/static/<service>` holds: `current`'s target and the entries. */
export async function serviceDir(e: DeployEnv, ns: string, server: string, service = 'site'): Promise<{ current: string; entries: string[] }> {
  const c = await e.docker.inspect(containerName(e.installation, { namespace: ns, name: server }));
  const r = await e.docker.exec(c!.id, ['sh', '-c', 'cd "/srv/static/$1" 2>/dev/null || exit 0; readlink current; echo ---; ls -A', 'sh', service]);
  const [cur, rest] = r.stdout.split('---\n');
  return { current: (cur ?? '').trim(), entries: (rest ?? '').split('\n').filter(Boolean) };
}

export const site = (port: number, host: string, path = '/') => getWithHost(port, host, path);

/**
 * The `deployment-*` dirs of `/srv/static/<service>` with the first line of each one's
 * `.deployer-release` marker ('' when it has none), for "exactly one dir holds this release".
 */
export async function releaseMarkers(e: DeployEnv, ns: string, server: string, service = 'site'): Promise<Map<string, string>> {
  const c = await e.docker.inspect(containerName(e.installation, { namespace: ns, name: server }));
  const script = 'cd "/srv/static/$1" 2>/dev/null || exit 0; for d in deployment-*; do [ -d "$d" ] || continue; printf "%s %s\\n" "$d" "$(head -n 1 "$d/.deployer-release" 2>/dev/null)"; done';
  const r = await e.docker.exec(c!.id, ['sh', '-c', script, 'sh', service]);
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const at = line.indexOf(' ');
    out.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return out;
}

/** Names of the helper containers (role=helper) of the installation, running or not. */
export async function helperContainers(e: DeployEnv): Promise<string[]> {
  return (await e.docker.listContainers(installationFilter(e.installation, 'helper'))).map((c) => c.name || c.id);
}

/** An image FROM scratch (deployer-test/app) whose httpd on :8080 serves `text` at `/`, or whose command fails. */
export async function appImage(docker: DockerRuntime, text: string, fail = false, files: Record<string, string> = {}): Promise<string> {
  const base = staticImage();
  return docker.ensureImage({
    ...base,
    repository: 'deployer-test/app',
    files: { ...base.files, '/www/index.html': { content: text }, ...Object.fromEntries(Object.entries(files).map(([p, content]) => [`/www/${p}`, { content }])) },
    cmd: fail ? ['sh', '-c', 'echo "cannot start: no config" >&2; exit 3'] : ['httpd', '-f', '-p', '8080', '-h', '/www'],
  });
}
