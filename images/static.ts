// deployer/static: the image static sites and helper runs use. FROM scratch with the host's
// static busybox and a few of its applets, since no image registry may be reachable.
import { existsSync } from 'node:fs';
import type { ImageDefinition } from '../docker/index.js';

const DEFAULT_BUSYBOX = '/usr/bin/busybox';

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
export function staticImage(opts: { busybox?: string; repository?: string } = {}): ImageDefinition {
  const busybox = opts.busybox ?? DEFAULT_BUSYBOX;
  if (!existsSync(busybox)) {
    throw new Error(
      `The static image needs a statically linked busybox at ${busybox}, and there is none. ` +
        'Install it (Debian/Ubuntu: apt-get install busybox-static) or pass its path.',
    );
  }
  const files: ImageDefinition['files'] = {
    '/bin/busybox': { hostPath: busybox, mode: 0o755 },
    '/tmp': { dir: true, mode: 0o1777 },
  };
  for (const applet of STATIC_APPLETS) files[`/bin/${applet}`] = { symlink: 'busybox' };
  return { repository: opts.repository ?? 'deployer/static', files, env: { PATH: '/bin' }, cmd: ['sh'] };
}
