// deployer/static: the image static sites and helper runs use. FROM scratch with the host's
// static busybox and a few of its applets (a shell and file tools for deployments and builds,
// wget for health checks) and the host's caddy with its shared libraries (its file server
// serves the sites), since no image registry may be reachable.
//
// Why caddy and not busybox httpd: httpd stats a file, then opens it by path again and sends
// the size it stat'ed; when `current` is switched in between, a response carries the old
// release's length with the new release's bytes. Caddy's file server sizes what it opened.
import { existsSync } from 'node:fs';
import type { ImageDefinition } from '../docker/index.js';
import { sharedLibraries } from './caddy.js';

const DEFAULT_BUSYBOX = '/usr/bin/busybox';
const DEFAULT_CADDY = '/usr/bin/caddy';

/** Applets linked in /bin: a shell, httpd (serves the site), wget (health checks), and file tools for helpers. */
export const STATIC_APPLETS = [
  'sh', 'httpd', 'wget', 'ln', 'readlink', 'mv', 'rm', 'mkdir', 'cp', 'cat', 'ls', 'sleep', 'tar', 'gzip',
  'gunzip', 'find', 'chmod', 'test', 'true', 'false', 'echo', 'kill', 'env', 'mktemp', 'realpath', 'sed',
  'grep', 'wc', 'id', 'touch',
] as const;

/**
 * The definition of `deployer/static` (tag = content hash, see ContainerRuntime.ensureImage).
 * `busybox` must be a statically linked busybox: the image has no libc. Throws when it is missing.
 */
export function staticImage(opts: { busybox?: string; caddy?: string; repository?: string } = {}): ImageDefinition {
  const busybox = opts.busybox ?? DEFAULT_BUSYBOX;
  if (!existsSync(busybox)) {
    throw new Error(
      `The static image needs a statically linked busybox at ${busybox}, and there is none. ` +
        'Install it (Debian/Ubuntu: apt-get install busybox-static) or pass its path.',
    );
  }
  const caddy = opts.caddy ?? DEFAULT_CADDY;
  if (!existsSync(caddy))
    throw new Error(`The static image needs caddy (its file server serves the sites) at ${caddy}, and there is none. Install it (Debian/Ubuntu: apt-get install caddy) or pass its path.`);
  const files: ImageDefinition['files'] = {
    '/bin/busybox': { hostPath: busybox, mode: 0o755 },
    '/bin/caddy': { hostPath: caddy, mode: 0o755 },
    '/tmp': { dir: true, mode: 0o1777 },
  };
  for (const lib of sharedLibraries(caddy)) files[lib] = { hostPath: lib, mode: 0o755 };
  for (const applet of STATIC_APPLETS) files[`/bin/${applet}`] = { symlink: 'busybox' };
  // caddy keeps its (unused) storage under XDG dirs; /tmp is the only writable place in the image
  return { repository: opts.repository ?? 'deployer/static', files, env: { PATH: '/bin', HOME: '/tmp', XDG_CONFIG_HOME: '/tmp', XDG_DATA_HOME: '/tmp' }, cmd: ['sh'] };
}
