// deployer/caddy: the reverse proxy's image, FROM scratch with the host's caddy binary and
// the shared libraries it links (found with ldd), since no image registry may be reachable.
// It starts from /etc/caddy/base.json — the admin API on :2019 inside the container (published
// on the host's loopback only) and an empty HTTP server "deployer" — unless Caddy's autosave
// of the last applied config exists (`--resume`), so a restarted proxy serves at once.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ImageDefinition } from '../docker/index.js';

const DEFAULT_CADDY = '/usr/bin/caddy';
/** The admin API's port inside the container. */
export const CADDY_ADMIN_PORT = 2019;
/** The HTTP server's name in Caddy's config and its port inside the container. */
export const CADDY_SERVER = 'deployer';
export const CADDY_HTTP_PORT = 80;
export const CADDY_HTTPS_PORT = 443;

/** The config a fresh proxy starts with (admin reachable through the published port; no routes). */
export function baseCaddyConfig(): Record<string, unknown> {
  return {
    admin: { listen: `0.0.0.0:${CADDY_ADMIN_PORT}`, origins: [] },
    apps: {
      http: {
        servers: {
          [CADDY_SERVER]: { listen: [`:${CADDY_HTTP_PORT}`], automatic_https: { disable: true }, routes: [] },
        },
      },
    },
  };
}

/** The shared libraries a dynamically linked binary needs (ldd), with the dynamic loader. */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

export function caddyImage(opts: { caddy?: string; repository?: string } = {}): ImageDefinition {
  const caddy = opts.caddy ?? DEFAULT_CADDY;
  if (!existsSync(caddy))
    throw new Error(`The proxy image needs caddy at ${caddy}, and there is none. Install it (Debian/Ubuntu: apt-get install caddy) or pass its path.`);
  const files: ImageDefinition['files'] = {
    '/usr/bin/caddy': { hostPath: caddy, mode: 0o755 },
    '/etc/caddy/base.json': { content: JSON.stringify(baseCaddyConfig(), null, 2) + '\n' },
    '/tmp': { dir: true, mode: 0o1777 },
    '/config': { dir: true, mode: 0o755 },
    '/data': { dir: true, mode: 0o755 },
  };
  for (const lib of sharedLibraries(caddy)) files[lib] = { hostPath: lib, mode: 0o755 };
  return {
    repository: opts.repository ?? 'deployer/caddy',
    files,
    env: { XDG_CONFIG_HOME: '/config', XDG_DATA_HOME: '/data', HOME: '/tmp' },
    entrypoint: ['/usr/bin/caddy'],
    cmd: ['run', '--config', '/etc/caddy/base.json', '--resume'],
  };
}
