// The work queue, driven by a fake clock: no real timers, no I/O.
import t from 'tap';
import { getEventListeners } from 'node:events';
import { MAX_TIMER_DELAY_MS } from '../../controllers/runtime/clock.js';
import { WorkQueue, type WorkQueueOptions } from '../../controllers/runtime/work-queue.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

function setup(opts: WorkQueueOptions = {}): { q: WorkQueue; clock: FakeClock } {
  const clock = new FakeClock();
  return { q: new WorkQueue({ clock, ...opts }), clock };
}

/** Watches a promise without awaiting it, so a test can tell whether it settled yet. */
function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const s: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(s, { settled: true, value }),
    (error: unknown) => Object.assign(s, { settled: true, error }),
  );
  return s;
}

/** A small deterministic PRNG (mulberry32), so the simulation is the same every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fake clock fires due timers in order, including ones set by fired timers', async (t) => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@20'), 20);
  clock.setTimeout(() => {
    fired.push('a@10');
    clock.setTimeout(() => fired.push('c@15'), 5);
    clock.setTimeout(() => fired.push('late@40'), 30);
  }, 10);
  const cancelled = clock.setTimeout(() => fired.push('cancelled'), 5);
  clock.setTimeout(() => fired.push('b2@20'), 20);
  clock.clearTimeout(cancelled);
  t.same(clock.pendingDelays(), [10, 20, 20]);
  clock.advance(25);
  t.same(fired, ['a@10', 'c@15', 'b@20', 'b2@20']);
  t.equal(clock.now(), 1025);
  t.same(clock.pending(), [1040]);
  t.throws(() => clock.setTimeout(() => undefined, MAX_TIMER_DELAY_MS + 1), RangeError);
  t.throws(() => clock.advance(-1), RangeError);
});

t.test('repeated adds of a waiting key collapse into one, keeping its place', async (t) => {
  const { q } = setup();
  q.add('Kind/ns/a');
  q.add('Kind/ns/b');
  q.add('Kind/ns/a');
  q.add('Kind/ns/a');
  t.equal(q.len(), 2);
  t.equal(await q.get(), 'Kind/ns/a');
  t.equal(await q.get(), 'Kind/ns/b');
  t.equal(q.len(), 0);
  t.equal(q.processingCount(), 2);
  const next = track(q.get());
  await settle();
  t.notOk(next.settled, 'nothing else to hand out');
  q.shutDown();
});

t.test('waiting keys come out first in, first out; a key done and re-added goes to the back', async (t) => {
  const { q } = setup();
  for (const k of ['c', 'a', 'd', 'b']) q.add(k);
  const first = await q.get();
  t.equal(first, 'c');
  q.done('c');
  q.add('c');
  const order = [];
  while (q.len() > 0) order.push(await q.get());
  t.same(order, ['a', 'd', 'b', 'c']);
});

t.test('get() waits and is woken by add; waiters are served oldest first', async (t) => {
  const { q } = setup();
  const w1 = track(q.get());
  const w2 = track(q.get());
  await settle();
  t.notOk(w1.settled || w2.settled, 'both wait on an empty queue');
  q.add('x');
  t.equal(q.len(), 0, 'handed straight to a waiter');
  t.equal(q.processingCount(), 1);
  await settle();
  t.same([w1.value, w2.settled], ['x', false]);
  q.add('y');
  await settle();
  t.equal(w2.value, 'y');
});

t.test('a key is never handed to two workers at once', async (t) => {
  const { q } = setup();
  const workers = Array.from({ length: 5 }, () => track(q.get()));
  q.add('k');
  q.add('k');
  q.add('j');
  await settle();
  t.same(workers.filter((w) => w.settled).map((w) => w.value), ['k', 'j'], 'one worker each');
  q.add('k');
  q.add('k');
  await settle();
  t.equal(workers.filter((w) => w.settled).length, 2, 'k is processing: its re-add waits for done');
  t.equal(q.len(), 0);
  q.done('k');
  await settle();
  t.same(workers.filter((w) => w.settled).map((w) => w.value), ['k', 'j', 'k'], 'then handed out again, once');
  q.shutDown();
});

t.test('a key re-added mid-processing is handed out again after done, exactly once', async (t) => {
  const { q } = setup();
  q.add('a');
  t.equal(await q.get(), 'a');
  q.add('a');
  q.add('a');
  t.equal(q.len(), 0, 'not queued while processing');
  const again = track(q.get());
  await settle();
  t.notOk(again.settled);
  q.done('a');
  await settle();
  t.equal(again.value, 'a');
  q.done('a');
  t.equal(q.len(), 0, 'one re-add, however many adds came in between');
  const more = track(q.get());
  await settle();
  t.notOk(more.settled);
  q.shutDown();
  await settle();
  t.same(more, { settled: true, value: undefined });
});

t.test('done() for a key that is not being processed throws', async (t) => {
  const { q } = setup();
  q.add('a');
  t.throws(() => q.done('a'), /not being processed/, 'queued, not handed out');
  await q.get();
  q.done('a');
  t.throws(() => q.done('a'), /not being processed/, 'done twice');
  t.equal(q.len(), 0, 'the queue is unharmed');
});

t.test('simulated workers: exclusion holds and no change is lost', async (t) => {
  const { q } = setup();
  const random = rng(42);
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  const inFlight = new Set<string>();
  const lastAdd = new Map<string, number>();
  const lastStart = new Map<string, number>();
  let step = 0;
  let overlaps = 0;
  let reconciles = 0;

  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await q.get();
      if (key === undefined) return;
      if (inFlight.has(key)) overlaps++;
      inFlight.add(key);
      lastStart.set(key, step);
      reconciles++;
      const ticks = Math.floor(random() * 6);
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      inFlight.delete(key);
      q.done(key);
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  for (; step < 2000; step++) {
    const key = keys[Math.floor(random() * keys.length)]!;
    q.add(key);
    lastAdd.set(key, step);
    if (random() < 0.3) await settle();
  }
  await q.shutDownWithDrain();
  await Promise.all(workers);
  t.equal(overlaps, 0, 'no key reconciled by two workers at once');
  for (const key of lastAdd.keys()) {
    t.ok(lastStart.get(key)! >= lastAdd.get(key)!, `${key}: a reconcile started after its last add`);
  }
  t.ok(reconciles < 2000, `adds were collapsed (${reconciles} reconciles for 2000 adds)`);
});

t.test('backoff doubles from the base to the cap and forget resets it', async (t) => {
  const { q, clock } = setup({ baseDelayMs: 10, maxDelayMs: 100 });
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    q.addRateLimited('a');
    delays.push(clock.pendingDelays()[0]!);
    clock.advance(delays.at(-1)! - 1);
    t.equal(q.len(), 0, `failure ${i + 1}: not before its delay`);
    clock.advance(1);
    t.equal(q.len(), 1, `failure ${i + 1}: queued at its delay`);
    q.done((await q.get())!);
  }
  t.same(delays, [10, 20, 40, 80, 100, 100, 100]);
  t.equal(q.numRequeues('a'), 7);
  t.equal(q.numRequeues('b'), 0, 'keys are independent');
  q.forget('a');
  t.equal(q.numRequeues('a'), 0);
  q.addRateLimited('a');
  t.same(clock.pendingDelays(), [10], 'back to the base after forget');
});

t.test('default backoff: 10 ms doubling to a 5 minute cap, without overflow', async (t) => {
  const { q, clock } = setup();
  const delays: number[] = [];
  for (let i = 0; i < 2000; i++) {
    q.addRateLimited('a');
    delays.push(clock.pendingDelays()[0]!);
    clock.advance(delays.at(-1)!);
  }
  t.same(delays.slice(0, 4), [10, 20, 40, 80]);
  t.equal(delays[14], 163_840);
  t.equal(delays[15], 300_000, 'capped at 5 minutes');
  t.equal(delays[1999], 300_000, 'still capped after 2000 failures');
  t.equal(q.len(), 1);
});

t.test('addAfter adds at the right time without touching the backoff', async (t) => {
  const { q, clock } = setup();
  q.addRateLimited('b');
  clock.advance(10);
  q.addAfter('a', 50);
  q.addAfter('b', 5);
  t.equal(q.numRequeues('a'), 0);
  t.equal(q.numRequeues('b'), 1, 'addAfter leaves the failure count alone');
  clock.advance(49);
  t.equal(await q.get(), 'b');
  t.equal(q.len(), 0, 'a is not due yet');
  clock.advance(1);
  t.equal(await q.get(), 'a');
  q.addRateLimited('b');
  t.same(clock.pendingDelays(), [20], 'the backoff continues from where it was');
});

t.test('the earliest of several addAfters for a key wins', async (t) => {
  const { q, clock } = setup();
  q.addAfter('a', 100);
  q.addAfter('a', 30);
  q.addAfter('a', 60);
  t.same(clock.pendingDelays(), [30], 'one timer, the earliest');
  clock.advance(30);
  t.equal(await q.get(), 'a');
  q.done('a');
  clock.advance(1000);
  t.equal(q.len(), 0, 'the later deadlines were dropped');
  q.addAfter('a', 10);
  q.addRateLimited('a');
  t.same(clock.pendingDelays(), [10], 'a backoff later than a pending addAfter does not postpone it');
});

t.test('addAfter with no delay adds at once; NaN is refused; huge delays are cut to the timer limit', async (t) => {
  const { q, clock } = setup();
  q.addAfter('a', 0);
  q.addAfter('b', -5);
  t.equal(q.len(), 2);
  t.same(clock.pending(), []);
  t.throws(() => q.addAfter('c', Number.NaN), RangeError);
  q.addAfter('c', Number.POSITIVE_INFINITY);
  t.same(clock.pendingDelays(), [MAX_TIMER_DELAY_MS]);
});

t.test('get() with an abort signal', async (t) => {
  const { q } = setup();
  const ac = new AbortController();
  const waiting = q.get(ac.signal);
  ac.abort(new Error('leadership lost'));
  await t.rejects(waiting, { message: 'leadership lost' }, 'rejects with the reason');
  q.add('a');
  t.equal(q.len(), 1, 'the aborted call took no key');
  await t.rejects(q.get(ac.signal), { message: 'leadership lost' }, 'an aborted signal rejects at once');
  t.equal(q.len(), 1, 'even when a key is waiting');

  q.done((await q.get())!);
  const live = new AbortController();
  for (let i = 0; i < 20; i++) {
    q.add(`k${i}`);
    const key = await q.get(live.signal);
    q.done(key!);
  }
  const parked = track(q.get(live.signal));
  q.add('z');
  await settle();
  t.equal(parked.value, 'z');
  t.equal(getEventListeners(live.signal, 'abort').length, 0, 'no abort listener left behind');
});

t.test('shutDown wakes waiters, drops waiting and delayed keys, and is idempotent', async (t) => {
  const { q, clock } = setup();
  q.add('a');
  t.equal(await q.get(), 'a');
  q.add('a');
  q.add('b');
  q.addAfter('c', 100);
  q.addRateLimited('d');
  const extra = track(q.get());
  await settle();
  t.equal(extra.value, 'b');
  const waiters = [track(q.get()), track(q.get())];
  q.shutDown();
  q.shutDown();
  await settle();
  t.same(waiters, [{ settled: true, value: undefined }, { settled: true, value: undefined }]);
  t.ok(q.isShuttingDown());
  t.same(clock.pending(), [], 'timers cancelled');
  q.add('e');
  q.addAfter('e', 10);
  q.addRateLimited('e');
  t.equal(q.len(), 0, 'adds are ignored');
  t.same(clock.pending(), []);
  t.equal(q.numRequeues('e'), 0);
  q.done('a');
  q.done('b');
  t.equal(await q.get(), undefined, 'the re-added a is not handed out');
  t.equal(q.processingCount(), 0);
});

t.test('shutDownWithDrain hands out what is left, ignores adds and waits for in-flight keys', async (t) => {
  const { q, clock } = setup();
  q.add('a');
  q.add('b');
  t.equal(await q.get(), 'a');
  q.add('a'); // changed mid-reconcile: must still be handled
  q.addAfter('c', 100);
  const drained = track(q.shutDownWithDrain());
  const drainedAgain = track(q.shutDownWithDrain());
  t.same(clock.pending(), [], 'delayed keys dropped');
  q.add('d');
  q.addRateLimited('e');
  t.equal(q.len(), 1, 'new adds are ignored');

  t.equal(await q.get(), 'b', 'waiting keys are still handed out');
  const waiter = track(q.get());
  await settle();
  t.notOk(waiter.settled, 'a is coming back from processing, so a worker waits for it');
  q.done('b');
  q.done('a');
  await settle();
  t.equal(waiter.value, 'a');
  t.equal(await q.get(), undefined, 'nothing left to hand out');
  t.notOk(drained.settled, 'a is still being processed');
  q.done('a');
  await settle();
  t.ok(drained.settled && drainedAgain.settled, 'every drain call resolves');
  t.equal(drained.error, undefined);
  await q.shutDownWithDrain(); // nothing in flight: resolves at once
});

t.test('shutDown cuts a drain short; a drain can be abandoned through its signal', async (t) => {
  const { q } = setup();
  q.add('a');
  q.add('b');
  await q.get();
  const drained = track(q.shutDownWithDrain());
  const ac = new AbortController();
  const abandoned = q.shutDownWithDrain(ac.signal);
  ac.abort(new Error('deadline'));
  await t.rejects(abandoned, { message: 'deadline' });
  q.shutDown();
  t.equal(await q.get(), undefined, 'b is no longer handed out');
  await settle();
  t.notOk(drained.settled, 'the drain still waits for the key in flight');
  q.done('a');
  await settle();
  t.ok(drained.settled);
  await t.rejects(q.shutDownWithDrain(AbortSignal.abort(new Error('late'))), { message: 'late' });
});

t.test('the constructor rejects inconsistent backoff options', async (t) => {
  const bad: WorkQueueOptions[] = [
    { baseDelayMs: -1 },
    { baseDelayMs: 0 },
    { baseDelayMs: Number.NaN },
    { baseDelayMs: 50, maxDelayMs: 10 },
    { maxDelayMs: 5 },
    { maxDelayMs: Number.POSITIVE_INFINITY },
    { maxDelayMs: MAX_TIMER_DELAY_MS + 1 },
  ];
  for (const opts of bad) t.throws(() => new WorkQueue(opts), RangeError, JSON.stringify(opts));
  t.doesNotThrow(() => new WorkQueue({ baseDelayMs: 5, maxDelayMs: 5 }), 'cap equal to base is fine');
});
