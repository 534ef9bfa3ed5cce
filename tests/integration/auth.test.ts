// Authentication and the authorisation matrix: each role × in-scope and out-of-scope
// namespace × read and write; token management; revocation at once.
import t from 'tap';
import { nsPath, openWatch, ps, startApi } from '../helpers/api.js';

t.test('no token, a bad token, and public endpoints', async (t) => {
  const a = await startApi(t);
  for (const path of ['/apis', nsPath('default'), '/openapi.yaml', '/api/tokens']) {
    const none = await a.request('GET', path, { token: null });
    t.equal(none.status, 401, `${path} needs a token`);
    t.equal(none.body.kind, 'Status');
    t.equal(none.body.reason, 'Unauthorized');
    const bad = await a.request('GET', path, { token: 'nope' });
    t.equal(bad.status, 401);
  }
  const basic = await a.request('GET', nsPath('default'), { token: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } });
  t.equal(basic.status, 401);
  for (const path of ['/healthz', '/readyz', '/version']) t.equal((await a.request('GET', path, { token: null })).status, 200, `${path} is public`);
});

t.test('the matrix: role × namespace scope × read/write', async (t) => {
  const a = await startApi(t);
  await a.request('PUT', `${nsPath('team-a')}/seed`, { body: ps('seed') });
  await a.request('PUT', `${nsPath('team-b')}/seed`, { body: ps('seed') });
  const tokens = {
    admin: a.adminToken,
    editor: await a.token('ed', 'editor', ['team-a']),
    viewer: await a.token('vw', 'viewer', ['team-a']),
  };
  const expect: Record<string, Record<'in' | 'out', { read: number; write: number }>> = {
    admin: { in: { read: 200, write: 200 }, out: { read: 200, write: 200 } },
    editor: { in: { read: 200, write: 200 }, out: { read: 403, write: 403 } },
    viewer: { in: { read: 200, write: 403 }, out: { read: 403, write: 403 } },
  };
  let n = 0;
  for (const role of ['admin', 'editor', 'viewer'] as const) {
    for (const scope of ['in', 'out'] as const) {
      const ns = scope === 'in' ? 'team-a' : 'team-b';
      const token = tokens[role];
      const want = expect[role][scope];
      // reads: get, list, watch
      t.equal((await a.request('GET', `${nsPath(ns)}/seed`, { token })).status, want.read, `${role} get in ${scope}-scope ns`);
      t.equal((await a.request('GET', nsPath(ns), { token })).status, want.read, `${role} list in ${scope}-scope ns`);
      const w = await a.request('GET', `${nsPath(ns)}?watch=true&timeoutSeconds=1`, { token });
      t.equal(w.status, want.read, `${role} watch in ${scope}-scope ns`);
      // writes: create, replace, patch, status, delete
      const name = `w${n++}`;
      const created = await a.request('POST', nsPath(ns), { token, body: ps(name) });
      t.equal(created.status, want.write === 200 ? 201 : want.write, `${role} create in ${scope}-scope ns`);
      t.equal((await a.request('PUT', `${nsPath(ns)}/seed`, { token, body: ps('seed', { port: n }) })).status, want.write, `${role} replace`);
      t.equal(
        (await a.request('PATCH', `${nsPath(ns)}/seed`, { token, body: { spec: { port: 1 } }, contentType: 'application/merge-patch+json' })).status,
        want.write,
        `${role} patch`,
      );
      t.equal((await a.request('PUT', `${nsPath(ns)}/seed/status`, { token, body: { ...ps('seed'), status: { restartCount: n } } })).status, want.write, `${role} status`);
      const del = await a.request('DELETE', `${nsPath(ns)}/${name}`, { token });
      t.equal(del.status, want.write === 200 ? 200 : want.write === 403 ? 403 : del.status, `${role} delete`);
      if (want.write === 403) {
        t.equal(created.body.reason, 'Forbidden');
        t.match(created.body.message, role === 'viewer' && scope === 'in' ? /may only read/ : /namespaces are "team-a"/);
      }
    }
  }
  // nothing a refused request sent was stored
  t.equal((await a.request('GET', `${nsPath('team-b')}/seed`)).body.spec.port, (await a.request('GET', `${nsPath('team-b')}/seed`)).body.spec.port);
  const b = await a.request('GET', nsPath('team-b'));
  t.same(b.body.items.map((i: any) => i.metadata.name).sort(), ['seed'], 'no object was created by a refused write');
});

t.test('scoped tokens see only their namespaces across namespaces (list and watch)', async (t) => {
  const a = await startApi(t);
  const viewer = await a.token('vw', 'viewer', ['team-a']);
  const star = await a.token('all', 'viewer', ['*']);
  await a.request('PUT', `${nsPath('team-a')}/x`, { body: ps('x') });
  await a.request('PUT', `${nsPath('team-b')}/y`, { body: ps('y') });
  const list = await a.request('GET', '/apis/deployer.dev/v1/projectservers', { token: viewer });
  t.same(list.body.items.map((i: any) => i.metadata.namespace), ['team-a']);
  const all = await a.request('GET', '/apis/deployer.dev/v1/projectservers', { token: star });
  t.same(all.body.items.map((i: any) => i.metadata.namespace), ['team-a', 'team-b'], '"*" sees every namespace');
  const w = await openWatch(a.url, '/apis/deployer.dev/v1/projectservers?watch=true&allowWatchBookmarks=false', viewer, 'text/event-stream');
  await w.until((e) => e.length === 1);
  await a.request('PUT', `${nsPath('team-b')}/y2`, { body: ps('y2') });
  await a.request('PUT', `${nsPath('team-a')}/x2`, { body: ps('x2') });
  await w.until((e) => e.length === 2);
  t.same(w.events.map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`), ['team-a/x', 'team-a/x2']);
  await w.close();
  t.equal((await a.request('GET', '/api/tokens', { token: star })).status, 403, 'token management is for admins');
});

t.test('token management: create shows the secret once, list hides it, delete revokes at once', async (t) => {
  const a = await startApi(t);
  const created = await a.request('POST', '/api/tokens', { body: { name: 'ci', role: 'editor', namespaces: ['team-a'] } });
  t.equal(created.status, 201);
  t.match(created.body.token, /^dpl_/);
  const secret = created.body.token;
  t.equal((await a.request('GET', nsPath('team-a'), { token: secret })).status, 200);
  const list = await a.request('GET', '/api/tokens');
  t.same(list.body.items.map((i: any) => i.name).sort(), ['admin', 'ci']);
  t.notOk(JSON.stringify(list.body).includes(secret), 'no secret in the list');
  t.notOk(list.body.items.some((i: any) => 'token' in i || 'hash' in i || 'token_hash' in i));
  const stored = await a.store.pool.query('SELECT token_hash FROM api_tokens WHERE name = $1', ['ci']);
  t.not(stored.rows[0].token_hash, secret, 'stored hashed');
  t.equal((await a.request('POST', '/api/tokens', { body: { name: 'ci', role: 'viewer' } })).status, 409);
  t.equal((await a.request('POST', '/api/tokens', { body: { name: 'x', role: 'root' } })).status, 422);
  t.equal((await a.request('POST', '/api/tokens', { body: { name: 'x', role: 'viewer', extra: 1 } })).status, 400);
  t.equal((await a.request('POST', '/api/tokens', { token: secret, body: { name: 'y', role: 'admin' } })).status, 403, 'editors cannot mint tokens');
  const del = await a.request('DELETE', '/api/tokens/ci');
  t.equal(del.status, 200);
  t.equal((await a.request('GET', nsPath('team-a'), { token: secret })).status, 401, 'revoked at once');
  t.equal((await a.request('DELETE', '/api/tokens/ci')).status, 404);
});

t.test('a revoke in one process takes effect in another within a notification', async (t) => {
  const a = await startApi(t);
  const b = await startApi(t, { connectionString: a.connectionString });
  const secret = await a.token('shared', 'viewer', ['*']);
  t.equal((await b.request('GET', nsPath('x'), { token: secret })).status, 200, 'b cached the token');
  await a.request('DELETE', '/api/tokens/shared');
  let status = 0;
  for (let i = 0; i < 50; i++) {
    status = (await b.request('GET', nsPath('x'), { token: secret })).status;
    if (status === 401) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(status, 401);
});
