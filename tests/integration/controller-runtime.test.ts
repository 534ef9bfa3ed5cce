// The controller runtime on a real Postgres: informer → queue → reconcile, retries,
// terminal errors, requeue, the periodic resync (filtered; secondary kinds not resynced), and
// leader election between two managers on one database. The controller metrics (retries,
// reconciles by result, leadership, queue depth) are read from the rendered text, as a
// Prometheus scrape would see them.
import t, { type Test } from 'tap';
import { Controller, TerminalError, type Reconciler } from '../../controllers/runtime/controller.js';
import { ControllerManager } from '../../controllers/runtime/manager.js';
import { createMetrics, parseMetrics, type Metrics, type Scrape } from '../../metrics/index.js';
import { kindByName } from '../../resources/index.js';
import { openStore } from '../../store/index.js';
import { nsPath, ps, startApi, type TestApi } from '../helpers/api.js';

const PS = kindByName('ProjectServer')!;
const P = nsPath('default');
const FAST = { leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One process' metrics, rendered and parsed (no store figures: this file has no API scrape). */
async function scrape(metrics: Metrics): Promise<Scrape> {
  const { text } = await metrics.scrape({ servers: [], deployments: [], zombiesRemoved: 0, openWatches: 0, watchLag: 0 });
  return parseMetrics(text);
}
const C = { controller: 'test-controller' };

function manager(t: Test, a: { store: TestApi['store'] }, reconciler: Reconciler, identity: string, opts: { baseDelayMs?: number; metrics?: Metrics } = {}) {
  const c = new Controller({ name: 'test-controller', kind: PS, reconciler, store: a.store, workers: 2, baseDelayMs: opts.baseDelayMs ?? 10 });
  const m = new ControllerManager({ store: a.store, identity, controllers: [c], timings: FAST, metrics: opts.metrics });
  m.start();
  t.teardown(() => m.stop());
  return { c, m };
}

t.test('every change made through the API is reconciled; one key never twice at once', async (t) => {
  const a = await startApi(t);
  await a.request('PUT', `${P}/before`, { body: ps('before') });
  const seen: string[] = [];
  const running = new Set<string>();
  let overlap = 0;
  const { m } = manager(t, a, {
    reconcile: async (key, _signal, ctx) => {
      if (running.has(key)) overlap++;
      running.add(key);
      await sleep(20);
      seen.push(`${key}@${(ctx.cached(key)?.spec as { port?: number } | undefined)?.port ?? '-'}#${ctx.fence.token}`);
      running.delete(key);
    },
  }, 'p1');
  await until(() => m.leadership()[0].leading, 5000, 'leadership');
  await until(() => seen.some((s) => s.startsWith('ProjectServer/default/before')), 5000, 'initial list reconciled');
  for (let i = 1; i <= 30; i++) await a.request('PUT', `${P}/hot`, { body: ps('hot', { port: i }) });
  await until(() => seen.some((s) => s.startsWith('ProjectServer/default/hot@30')), 5000, 'the last change');
  t.equal(overlap, 0, 'never two reconciles of one key at once');
  t.ok(seen.filter((s) => s.includes('/hot@')).length < 30, 'changes that arrive mid-reconcile collapse');
  t.match(seen[0], /#1$/, 'reconciles carry the lease token');
  await a.request('DELETE', `${P}/hot`);
  await until(() => seen.some((s) => s.startsWith('ProjectServer/default/hot@-')), 5000, 'the deletion');
});

t.test('errors retry with backoff; terminal errors are recorded, not retried; requeueAfter', async (t) => {
  const a = await startApi(t);
  const metrics = createMetrics({ processMetrics: false });
  const attempts = new Map<string, number>();
  const { m } = manager(t, a, {
    reconcile: async (key) => {
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key.endsWith('/flaky') && n < 4) throw new Error('not yet');
      if (key.endsWith('/broken')) throw new TerminalError('spec.image does not exist', 'ImageMissing');
      if (key.endsWith('/poll') && n < 3) return { requeueAfterMs: 50 };
    },
  }, 'p1', { metrics });
  await until(() => m.leadership()[0].leading, 5000, 'leadership');
  t.equal((await scrape(metrics)).sum('deployer_controller_retries_total', C), 0, 'no retries before any failure');
  await a.request('PUT', `${P}/flaky`, { body: ps('flaky') });
  await a.request('PUT', `${P}/broken`, { body: ps('broken') });
  await a.request('PUT', `${P}/poll`, { body: ps('poll') });
  await until(() => (attempts.get('ProjectServer/default/flaky') ?? 0) >= 4, 5000, 'flaky to succeed');
  await until(() => (attempts.get('ProjectServer/default/poll') ?? 0) >= 3, 5000, 'poll requeues');
  await until(() => (attempts.get('ProjectServer/default/broken') ?? 0) >= 1, 5000, 'broken');
  let cond: any;
  for (let i = 0; i < 100 && !cond; i++) {
    const got = (await a.request('GET', `${P}/broken`)).body;
    cond = got.status?.conditions?.find((c: any) => c.type === 'Reconciled');
    if (!cond) await sleep(20);
  }
  t.equal(cond?.status, 'False');
  t.equal(cond?.reason, 'ImageMissing');
  t.match(cond?.message, /spec.image/);
  await sleep(300);
  t.ok((attempts.get('ProjectServer/default/broken') ?? 0) <= 2, 'a terminal error is not retried (one more look after its own status write at most)');
  await sleep(200);
  t.equal(attempts.get('ProjectServer/default/flaky'), 4, 'success resets: no more attempts');

  const s = await scrape(metrics);
  const result = (r: string) => s.sum('deployer_controller_reconciles_total', { ...C, result: r });
  // flaky failed 3 times, each put back with backoff; nothing else fails with a plain error
  t.equal(s.sum('deployer_controller_retries_total', C), 3, 'each failed reconcile counted as a retry');
  t.equal(result('error'), 3, 'reconciles counted with result="error"');
  const terminal = attempts.get('ProjectServer/default/broken')!;
  t.equal(result('terminal'), terminal, `result="terminal" once per look at broken (${terminal})`);
  t.ok(result('requeue') >= 2, `poll's requeues counted with result="requeue" (${result('requeue')})`);
  t.ok(result('success') >= 2, `flaky's and poll's last reconciles counted with result="success" (${result('success')})`);
  const total = ['success', 'error', 'terminal', 'requeue'].reduce((n, r) => n + result(r), 0);
  t.equal(s.sum('deployer_controller_reconcile_duration_seconds_count', C), total, 'every counted reconcile timed');
});

t.test('two managers: one leader; a graceful stop hands over within a second and fences the old leader', async (t) => {
  const a = await startApi(t);
  const b = { store: await openStore({ connectionString: a.connectionString, hubPollIntervalMs: 200 }) };
  t.teardown(() => b.store.close());
  // x and four more: more keys than two's two workers, so some wait in its queue
  for (const n of ['x', 'q1', 'q2', 'q3', 'q4']) await a.request('PUT', `${P}/${n}`, { body: ps(n) });
  // each manager stands for a process: its own metrics
  const oneMetrics = createMetrics({ processMetrics: false });
  const twoMetrics = createMetrics({ processMetrics: false });
  const leader = async (metrics: Metrics) => (await scrape(metrics)).sum('deployer_controller_leader', C);
  const depth = async (metrics: Metrics) => (await scrape(metrics)).sum('deployer_controller_queue_depth', C);
  // two's reconciles wait here until the queue depth has been seen (or its leadership ends)
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  const by: string[] = [];
  let oldSignal: AbortSignal | undefined;
  let oldFence: { lease: string; token: number } | undefined;
  const one = manager(t, a, { reconcile: async (_k, signal, ctx) => { by.push(`one#${ctx.fence.token}`); oldSignal = signal; oldFence = ctx.fence; } }, 'one', { metrics: oneMetrics });
  await until(() => one.m.leadership()[0].leading, 5000, 'one to lead');
  const two = manager(t, b, {
    reconcile: async (_k, signal, ctx) => {
      by.push(`two#${ctx.fence.token}`);
      await new Promise<void>((r) => {
        void gate.then(r);
        signal.addEventListener('abort', () => r(), { once: true });
      });
    },
  }, 'two', { metrics: twoMetrics });
  await sleep(1500);
  t.notOk(two.m.leadership()[0].leading, 'the second waits while the first renews');
  t.ok(by.every((s) => s.startsWith('one')));
  t.equal(await leader(oneMetrics), 1, 'deployer_controller_leader is 1 on the leader');
  t.equal(await leader(twoMetrics), 0, '… and 0 on the one waiting');
  t.equal(await depth(oneMetrics), 0, 'the leader has nothing waiting: its reconciles are quick');
  const stoppedAt = Date.now();
  await one.m.stop();
  t.ok(oldSignal?.aborted, "the old leader's reconcile signal is aborted");
  t.equal(await leader(oneMetrics), 0, 'the leader gauge goes to 0 on the manager that handed over');
  await until(() => two.m.leadership()[0].leading, 3000, 'two to lead');
  t.ok(Date.now() - stoppedAt < 1000, `handover in ${Date.now() - stoppedAt} ms`);
  t.equal(await leader(twoMetrics), 1, '… and to 1 on the one that took over');
  await until(() => by.some((s) => s.startsWith('two')), 3000, 'two to reconcile');
  t.match(by.find((s) => s.startsWith('two'))!, /#2$/, 'with the next token');
  // two workers held at the gate, three keys wait behind them
  await until(async () => (await depth(twoMetrics)) === 3, 3000, 'three keys to wait in the queue');
  t.pass('deployer_controller_queue_depth is 3 while two workers hold two of five keys');
  release();
  await until(async () => (await depth(twoMetrics)) === 0, 3000, 'the queue to drain');
  await until(() => by.filter((s) => s.startsWith('two')).length === 5, 3000, 'every key reconciled once the gate opened');
  const fenced = await a.store.resources
    .patch(PS, 'default', 'x', 'merge', { status: { restartCount: 9 } }, { subresource: 'status', fence: oldFence })
    .catch((e) => e);
  t.equal(fenced.reason, 'Fenced', "the old leader's status writes are refused");
});

t.test('GET /api/monitoring/leaders shows each lease and whether this process holds it', async (t) => {
  const a = await startApi(t, { identity: 'p1' });
  const { m } = manager(t, a, { reconcile: async () => undefined }, 'p1');
  await until(() => m.leadership()[0].leading, 5000, 'leadership');
  const res = await a.request('GET', '/api/monitoring/leaders');
  t.equal(res.status, 200);
  t.equal(res.body.identity, 'p1');
  const l = res.body.items.find((i: any) => i.name === 'test-controller');
  t.equal(l.holder, 'p1');
  t.equal(l.token, 1);
  t.ok(l.valid);
  t.ok(l.heldByThisProcess);
  t.ok(Date.parse(l.expiresAt) > Date.parse(l.renewedAt));
  const viewer = await a.token('v', 'viewer', ['team-a']);
  t.equal((await a.request('GET', '/api/monitoring/leaders', { token: viewer })).status, 200, 'any token may read it');
  t.equal((await a.request('GET', '/api/monitoring/leaders', { token: null })).status, 401);
});

t.test('the periodic resync hands on only what resyncFilter keeps (an operator resync hands all); a secondary kind does not resync', async (t) => {
  const a = await startApi(t);
  for (const n of ['busy', 'done']) await a.request('PUT', `${P}/${n}`, { body: ps(n, n === 'done' ? { port: 1 } : {}) });
  const seen: string[] = [];
  const mapped: string[] = [];
  const c = new Controller({
    name: 'filter-controller',
    kind: PS,
    store: a.store,
    workers: 1,
    resyncMs: 150,
    resyncFilter: (o) => (o.spec as { port?: number }).port !== 1,
    reconciler: { reconcile: async (key) => void seen.push(key) },
    watches: [{ kind: kindByName('Route')!, map: (key) => (mapped.push(key), []) }],
  });
  const m = new ControllerManager({ store: a.store, identity: 'f1', controllers: [c], timings: FAST });
  m.start();
  t.teardown(() => m.stop());
  const made = await a.request('POST', nsPath('default', 'routes'), { body: { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'r' }, spec: { host: 'r.example.com', projectServer: 'busy' } } });
  t.equal(made.status, 201);
  await until(() => seen.includes('ProjectServer/default/done') && mapped.length === 1, 5000, 'the first list of both');
  await sleep(800); // about five resync periods
  const count = (k: string) => seen.filter((s) => s === `ProjectServer/default/${k}`).length;
  t.ok(count('busy') >= 3, `the kept object resynced (${count('busy')} times)`);
  t.equal(count('done'), 1, 'the filtered one only at the first list');
  t.equal(mapped.length, 1, 'the secondary kind was mapped once (its event), not at every resync');
  c.resync();
  await until(() => count('done') === 2, 2000, 'an operator resync to hand on the filtered object too');
});
