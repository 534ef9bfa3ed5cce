// Leases (one per controller) and fencing of controllers' writes, on a real Postgres.
import t from 'tap';
import { kindByName } from '../../resources/index.js';
import { LEASE_LOCK_CLASS } from '../../store/lease-session.js';
import { LeaseStore } from '../../store/leases.js';
import { ps, startApi } from '../helpers/api.js';

const PS = kindByName('ProjectServer')!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('acquire, renew, refuse others, expire, release', async (t) => {
  const a = await startApi(t);
  const L = a.store.leases;
  const one = await L.tryAcquireOrRenew('projectserver', 'p1', 400);
  t.ok(one.acquired);
  t.equal(one.holder, 'p1');
  t.equal(one.token, 1);
  const renewed = await L.tryAcquireOrRenew('projectserver', 'p1', 400);
  t.ok(renewed.acquired);
  t.equal(renewed.token, 1, 'renewing keeps the token');
  t.ok(Date.parse(renewed.expiresAt!) >= Date.parse(one.expiresAt!), 'and moves the expiry');
  const other = await L.tryAcquireOrRenew('projectserver', 'p2', 400);
  t.notOk(other.acquired, 'a held lease is refused to others');
  t.equal(other.holder, 'p1');
  t.ok(other.valid);
  await sleep(450);
  const taken = await L.tryAcquireOrRenew('projectserver', 'p2', 400);
  t.ok(taken.acquired, 'an expired lease can be taken');
  t.equal(taken.token, 2, 'the token goes up with the new holder');
  const late = await L.tryAcquireOrRenew('projectserver', 'p1', 400);
  t.notOk(late.acquired, 'the old holder cannot renew once taken over');
  await L.release('projectserver', 'p1'); // not the holder: no effect
  t.equal((await L.list())[0].holder, 'p2');
  await L.release('projectserver', 'p2');
  const free = (await L.list())[0];
  t.equal(free.holder, null);
  t.notOk(free.valid);
  const next = await L.tryAcquireOrRenew('projectserver', 'p3', 400);
  t.ok(next.acquired, 'a released lease is free at once');
  t.equal(next.token, 3);
  // another controller's lease is independent
  t.ok((await L.tryAcquireOrRenew('route', 'p1', 400)).acquired);
});

t.test('racing acquirers of a free lease: exactly one wins', async (t) => {
  const a = await startApi(t);
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => a.store.leases.tryAcquireOrRenew('race', `p${i}`, 5000)));
  t.equal(results.filter((r) => r.acquired).length, 1);
  t.equal(new Set(results.map((r) => r.holder)).size, 1, 'everyone sees the same holder');
});

t.test('fencing: a controller write with a lost lease is refused with 409 Fenced', async (t) => {
  const a = await startApi(t);
  await a.request('PUT', '/apis/deployer.dev/v1/namespaces/default/projectservers/blog', { body: ps('blog') });
  const L = a.store.leases;
  const mine = await L.tryAcquireOrRenew('projectserver', 'old-leader', 300);
  const fence = { lease: 'projectserver', token: mine.token };
  const ok = await a.store.resources.patch(PS, 'default', 'blog', 'merge', { status: { restartCount: 1 } }, { subresource: 'status', fence });
  t.equal((ok.status as any)?.restartCount, 1, 'accepted while the lease is held');
  await sleep(350);
  const expired = await a.store.resources
    .patch(PS, 'default', 'blog', 'merge', { status: { restartCount: 2 } }, { subresource: 'status', fence })
    .catch((e) => e);
  t.equal(expired.code, 409, 'refused once the lease expired');
  t.equal(expired.reason, 'Fenced');
  await L.tryAcquireOrRenew('projectserver', 'new-leader', 5000);
  const stale = await a.store.resources
    .replace(PS, 'default', 'blog', { ...ps('blog'), status: { restartCount: 3 } }, { subresource: 'status', fence })
    .catch((e) => e);
  t.equal(stale.reason, 'Fenced', 'refused after another process took over');
  const newFence = { lease: 'projectserver', token: (await L.list()).find((l) => l.name === 'projectserver')!.token };
  const fresh = await a.store.resources.patch(PS, 'default', 'blog', 'merge', { status: { restartCount: 4 } }, { subresource: 'status', fence: newFence });
  t.equal((fresh.status as any)?.restartCount, 4, 'the new leader writes');
  t.equal((await a.request('GET', '/apis/deployer.dev/v1/namespaces/default/projectservers/blog')).body.status.restartCount, 4, 'no refused write got through');
});

t.test('many leases in one statement: taken, renewed, refused per lease, released together', async (t) => {
  const a = await startApi(t);
  const L = a.store.leases;
  const names = ['cleanup', 'deployment', 'projectserver', 'route'];
  const first = await L.tryAcquireOrRenewMany(names, 'p1', 400);
  t.same(first.map((r) => [r.name, r.acquired, r.token]).sort(), names.map((n) => [n, true, 1]), 'all four taken, token 1');
  await L.tryAcquireOrRenew('route', 'p1', 400); // the single-lease form agrees
  const renewed = await L.tryAcquireOrRenewMany(names, 'p1', 400);
  t.ok(renewed.every((r) => r.acquired && r.token === 1 && r.holder === 'p1'), 'renewing keeps every token');
  await L.release('route', 'p1'); // one freed, the others still held by p1
  const other = new Map((await L.tryAcquireOrRenewMany(names, 'p2', 400)).map((r) => [r.name, r]));
  t.equal(other.size, 4, 'an answer for every lease');
  t.ok(other.get('route')!.acquired, 'the free one taken by p2');
  t.equal(other.get('route')!.token, 2, 'a new token with the new holder');
  for (const n of ['cleanup', 'deployment', 'projectserver']) {
    t.notOk(other.get(n)!.acquired, `${n} refused to p2`);
    t.equal(other.get(n)!.holder, 'p1', `${n}: the holder is named`);
    t.ok(other.get(n)!.valid);
  }
  const back = new Map((await L.tryAcquireOrRenewMany(names, 'p1', 400)).map((r) => [r.name, r]));
  t.notOk(back.get('route')!.acquired, 'p1 cannot take route back while p2 holds it');
  t.ok(back.get('cleanup')!.acquired, 'and still renews its own in the same statement');
  await L.releaseMany(names, 'p1');
  const now = new Map((await L.list()).map((l) => [l.name, l]));
  t.equal(now.get('cleanup')!.holder, null, "p1's released");
  t.equal(now.get('route')!.holder, 'p2', "p2's untouched");
  t.same(await L.tryAcquireOrRenewMany([], 'p1', 400), [], 'no names, no statement');
});

t.test('processes racing for the same leases in different orders: no deadlock, one holder each', async (t) => {
  const a = await startApi(t);
  const names = ['a', 'b', 'c', 'd', 'e'];
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => a.store.leases.tryAcquireOrRenewMany(i % 2 ? [...names].reverse() : names, `p${i}`, 5000)),
    );
    for (const n of names) {
      const winners = results.flatMap((rs) => rs.filter((r) => r.name === n && r.acquired).map((r) => r.holder));
      t.ok(winners.length <= 1, `round ${round}: ${n} has at most one winner`);
    }
  }
  const held = await a.store.leases.list();
  t.equal(held.filter((l) => l.valid).length, 5, 'every lease held');
  t.equal(new Set(held.map((l) => l.holder)).size >= 1, true);
});

t.test("a holder's session ends: its leases are free before they expire, a new session of the same holder is a new term; a release is announced", async (t) => {
  const a = await startApi(t);
  const L = a.store.leases;
  const lost: string[] = [];
  const released: string[][] = [];
  const unwatch1 = L.watchSession('p1', { lost: (r) => lost.push(r), released: () => undefined });
  const unwatch2 = L.watchSession('p2', { lost: () => undefined, released: (names) => released.push(names) });
  t.teardown(() => (unwatch1(), unwatch2()));
  const taken = await L.tryAcquireOrRenewMany(['x', 'y'], 'p1', 60_000);
  t.ok(taken.every((r) => r.acquired && r.token === 1));
  t.notOk((await L.tryAcquireOrRenew('x', 'p2', 60_000)).acquired, "refused while p1's session lives (the lease has a minute to run)");

  // Cut p1's session from the server's side, as the end of its process would.
  const cut = async (name: string) => {
    const res = await a.store.pool.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(k.pid)) AS n FROM pg_locks k JOIN leases l ON l.name = $2
       WHERE k.locktype = 'advisory' AND k.classid::bigint = $1 AND k.objid::bigint = l.holder_key AND k.objsubid = 2`,
      [LEASE_LOCK_CLASS, name],
    );
    return Number(res.rows[0].n);
  };
  t.equal(await cut('x'), 1, "one backend holds p1's session lock");
  for (let i = 0; i < 100 && lost.length === 0; i++) await sleep(20);
  t.equal(lost.length, 1, "p1's watcher heard that its session ended");
  const stolen = await L.tryAcquireOrRenew('x', 'p2', 60_000);
  t.ok(stolen.acquired, 'p2 takes x at once, 59 s before it expires');
  t.equal(stolen.token, 2, 'a new holder: the token goes up');
  const back = await L.tryAcquireOrRenewMany(['x', 'y'], 'p1', 60_000);
  t.notOk(back.find((r) => r.name === 'x')!.acquired, "p1's new session: x is p2's now");
  const y = back.find((r) => r.name === 'y')!;
  t.ok(y.acquired, 'p1 keeps y (nobody took it)…');
  t.equal(y.token, 2, '…under a new token: its old session is a past term, whose writes are fenced');
  t.equal((await L.tryAcquireOrRenewMany(['y'], 'p1', 60_000))[0].token, 2, 'renewing on the same session keeps the token');

  await L.releaseMany(['y'], 'p1');
  for (let i = 0; i < 100 && released.length === 0; i++) await sleep(20);
  t.same(released, [['y']], 'the release was announced to the other holders (a session of theirs listens)');
});

t.test('a lease round that hangs cuts its session instead of stalling the rounds behind it', async (t) => {
  const a = await startApi(t);
  const L = a.store.leases;
  const lost: string[] = [];
  const unwatch = L.watchSession('p1', { lost: (r) => lost.push(r), released: () => undefined });
  t.teardown(unwatch);
  t.ok((await L.tryAcquireOrRenew('z', 'p1', 60_000)).acquired);
  // hold z's row lock in another transaction: p1's next round waits on it
  const blocker = await a.store.pool.connect();
  t.teardown(() => blocker.release());
  await blocker.query('BEGIN');
  await blocker.query("SELECT * FROM leases WHERE name = 'z' FOR UPDATE");
  const started = Date.now();
  await t.rejects(L.tryAcquireOrRenewMany(['z'], 'p1', 500), 'the round fails');
  t.ok(Date.now() - started < 3000, `after its lease duration (${Date.now() - started} ms), not never`);
  t.match(lost[0] ?? '', /unanswered for 500 ms/, 'reported as the end of the session, with why');
  await blocker.query('ROLLBACK');
  const again = await L.tryAcquireOrRenewMany(['z'], 'p1', 60_000);
  t.ok(again[0].acquired, 'the next round opens a new session');
});

t.test('a holder that does not know of session keys (an older deployer mid-upgrade) is not taken for gone', async (t) => {
  const a = await startApi(t);
  const L = a.store.leases;
  t.ok((await L.tryAcquireOrRenew('w', 'new-1', 60_000)).acquired);
  // what an older deployer's round does when it takes the lease: holder and token, no key
  await a.store.pool.query("UPDATE leases SET holder = 'old-1', token = token + 1, renewed_at = now(), expires_at = now() + interval '60 seconds' WHERE name = 'w'");
  const row = await a.store.pool.query<{ holder_key: number | null }>("SELECT holder_key FROM leases WHERE name = 'w'");
  t.equal(row.rows[0].holder_key, null, "the previous holder's key was cleared with the change of holder");
  await L.close(); // new-1's session (and its lock) ends
  const L2 = new LeaseStore(a.store.pool, { connectionString: a.connectionString });
  t.teardown(() => L2.close());
  t.notOk((await L2.tryAcquireOrRenew('w', 'new-2', 60_000)).acquired, "old-1 holds it until it expires: no key, no liveness to judge by");
});
