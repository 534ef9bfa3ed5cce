// How the watch hub logs a database outage (store/watch-hub.ts OutageLog), on a fake clock:
// the first failure at once, then at most one line a minute while reconnecting keeps failing,
// and one line without an error (info) when it is back.
import t from 'tap';
import { OUTAGE_LOG_INTERVAL_MS, OutageLog } from '../../store/watch-hub.js';

function fixture() {
  let now = 1_000_000;
  const lines: { msg: string; err?: unknown }[] = [];
  const log = new OutageLog((msg, err) => lines.push({ msg, err }), { now: () => now });
  return { log, lines, advance: (ms: number) => (now += ms) };
}

t.test('an outage of three minutes with a reconnect attempt every 5 s logs four lines, not forty', async (t) => {
  const { log, lines, advance } = fixture();
  const refused = new Error('connect ECONNREFUSED');
  log.failed('watch hub lost its database connection; reconnecting', refused);
  t.same(lines, [{ msg: 'watch hub lost its database connection; reconnecting', err: refused }], 'the first failure at once, with its error');
  let attempt = 0;
  for (let ms = 0; ms < 3 * 60_000; ms += 5000) {
    advance(5000);
    log.failed(`watch hub reconnect attempt ${++attempt} failed`, refused);
  }
  t.equal(attempt, 36);
  t.equal(lines.length, 4, 'then one line a minute');
  t.match(lines[1], { msg: /^watch hub reconnect attempt 12 failed \(failing for 60 s; logged at most once every 60 s\)$/, err: refused }, 'with the attempt and how long');
  t.match(lines[2].msg, /^watch hub reconnect attempt 24 failed \(failing for 120 s;/);
  t.match(lines[3].msg, /^watch hub reconnect attempt 36 failed \(failing for 180 s;/);

  advance(2000);
  log.recovered('watch hub reconnected to the database at attempt 37');
  t.same(lines[4], { msg: 'watch hub reconnected to the database at attempt 37 (after 182 s)', err: undefined }, 'one line when it is back, without an error (info)');
  log.recovered('again');
  t.equal(lines.length, 5, 'recovered without an outage logs nothing');
});

t.test('each outage starts afresh; a short one logs one line each way', async (t) => {
  const { log, lines, advance } = fixture();
  log.recovered('nothing was wrong');
  t.equal(lines.length, 0);
  log.failed('lost');
  advance(300);
  log.failed('attempt 1 failed');
  advance(300);
  log.recovered('back');
  t.same(lines.map((l) => l.msg), ['lost', 'back (after 1 s)']);
  advance(10_000);
  log.failed('lost again');
  t.equal(lines.at(-1)!.msg, 'lost again', 'the first failure of the next outage is logged at once, however soon');
  advance(OUTAGE_LOG_INTERVAL_MS - 1);
  log.failed('still');
  t.equal(lines.length, 3, 'not before the interval');
  advance(1);
  log.failed('still');
  t.equal(lines.length, 4, 'at the interval');
});
