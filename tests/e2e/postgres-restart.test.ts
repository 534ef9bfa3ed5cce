// Acceptance: restart PostgreSQL under an open watch. While it is down the API answers 503
// with Retry-After; afterwards the watch resumes without a gap (the hub reconnects and
// catches up from the log), and writes go on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEmbedded } from '../../store/index.js';
import { openWatch, ps, startApi } from '../helpers/api.js';
import { freePort } from '../helpers/process.js';

const P = '/apis/deployer.dev/v1/namespaces/default/projectservers';

t.test('a watch survives a Postgres restart without a gap', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-pgrestart-'));
  const port = await freePort();
  let db = await startEmbedded(dir, () => undefined, { port });
  t.teardown(async () => {
    await db.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const a = await startApi(t, { connectionString: db.connectionString });
  const first = await a.request('PUT', `${P}/a`, { body: ps('a', { port: 1 }) });
  const w = await openWatch(a.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${first.body.metadata.resourceVersion}`, a.adminToken);
  for (let i = 2; i <= 20; i++) await a.request('PUT', `${P}/a`, { body: ps('a', { port: i }) });
  await w.until((e) => e.length === 19);

  await db.stop();
  const down = await a.request('PUT', `${P}/a`, { body: ps('a', { port: 999 }) });
  t.equal(down.status, 503, 'writes answer 503 while the database is down');
  t.equal(down.body.reason, 'ServiceUnavailable');
  t.ok(Number(down.headers.get('retry-after')) >= 1, 'with Retry-After');
  const ready = await a.request('GET', '/readyz', { token: null });
  t.equal(ready.status, 503, 'not ready while the database is down');

  db = await startEmbedded(dir, () => undefined, { port });
  let acked = 0;
  for (let i = 21; i <= 40; i++) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const res = await a.request('PUT', `${P}/a`, { body: ps('a', { port: i }) });
      if (res.status === 200) {
        acked++;
        break;
      }
      t.equal(res.status, 503, 'only 503 while reconnecting', { diagnostic: false });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.equal(acked, 20, 'writes go on after the restart');
  await w.until((e) => e.length === 39, 20_000);
  const ports = w.events.map((e) => e.object.spec.port);
  t.same(ports, Array.from({ length: 39 }, (_, i) => i + 2), 'every change once, in order, none lost across the restart');
  t.notOk(ports.includes(999), 'the refused write never happened');
  await w.close();
});
