// The leader elector with a fake clock and an in-memory lease table whose clock is the same
// fake clock (standing in for Postgres' now()). Each "process" is a LeaseBatch of its own with
// one elector in it; tests/unit/lease-batch.test.ts has several leases in one batch.
import t from 'tap';
import { LeaderElector } from '../../controllers/runtime/leader-elector.js';
import { LeaseBatch } from '../../controllers/runtime/lease-batch.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FakeLeases } from '../helpers/fake-leases.js';

async function tick(clock: FakeClock, ms: number, step = 50) {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await settle();
  }
}

function setup(identity = 'p1', leases?: FakeLeases, clock = new FakeClock()) {
  const l = leases ?? new FakeLeases(clock);
  const events: string[] = [];
  let signal: AbortSignal | undefined;
  // explicit, so these tests do not move with the defaults
  const batch = new LeaseBatch({ leases: l, identity, clock, timings: { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 } });
  const e = new LeaderElector({
    name: 'projectserver',
    batch,
    onStartedLeading: (lead) => {
      signal = lead.signal;
      events.push(`start ${lead.token}`);
    },
    onStoppedLeading: (why) => events.push(`stop ${why}`),
  });
  return { e, l, batch, clock, events, signal: () => signal };
}

t.test('the batch constructor rejects inconsistent timings', async (t) => {
  const base = { identity: 'p', leases: new FakeLeases(new FakeClock()) };
  t.throws(() => new LeaseBatch({ ...base, timings: { leaseDurationMs: 3000, renewDeadlineMs: 3000 } }), /greater than renewDeadlineMs/);
  t.throws(() => new LeaseBatch({ ...base, timings: { renewDeadlineMs: 500, retryPeriodMs: 500 } }), /retryPeriodMs/);
  t.throws(() => new LeaseBatch({ ...base, timings: { retryPeriodMs: 0 } }), /> 0/);
  t.doesNotThrow(() => new LeaseBatch(base), 'the defaults are consistent');
});

t.test('acquires a free lease and holds it continuously', async (t) => {
  const { e, l, clock, events } = setup();
  e.start();
  await tick(clock, 100);
  t.ok(e.isLeader);
  t.same(events, ['start 1']);
  const before = l.statements;
  await tick(clock, 10_000);
  t.ok(e.isLeader, 'still leading after 10 s');
  t.same(events, ['start 1'], 'never released or re-elected in between');
  t.ok(l.statements - before >= 18, `renewed every retry period (${l.statements - before} renews)`);
  t.equal(l.row('projectserver').token, 1);
  await e.stop();
});

t.test('a second process waits, and takes over after the first stops (release) or dies (expiry)', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const a = setup('a', leases, clock);
  const b = setup('b', leases, clock);
  a.e.start();
  await tick(clock, 100);
  b.e.start();
  await tick(clock, 2000);
  t.ok(a.e.isLeader);
  t.notOk(b.e.isLeader, 'one leader at a time');
  await a.e.stop();
  t.equal(leases.releases, 1, 'a graceful stop releases the lease at once');
  t.ok(a.signal()!.aborted, "the old leader's controller was stopped");
  await tick(clock, 700);
  t.ok(b.e.isLeader, 'handover within one retry period');
  t.same(b.events, ['start 2']);
  // b "dies": its statements never answer and it releases nothing (a SIGKILL, a frozen VM)
  const c = setup('c', leases, clock);
  c.e.start();
  leases.frozen.add('b');
  await tick(clock, 5000);
  t.ok(c.e.isLeader, 'another process takes over once the lease expired');
  t.equal(leases.row('projectserver').token, 3);
  await c.e.stop();
});

t.test('a leader that cannot renew stops before its lease can expire', async (t) => {
  const { e, l, clock, events, signal } = setup();
  e.start();
  await tick(clock, 100);
  const lastRenew = clock.now();
  const leaseEnd = l.row('projectserver').expiresAt;
  l.mode = 'fail';
  await tick(clock, 3500, 10);
  t.notOk(e.isLeader);
  t.ok(signal()!.aborted);
  t.match(events[1], /could not renew within 3000 ms/);
  const stoppedBy = lastRenew + 3000 + 600;
  t.ok(stoppedBy < leaseEnd + 1, 'stopped before the lease expired in the database');
  l.mode = 'ok';
  await tick(clock, 5000);
  t.ok(e.isLeader, 'leads again once the database answers');
  t.same(events.slice(2), [`start ${l.row('projectserver').token}`], 'as a new term of its own');
  await e.stop();
});

t.test('a renew that hangs counts as failed at the deadline', async (t) => {
  const { e, l, clock, signal } = setup();
  e.start();
  await tick(clock, 100);
  const leaseEnd = l.row('projectserver').expiresAt;
  l.mode = 'hang';
  let abortedAt = 0;
  signal()!.addEventListener('abort', () => (abortedAt = clock.now()));
  await tick(clock, 4000, 10);
  t.notOk(e.isLeader);
  t.ok(abortedAt > 0 && abortedAt < leaseEnd, `aborted at +${abortedAt - (leaseEnd - 4000)} ms, before the lease ended at +4000 ms`);
  l.mode = 'ok';
  await e.stop();
});

t.test('losing the lease to another holder stops at the next renew', async (t) => {
  const { e, l, clock, events } = setup();
  e.start();
  await tick(clock, 100);
  l.rows.set('projectserver', { holder: 'thief', token: 7, expiresAt: clock.now() + 10_000, session: 1 });
  await tick(clock, 600);
  t.notOk(e.isLeader);
  t.match(events[1], /held by thief/);
  await e.stop();
});
