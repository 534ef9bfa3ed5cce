// Acceptance: 8 writers making 500 writes each while 3 watchers watch. Every watcher sees
// every committed revision exactly once, in strictly increasing order, and replaying its
// events gives the final state. Writers and watchers are spread over two API processes
// (two watch hubs) on one database, and some objects are written by two writers at once.
import t from 'tap';
import { nsPath, openWatch, ps, startApi } from '../helpers/api.js';

const WRITERS = 8;
const WRITES = 500;
const P = nsPath('load');

t.test('8 writers × 500 writes, 3 watchers: nothing lost, nothing repeated, in order', async (t) => {
  const a = await startApi(t);
  const b = await startApi(t, { connectionString: a.connectionString });
  const start = await a.store.resources.currentRevision();
  const watchers = [
    await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${start}`, a.adminToken),
    await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${start}`, a.adminToken, 'text/event-stream'),
    await openWatch(b.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${start}`, b.adminToken),
  ];
  const acked: number[] = [];
  const writer = async (w: number) => {
    const api = w % 2 === 0 ? a : b;
    for (let i = 0; i < WRITES; i++) {
      // objects s0..s4 are shared by every writer; the rest belong to one writer
      const name = i % 10 === 0 ? `s${i % 5}` : `w${w}-${i % 7}`;
      let res;
      if (i % 50 === 49) res = await api.request('DELETE', `${P}/${name}`);
      else res = await api.request('PUT', `${P}/${name}`, { body: ps(name, { port: 1 + ((w * WRITES + i) % 60000) }) });
      if (res.status === 404) continue; // deleting what another writer deleted first
      t.ok(res.status === 200 || res.status === 201, `write answered ${res.status}`, { diagnostic: false });
      acked.push(Number(res.body.metadata.resourceVersion));
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const elapsed = (Date.now() - t0) / 1000;
  t.comment(`${acked.length} acknowledged writes in ${elapsed.toFixed(1)} s (${Math.round(acked.length / elapsed)}/s)`);

  const end = await a.store.resources.currentRevision();
  const committed = (await a.store.pool.query('SELECT revision FROM events_log WHERE revision > $1 AND namespace = $2 ORDER BY revision', [start, 'load'])).rows.map((r) => Number(r.revision));
  t.ok(committed.length >= WRITERS * WRITES * 0.9, `about ${WRITERS * WRITES} revisions committed (${committed.length})`);
  t.equal(new Set(acked).size, acked.length, 'no two acknowledged writes share a revision');
  const committedSet = new Set(committed);
  t.ok(acked.every((r) => committedSet.has(r)), 'every acknowledged write is in the log');

  for (const [i, w] of watchers.entries()) {
    await w.until((evs) => evs.length > 0 && Number(evs[evs.length - 1].object.metadata.resourceVersion) >= end, 30_000);
    const revs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    t.same(revs, committed, `watcher ${i} saw every committed revision exactly once, in order`);
    let increasing = true;
    for (let k = 1; k < revs.length; k++) if (revs[k] <= revs[k - 1]) increasing = false;
    t.ok(increasing, `watcher ${i}: strictly increasing`);

    const replay = new Map<string, any>();
    for (const e of w.events) {
      if (e.type === 'DELETED') replay.delete(e.object.metadata.name);
      else replay.set(e.object.metadata.name, e.object);
    }
    const final = (await a.request('GET', P)).body.items as any[];
    t.same(
      [...replay.values()].map((o) => [o.metadata.name, o.metadata.resourceVersion, o.spec.port]).sort(),
      final.map((o) => [o.metadata.name, o.metadata.resourceVersion, o.spec.port]).sort(),
      `watcher ${i}: the replay equals the final state`,
    );
    await w.close();
  }
});
