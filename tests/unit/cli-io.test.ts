// deployctl's terminal rules: progress lines only when stderr is a terminal (and erased by the
// next write), colour only when stdout is a terminal and NO_COLOR is unset or empty; and the
// commands that paint (diff, health) paint only when the Io says colour is on.
import t from 'tap';
import { healthText, type HealthSummary } from '../../cli/commands/info.js';
import { colorDiff } from '../../cli/diff.js';
import { processIo, type Io } from '../../cli/io.js';
import { main } from '../../cli/main.js';
import { DISCOVERY, fakeFetch, memoryIo, notFound } from '../helpers/cli.js';

interface Terminal {
  stdoutTty: boolean;
  stderrTty: boolean;
  columns?: number;
  noColor?: string;
}

/**
 * Runs `fn` with process.stdout/stderr looking like `term` and their writes captured, then
 * puts everything back. `fn` must be synchronous: nothing else may write while the streams
 * are replaced (tap reports on stdout).
 */
function onTerminal(term: Terminal, fn: (io: Io) => void): { stdout: string; stderr: string; color: boolean } {
  const written = { stdout: '', stderr: '' };
  const saved = {
    outTty: Object.getOwnPropertyDescriptor(process.stdout, 'isTTY'),
    errTty: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY'),
    columns: Object.getOwnPropertyDescriptor(process.stderr, 'columns'),
    outWrite: process.stdout.write,
    errWrite: process.stderr.write,
    noColor: process.env.NO_COLOR,
  };
  const restore = (stream: NodeJS.WriteStream, key: string, d: PropertyDescriptor | undefined) => {
    if (d) Object.defineProperty(stream, key, d);
    else delete (stream as unknown as Record<string, unknown>)[key];
  };
  try {
    Object.defineProperty(process.stdout, 'isTTY', { value: term.stdoutTty, configurable: true, writable: true });
    Object.defineProperty(process.stderr, 'isTTY', { value: term.stderrTty, configurable: true, writable: true });
    Object.defineProperty(process.stderr, 'columns', { value: term.columns, configurable: true, writable: true });
    if (term.noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = term.noColor;
    process.stdout.write = ((s: string) => ((written.stdout += s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => ((written.stderr += s), true)) as typeof process.stderr.write;
    const io = processIo();
    fn(io);
    return { ...written, color: io.color };
  } finally {
    process.stdout.write = saved.outWrite;
    process.stderr.write = saved.errWrite;
    restore(process.stdout, 'isTTY', saved.outTty);
    restore(process.stderr, 'isTTY', saved.errTty);
    restore(process.stderr, 'columns', saved.columns);
    if (saved.noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved.noColor;
  }
}

const CLEAR = '\r\x1b[K';

t.test('colour: only when stdout is a terminal and NO_COLOR is unset or empty', async (t) => {
  const color = (term: Terminal) => onTerminal(term, () => undefined).color;
  t.equal(color({ stdoutTty: true, stderrTty: true }), true, 'a terminal');
  t.equal(color({ stdoutTty: false, stderrTty: true }), false, 'stdout piped (deployctl diff | less): no colour, even with stderr on a terminal');
  t.equal(color({ stdoutTty: true, stderrTty: true, noColor: '1' }), false, 'NO_COLOR=1');
  t.equal(color({ stdoutTty: true, stderrTty: true, noColor: 'false' }), false, 'NO_COLOR of any value');
  t.equal(color({ stdoutTty: true, stderrTty: true, noColor: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
});

t.test('progress: nothing at all when stderr is not a terminal', async (t) => {
  const w = onTerminal({ stdoutTty: false, stderrTty: false }, (io) => {
    io.progress('waiting for projectserver "blog" to go… 3s');
    io.progress('');
    io.err('an error\n');
    io.out('a row\n');
  });
  t.same(w, { stdout: 'a row\n', stderr: 'an error\n', color: false }, 'no progress text and no erase sequences in a log file');
});

t.test('progress on a terminal: one line, replaced in place, cut to the width, erased before output', async (t) => {
  const w = onTerminal({ stdoutTty: false, stderrTty: true, columns: 20 }, (io) => {
    io.progress('copying 10%');
    io.progress('copying 40%');
    io.out('row\n');
    io.out('row 2\n');
    io.progress('a line much longer than twenty columns');
    io.err('failed\n');
    io.progress('last');
    io.progress('');
    io.progress('');
  });
  t.equal(w.stdout, 'row\nrow 2\n');
  t.equal(w.stderr, ['copying 10%', CLEAR, 'copying 40%', CLEAR, 'a line much longer ', CLEAR, 'failed\n', 'last', CLEAR].join(''));
  t.equal('a line much longer '.length, 19, 'cut to columns - 1, so the terminal never wraps it');
});

const DIFF = '--- live/routes/cli/site\n+++ merged/routes/cli/site\n@@ -1,2 +1,2 @@\n kind: Route\n-  host: a.test\n+  host: b.test\n';

t.test('colorDiff paints headers, hunks, removals and additions; context stays plain', async (t) => {
  t.equal(
    colorDiff(DIFF),
    '\x1b[1m--- live/routes/cli/site\x1b[0m\n\x1b[1m+++ merged/routes/cli/site\x1b[0m\n\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n kind: Route\n\x1b[31m-  host: a.test\x1b[0m\n\x1b[32m+  host: b.test\x1b[0m\n',
  );
});

t.test('main: diff is coloured only when the Io says so', async (t) => {
  const path = '/apis/deployer.dev/v1/namespaces/default/routes/site';
  const live = { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'site', namespace: 'default', resourceVersion: '3' }, spec: { host: 'a.test', projectServer: 'site' } };
  const fetch = fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    [path]: (url, init) => {
      if (init.method !== 'PUT') return Response.json(live);
      if (url.searchParams.get('dryRun') !== 'All') return notFound('a PUT without dryRun');
      return Response.json({ ...JSON.parse(String(init.body)), metadata: { ...live.metadata, resourceVersion: '3' } });
    },
  });
  const manifest = 'apiVersion: deployer.dev/v1\nkind: Route\nmetadata: { name: site }\nspec: { host: b.test, projectServer: site }\n';
  const env = { DEPLOYER_SERVER: 'http://deployer.test:1' };
  const plain = memoryIo({ env, stdin: manifest });
  t.equal(await main(['diff', '-f', '-'], plain, fetch), 1, 'a difference: exit 1');
  t.match(plain.stdout, /^--- live\/routes\/default\/site\n\+\+\+ merged\/routes\/default\/site\n@@ [^\n]+ @@\n(.*\n)*-  host: a\.test\n\+  host: b\.test\n/);
  t.notMatch(plain.stdout, '\x1b[', 'no escape codes without colour');
  const painted = memoryIo({ env, stdin: manifest, color: true });
  t.equal(await main(['diff', '-f', '-'], painted, fetch), 1);
  t.equal(painted.stdout, colorDiff(plain.stdout), 'the same diff, painted');
  t.match(painted.stdout, '\x1b[31m-  host: a.test\x1b[0m');
});

const HEALTH: HealthSummary = {
  containers: { total: 3, healthy: 2, unhealthy: 1, degraded: 0, stopped: 0, restarts: 4 },
  zombies: { found: 0, removed: 0, lastSweepAt: null },
  helpersRemoved: 0,
  volumesRemoved: 0,
  leaders: [{ name: 'deployment', holder: 'host-1', valid: true }, { name: 'route', holder: null, valid: false }],
  timestamp: '2025-06-01T12:00:00Z',
};

t.test('health text: colours when asked (only for what is non-zero or wrong), plain otherwise', async (t) => {
  const now = Date.parse(HEALTH.timestamp);
  const plain = healthText(HEALTH, now);
  t.notMatch(plain, '\x1b[');
  const painted = healthText(HEALTH, now, true);
  t.match(painted, '\x1b[32m2 healthy\x1b[0m, 0 degraded, \x1b[31m1 unhealthy\x1b[0m', 'zero degraded stays plain');
  t.match(painted, '\x1b[31mno leader\x1b[0m');
  t.match(painted, 'Overall:     \x1b[31mattention needed\x1b[0m');
  t.equal(painted.replace(/\x1b\[\d+m/g, ''), plain, 'the same text underneath');
  const fetch = fakeFetch({ '/api/monitoring/health': () => Response.json(HEALTH) });
  const env = { DEPLOYER_SERVER: 'http://deployer.test:1' };
  for (const color of [false, true]) {
    const io = memoryIo({ env, color, now });
    t.equal(await main(['health'], io, fetch), 0);
    t.equal(io.stdout, color ? painted : plain, `deployctl health with colour ${color ? 'on' : 'off'}`);
  }
});
