// An informer: lists a kind, then watches it from the list's revision through this
// process' watch hub (no LISTEN connection of its own), keeps a cache of the objects, and
// tells its handlers which keys changed. It re-lists when the watch cannot resume (410) and
// on a slow periodic resync, the safety net that hands every key to the handlers again.
//
// Guarantees: after `synced` resolves, the cache holds every object as of some revision at
// least the list's, and every later change reaches the handlers (in revision order). Keys
// are `kind/namespace/name`. It does not guarantee that handlers see every intermediate
// state: a handler is told "this key changed", and reconcile reads the latest (level-based).
import { ApiError, type KindInfo, type ResourceObject } from '../../resources/index.js';
import { startWatch, type Store, type Watch } from '../../store/index.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { LogFn } from './log.js';

export type KeyHandler = (key: string) => void;

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind, namespace, name };
}

export interface InformerOptions {
  /** Every `resyncMs` every cached key is handed to the handlers again (default 10 min; 0: never). */
  resyncMs?: number;
  /** Which cached objects the periodic resync hands on (default all); resyncNow hands every one. */
  resyncFilter?: (obj: ResourceObject) => boolean;
  clock?: Clock;
  log?: LogFn;
}

export class Informer {
  private readonly cache = new Map<string, ResourceObject>();
  private readonly handlers = new Set<KeyHandler>();
  private watch: Watch | null = null;
  private resyncTimer: TimerHandle | null = null;
  private stopped = false;
  private readonly clock: Clock;
  private markSynced!: () => void;
  /** Resolves once the first list is in the cache. */
  readonly synced: Promise<void> = new Promise((r) => (this.markSynced = r));

  constructor(
    private readonly store: Pick<Store, 'pool' | 'hub' | 'resources'>,
    readonly info: KindInfo,
    private readonly opts: InformerOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  onChange(h: KeyHandler): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }

  get(key: string): ResourceObject | undefined {
    return this.cache.get(key);
  }

  /** The cached objects, without copying the cache. */
  values(): IterableIterator<ResourceObject> {
    return this.cache.values();
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  private emit(key: string): void {
    for (const h of this.handlers) {
      try {
        h(key);
      } catch (err) {
        this.opts.log?.('informer: a handler threw', err, { kind: this.info.kind });
      }
    }
  }

  async start(): Promise<void> {
    await this.relist();
    this.scheduleResync();
  }

  /** Lists, replaces the cache (announcing what appeared, changed or went), and watches on. */
  private async relist(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        this.watch?.close();
        this.watch = null;
        const list = await this.store.resources.list(this.info);
        const seen = new Set<string>();
        for (const obj of list.items) {
          const key = objectKey(this.info.kind, obj.metadata.namespace!, obj.metadata.name!);
          seen.add(key);
          const old = this.cache.get(key);
          this.cache.set(key, obj);
          if (old?.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit(key);
        }
        for (const key of [...this.cache.keys()])
          if (!seen.has(key)) {
            this.cache.delete(key);
            this.emit(key);
          }
        this.watch = await startWatch(this.store, this.info, { resourceVersion: list.resourceVersion }, (item) => {
          const ev = JSON.parse(item.json) as { type: string; object: ResourceObject };
          const key = objectKey(this.info.kind, ev.object.metadata.namespace!, ev.object.metadata.name!);
          if (ev.type === 'DELETED') this.cache.delete(key);
          else this.cache.set(key, ev.object);
          this.emit(key);
        });
        this.markSynced();
        return;
      } catch (err) {
        // 410: the list's revision was compacted before the watch began; anything else: the
        // database is away. Either way, list again after a short, growing pause.
        if (!(err instanceof ApiError && err.code === 410)) this.opts.log?.('informer: list/watch failed; retrying', err, { kind: this.info.kind });
        await new Promise<void>((r) => this.clock.setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  private scheduleResync(): void {
    const every = this.opts.resyncMs ?? 600_000;
    if (every === 0) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      const keep = this.opts.resyncFilter;
      for (const [key, obj] of this.cache) if (!keep || keep(obj)) this.emit(key);
      this.scheduleResync();
    }, every);
  }

  /** Hands every cached key to the handlers now (a resync asked for by an operator). */
  resyncNow(): void {
    for (const key of this.cache.keys()) this.emit(key);
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    this.watch = null;
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
  }
}
