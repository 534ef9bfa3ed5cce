// The store as the rest of deployer sees it: opened once per process.
import pg from 'pg';
import { compactOnce, type CompactionOptions } from './compaction.js';
import { migrate } from './migrate.js';
import { ResourceStore } from './resource-store.js';
import { TokenStore } from './tokens.js';
import { LeaseStore } from './leases.js';
import { RecordStore } from './records.js';
import { WatchHub } from './watch-hub.js';

export { ResourceStore } from './resource-store.js';
export type { ListOptions, ListResult, DeleteOptions, WriteOptions, Subresource, Fence } from './resource-store.js';
export { LeaseStore, type LeaseState, type AcquireResult } from './leases.js';
export { RecordStore, CLEANUP_RECORD, type ControllerRecord } from './records.js';
export { TokenStore, hashToken, newSecret } from './tokens.js';
export { WatchHub, type LogEvent } from './watch-hub.js';
export { startWatch, parseResourceVersion, type Watch, type WatchItem, type WatchOptions } from './watch.js';
export { compactOnce } from './compaction.js';
export { migrate } from './migrate.js';
export { startEmbedded, freePort, type EmbeddedDatabase } from './embedded.js';
export { isConnectionError } from './pg-errors.js';

export interface StoreOptions {
  connectionString: string;
  poolSize?: number;
  log?: (msg: string, err?: unknown) => void;
  /** Run compaction and garbage collection in this process (default true). */
  maintenance?: boolean;
  compaction?: CompactionOptions & { intervalMs?: number };
  hubPollIntervalMs?: number;
}

export interface Store {
  pool: pg.Pool;
  resources: ResourceStore;
  tokens: TokenStore;
  leases: LeaseStore;
  /** The installation id, controllers' monitoring records, resync requests. */
  records: RecordStore;
  hub: WatchHub;
  /** Resolves when the database answers; throws otherwise. */
  ping(): Promise<void>;
  /** Runs garbage collection of dependents now (it also runs after each removal). */
  collectGarbage(): Promise<number>;
  close(): Promise<void>;
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const log = opts.log ?? (() => undefined);
  await migrate(opts.connectionString);
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolSize ?? 20,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  });
  pool.on('error', (err) => log('idle database connection failed', err));
  const hub = new WatchHub({ connectionString: opts.connectionString, log, pollIntervalMs: opts.hubPollIntervalMs });
  await hub.start();
  const tokens = new TokenStore(pool);
  hub.onTokensChanged(() => tokens.invalidate());

  let gcRunning: Promise<number> | null = null;
  let gcAgain = false;
  const collectGarbage = async (): Promise<number> => {
    if (gcRunning) {
      gcAgain = true;
      return gcRunning;
    }
    gcRunning = (async () => {
      let n = 0;
      do {
        gcAgain = false;
        n += await resources.collectGarbage();
      } while (gcAgain);
      return n;
    })().finally(() => {
      gcRunning = null;
    });
    return gcRunning;
  };
  const resources: ResourceStore = new ResourceStore(pool, {
    onRemoved: () => void collectGarbage().catch((err) => log('garbage collection failed', err)),
  });

  const leases = new LeaseStore(pool, { connectionString: opts.connectionString, connectionTimeoutMillis: 5000 });
  const timers: NodeJS.Timeout[] = [];
  if (opts.maintenance !== false) {
    const every = opts.compaction?.intervalMs ?? 60_000;
    const t1 = setInterval(() => void compactOnce(pool, opts.compaction).catch((err) => log('compaction failed', err)), every);
    const t2 = setInterval(() => void collectGarbage().catch((err) => log('garbage collection failed', err)), 30_000);
    t1.unref();
    t2.unref();
    timers.push(t1, t2);
  }

  return {
    pool,
    resources,
    tokens,
    leases,
    records: new RecordStore(pool),
    hub,
    ping: async () => {
      await pool.query('SELECT 1');
    },
    collectGarbage,
    close: async () => {
      for (const t of timers) clearInterval(t);
      await gcRunning?.catch(() => undefined);
      await hub.stop();
      await leases.close();
      await pool.end();
    },
  };
}
