// Issue 9, outages: the data dir's disk fills up. deployer runs with its embedded PostgreSQL
// (no DATABASE_URL) on a small tmpfs; a filler file takes the rest of the disk; writes of
// ProjectServers, Deployments and Events with sizeable bodies go on until they fail. A write
// refused for want of space answers 503 with Retry-After and a message that says the disk is
// full and what to do; reads keep answering; every acknowledged write reads back exactly as
// acknowledged, a refused one leaves no trace (no object, no Event, no revision used); once
// the filler is removed writes succeed again in the same process, and watches opened before
// the disk filled saw every acknowledged change exactly once.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t, { type Test } from 'tap';
import { openWatch } from '../helpers/api.js';
import { freshDatabase } from '../helpers/pg.js';
import { sleep, until } from '../helpers/installation.js';
import { api, spawnServer } from '../helpers/process.js';
import { smallDisk } from '../helpers/small-disk.js';

const NS = 'diskfull';
const BASE = `/apis/deployer.dev/v1/namespaces/${NS}`;
const TOKEN = 'disk-full-admin-token';
// initdb, the deployer database and one 16 MiB WAL segment take about 47 MiB; the rest is
// taken by the filler anyway.
const DISK_MB = Number(process.env.DISKFULL_MB ?? 128);
const LEAVE = 256 * 1024;
const DISK_FULL = /out of disk space.*free space/;

t.setTimeout(120_000);

type Kind = 'projectservers' | 'deployments' | 'events';
const big = (bytes: number) => randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);
const body = (kind: Kind, name: string, annotation: string): Record<string, unknown> => {
  const metadata = { name, annotations: { 'test.deployer.dev/payload': annotation } };
  if (kind === 'projectservers') return { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata, spec: { serviceType: 'static', stopped: true } };
  if (kind === 'deployments')
    return { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata, spec: { projectServer: 'site', source: { inline: { files: { 'index.html': big(200_000) } } } } };
  return { apiVersion: 'deployer.dev/v1', kind: 'Event', metadata, involvedObject: { kind: 'ProjectServer', name: 'site', namespace: NS }, reason: 'Filler', message: big(30_000), type: 'Normal' };
};

t.test('disk full in the data dir: writes fail with 503 and a clear message, nothing half-written remains, writes resume once space is freed', async (t) => {
  const disk = await smallDisk(t, DISK_MB, 'deployer-diskfull-');
  const server = await spawnServer(t, { DATABASE_URL: undefined, DEPLOYER_DATA_DIR: disk.dir, DEPLOYER_ADMIN_TOKEN: TOKEN, DEPLOYER_CONTROLLERS: 'none' });
  t.teardown(async () => {
    // SIGTERM stops the embedded Postgres too; the disk's teardown unmounts after it
    if (server.proc.exitCode === null) await server.kill('SIGTERM');
  });
  const started = Date.now();
  await server.waitReady(45_000);
  t.comment(`deployer with embedded PostgreSQL ready in ${Date.now() - started} ms; ${(await disk.available()) >> 20} MiB free of ${DISK_MB}`);
  const call = (method: string, path: string, b?: unknown, ct?: string) => api(server.url, TOKEN, method, path, b, ct);

  // What every acknowledged write left, by path: the object as acknowledged, or null once deleted.
  const model = new Map<string, any>();
  const ackRevs: number[] = [];
  const ackLog: { kind: Kind; type: string; name: string; rv: string }[] = [];
  const ack = (kind: Kind, type: string, obj: any) => {
    const path = `${BASE}/${kind}/${obj.metadata.name}`;
    model.set(path, type === 'DELETED' ? null : obj);
    ackRevs.push(Number(obj.metadata.resourceVersion));
    ackLog.push({ kind, type, name: obj.metadata.name, rv: obj.metadata.resourceVersion });
  };

  const site = await call('POST', `${BASE}/projectservers`, body('projectservers', 'site', 'x'));
  t.equal(site.status, 201, 'the ProjectServer deployments go to');
  ack('projectservers', 'ADDED', site.body);
  const rv0 = site.body.metadata.resourceVersion;
  const watches = {
    projectservers: await openWatch(server.url, `${BASE}/projectservers?watch=true&resourceVersion=${rv0}`, TOKEN),
    deployments: await openWatch(server.url, `${BASE}/deployments?watch=true&resourceVersion=${rv0}`, TOKEN),
    events: await openWatch(server.url, `${BASE}/events?watch=true&resourceVersion=${rv0}`, TOKEN),
  };
  t.teardown(() => Promise.all(Object.values(watches).map((w) => w.close())));

  // One round of writes: a create of each kind, a replace, a merge patch, a JSON patch and a
  // delete of objects made before. Every answer is a 2xx (then it is in the model) or a 503.
  const refusals: { op: string; status: number; message: string; retryAfter: string | null }[] = [];
  const others: string[] = [];
  let seq = 0;
  const live = (kind: Kind) => [...model].filter(([p, o]) => o && p.startsWith(`${BASE}/${kind}/`) && o.metadata.name !== 'site').map(([, o]) => o);
  const attempt = async (op: string, kind: Kind, type: string, method: string, path: string, b?: unknown, ct?: string) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(b !== undefined ? { 'content-type': ct ?? 'application/json' } : {}) },
      body: b === undefined ? undefined : JSON.stringify(b),
    }).catch((err: Error) => err);
    if (res instanceof Error) return void others.push(`${op}: no answer (${res.message})`);
    const text = await res.text();
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (res.status >= 200 && res.status < 300) {
      ack(kind, type, parsed);
      return true;
    }
    if (res.status === 503) refusals.push({ op, status: res.status, message: parsed?.message ?? text, retryAfter: res.headers.get('retry-after') });
    else others.push(`${op}: ${res.status} ${text.slice(0, 300)}`);
    return false;
  };
  const round = async () => {
    const n = seq++;
    const results: Record<string, boolean | undefined> = {};
    results.createServer = await attempt('create ProjectServer', 'projectservers', 'ADDED', 'POST', `${BASE}/projectservers`, body('projectservers', `ps-${n}`, big(200_000)));
    results.createDeployment = await attempt('create Deployment', 'deployments', 'ADDED', 'POST', `${BASE}/deployments`, body('deployments', `d-${n}`, big(50_000)));
    results.createEvent = await attempt('create Event', 'events', 'ADDED', 'POST', `${BASE}/events`, body('events', `e-${n}`, big(100_000)));
    const [ps] = live('projectservers');
    if (ps) {
      const next = { ...ps, metadata: { ...ps.metadata, annotations: { 'test.deployer.dev/payload': big(200_000) } } };
      results.replace = await attempt('replace ProjectServer', 'projectservers', 'MODIFIED', 'PUT', `${BASE}/projectservers/${ps.metadata.name}`, next);
    }
    const [d] = live('deployments');
    if (d) {
      results.mergePatch = await attempt('merge-patch Deployment', 'deployments', 'MODIFIED', 'PATCH', `${BASE}/deployments/${d.metadata.name}`, { metadata: { annotations: { 'test.deployer.dev/payload': big(200_000) } } }, 'application/merge-patch+json');
      results.jsonPatch = await attempt('json-patch Deployment', 'deployments', 'MODIFIED', 'PATCH', `${BASE}/deployments/${d.metadata.name}`, [{ op: 'replace', path: '/metadata/annotations/test.deployer.dev~1payload', value: big(150_000) }], 'application/json-patch+json');
    }
    const old = live('projectservers').at(-1);
    if (old && n % 2 === 1) results.delete = await attempt('delete ProjectServer', 'projectservers', 'DELETED', 'DELETE', `${BASE}/projectservers/${old.metadata.name}`);
    return results;
  };

  // Before the disk is full: every kind of write works.
  for (let i = 0; i < 2; i++) t.ok(Object.values(await round()).every(Boolean), `round ${i} before the disk is full: every write acknowledged`);
  const before = await call('GET', `${BASE}/projectservers`);

  // Fill the disk, then write until every kind of write has been refused for want of space.
  const filler = await disk.fill(LEAVE);
  t.comment(`filler ${filler >> 20} MiB; ${(await disk.available()) >> 10} KiB left`);
  const refusedOps = () => new Set(refusals.map((r) => r.op));
  const wanted = ['create ProjectServer', 'create Deployment', 'create Event', 'replace ProjectServer', 'merge-patch Deployment', 'json-patch Deployment'];
  const fullRounds = [];
  for (let i = 0; i < 30 && !wanted.every((op) => refusedOps().has(op)); i++) fullRounds.push(await round());
  t.comment(`${fullRounds.length} rounds on the full disk: ${ackLog.length} writes acknowledged in all, ${refusals.length} refused`);
  t.same(others, [], 'no answer but 2xx and 503');
  t.same(wanted.filter((op) => !refusedOps().has(op)), [], 'every kind of write was refused once the disk was full');
  for (const r of refusals) {
    t.match(r.message, DISK_FULL, `${r.op}: the message says the disk is full and what to do`);
    t.ok(Number(r.retryAfter) >= 1, `${r.op}: Retry-After ${r.retryAfter}`);
  }

  // Reads keep answering, and show exactly what was acknowledged.
  t.equal(server.proc.exitCode, null, 'deployer keeps running');
  await checkState(t, 'while the disk is full', call, model, ackRevs);
  t.equal((await call('GET', `${BASE}/projectservers/site`)).status, 200, 'GET answers while the disk is full');
  t.equal(before.status, 200);

  // Free the space: writes succeed again, in the same process.
  await disk.free();
  await until(async () => Object.values(await round()).every(Boolean), 'writes to succeed again after the space was freed', 20_000);
  t.pass('writes succeed again once the filler is gone, without a restart of deployer');
  t.equal(server.proc.exitCode, null, 'deployer kept running through the outage');
  await checkState(t, 'after the space was freed', call, model, ackRevs);

  // Room for the data but not for the next 16 MiB WAL segment: the write that needs it
  // makes PostgreSQL PANIC; its crash recovery cannot finish on the full disk either. The
  // current segment is first filled to near its end with a WAL message (what other traffic
  // would do), so that the next writes, not their data, run into the full disk.
  await disk.fill(4 * 1024 * 1024);
  const walLeft = await fillWalSegment(disk.dir, 300 * 1024);
  t.comment(`WAL segment: ${walLeft >> 10} KiB left; disk: ${(await disk.available()) >> 10} KiB left`);
  const refusedBefore = refusals.length;
  const log0 = server.output().length;
  for (let i = 0; i < 100 && refusals.length === refusedBefore && others.length === 0; i++) await round();
  t.same(others, [], 'no answer but 2xx and 503 when PostgreSQL crashes');
  const crash = refusals.slice(refusedBefore);
  t.ok(crash.length > 0, `a write was refused when the WAL could not grow: ${crash[0]?.op}: ${crash[0]?.message}`);
  t.match(crash[0]?.message, DISK_FULL, 'the write that found no room for the WAL: the message says the disk is full');
  // What PostgreSQL does next: the PANIC ends every backend, crash recovery replays the WAL
  // and then needs a new segment for its checkpoint, fails, and the postmaster exits; deployer
  // restarts it (store/embedded.ts) until there is room again.
  const pgLog = () => server.output().slice(log0);
  await until(async () => /postgres: .*PANIC: .*No space left on device/.test(pgLog()), 'deployer to log the PANIC', 10_000);
  await until(async () => /postgres: the server exited .*No space left on device.*restarting it/.test(pgLog()), 'deployer to see its PostgreSQL exit', 15_000);
  const down = await fetch(`${server.url}${BASE}/projectservers/site`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const downBody = (await down.json()) as { message?: string };
  t.equal(down.status, 503, `a read while PostgreSQL is down: 503 (${downBody.message})`);
  t.ok(Number(down.headers.get('retry-after')) >= 1, 'with Retry-After');
  t.match((await fetch(`${server.url}/readyz`)).status, 503, '/readyz: not ready while PostgreSQL is down');
  await until(async () => /postgres: restart failed \(.*No space left on device\); trying again/.test(pgLog()), 'a restart to fail', 15_000);
  t.pass('restarts fail while the disk is full, and the log says why');
  const freedAt = Date.now();
  await disk.free();
  await until(async () => (await call('GET', `${BASE}/projectservers/site`)).status === 200, 'reads after the space was freed', 20_000).catch((err) => {
    t.comment(pgLog().slice(-6000));
    throw err;
  });
  t.match(pgLog(), /postgres: restarted/, `deployer restarted its PostgreSQL ${Date.now() - freedAt} ms after the space was freed`);
  t.comment(
    pgLog()
      .split('\n')
      .filter((l) => /PANIC|server exited|restart failed|restarted/.test(l))
      .map((l) => (JSON.parse(l) as { msg: string }).msg)
      .join('\n'),
  );
  await until(async () => Object.values(await round()).every(Boolean), 'writes after PostgreSQL came back', 20_000);
  t.pass('PostgreSQL came back once space was freed; reads and writes answer again, deployer was not restarted');
  await checkState(t, 'after PostgreSQL recovered', call, model, ackRevs);

  // The watches opened before the disk filled saw every acknowledged change exactly once, in order.
  for (const kind of Object.keys(watches) as Kind[]) {
    const want = ackLog.filter((a) => a.kind === kind && a.rv !== rv0).map((a) => `${a.type} ${a.name} ${a.rv}`);
    const w = watches[kind];
    await w.until((evs) => evs.filter((e) => e.type !== 'BOOKMARK').length >= want.length, 15_000).catch(() => undefined);
    const seen = w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
    t.same(seen, want, `the ${kind} watch saw every acknowledged change once, in order (${want.length})`);
  }
  t.notMatch(server.output(), /unhandled|TypeError|ReferenceError|"level":50/i, 'no crash or internal error in the process log');
  t.equal(await server.kill('SIGTERM'), 0, 'deployer shuts down cleanly (and stops its PostgreSQL) afterwards');
});

/**
 * The stored state is exactly the acknowledged one: every object as its last acknowledged
 * write left it, nothing else (a refused create left no object or Event), and no refused
 * write used a revision (acknowledged revisions follow one another, the list is at the last).
 */
async function checkState(t: Test, when: string, call: (m: string, p: string) => Promise<{ status: number; body: any }>, model: Map<string, any>, ackRevs: number[]) {
  for (const kind of ['projectservers', 'deployments', 'events'] as Kind[]) {
    const list = await call('GET', `${BASE}/${kind}`);
    t.equal(list.status, 200, `${when}: the ${kind} list answers`);
    const got = Object.fromEntries((list.body.items as any[]).map((o) => [o.metadata.name, o]));
    const want = Object.fromEntries([...model].filter(([p, o]) => o && p.startsWith(`${BASE}/${kind}/`)).map(([, o]) => [o.metadata.name, o]));
    t.same(Object.keys(got).sort(), Object.keys(want).sort(), `${when}: exactly the acknowledged ${kind} exist`);
    for (const [name, o] of Object.entries(want))
      if (got[name]) t.strictSame(got[name], o, `${when}: ${kind}/${name} is exactly as acknowledged`);
    t.equal(Number(list.body.metadata.resourceVersion), ackRevs.at(-1), `${when}: the ${kind} list is at the last acknowledged revision`);
  }
  const gaps = ackRevs.filter((rv, i) => i > 0 && rv !== ackRevs[i - 1] + 1);
  t.same(gaps, [], `${when}: acknowledged revisions follow one another: no refused write used one`);
}

/**
 * Writes a WAL message (pg_logical_emit_message: WAL only, no table) so that about `leave`
 * bytes stay in the embedded PostgreSQL's current WAL segment; returns what is left then.
 */
async function fillWalSegment(dataDir: string, leave: number): Promise<number> {
  const password = (await readFile(join(dataDir, 'postgres-password'), 'utf8')).trim();
  const port = (await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[3];
  const client = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/deployer` });
  await client.connect();
  const left = async () =>
    Number(
      (
        await client.query<{ left: string }>(
          `SELECT s.size - pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint % s.size AS left
             FROM (SELECT setting::bigint AS size FROM pg_settings WHERE name = 'wal_segment_size') s`,
        )
      ).rows[0].left,
    );
  try {
    const n = (await left()) - leave;
    if (n > 0) await client.query(`SELECT pg_logical_emit_message(false, 'disk-full-test', repeat('x', $1::int))`, [n]);
    return await left();
  } finally {
    await client.end();
  }
}

t.test('the admin token cannot be written to the data dir: start fails with a clear error and leaves no token whose secret nobody has', async (t) => {
  const db = await freshDatabase(t);
  const dir = await mkdtemp(join(tmpdir(), 'deployer-diskfull-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // a directory where the file goes: writeFile fails (EISDIR) as it would with ENOSPC
  await mkdir(join(dir, 'admin-token'));
  const env = { DATABASE_URL: db, DEPLOYER_DATA_DIR: dir, DEPLOYER_ADMIN_TOKEN: undefined };
  const first = await spawnServer(t, env);
  t.equal(await first.exited, 1, 'the start fails');
  t.match(first.output(), /cannot write the admin token to .*admin-token .*start again, or set DEPLOYER_ADMIN_TOKEN/, 'and says why and what to do');
  t.notMatch(first.output(), /admin token \(shown once/, 'no secret was shown');
  await rm(join(dir, 'admin-token'), { recursive: true });
  const second = await spawnServer(t, env);
  await second.waitReady();
  const secret = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  t.equal((await api(second.url, secret, 'GET', '/apis/deployer.dev/v1/projectservers')).status, 200, 'the next start made a new admin token, and it works');
  t.equal(await second.kill('SIGTERM'), 0);
});
