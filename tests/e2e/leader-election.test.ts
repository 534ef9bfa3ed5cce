// Acceptance (issue 3, 2): leader election and fencing between real processes. Three
// controller processes (tests/fixtures/controller-process.ts) run one test controller against
// one Postgres; each prints its leadership changes and every reconcile with its token and
// whether its status write was accepted or refused (409 Fenced).
//
// What each case shows:
//   1. one holder at any time, and no change of holder in a steady period; SIGKILL of the
//      holder → another holds and reconciles within 5 s — before the lease could expire: the
//      holder's database session ended with it (store/lease-session.ts); SIGTERM → handover
//      within 1 s (the lease is released and the release announced);
//   2. SIGSTOP of the holder past its lease, another takes over, SIGCONT: the old holder's
//      writes are all refused, and it stops leading and reconciling;
//   3. Postgres restarted under the processes: leadership is lost and regained, never held by
//      two processes at once, and reconciles resume.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DEFAULT_TIMINGS } from '../../controllers/runtime/leader-elector.js';
import { kindByName } from '../../resources/index.js';
import { openStore, startEmbedded, startWatch, type EmbeddedDatabase, type Store } from '../../store/index.js';
import { freshDatabase } from '../helpers/pg.js';
import { freePort } from '../helpers/process.js';
import {
  ControllerProcess,
  killAll,
  leadingIntervals,
  waitForAny,
  type ControllerProcessEnv,
  type ProcessLine,
} from '../../bench/runtime-processes.js';

const PS = kindByName('ProjectServer')!;
const CONTROLLER = 'test-controller';
const KEYS = ['a', 'b', 'c'];
/** Short timings for the cases that wait for a lease to expire on purpose. */
const FAST = { LEASE_MS: 1000, RENEW_DEADLINE_MS: 700, RETRY_MS: 100 };
/**
 * How much earlier than its "stopped" line a process may really have stopped leading: the
 * fixture polls leadership every 20 ms, and a timer can fire late on a busy machine.
 */
const STOPPED_LATE_MS = 20 + 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A store for the test itself, with KEYS created in namespace default. */
async function seededStore(t: Test, connectionString: string): Promise<Store> {
  const store = await openStore({ connectionString, maintenance: false, hubPollIntervalMs: 200 });
  t.teardown(() => store.close());
  for (const name of KEYS)
    await store.resources.create(PS, 'default', { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static' } });
  return store;
}

/** Starts `n` processes; registers their SIGKILL at teardown; resolves when one leads and has written every key. */
async function startProcesses(t: Test, n: number, env: ControllerProcessEnv, prefix = 'p'): Promise<ControllerProcess[]> {
  const procs = Array.from({ length: n }, (_, i) => new ControllerProcess(`${prefix}${i + 1}`, env));
  t.teardown(() => killAll(procs));
  await Promise.all(procs.map((p) => p.waitFor((l) => l.event === 'ready', 30_000, `${p.identity} to start`)));
  const { proc } = await waitForAny(procs, (l) => l.event === 'leading', 15_000, 'a leader');
  for (const key of KEYS)
    await proc.waitFor((l) => l.event === 'reconcile' && l.write === 'accepted' && l.key === `ProjectServer/default/${key}`, 10_000, `the leader to write ${key}`);
  return procs;
}

const leaders = (procs: ControllerProcess[]) => procs.filter((p) => p.running && p.leading);

/**
 * Pairs of leading intervals of different processes that certainly overlapped: B's
 * "leading" line (printed after B began to lead) comes before the earliest moment A can have
 * stopped. See leadingIntervals for where an interval is taken to end.
 */
function overlaps(procs: ControllerProcess[]): string[] {
  const iv = leadingIntervals(procs, STOPPED_LATE_MS);
  const bad: string[] = [];
  for (let i = 0; i < iv.length; i++)
    for (let j = i + 1; j < iv.length; j++) {
      const [a, b] = [iv[i], iv[j]];
      if (a.identity !== b.identity && b.from < a.to && a.from < b.to)
        bad.push(`${a.identity}#${a.token} [${a.from}, ${a.to}] and ${b.identity}#${b.token} [${b.from}, ${b.to}]`);
    }
  return bad;
}

function describe(procs: ControllerProcess[]): string {
  return procs
    .flatMap((p) => p.lines.filter((l) => l.event === 'leading' || l.event === 'stopped' || (l.event === 'log' && /leading/.test(l.msg ?? ''))))
    .sort((a, b) => a.t - b.t)
    .map((l) => `${l.t} ${l.identity} ${l.event}${l.token !== undefined ? ` #${l.token}` : ''}${l.msg ? ` ${l.msg}` : ''}`)
    .join('\n');
}

t.test('three processes, default timings: one steady holder; SIGKILL fails over within 5 s; SIGTERM hands over within 1 s', async (t) => {
  const url = await freshDatabase(t);
  const store = await seededStore(t, url);
  const procs = await startProcesses(t, 3, { DATABASE_URL: url });
  t.equal(leaders(procs).length, 1, 'one of three leads');
  const [first] = leaders(procs);

  // Steady state: 60 s, as the issue asks (about 60 renews, each a chance to lose the lease).
  const steadyFrom = Date.now();
  const samples: { holder: string | null; token: number; valid: boolean; leaders: number }[] = [];
  while (Date.now() - steadyFrom < 60_000) {
    const lease = (await store.leases.list()).find((l) => l.name === CONTROLLER)!;
    samples.push({ holder: lease.holder, token: lease.token, valid: lease.valid, leaders: leaders(procs).length });
    await sleep(100);
  }
  const changes = procs.flatMap((p) => p.lines).filter((l) => (l.event === 'leading' || l.event === 'stopped') && l.t >= steadyFrom);
  t.ok(samples.length > 300, `${samples.length} samples over 60 s`);
  t.ok(samples.every((s) => s.leaders === 1), 'exactly one process leads at every sample');
  t.ok(samples.every((s) => s.holder === first.identity && s.valid && s.token === samples[0].token), `the lease stays with ${first.identity} (token ${samples[0].token}), valid, at every sample`);
  t.same(changes, [], 'zero changes of holder over 60 s');

  // SIGKILL: the holder's session ends with its process, so a follower's next try (every
  // RETRY_MS × up to 1.2) takes the lease without waiting for it to expire.
  const tokenBefore = samples[0].token;
  const tKill = Date.now();
  first.kill('SIGKILL');
  const others = procs.filter((p) => p !== first);
  const took = await waitForAny(others, (l) => l.event === 'reconcile' && (l.t0 ?? 0) >= tKill, 8000, 'a reconcile after the SIGKILL');
  const failoverMs = took.line.t0! - tKill;
  t.ok(failoverMs < 5000, `another process (${took.proc.identity}) holds and reconciles ${failoverMs} ms after the SIGKILL (goal < 5 s; lease ${DEFAULT_TIMINGS.leaseDurationMs} ms)`);
  t.ok(failoverMs < DEFAULT_TIMINGS.leaseDurationMs, `before the lease could expire (${DEFAULT_TIMINGS.leaseDurationMs} ms after the last renew): the holder's session was gone`);
  t.ok(took.line.token! > tokenBefore, `with a higher token (${took.line.token} > ${tokenBefore})`);
  await took.proc.waitFor((l) => l.event === 'reconcile' && l.accepted === true && l.t >= tKill, 3000, 'its write to be accepted');
  t.same(leaders(procs).map((p) => p.identity), [took.proc.identity], 'one holder again');

  // SIGTERM: a graceful stop releases the lease and announces it, so the last follower tries at once.
  const second = took.proc;
  const third = others.find((p) => p !== second)!;
  const tTerm = Date.now();
  second.kill('SIGTERM');
  const led = await third.waitFor((l) => l.event === 'leading' && l.t >= tTerm, 3000, 'the third process to lead');
  const handoverMs = led.t - tTerm;
  t.ok(handoverMs < 1000, `handover ${handoverMs} ms after the SIGTERM (goal < 1 s)`);
  const rec = await third.waitFor((l) => l.event === 'reconcile' && l.accepted === true && l.t >= tTerm, 3000, 'the third process to write');
  t.comment(`SIGTERM → first accepted write by the new holder: ${rec.t - tTerm} ms`);
  t.equal(await second.exited, 0, 'the stopped process exits 0');
  t.ok(second.lines.some((l) => l.event === 'exit'), 'after stopping its manager and store');
  const lease = (await store.leases.list()).find((l) => l.name === CONTROLLER)!;
  t.equal(lease.holder, third.identity, 'the lease row names the new holder');
  t.same(overlaps(procs), [], 'leading intervals never overlapped', { timeline: describe(procs) });
});

t.test('SIGSTOP past the lease, another takes over, SIGCONT: every write of the old holder is refused, and it stops', async (t) => {
  const url = await freshDatabase(t);
  const store = await seededStore(t, url);
  // REQUEUE_MS: the leader keeps writing; WORK_MS (longer than the requeue): a reconcile is
  // almost always in the middle of its work, so the pause catches one before its write.
  const procs = await startProcesses(t, 3, { DATABASE_URL: url, ...FAST, REQUEUE_MS: 100, WORK_MS: 150 });
  const [old] = leaders(procs);
  const history: { revision: number; key: string; value?: string }[] = [];
  const list = await store.resources.list(PS);
  const watch = await startWatch(store, PS, { resourceVersion: list.resourceVersion }, (item) => {
    const ev = JSON.parse(item.json) as { object: { metadata: { name: string }; status?: { lastHealthIssue?: string } } };
    history.push({ revision: item.revision, key: ev.object.metadata.name, value: ev.object.status?.lastHealthIssue });
  });
  t.teardown(() => watch.close());
  await sleep(300);

  const tStop = Date.now();
  old.kill('SIGSTOP');
  const others = procs.filter((p) => p !== old);
  const took = await waitForAny(others, (l) => l.event === 'leading' && l.t >= tStop, 5000, 'another process to take over');
  t.comment(`${took.proc.identity} leads ${took.line.t - tStop} ms after the SIGSTOP (lease ${FAST.LEASE_MS} ms)`);
  for (const key of KEYS)
    await took.proc.waitFor((l) => l.event === 'reconcile' && l.accepted === true && l.t >= took.line.t && l.key === `ProjectServer/default/${key}`, 5000, `the new holder to write ${key}`);

  const tCont = Date.now();
  old.kill('SIGCONT');
  const stopped = await old.waitFor((l) => l.event === 'stopped' && l.t >= tCont, 3000, 'the old holder to stop leading');
  t.comment(`the old holder noticed ${stopped.t - tCont} ms after SIGCONT`);
  await sleep(700); // let anything still in flight in the old holder finish

  const mine = old.lines.filter((l) => l.event === 'reconcile' && l.write !== 'none');
  const sentAfter = mine.filter((l) => (l.tw ?? 0) >= tCont);
  const accepted = sentAfter.filter((l) => l.accepted === true);
  const fenced = sentAfter.filter((l) => l.write === 'fenced');
  t.equal(accepted.length, 0, `writes sent by the old holder after it resumed: 0 accepted (of ${sentAfter.length})`);
  t.ok(fenced.length >= 1, `${fenced.length} refused with 409 Fenced (a reconcile was mid-work at the SIGSTOP and wrote after the SIGCONT)`);
  const inFlight = mine.filter((l) => (l.tw ?? 0) < tStop && l.t >= tCont);
  if (inFlight.length) t.comment(`${inFlight.length} write(s) sent just before the SIGSTOP were answered after the SIGCONT: ${inFlight.map((l) => l.write).join(', ')}`);
  const lateStarts = old.lines.filter((l) => l.event === 'reconcile' && (l.t0 ?? 0) > stopped.t);
  t.same(lateStarts, [], 'no reconcile starts in the old holder after it stopped leading (its workers stopped)');
  t.notOk(old.leading, 'the old holder does not lead');
  t.equal(leaders(procs).length, 1, 'one process leads');

  // The database's view: once the new holder has written a key, nothing of the old one lands on it.
  for (const key of KEYS) {
    const events = history.filter((h) => h.key === key);
    const firstNew = events.findIndex((h) => h.value?.startsWith(`${took.proc.identity}#`));
    t.ok(firstNew >= 0, `the new holder's writes to ${key} are in the log`);
    const oldAfter = events.slice(firstNew).filter((h) => h.value?.startsWith(`${old.identity}#`));
    t.same(oldAfter, [], `no write of the old holder to ${key} after the new holder's first`);
  }
});

t.test('Postgres restarts under three processes: leadership is lost and regained, never by two at once, and reconciles resume', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'deployer-leader-pg-'));
  const port = await freePort();
  let db: EmbeddedDatabase | undefined = await startEmbedded(dir, () => undefined, { port });
  const procs: ControllerProcess[] = [];
  t.teardown(async () => {
    await killAll(procs);
    await db?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const seed = await openStore({ connectionString: db.connectionString, maintenance: false });
  for (const name of KEYS)
    await seed.resources.create(PS, 'default', { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static' } });
  await seed.close();
  procs.push(...(await startProcesses(t, 3, { DATABASE_URL: db.connectionString, ...FAST })));
  const [before] = leaders(procs);

  const tDown = Date.now();
  await db.stop();
  db = undefined;
  await sleep(2000);
  const tStart = Date.now();
  db = await startEmbedded(dir, () => undefined, { port });
  const tUp = Date.now();
  t.comment(`Postgres down from ${tDown} to ${tUp} (${tUp - tDown} ms; start took ${tUp - tStart} ms)`);

  const lost = before.lines.find((l) => l.event === 'stopped' && l.t >= tDown);
  t.ok(lost && lost.t < tUp, `the holder (${before.identity}) stopped leading while Postgres was down${lost ? ` (${lost.t - tDown} ms after it went)` : ''}`);
  const back = await waitForAny(procs, (l) => l.event === 'leading' && l.t >= tDown, 10_000, 'a leader after the restart');
  t.comment(`${back.proc.identity} leads ${back.line.t - tStart} ms after Postgres was started again`);
  const resumed = await back.proc.waitFor((l) => l.event === 'reconcile' && (l.t0 ?? 0) >= back.line.t && (l.write === 'accepted' || l.write === 'none'), 10_000, 'reconciles to resume');
  t.ok(resumed, `reconciles resume (${resumed.key}: ${resumed.write}, ${resumed.t0! - tStart} ms after Postgres was started again)`);
  await sleep(1500); // settle: a second round of renews
  t.equal(leaders(procs).length, 1, 'one process leads');
  t.same(overlaps(procs), [], 'leading intervals of different processes never overlapped', { timeline: describe(procs) });
  // A write held up by the outage can reach the database after its lease passed on: fencing
  // refuses it then, which is its job, so this is reported rather than asserted.
  const fenced = procs.flatMap((p) => p.lines.filter((l: ProcessLine) => l.event === 'reconcile' && l.write === 'fenced'));
  t.comment(`writes refused as Fenced around the restart: ${fenced.length}`);
});

t.test('after a restart of the process, the informer re-lists and every object is reconciled again, each written once', async (t) => {
  // Acceptance 3 (the restart half): a new process starts from a fresh list, so objects
  // created or changed while no process ran are reconciled too.
  const url = await freshDatabase(t);
  const store = await seededStore(t, url);
  const [first] = await startProcesses(t, 1, { DATABASE_URL: url }, 'before');
  first.kill('SIGTERM');
  t.equal(await first.exited, 0);
  // while nothing runs: one object changes, one appears
  await store.resources.patch(PS, 'default', 'b', 'merge', { spec: { port: 81 } });
  await store.resources.create(PS, 'default', { metadata: { name: 'd' }, spec: { serviceType: 'static' } });
  const [second] = await startProcesses(t, 1, { DATABASE_URL: url }, 'after');
  const all = [...KEYS, 'd'].map((k) => `ProjectServer/default/${k}`);
  await until(() => all.every((key) => second.lines.some((l) => l.event === 'reconcile' && l.key === key && l.write === 'accepted')), 10_000, 'every key written by the new process');
  await sleep(500); // let the reconciles that its own status writes cause come and go
  for (const key of all) {
    const writes = second.lines.filter((l) => l.event === 'reconcile' && l.key === key && l.write === 'accepted');
    t.equal(writes.length, 1, `${key}: reconciled after the restart and written exactly once`);
  }
  const d = await store.resources.get(PS, 'default', 'd');
  t.match((d.status as { lastHealthIssue?: string }).lastHealthIssue, /^after1#/, 'the object created while nothing ran was reconciled');
});
