// bench/runtime (d): the CPU a process spends holding 3 controllers over 10,000 stored
// resources while nothing changes (lease renewals, the watch hub's poll, bookmarks of none).
import { Controller } from '../controllers/runtime/controller.js';
import { ControllerManager } from '../controllers/runtime/manager.js';
import { kindByName } from '../resources/index.js';
import { openStore } from '../store/index.js';

export interface IdleFigure {
  resources: number;
  controllers: number;
  /** From manager start until every controller reconciled every object once. */
  syncMs: number;
  idleSeconds: number;
  /** This process' CPU (user + system) over the idle window, in % of one core. */
  cpuPercentOfCore: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureIdleCpu(url: string, log: (msg: string) => void): Promise<IdleFigure> {
  const N = Number(process.env.BENCH_IDLE_OBJECTS ?? 10_000);
  const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
  const PS = kindByName('ProjectServer')!;
  const store = await openStore({ connectionString: url });
  try {
    log(`(d) storing ${N} ProjectServers`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          const i = next++;
          await store.resources.create(PS, 'idle', { metadata: { name: `o${i}` }, spec: { serviceType: 'static' } });
        }
      }),
    );
    const total = (await store.resources.list(PS)).items.length;
    let reconciles = 0;
    const controllers = ['idle-a', 'idle-b', 'idle-c'].map(
      (name) => new Controller({ name, kind: PS, store, workers: 2, reconciler: { reconcile: async () => void reconciles++ } }),
    );
    const manager = new ControllerManager({ store, identity: 'idle-bench', controllers });
    const t0 = Date.now();
    manager.start();
    while (reconciles < 3 * total) {
      if (Date.now() - t0 > 120_000) throw new Error(`only ${reconciles} of ${3 * total} reconciles after 120 s`);
      await sleep(20);
    }
    const syncMs = Date.now() - t0;
    log(`(d) ${3 * total} reconciles in ${syncMs} ms; measuring ${IDLE_MS / 1000} s of idle`);
    await sleep(1000);
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(IDLE_MS);
    const used = process.cpuUsage(c0);
    const wall = performance.now() - w0;
    await manager.stop();
    return {
      resources: total,
      controllers: controllers.length,
      syncMs,
      idleSeconds: Math.round(wall / 100) / 10,
      cpuPercentOfCore: Math.round(((used.user + used.system) / 1000 / wall) * 10_000) / 100,
    };
  } finally {
    await store.close();
  }
}
