// Open watches re-check their tokens (api/routes/watch.ts createWatchRegistry): a revoked
// token's watches are told and end, a changed one's end, a database outage ends nothing;
// and the token store's cache behind it (store/tokens.ts): one query per token however many
// watches ask, and a lookup that raced a revoke is not cached.
import t from 'tap';
import type pg from 'pg';
import { createWatchRegistry } from '../../api/routes/watch.js';
import type { TokenInfo } from '../../schemas/index.js';
import { TokenStore } from '../../store/tokens.js';

const info = (name: string, namespaces = ['a']): TokenInfo => ({ name, role: 'viewer', namespaces, createdAt: '2026-01-01T00:00:00.000Z' });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the registry: revoked → revoked(), changed → end(), unreachable → nothing; one lookup per secret', async (t) => {
  const answers = new Map<string, TokenInfo | null | Error>([
    ['s-a', info('a')],
    ['s-b', info('b')],
  ]);
  const asked: string[] = [];
  const tokens = {
    authenticate: async (secret: string) => {
      asked.push(secret);
      const a = answers.get(secret);
      if (a instanceof Error) throw a;
      return a ?? null;
    },
  };
  const logged: string[] = [];
  const reg = createWatchRegistry({ tokens, recheckMs: 20, log: (m) => logged.push(m) });
  const happened: string[] = [];
  const watch = (id: string, secret: string, who: TokenInfo) => {
    let unregister = () => undefined as unknown;
    const end = () => {
      happened.push(`end ${id}`);
      unregister();
    };
    unregister = reg.add(end, { secret, who, revoked: () => (happened.push(`revoked ${id}`), end()) });
  };
  watch('a1', 's-a', info('a'));
  watch('a2', 's-a', info('a'));
  watch('b1', 's-b', info('b'));
  await tick(70);
  t.same(happened, [], 'valid tokens: every watch goes on');
  t.ok(asked.length >= 4 && asked.filter((s) => s === 's-a').length === asked.filter((s) => s === 's-b').length, `one lookup per secret per tick (${asked.join(',')})`);

  answers.set('s-b', new Error('database unreachable'));
  await tick(70);
  t.same(happened, [], 'an unreachable database ends no watch');
  t.equal(logged.length, 1, 'and is logged once, not every tick');

  answers.set('s-a', null);
  answers.set('s-b', info('b', ['a', 'b']));
  await tick(70);
  t.same(happened.sort(), ['end a1', 'end a2', 'end b1', 'revoked a1', 'revoked a2'], 'revoked: told, then ended; changed namespaces: ended');
  t.equal(reg.size, 0);
  asked.length = 0;
  await tick(50);
  t.same(asked, [], 'no open watch: no timer asks');
});

t.test('a watch without a token (none to check) is never ended by the registry', async (t) => {
  let asked = 0;
  const reg = createWatchRegistry({ tokens: { authenticate: async () => (asked++, null) }, recheckMs: 10 });
  let ended = false;
  const unregister = reg.add(() => (ended = true));
  await tick(40);
  t.equal(ended, false);
  t.equal(asked, 0);
  unregister();
});

/** A pool whose queries wait until released, answering from `rows`. */
function fakePool() {
  const waiting: (() => void)[] = [];
  const state = { rows: [{ name: 'x', role: 'viewer', namespaces: ['a'], created_at: new Date(0) }] as unknown[], queries: 0 };
  const pool = {
    query: async () => {
      state.queries++;
      const rows = state.rows;
      await new Promise<void>((r) => waiting.push(r));
      return { rows };
    },
  } as unknown as pg.Pool;
  const release = () => waiting.splice(0).forEach((r) => r());
  return { pool, state, release };
}

t.test('TokenStore: concurrent lookups of one token share a query; answers are cached', async (t) => {
  const { pool, state, release } = fakePool();
  const store = new TokenStore(pool);
  const all = Promise.all(Array.from({ length: 50 }, () => store.authenticate('secret')));
  await tick(5);
  release();
  const got = await all;
  t.equal(state.queries, 1, '50 callers, one query');
  t.ok(got.every((g) => g?.name === 'x'));
  t.equal((await store.authenticate('secret'))?.name, 'x');
  t.equal(state.queries, 1, 'then from the cache');
});

t.test('TokenStore: a lookup that raced a revoke is not cached (the revoked token stays out)', async (t) => {
  const { pool, state, release } = fakePool();
  const store = new TokenStore(pool);
  const racing = store.authenticate('secret'); // started before the revoke committed: sees the row
  await tick(5);
  state.rows = []; // the revoke commits…
  store.invalidate(); // …and its notification clears the cache
  release();
  t.equal((await racing)?.name, 'x', 'the racing caller gets what its query saw');
  const next = store.authenticate('secret');
  await tick(5);
  release();
  t.equal(await next, null, 'the next lookup asks again and finds the token gone');
  t.equal(state.queries, 2);
});
