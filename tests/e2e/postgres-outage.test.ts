// Issue 9, outages: PostgreSQL stopped for 30 s under load, with a deployer process (API and the
// projectserver controller) on it. While the database is down the API answers 503 with
// Retry-After (nothing else), /readyz says not ready and the controller gives up its lease;
// afterwards every acknowledged write is there, a watch opened before the outage delivers every
// acknowledged write exactly once in order (no gap), and the controller leads again and serves a
// server created after the outage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { containerName } from '../../docker/index.js';
import { staticImage } from '../../images/index.js';
import { startEmbedded, type EmbeddedDatabase } from '../../store/index.js';
import { openWatch, ps } from '../helpers/api.js';
import { installationOf, sleep, until } from '../helpers/installation.js';
import { api, freePort, spawnServer } from '../helpers/process.js';

const NS = 'outage';
const P = `/apis/deployer.dev/v1/namespaces/${NS}/projectservers`;
const TOKEN = 'postgres-outage-admin-token';
const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 30) * 1000;
const WRITERS = 4;

t.setTimeout(180_000);

t.test('PostgreSQL down for 30 s under load: 503 with Retry-After, nothing acknowledged lost, controllers stop and resume, watches resume without a gap', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-pgoutage-'));
  const port = await freePort();
  let db: EmbeddedDatabase = await startEmbedded(dir, () => undefined, { port });
  t.teardown(async () => {
    await db.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const { installation, docker } = await installationOf(t, db.connectionString);
  const server = await spawnServer(t, {
    DATABASE_URL: db.connectionString,
    DEPLOYER_ADMIN_TOKEN: TOKEN,
    DEPLOYER_DATA_DIR: join(dir, 'data'),
    DEPLOYER_CONTROLLERS: 'projectserver',
    DEPLOYER_STATIC_IMAGE: await docker.ensureImage(staticImage()),
  });
  await server.waitReady();
  const call = (method: string, path: string, body?: unknown) => api(server.url, TOKEN, method, path, body);
  const leads = async () => {
    const res = await call('GET', '/api/monitoring/leaders');
    return res.status === 200 && (res.body as { items: { name: string; heldByThisProcess: boolean; valid: boolean }[] }).items.some((l) => l.name === 'projectserver' && l.valid && l.heldByThisProcess);
  };
  await until(leads, 'the controller to lead', 20_000);

  // One object per writer, written again and again; the spec's port is the writer's sequence.
  const first = await call('PUT', `${P}/w0`, ps('w0', { port: 1, stopped: true }));
  t.equal(first.status, 201);
  const w = await openWatch(server.url, `${P}?watch=true&resourceVersion=${first.body.metadata.resourceVersion}`, TOKEN);

  const acked = new Map<string, number>(); // object → last acknowledged port
  const ackOrder: string[] = []; // `name:port` in acknowledgement order, per object
  const other: string[] = [];
  let retryAfterMissing = 0;
  let downSince = 0;
  const refusedBefore: string[] = [];
  let refused = 0;
  let stop = false;
  const writer = async (i: number) => {
    const name = `w${i}`;
    for (let n = i === 0 ? 2 : 1; !stop; n++) {
      const res = await fetch(`${server.url}${P}/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(ps(name, { port: n, stopped: true })),
      }).catch(() => undefined);
      if (res && (res.status === 200 || res.status === 201)) {
        acked.set(name, n);
        ackOrder.push(`${name}:${n}`);
        await res.arrayBuffer();
      } else if (res?.status === 503) {
        refused++;
        if (!downSince) refusedBefore.push(`${name}:${n} ${await res.clone().text()}`);
        if (!(Number(res.headers.get('retry-after')) >= 1)) retryAfterMissing++;
        await res.arrayBuffer();
        await sleep(200);
      } else {
        other.push(res ? `${res.status} ${await res.text()}` : 'no answer');
        await sleep(200);
      }
    }
  };
  const writers = Array.from({ length: WRITERS }, (_, i) => writer(i));
  t.teardown(async () => {
    stop = true;
    await Promise.all(writers);
  });
  await until(async () => ackOrder.length >= 40, 'writes before the outage', 20_000);

  const logBefore = server.output().length;
  downSince = Date.now();
  await db.stop();
  const downAt = Date.now();
  await sleep(2000);
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 503, '/readyz: not ready while the database is down');
  await until(async () => /lease: stopped leading/.test(server.output().slice(logBefore)), 'the controller to stop leading', 15_000).catch((err) => {
    t.comment(server.output().slice(logBefore).slice(-4000));
    throw err;
  });
  t.pass('the controller stopped leading: it cannot renew its lease');
  const ackedDuring = ackOrder.length;
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
  const ackedWhileDown = ackOrder.length - ackedDuring;
  const failures = server.output().slice(logBefore).split('\n').filter((l) => l.includes('lease: acquire failed')).length;
  t.ok(failures <= 3, `a failing lease is reported, not repeated every retry (${failures} lines in ${OUTAGE_MS / 1000} s)`);
  db = await startEmbedded(dir, () => undefined, { port });
  const upAt = Date.now();
  await until(async () => ackOrder.length >= ackedDuring + 40, 'writes after the outage', 30_000);
  stop = true;
  await Promise.all(writers);

  t.same(refusedBefore, [], 'no write was refused before the outage');
  t.ok(refused > 0, `writes were refused while the database was down (${refused} answers 503)`);
  t.equal(retryAfterMissing, 0, 'every 503 carries Retry-After');
  t.same(other, [], 'no answer but 2xx and 503');
  t.equal(ackedWhileDown, 0, 'nothing was acknowledged while the database was down');
  t.comment(`outage ${Math.round((upAt - downAt) / 1000)} s; ${ackOrder.length} writes acknowledged, ${refused} refused`);

  // Nothing acknowledged is lost: each object holds its last acknowledged write.
  for (const [name, n] of acked) {
    const res = await call('GET', `${P}/${name}`);
    t.equal((res.body as any).spec.port, n, `${name} holds its last acknowledged write (${n})`);
  }
  // The watch opened before the outage sees every acknowledged write once, in order.
  const expected = ackOrder.filter((x) => x !== 'w0:1');
  await w
    .until((e) => [...acked].every(([name, n]) => e.some((x) => x.object.metadata.name === name && x.object.spec.port === n)), 30_000)
    .catch(() => undefined);
  const seen = w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.object.metadata.name}:${e.object.spec.port}`);
  // The controller's status writes are MODIFIED events with an unchanged spec: one change of
  // the spec is one run of equal entries.
  const changes = (xs: string[]) => xs.filter((x, i) => x !== 'w0:1' && x !== xs[i - 1]);
  for (let i = 0; i < WRITERS; i++) {
    const mine = (xs: string[]) => changes(xs.filter((x) => x.startsWith(`w${i}:`)));
    t.same(mine(seen), mine(expected), `the watch saw every acknowledged write of w${i} exactly once, in order`);
  }
  await w.close();

  // The controller leads again and serves a server created after the outage.
  await until(leads, 'the controller to lead again', 20_000);
  t.equal((await call('PUT', `${P}/after`, ps('after'))).status, 201);
  const running = await until(async () => (await docker.inspect(containerName(installation, { namespace: NS, name: 'after' })))?.running, 'the new server running', 30_000);
  t.ok(running, 'a server created after the outage runs: the controller resumed');
  t.notMatch(server.output(), /unhandled|TypeError|ReferenceError/i, 'no crash in the process log');
  t.equal(server.proc.exitCode, null, 'deployer kept running through the outage');
});
