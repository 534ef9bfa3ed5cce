// The watch hub on a real Postgres: NOTIFY delivers a write at once although the backstop poll
// is slow; the poll still delivers what a lost notification would have; no gaps either way;
// reads that keep failing on a live connection are logged once, not every retry.
import pg from 'pg';
import t, { type Test } from 'tap';
import { kindByName } from '../../resources/index.js';
import { WatchHub, type LogEvent } from '../../store/index.js';
import { ps, startApi } from '../helpers/api.js';

const PS = kindByName('ProjectServer')!;

/** A hub of its own (not the store's, which the store's writes nudge in-process): only NOTIFY or its poll reach it. */
async function hubOn(t: Test, connectionString: string, pollIntervalMs: number, log?: (msg: string, err?: unknown) => void) {
  const hub = new WatchHub({ connectionString, pollIntervalMs, log });
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

t.test('reads failing on a live connection: one line when they start, one when they succeed again; nothing lost', async (t) => {
  const a = await startApi(t);
  const lines: string[] = [];
  const h = await hubOn(t, a.connectionString, 100, (msg) => lines.push(msg));
  const admin = new pg.Client({ connectionString: a.connectionString });
  await admin.connect();
  t.teardown(() => admin.end());
  // a column's new type invalidates the hub's prepared read: every execution fails ("cached plan
  // must not change result type") while its connection stays up, until the type is back
  await admin.query('ALTER TABLE events_log ALTER COLUMN name TYPE varchar(300)');
  for (let i = 0; i < 3; i++) await a.store.resources.create(PS, 'default', ps(`during-${i}`));
  await new Promise((r) => setTimeout(r, 3000)); // about six retries at READ_RETRY_MS
  t.equal(h.seen.length, 0, 'nothing read meanwhile');
  await admin.query('ALTER TABLE events_log ALTER COLUMN name TYPE text');
  t.ok(await h.waitFor(3, 3000), 'the three writes arrive once reads succeed again');
  t.same(h.seen.map((s) => s.ev.name), ['during-0', 'during-1', 'during-2'], 'in order, each once');
  const failed = lines.filter((l) => l.startsWith('watch hub read failed'));
  t.equal(failed.length, 1, `one line for the failing reads, not one per retry (${JSON.stringify(lines)})`);
  t.match(failed[0], /retrying every 500 ms/);
  t.ok(lines.some((l) => /^watch hub reads succeed again \(after \d+ s\)$/.test(l)), 'and one when they succeed again');
});
