// Change notification for directories in volumes that this process can read on the host
// (ContainerRuntime.volumeMountpoint), so a controller hears of `rm current` at once instead of
// at its next poll. A nudge only: the controller re-reads the directory; its poll stays the
// backstop for whatever is not seen here.
import { statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const DEFAULT_DEBOUNCE_MS = 50;
/** After a failure to watch (EACCES, ENOSPC: the inotify watch limit), the next attempt; doubled while failures go on. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/** Re-resolutions of one directory per flush before giving up until the retry (a directory that keeps flapping). */
const MAX_ATTEMPTS = 10;

export interface DirectoryWatcherOptions {
  /** How long events are gathered into one onChange call, from the first of them. Default 50 ms. */
  debounceMs?: number;
  /** Failures to watch, and errors thrown by onChange. Default: a process warning. */
  onError?: (err: Error) => void;
}

/** One directory asked for, and what is watched for it now. */
interface Watched {
  /** The directory asked for (absolute). */
  readonly dir: string;
  /** Watched now: `dir` itself, or while it is missing (or not a directory) its nearest existing ancestor. Unset after a failure to watch. */
  path?: string;
  /** `dev:ino:birthtime` of `path` when its watch began. A directory removed and re-created under the same name may get the
   * same inode back at once (ext4 reuses it), hence `stale`. */
  id?: string;
  watcher?: FSWatcher;
  /** The watched directory itself was removed or moved (its watch is dead even if `id` matches again): watch anew. */
  stale?: boolean;
}

/**
 * Watches directories (non-recursively) for entries created, removed or renamed, e.g. a
 * volume's `<mountpoint>/site/`, so that `rm current` or `rm -rf deployment-x` is seen in
 * milliseconds.
 *
 * Caveats first: Linux inotify semantics (fs.watch; other systems differ in what they report);
 * not for network filesystems (NFS, FUSE, a remote engine's volume: changes made elsewhere are
 * not reported); a change may be reported that changed nothing (an entry created and removed
 * within the debounce, a sibling of a missing directory's path) — onChange is a nudge to
 * re-read, never a description of what changed, and it carries none. Changes to the content
 * of files, and changes below the watched directories, are not reported; nor is a rename of an
 * ancestor of a watched directory that exists. Start the watcher before the first read of what
 * it watches, or a change between the two may be missed.
 *
 * A directory that does not exist yet is waited for (by watching its nearest existing
 * ancestor), and a watched directory that is removed and re-created is watched again; its
 * appearing, disappearing or being replaced is reported like a change of its entries. Events
 * are debounced (default 50 ms from the first one) into one onChange call, which comes after
 * the watches are up to date, so a read in onChange sees at least what was reported.
 * close() stops everything (idempotent). Never throws from a watcher callback: errors go to
 * opts.onError.
 */
export class DirectoryWatcher {
  private readonly debounceMs: number;
  private readonly onError: (err: Error) => void;
  /** By absolute directory. Empty once closed. */
  private readonly watched = new Map<string, Watched>();
  /** Pending flush (events gathered); at most one. */
  private timer?: NodeJS.Timeout;
  /** Pending retry after a failure to watch; at most one. */
  private retryTimer?: NodeJS.Timeout;
  /** The next retry's delay: RETRY_MS after a flush without failures. */
  private retryMs = RETRY_MS;
  /** A resync failed since the last flush began. */
  private failed = false;
  /** An entry of a watched directory changed since the last flush (ancestor events only resync). */
  private changed = false;
  private closed = false;

  constructor(
    dirs: string[],
    private readonly onChange: () => void,
    opts: DirectoryWatcherOptions = {},
  ) {
    const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    if (!Number.isFinite(debounceMs) || debounceMs < 0) throw new RangeError(`debounceMs must be a finite number ≥ 0, not ${debounceMs}`);
    this.debounceMs = debounceMs;
    this.onError = opts.onError ?? ((err) => process.emitWarning(err));
    this.setDirs(dirs);
  }

  /** Watches exactly `dirs` from now on (relative ones resolved against the working directory). New ones are not reported as changed. */
  setDirs(dirs: string[]): void {
    if (this.closed) return;
    const wanted = new Set(dirs.map((d) => resolve(d)));
    for (const [dir, w] of this.watched) {
      if (wanted.has(dir)) continue;
      this.unwatch(w);
      this.watched.delete(dir);
    }
    for (const dir of wanted) {
      if (this.watched.has(dir)) continue;
      const w: Watched = { dir };
      this.watched.set(dir, w);
      this.resync(w);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
    for (const w of this.watched.values()) this.unwatch(w);
    this.watched.clear();
  }

  private onEvent(w: Watched, watcher: FSWatcher, event: string, filename: string | null): void {
    // A watcher replaced or closed a moment ago may still deliver; 'change' is a file's content or attributes.
    if (this.closed || w.watcher !== watcher || event !== 'rename') return;
    if (w.path === w.dir) this.changed = true;
    // inotify names the watched directory itself (IN_DELETE_SELF, IN_MOVE_SELF) by its basename; an entry of that name
    // looks the same, and then the watch is only renewed for nothing.
    if (w.path !== undefined && filename === basename(w.path)) w.stale = true;
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  /** Brings every watch up to date, then reports whether anything changed. */
  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    let changed = this.changed;
    this.changed = false;
    this.failed = false;
    for (const w of this.watched.values()) if (this.resync(w)) changed = true;
    if (!this.failed) this.retryMs = RETRY_MS;
    if (!changed || this.closed) return;
    try {
      this.onChange();
    } catch (err) {
      this.report(err, 'onChange threw');
    }
  }

  /**
   * Watches `w.dir`, or its nearest existing ancestor while it is missing, unless that is
   * watched already. Returns true when `w.dir` appeared, disappeared or was replaced since its
   * last resync. The target is resolved again after each new watch began, so a change between
   * the stat and the watch is not missed.
   */
  private resync(w: Watched): boolean {
    const before = w.path === w.dir ? w.id : undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        const target = nearestDirectory(w.dir);
        if (w.watcher && !w.stale && w.path === target.path && w.id === target.id) break;
        if (attempt >= MAX_ATTEMPTS) throw new Error(`${w.dir} keeps changing; watching it again in ${this.retryMs} ms`);
        this.unwatch(w);
        try {
          const watcher = watch(target.path, (event, filename) => this.onEvent(w, watcher, event, filename));
          watcher.on('error', (err) => this.onWatcherError(w, watcher, err));
          w.watcher = watcher;
          w.path = target.path;
          w.id = target.id;
        } catch (err) {
          // Gone between the stat and the watch: resolve again.
          if (!isMissing(err)) throw err;
        }
      }
    } catch (err) {
      this.unwatch(w);
      this.report(err, `cannot watch ${w.dir}`);
      this.retryLater();
    }
    const after = w.path === w.dir ? w.id : undefined;
    return before !== after;
  }

  private onWatcherError(w: Watched, watcher: FSWatcher, err: Error): void {
    if (this.closed || w.watcher !== watcher) return;
    this.unwatch(w);
    this.report(err, `watching ${w.dir} failed`);
    this.retryLater();
  }

  /** A flush after the retry delay (doubled for the next one); a change found then is reported as usual. */
  private retryLater(): void {
    this.failed = true;
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.timer ??= setTimeout(() => this.flush(), 0);
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private unwatch(w: Watched): void {
    w.watcher?.close();
    w.watcher = undefined;
    w.path = undefined;
    w.id = undefined;
    w.stale = false;
  }

  private report(err: unknown, context: string): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!e.message.startsWith(context)) e.message = `${context}: ${e.message}`;
    try {
      this.onError(e);
    } catch {
      // onError itself failed: nothing is left to tell, and a watcher callback must not throw.
    }
  }
}

/**
 * `dir` when it is a directory, else its nearest ancestor that is, with its identity. Sync on
 * purpose: a few stats of local paths, and no interleaving with events while resolving.
 */
function nearestDirectory(dir: string): { path: string; id: string } {
  for (let p = dir; ; p = dirname(p)) {
    try {
      const st = statSync(p);
      if (st.isDirectory()) return { path: p, id: `${st.dev}:${st.ino}:${st.birthtimeMs}` };
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    // The root is always a directory; this only guards against a loop on a strange filesystem.
    if (dirname(p) === p) throw new Error(`no directory found above ${dir}`);
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
