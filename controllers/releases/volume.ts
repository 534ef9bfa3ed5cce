// File operations on a static server's volume, run inside its container (deployer's static
// image carries busybox: sh, ln, mv, cp, rm) with `docker exec`, and uploads with putArchive.
// No file operation needs a helper container, so a switch or a rollback costs a few
// milliseconds of exec, not a container start.
//
// Caveats: the container must be running (an exec into a stopped one fails; the caller
// retries); a static server that runs an image of its own needs sh, ln, mv, cp and rm in it.
import type { ContainerRuntime } from '../../docker/index.js';
import { listHostServiceDir } from './host-listing.js';
import {
  COPY_OUTPUT_SCRIPT,
  LIST_SCRIPT,
  parseListing,
  PROMOTE_SCRIPT,
  REMOVE_SCRIPT,
  STATIC_ROOT,
  serviceDir,
  SWITCH_SCRIPT,
  type ServiceListing,
} from './layout.js';

/** A file operation in the volume failed: the message says which and why. */
export class VolumeOpError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'VolumeOpError';
  }
}

const EXEC_TIMEOUT_MS = 120_000;

export class ReleaseVolume {
  constructor(
    private readonly docker: ContainerRuntime,
    /** The running container that mounts the volume at STATIC_ROOT. */
    readonly containerId: string,
    /** The volume's mountpoint when this process can read it: listings read it, no exec. */
    private readonly hostRoot?: string | null,
  ) {}

  private async sh(what: string, script: string, args: string[]): Promise<string> {
    const r = await this.docker.exec(this.containerId, ['sh', '-c', script, 'sh', ...args], { timeoutMs: EXEC_TIMEOUT_MS });
    if (r.exitCode !== 0 || r.timedOut) {
      const why = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ') || (r.timedOut ? 'timed out' : `exit code ${r.exitCode}`);
      throw new VolumeOpError(`${what}: ${why}`, r.exitCode);
    }
    return r.stdout;
  }

  /** The service dir's link and entries (an empty listing when the dir does not exist); read on the host when it can be. */
  async list(service: string): Promise<ServiceListing> {
    if (this.hostRoot) return listHostServiceDir(`${this.hostRoot}/${service}`);
    return parseListing(await this.sh(`listing ${serviceDir(service)}`, LIST_SCRIPT, [serviceDir(service)]));
  }

  /** Uploads a tar whose paths start with `<service>/` (extracted under STATIC_ROOT). */
  async upload(tar: Buffer, signal?: AbortSignal): Promise<void> {
    await this.docker.putArchive(this.containerId, STATIC_ROOT, tar, { signal });
  }

  /**
   * Points `current` at `target` atomically (link under `.current-<tag>`, renamed over it).
   * With `marker`, only when the target's marker file says so: else a VolumeOpError with exit
   * code NOT_INTACT, and `current` is untouched. With `expectCurrent` (null: no link), only when
   * `current` still is that: else exit code MOVED.
   */
  async switchCurrent(service: string, target: string, tag: string, marker?: string, expectCurrent?: string | null): Promise<void> {
    const expect = expectCurrent === undefined ? '' : (expectCurrent ?? '-');
    await this.sh(`switching ${serviceDir(service)}/current to ${target}`, SWITCH_SCRIPT, [serviceDir(service), target, `.current-${tag}`, marker ?? '', expect]);
  }

  /** Removes entries of the service dir (plain names, e.g. `.tmp-deployment-x`, `current`). */
  async remove(service: string, names: string[]): Promise<void> {
    const bad = names.find((n) => n.includes('/') || n === '' || n === '.' || n === '..');
    if (bad !== undefined) throw new Error(`refusing to remove "${bad}": not a plain name`);
    if (names.length === 0) return;
    await this.sh(`removing ${names.join(', ')} in ${serviceDir(service)}`, REMOVE_SCRIPT, [serviceDir(service), ...names]);
  }

  /** Renames a finished temporary dir to its release dir. */
  async promote(service: string, tmp: string, final: string): Promise<void> {
    await this.sh(`renaming ${tmp} to ${final}`, PROMOTE_SCRIPT, [serviceDir(service), tmp, final]);
  }

  /** Copies a build's output dir into a temporary dir with the marker. */
  async copyBuildOutput(service: string, build: string, outputDir: string, tmp: string, marker: string): Promise<void> {
    await this.sh(`copying the build output`, COPY_OUTPUT_SCRIPT, [serviceDir(service), build, outputDir, tmp, marker]);
  }
}

/** Volume mountpoints by volume name, looked up once (a volume's mountpoint never moves). */
export class Mountpoints {
  private readonly known = new Map<string, string | null>();

  constructor(private readonly docker: ContainerRuntime) {}

  async of(volume: string): Promise<string | null> {
    if (this.known.has(volume)) return this.known.get(volume)!;
    const mp = await this.docker.volumeMountpoint(volume).catch(() => null);
    if (mp) this.known.set(volume, mp);
    return mp;
  }
}
