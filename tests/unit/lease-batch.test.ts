// The lease batch: one acquire-or-renew statement per round for all of a process' leases,
// each LeaderElector judging its own lease's outcome. Fake clock, in-memory lease table.
import t from 'tap';
import { LeaderElector } from '../../controllers/runtime/leader-elector.js';
import { LeaseBatch, MAX_IN_FLIGHT } from '../../controllers/runtime/lease-batch.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FakeLeases } from '../helpers/fake-leases.js';

const TIMINGS = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
const NAMES = ['cleanup', 'deployment', 'projectserver', 'route'];

async function tick(clock: FakeClock, ms: number, step = 10) {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await settle();
  }
}

/** A "process": one batch, an elector per name, what each elector went through. */
function proc(identity: string, leases: FakeLeases, clock: FakeClock, names = NAMES) {
  const batch = new LeaseBatch({ leases, identity, clock, timings: TIMINGS });
  const events: string[] = [];
  const signals = new Map<string, AbortSignal>();
  const electors = new Map(
    names.map((name) => [
      name,
      new LeaderElector({
        name,
        batch,
        onStartedLeading: (lead) => {
          signals.set(name, lead.signal);
          events.push(`${name} start ${lead.token}`);
        },
        onStoppedLeading: (why) => events.push(`${name} stop ${why}`),
      }),
    ]),
  );
  const leading = () => [...electors].filter(([, e]) => e.isLeader).map(([n]) => n);
  return { batch, electors, events, signals, leading, start: () => electors.forEach((e) => e.start()) };
}

t.test('one statement per round renews every lease of the process', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const p = proc('p1', leases, clock);
  p.start();
  await tick(clock, 50);
  t.same(p.leading(), NAMES, 'all four lead after the first round');
  t.equal(leases.statements, 1, 'taken in one statement');
  leases.statements = 0;
  leases.rounds.length = 0;
  await tick(clock, 10_000);
  // 20 rounds in 10 s at 500 ms; the round after the first acquire may be a follower's (jittered) one later
  t.ok(leases.statements >= 19 && leases.statements <= 20, `one statement per retry period for four leases (${leases.statements} in 10 s at 500 ms)`);
  t.ok(leases.rounds.every((r) => r.join() === NAMES.join()), 'each with every lease, sorted');
  t.same(p.leading(), NAMES, 'still leading');
  t.same(p.events, NAMES.map((n) => `${n} start 1`), 'never stepped down in between');
  await p.batch.stop();
});

t.test('one lease lost while the others are kept', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const p = proc('p1', leases, clock);
  p.start();
  await tick(clock, 50);
  leases.rows.set('route', { holder: 'thief', token: 9, expiresAt: clock.now() + 2000, session: 1 });
  await tick(clock, 600);
  t.same(p.leading(), ['cleanup', 'deployment', 'projectserver'], 'only route stepped down');
  t.ok(p.signals.get('route')!.aborted, "route's controller was stopped");
  t.notOk(p.signals.get('projectserver')!.aborted, 'the others keep running');
  t.match(p.events.at(-1), /^route stop held by thief/);
  const before = leases.statements;
  await tick(clock, 2000);
  t.equal(leases.statements - before, 4, 'still one statement per round, the lost lease now an acquire in it');
  t.same(p.leading(), NAMES, "route taken again once the thief's lease expired");
  t.equal(p.events.at(-1), 'route start 10', 'as a new term');
  await p.batch.stop();
});

t.test('a slow round: the next starts on time, at most two outstanding, and a late answer still counts', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const p = proc('p1', leases, clock);
  p.start();
  await tick(clock, 50);
  leases.delayMs = 800; // each round answers after 1.6 retry periods
  leases.statements = 0;
  await tick(clock, 10_000);
  t.same(p.leading(), NAMES, 'nobody stepped down: renews answered within the deadline count from when they began');
  t.equal(leases.maxInFlight, MAX_IN_FLIGHT, `never more than ${MAX_IN_FLIGHT} rounds outstanding`);
  t.ok(leases.statements >= 12 && leases.statements <= 20, `rounds kept coming (${leases.statements} in 10 s)`);
  // slower than the renew deadline: every leader steps down, and answers that late do not make it lead again
  leases.delayMs = 3500;
  await tick(clock, 8000);
  t.same(p.leading(), [], 'stepped down at the deadline');
  t.ok(p.events.filter((e) => / stop could not renew within 3000 ms/.test(e)).length === 4);
  t.notOk(p.events.some((e) => / start 2/.test(e)), 'no term begun on an answer older than the deadline');
  leases.delayMs = 0;
  await tick(clock, 5000);
  t.same(p.leading(), NAMES, 'leads again once the database is quick');
  await p.batch.stop();
});

t.test('a hung round does not stall the rounds for ever', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const p = proc('p1', leases, clock, ['a', 'b']);
  p.start();
  await tick(clock, 50);
  leases.mode = 'hang';
  await tick(clock, 3200);
  t.same(p.leading(), [], 'stepped down at the deadline');
  t.match(p.events.join('\n'), /a stop could not renew within 3000 ms: no answer/);
  leases.mode = 'ok';
  await tick(clock, 3500);
  t.same(p.leading(), ['a', 'b'], 'hung rounds are given up after the deadline, and new ones start');
  const stopping = p.batch.stop();
  await tick(clock, 600); // stop() waits one retry period at most for the hung rounds
  await stopping;
  t.equal(leases.row('a').holder, null, 'and then releases');
  t.equal(clock.pending().length, 0, 'no timer outlives the batch, not even for a round still hanging');
});

t.test('stop: every controller aborted first, then every lease released in one statement', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const p = proc('p1', leases, clock);
  p.start();
  await tick(clock, 50);
  const abortedAtRelease: boolean[] = [];
  const release = leases.releaseMany.bind(leases);
  leases.releaseMany = async (names, identity) => {
    for (const n of NAMES) abortedAtRelease.push(p.signals.get(n)!.aborted);
    return release(names, identity);
  };
  await p.batch.stop();
  t.equal(leases.releaseStatements, 1, 'one statement');
  t.equal(leases.releases, 4, 'released all four');
  t.same(abortedAtRelease, [true, true, true, true], 'after every controller was aborted');
  t.same(p.leading(), []);
  const before = leases.statements;
  await tick(clock, 2000);
  t.equal(leases.statements, before, 'no rounds after stop');
  t.equal(clock.pending().length, 0, 'no timer left behind');
});

/** Two "processes" over one lease table: a starts first and leads, b follows. */
async function twoProcesses(runMs: number) {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const a = proc('a', leases, clock);
  const b = proc('b', leases, clock);
  a.start();
  await tick(clock, 50);
  b.start();
  await tick(clock, runMs);
  return { clock, leases, a, b };
}

t.test('two processes: the follower takes every lease in one round after the leader stops', async (t) => {
  const { clock, leases, a, b } = await twoProcesses(3000);
  t.same(a.leading(), NAMES);
  t.same(b.leading(), [], 'one leader per lease');
  const bRounds = leases.rounds.length;
  await tick(clock, 6000);
  const perSecond = (leases.rounds.length - bRounds) / 6;
  t.ok(perSecond > 2 * (1000 / 600) - 0.5 && perSecond <= 2 * 2 + 0.2, `both processes: one statement per round each (${perSecond.toFixed(2)}/s)`);
  await a.batch.stop();
  await tick(clock, 20);
  t.same(b.leading(), NAMES, 'handover at once: the release is announced, the follower does not wait for its next round');
  t.same(b.events, NAMES.map((n) => `${n} start 2`));
  await b.batch.stop();
});

t.test("a leader's process dies and its database session ends: the follower takes every lease on its next round, before they expire", async (t) => {
  const { clock, leases, a, b } = await twoProcesses(2000);
  t.same(a.leading(), NAMES);
  const lastRenew = clock.now();
  // a's process is gone (SIGKILL): no more rounds from it, and Postgres ended its session. (A
  // process that lives on competes again at once with a new session, and may win the race.)
  leases.frozen.add('a');
  leases.endSession('a', 'terminating connection due to administrator command');
  t.same(a.leading(), [], 'a stepped down the moment its session ended');
  t.ok(a.events.includes('cleanup stop its database session ended: terminating connection due to administrator command'), 'with the reason');
  t.ok([...a.signals.values()].every((s) => s.aborted), "a's controllers aborted");
  await tick(clock, TIMINGS.retryPeriodMs * 1.2 + 20);
  t.same(b.leading(), NAMES, 'b leads within one (jittered) retry period');
  t.ok(clock.now() - lastRenew < TIMINGS.leaseDurationMs, 'before the leases could have expired');
  t.same(b.events, NAMES.map((n) => `${n} start 2`), 'a new term: the tokens went up');
  leases.frozen.delete('a');
  await tick(clock, 2000);
  t.same(a.leading(), [], "a's new session is refused: b holds the leases");
  const stopping = a.batch.stop(); // its rounds from while it was gone never answer: waited a retry period
  await tick(clock, TIMINGS.retryPeriodMs + 10);
  await stopping;
  await b.batch.stop();
});

t.test('a lone leader whose session ends leads again on its next round, under a new token', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const a = proc('a', leases, clock, ['x']);
  a.start();
  await tick(clock, 600);
  t.same(a.events, ['x start 1']);
  leases.endSession('a', 'connection reset');
  t.same(a.leading(), []);
  await tick(clock, TIMINGS.retryPeriodMs + 20);
  t.same(a.leading(), ['x'], 'the next round opened a new session and took the lease back');
  t.same(a.events, ['x start 1', 'x stop its database session ended: connection reset', 'x start 2'], 'a new term: writes of the old one are fenced');
  await a.batch.stop();
});

t.test('a stopped batch hears nothing more of its session', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const a = proc('a', leases, clock, ['x']);
  a.start();
  await tick(clock, 600);
  await a.batch.stop();
  const events = a.events.length;
  leases.endSession('a', 'late');
  t.equal(a.events.length, events);
});

t.test('an elector that joins later is in the next round; one that stops alone releases its own lease', async (t) => {
  const clock = new FakeClock();
  const leases = new FakeLeases(clock);
  const batch = new LeaseBatch({ leases, identity: 'p', clock, timings: TIMINGS });
  const mk = (name: string) => new LeaderElector({ name, batch, onStartedLeading: () => undefined });
  const x = mk('x');
  x.start();
  await tick(clock, 600);
  const y = mk('y');
  y.start();
  await tick(clock, 510);
  t.ok(y.isLeader, 'y leads after the next round');
  t.same(leases.rounds.at(-1), ['x', 'y'], 'both in one statement');
  await x.stop();
  t.equal(leases.row('x').holder, null, 'x released');
  t.equal(leases.row('y').holder, 'p', 'y kept');
  await tick(clock, 510);
  t.same(leases.rounds.at(-1), ['y'], 'x left the rounds');
  t.throws(() => batch.join('y', y), /already/);
  await batch.stop();
  t.equal(leases.row('y').holder, null);
});
