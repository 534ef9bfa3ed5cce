// deployctl's argument parsing: command words past global flags, per-command flags (-f is a
// file for apply and "follow" for logs), booleans, repeated flags and durations.
import t from 'tap';
import { commandWords, GLOBAL_FLAGS, parseArgs, parseDuration, type FlagSpec } from '../../cli/args.js';

const APPLY: FlagSpec[] = [...GLOBAL_FLAGS, { long: 'filename', short: 'f', type: 'strings' }, { long: 'dry-run', type: 'boolean' }];
const LOGS: FlagSpec[] = [...GLOBAL_FLAGS, { long: 'follow', short: 'f', type: 'boolean' }, { long: 'tail', type: 'string' }];

t.test('command words skip global flags and their values', async (t) => {
  t.same(commandWords(['-n', 'team-a', 'rollout', 'status', 'deployment/x'], 2), ['rollout', 'status']);
  t.same(commandWords(['--server', 'http://x', '-A', 'get', 'ps'], 2), ['get', 'ps']);
  t.same(commandWords(['--server=http://x', 'version'], 2), ['version']);
});

t.test('forms of flags', async (t) => {
  const p = parseArgs(['apply', '-f', 'a.yaml', '--filename=b', '-fc.yaml', '--dry-run', '-n', 'x', '--token=t'], APPLY);
  t.same(p.positionals, ['apply']);
  t.same(p.flags.filename, ['a.yaml', 'b', 'c.yaml']);
  t.equal(p.flags['dry-run'], true);
  t.equal(p.flags.namespace, 'x');
  t.equal(p.flags.token, 't');
  const l = parseArgs(['logs', 'ps/blog', '-f', '--tail', '5'], LOGS);
  t.same(l.positionals, ['logs', 'ps/blog']);
  t.equal(l.flags.follow, true);
  t.equal(l.flags.tail, '5');
});

t.test('booleans take =false, defaults apply, -- ends the flags', async (t) => {
  const spec: FlagSpec[] = [{ long: 'wait', type: 'boolean', default: true }];
  t.equal(parseArgs([], spec).flags.wait, true);
  t.equal(parseArgs(['--wait=false'], spec).flags.wait, false);
  t.same(parseArgs(['--', '--wait'], spec).positionals, ['--wait']);
});

t.test('unknown flags and missing values are errors', async (t) => {
  t.throws(() => parseArgs(['--nope'], APPLY), { message: 'unknown flag: --nope' });
  t.throws(() => parseArgs(['-x'], APPLY), { message: /unknown shorthand flag: 'x'/ });
  t.throws(() => parseArgs(['-f'], APPLY), { message: 'flag needs an argument: -f' });
  t.throws(() => parseArgs(['--dry-run=maybe'], APPLY), { message: /invalid value "maybe"/ });
});

t.test('durations', async (t) => {
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('2h'), 7_200_000);
  t.equal(parseDuration('15'), 15_000);
  t.throws(() => parseDuration('soon'), { message: /invalid duration/ });
});
