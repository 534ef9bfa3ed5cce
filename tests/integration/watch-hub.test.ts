// The watch hub on a real Postgres: NOTIFY delivers a write at once although the backstop poll
// is slow; the poll still delivers what a lost notification would have; no gaps either way.
import t, { type Test } from 'tap';
import { kindByName } from '../../resources/index.js';
import { WatchHub, type LogEvent } from '../../store/index.js';
import { ps, startApi } from '../helpers/api.js';

const PS = kindByName('ProjectServer')!;

/** A hub of its own (not the store's, which the store's writes nudge in-process): only NOTIFY or its poll reach it. */
async function hubOn(t: Test, connectionString: string, pollIntervalMs: number) {
  const hub = new WatchHub({ connectionString, pollIntervalMs });
  await hub.start();
  t.teardown(() => hub.stop());
  const seen: Array<{ ev: LogEvent; at: number }> = [];
  hub.subscribe((ev) => seen.push({ ev, at: performance.now() }));
  const waitFor = async (n: number, ms: number) => {
    const until = performance.now() + ms;
    while (seen.length < n && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    return seen.length >= n;
  };
  return { hub, seen, waitFor };
}

t.test('with LISTEN up, a write arrives by NOTIFY, long before the backstop poll', async (t) => {
  const a = await startApi(t);
  const h = await hubOn(t, a.connectionString, 60_000);
  const sent: number[] = [];
  for (let i = 0; i < 20; i++) {
    sent.push(performance.now());
    await a.store.resources.create(PS, 'default', ps(`site-${i}`));
  }
  t.ok(await h.waitFor(20, 5000), 'all 20 writes arrived');
  const lags = h.seen.map((s, i) => s.at - sent[i]);
  t.ok(Math.max(...lags) < 2000, `each within 2 s of being sent (max ${Math.max(...lags).toFixed(0)} ms; the poll is 60 s)`);
  const revs = h.seen.map((s) => s.ev.revision);
  t.same(revs, [...revs].sort((x, y) => x - y), 'in revision order');
  t.equal(new Set(revs).size, 20, 'each once');
});

t.test('a lost notification: the backstop poll delivers it, without a gap', async (t) => {
  const a = await startApi(t);
  const h = await hubOn(t, a.connectionString, 400);
  // the doorbell is deaf from here on (as if notifications were lost); only the poll reads the log
  const client = (h.hub as unknown as { client: { removeAllListeners(e: string): void } }).client;
  client.removeAllListeners('notification');
  for (let i = 0; i < 5; i++) await a.store.resources.create(PS, 'default', ps(`quiet-${i}`));
  t.ok(await h.waitFor(5, 3000), 'all 5 arrived by the poll');
  t.same(
    h.seen.map((s) => s.ev.name),
    [0, 1, 2, 3, 4].map((i) => `quiet-${i}`),
    'in order, each once',
  );
});
