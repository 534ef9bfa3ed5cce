// Fast detection for self-healing: when deployer runs on the Docker host (it can read the
// volume's mountpoint), each static server's service dirs are watched with inotify, and any
// change of their entries (`current` removed or replaced, a release dir deleted) hands the
// server's key to the workers within milliseconds. Elsewhere (a remote engine) nothing is
// watched and the resync finds the damage.
import { DirectoryWatcher, type ContainerRuntime } from '../../docker/index.js';
import type { LogFn } from '../runtime/log.js';

export class ReleaseWatchers {
  /** By server key: what is watched (to skip identical requests) and the watcher. */
  private readonly byKey = new Map<string, { sig: string; watcher?: DirectoryWatcher }>();

  constructor(
    private readonly docker: ContainerRuntime,
    private readonly wake: (key: string) => void,
    private readonly log: LogFn,
  ) {}

  /** Watches `<mountpoint of volume>/<service>` for each service; [] stops. Never throws. */
  watch(key: string, volume: string, services: string[]): void {
    const sig = `${volume}|${[...services].sort().join(',')}`;
    const had = this.byKey.get(key);
    if (had?.sig === sig) return;
    had?.watcher?.close();
    if (services.length === 0) {
      this.byKey.delete(key);
      return;
    }
    const entry: { sig: string; watcher?: DirectoryWatcher } = { sig };
    this.byKey.set(key, entry);
    void this.docker
      .volumeMountpoint(volume)
      .then((mp) => {
        if (!mp || this.byKey.get(key) !== entry) return;
        entry.watcher = new DirectoryWatcher(
          services.map((s) => `${mp}/${s}`),
          () => this.wake(key),
          { onError: (err) => this.log('watching a volume failed; the resync remains', err) },
        );
      })
      .catch((err: unknown) => this.log('could not find a volume mountpoint; the resync remains', err));
  }

  closeAll(): void {
    for (const e of this.byKey.values()) e.watcher?.close();
    this.byKey.clear();
  }
}
