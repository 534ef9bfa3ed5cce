// The leader elector with a fake clock and an in-memory lease table whose clock is the same
// fake clock (standing in for Postgres' now()).
import t from 'tap';
import { LeaderElector, type LeaseClient } from '../../controllers/runtime/leader-elector.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

class FakeLeases implements LeaseClient {
  holder: string | null = null;
  token = 0;
  expiresAt = 0;
  calls = 0;
  /** When set, calls fail (the database is down) or hang. */
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  releases = 0;
  constructor(private readonly clock: FakeClock) {}
  async tryAcquireOrRenew(_name: string, identity: string, durationMs: number) {
    this.calls++;
    if (this.mode === 'fail') throw new Error('database unavailable');
    if (this.mode === 'hang') return new Promise<never>(() => undefined);
    const now = this.clock.now();
    const valid = this.holder !== null && this.expiresAt > now;
    if (valid && this.holder !== identity) return { acquired: false, token: this.token, holder: this.holder };
    if (!(valid && this.holder === identity)) this.token++;
    this.holder = identity;
    this.expiresAt = now + durationMs;
    return { acquired: true, token: this.token, holder: identity };
  }
  async release(_name: string, identity: string) {
    if (this.holder === identity) {
      this.holder = null;
      this.expiresAt = this.clock.now();
      this.releases++;
    }
  }
}

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
  const e = new LeaderElector({
    name: 'projectserver',
    identity,
    leases: l,
    clock,
    // explicit, so these tests do not move with the defaults
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
    onStartedLeading: (lead) => {
      signal = lead.signal;
      events.push(`start ${lead.token}`);
    },
    onStoppedLeading: (why) => events.push(`stop ${why}`),
  });
  return { e, l, clock, events, signal: () => signal };
}

t.test('the constructor rejects inconsistent timings', async (t) => {
  const base = { name: 'x', identity: 'p', leases: {} as LeaseClient, onStartedLeading: () => undefined };
  t.throws(() => new LeaderElector({ ...base, leaseDurationMs: 3000, renewDeadlineMs: 3000 }), /greater than renewDeadlineMs/);
  t.throws(() => new LeaderElector({ ...base, renewDeadlineMs: 500, retryPeriodMs: 500 }), /retryPeriodMs/);
  t.throws(() => new LeaderElector({ ...base, retryPeriodMs: 0 }), /> 0/);
  t.doesNotThrow(() => new LeaderElector(base), 'the defaults are consistent');
});

t.test('acquires a free lease and holds it continuously', async (t) => {
  const { e, l, clock, events } = setup();
  e.start();
  await tick(clock, 100);
  t.ok(e.isLeader);
  t.same(events, ['start 1']);
  const before = l.calls;
  await tick(clock, 10_000);
  t.ok(e.isLeader, 'still leading after 10 s');
  t.same(events, ['start 1'], 'never released or re-elected in between');
  t.ok(l.calls - before >= 18, `renewed every retry period (${l.calls - before} renews)`);
  t.equal(l.token, 1);
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
  // b "dies": it stops renewing without releasing (a SIGKILL)
  const c = setup('c', leases, clock);
  c.e.start();
  (b.e as unknown as { stopped: boolean }).stopped = true; // silence b without release
  await tick(clock, 5000);
  t.ok(c.e.isLeader, 'another process takes over once the lease expired');
  t.equal(leases.token, 3);
  await c.e.stop();
});

t.test('a leader that cannot renew stops before its lease can expire', async (t) => {
  const { e, l, clock, events, signal } = setup();
  e.start();
  await tick(clock, 100);
  const lastRenew = clock.now();
  const leaseEnd = l.expiresAt;
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
  t.same(events.slice(2), [`start ${l.token}`], 'as a new term of its own');
  await e.stop();
});

t.test('a renew that hangs counts as failed at the deadline', async (t) => {
  const { e, l, clock, signal } = setup();
  e.start();
  await tick(clock, 100);
  const leaseEnd = l.expiresAt;
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
  l.holder = 'thief';
  l.token = 7;
  l.expiresAt = clock.now() + 10_000;
  await tick(clock, 600);
  t.notOk(e.isLeader);
  t.match(events[1], /held by thief/);
  await e.stop();
});
