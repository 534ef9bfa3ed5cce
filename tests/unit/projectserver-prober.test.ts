// controllers/projectserver/prober.ts: deployer's own HTTP probes of httpGet health checks,
// with Docker's health semantics — a new container's first probe awaited, starting until a
// pass, unhealthy after `retries` counted failures, failures counted at most once per interval
// and not within the start period, quick probes while starting, a new container start resets,
// a seed keeps an adopted server's verdict, and a changed verdict wakes the key. A fake GET and
// short intervals; httpGetStatus against a loopback server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { COARSE_TICKS, FIRST_PROBE_WAIT_MS, HttpProber, httpGetStatus, PROBE_TICK_MS, seedHealth, type ProbeTarget } from '../../controllers/projectserver/prober.js';
import { containerState } from '../helpers/container-state.js';

const STARTED = new Date().toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const target = (over: Partial<ProbeTarget> = {}): ProbeTarget => ({
  path: '/.deployer-health',
  port: 80,
  intervalMs: 100,
  timeoutMs: 50,
  retries: 3,
  startPeriodMs: 0,
  containerId: 'c1',
  startedAt: STARTED,
  address: '10.0.0.2',
  ...over,
});
const until = async (f: () => boolean, what: string, ms = 3000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
};

function fake() {
  const calls: string[] = [];
  let answer: number | Error = 200;
  return {
    calls,
    set: (a: number | Error) => (answer = a),
    get: async (url: string) => {
      calls.push(url);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

t.test('a new container: its first probe is awaited (healthy at once when it answers); later changes wake the key', async (t) => {
  const f = fake();
  const woke: string[] = [];
  const p = new HttpProber({ wake: (k) => woke.push(k), get: f.get, startingEveryMs: 10, tickMs: 1 });
  t.teardown(() => p.closeAll());
  t.match(await p.observe('k', target()), { status: 'healthy', failingStreak: 0 }, 'answered: healthy in the same pass');
  t.same(f.calls[0], 'http://10.0.0.2:80/.deployer-health');
  await sleep(250);
  t.same(woke, [], 'no wake: observe read the verdict itself, and it stays');

  f.set(new Error('connect ECONNREFUSED'));
  t.match(await p.observe('k2', target({ containerId: 'c2' })), { status: 'starting', failingStreak: 0, lastOutput: /ECONNREFUSED/ }, 'not answering yet: starting');
  f.set(200);
  await until(() => woke.length === 1, 'a wake when it answers');
  t.same(woke, ['k2']);
  t.match(await p.observe('k2', target({ containerId: 'c2' })), { status: 'healthy' });

  const hung = new HttpProber({ wake: () => {}, get: () => new Promise(() => {}), tickMs: 1 });
  t.teardown(() => hung.closeAll());
  const t0 = Date.now();
  t.match(await hung.observe('k', target()), { status: 'starting' }, 'a first probe that hangs is not waited for long');
  t.ok(Date.now() - t0 < FIRST_PROBE_WAIT_MS + 500, `answered after ${Date.now() - t0} ms`);
});

t.test('failures: counted once per interval, unhealthy after `retries`, healthy again on a pass', async (t) => {
  const f = fake();
  const woke: string[] = [];
  const p = new HttpProber({ wake: (k) => woke.push(k), get: f.get, startingEveryMs: 10, tickMs: 1 });
  t.teardown(() => p.closeAll());
  t.match(await p.observe('k', target()), { status: 'healthy' });
  f.set(503);
  const from = Date.now();
  await until(() => woke.length === 1, 'unhealthy', 5000);
  t.match(await p.observe('k', target()), { status: 'unhealthy', failingStreak: 3, lastOutput: 'GET /.deployer-health answered 503' });
  t.ok(Date.now() - from >= 150, 'three failures take about two intervals or more, not three quick probes');
  f.set(new Error('connect ECONNREFUSED'));
  await sleep(150);
  t.match(await p.observe('k', target()), { status: 'unhealthy', lastOutput: /ECONNREFUSED/ });
  f.set(302);
  await until(() => woke.length === 2, 'healthy again');
  t.match(await p.observe('k', target()), { status: 'healthy', failingStreak: 0 });
});

t.test('while starting, quick probes pass early but failures count only per interval and not in the start period', async (t) => {
  const f = fake();
  f.set(new Error('refused'));
  const p = new HttpProber({ wake: () => {}, get: f.get, startingEveryMs: 10, tickMs: 1 });
  t.teardown(() => p.closeAll());
  await p.observe('k', target({ intervalMs: 1000, startPeriodMs: 0 }));
  await sleep(300);
  t.ok(f.calls.length >= 10, `probed quickly while starting (${f.calls.length} probes)`);
  t.match(await p.observe('k', target({ intervalMs: 1000 })), { status: 'starting', failingStreak: 0, lastOutput: /refused/ }, 'no failure counted within the first interval');
  f.set(200);
  await sleep(50);
  t.match(await p.observe('k', target({ intervalMs: 1000 })), { status: 'healthy' }, 'a pass counts at once');

  const g = fake();
  g.set(500);
  const q = new HttpProber({ wake: () => {}, get: g.get, startingEveryMs: 10, tickMs: 1 });
  t.teardown(() => q.closeAll());
  const now = new Date().toISOString(); // the start period counts from the container's start
  const health = () => q.observe('k', target({ startPeriodMs: 400, retries: 1, startedAt: now }));
  await health();
  await sleep(250);
  t.match(await health(), { status: 'starting', failingStreak: 0 }, 'nothing counts within the start period');
  const end = Date.now() + 3000;
  while ((await health()).status !== 'unhealthy' && Date.now() < end) await sleep(10);
  t.match(await health(), { status: 'unhealthy' }, 'unhealthy after the start period');
});

t.test('a new container start resets; a seed is kept until a probe disagrees; forget and closeAll stop probing', async (t) => {
  const f = fake();
  f.set(500);
  const p = new HttpProber({ wake: () => {}, get: f.get, startingEveryMs: 10, tickMs: 1 });
  t.teardown(() => p.closeAll());
  const first = target();
  t.same(await p.observe('k', first, { status: 'healthy', failingStreak: 0 }), { status: 'healthy', failingStreak: 0, lastOutput: 'GET /.deployer-health answered 500' }, 'seeded; a failure within the first interval does not count');
  await sleep(30);
  t.match(await p.observe('k', first), { status: 'healthy', failingStreak: 0 }, 'nor the next ones within it');
  t.match(await p.observe('k', { ...first, startedAt: new Date(Date.now() + 1).toISOString() }), { status: 'starting', failingStreak: 0 }, 'restarted: starting again');
  t.match(await p.observe('k', { ...first, containerId: 'c2' }), { status: 'starting' }, 'recreated: starting again');
  t.equal(p.size, 1);
  p.forget('k');
  t.equal(p.size, 0);
  await p.observe('a', target());
  await p.observe('b', target());
  const n = f.calls.length;
  p.closeAll();
  await sleep(100);
  t.ok(f.calls.length <= n + 2, 'no probes after closeAll');
  t.equal(p.size, 0);
});

t.test('probes fall due on whole ticks: those due in the same tick go out together, on one timer', async (t) => {
  const at: number[] = [];
  const p = new HttpProber({ wake: () => {}, get: async () => (at.push(Date.now()), 200), tickMs: 200 });
  t.teardown(() => p.closeAll());
  for (let i = 0; i < 6; i++) {
    await p.observe(`k${i}`, target({ containerId: `c${i}`, intervalMs: 300 }));
    await sleep(15); // first probes at different moments
  }
  const ticks = (p as unknown as { ticks: Map<number, unknown> }).ticks;
  t.ok(ticks.size <= 2, `6 probes due over 100 ms share ${ticks.size} tick(s)`);
  t.ok([...ticks.keys()].every((k) => k % 200 === 0), 'on whole multiples of the tick');
  at.length = 0;
  await until(() => at.length >= 6, 'the next probe of each');
  const sent = at.slice(0, 6);
  t.ok(sent.every((x) => x % 200 < 60), `each went out on a tick, not on a timer of its own (${sent.map((x) => x % 1000).join(', ')} ms past the second)`);
  t.ok(new Set(sent.map((x) => Math.floor(x / 200))).size <= 2, 'in at most two bursts');
  p.forget('k0');
  p.closeAll();
  t.equal(ticks.size, 0, 'no timer left once nothing is probed');
});

t.test('a probe due 6 × COARSE_TICKS ticks or more ahead falls due on coarse ticks; a shorter interval keeps whole ticks', async (t) => {
  const tickMs = 10;
  const p = new HttpProber({ wake: () => {}, get: async () => 200, tickMs });
  t.teardown(() => p.closeAll());
  const coarse = COARSE_TICKS * tickMs;
  await p.observe('long', target({ containerId: 'c1', intervalMs: 6 * coarse + 7 }));
  await p.observe('short', target({ containerId: 'c2', intervalMs: 6 * coarse - 7 }));
  const ticks = (p as unknown as { ticks: Map<number, { due: Map<string, unknown> }> }).ticks;
  const tickOf = (key: string) => [...ticks].find(([, v]) => v.due.has(key))?.[0];
  t.equal(tickOf('long')! % coarse, 0, `the long interval's next probe is on a multiple of ${coarse} ms`);
  t.equal(tickOf('short')! % tickMs, 0, 'the short one on a whole tick');
  t.ok(tickOf('long')! - Date.now() <= 6 * coarse + 7 + coarse, 'at most one coarse tick later than its interval');
  t.equal(COARSE_TICKS * PROBE_TICK_MS, 5000, 'in production: 5 s, for intervals of 30 s or more');
});

t.test('seedHealth: only a passing verdict about this same container start', async (t) => {
  const st = containerState({ id: 'c1', startedAt: '2026-01-01T00:00:00Z' });
  const healthy = { containerId: 'c1', startedAt: '2026-01-01T00:00:00Z', conditions: [{ type: 'Healthy', status: 'True', reason: 'HealthCheckPassing' }] };
  t.same(seedHealth(healthy, st), { status: 'healthy', failingStreak: 0 });
  t.equal(seedHealth({ ...healthy, startedAt: '2026-01-01T00:00:09Z' }, st), undefined, 'another start');
  t.equal(seedHealth({ ...healthy, containerId: 'c0' }, st), undefined, 'another container');
  t.equal(seedHealth({ ...healthy, conditions: [{ type: 'Healthy', status: 'False', reason: 'HealthCheckFailing' }] }, st), undefined);
  t.equal(seedHealth(undefined, st), undefined);
});

t.test('httpGetStatus: the status code of a real GET, a timeout and a refusal as errors', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    res.writeHead(req.url === '/ok' ? 200 : 404).end('x'.repeat(100_000));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  const signal = new AbortController().signal;
  t.equal(await httpGetStatus(`http://127.0.0.1:${port}/ok`, 1000, signal), 200);
  t.equal(await httpGetStatus(`http://127.0.0.1:${port}/nope`, 1000, signal), 404);
  await t.rejects(httpGetStatus(`http://127.0.0.1:${port}/slow`, 100, signal), /no answer within 100 ms/);
  server.close();
  await t.rejects(httpGetStatus(`http://127.0.0.1:${port}/ok`, 1000, signal), /ECONNREFUSED/);
});

t.test('httpGetStatus keeps one connection alive across probes, and retries once when the server dropped it', async (t) => {
  let connections = 0;
  let dropSecond = false;
  const server = http.createServer((req, res) => {
    const n = ((req.socket as any).requests = ((req.socket as any).requests ?? 0) + 1);
    if (dropSecond && n === 2) return req.socket.destroy(); // as a server whose idle timeout just fired
    res.end('ok');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.deployer-health`;
  const signal = new AbortController().signal;
  for (let i = 0; i < 5; i++) t.equal(await httpGetStatus(url, 1000, signal), 200);
  t.equal(connections, 1, 'five probes, one connection');
  server.closeAllConnections();
  await sleep(20);
  dropSecond = true;
  t.equal(await httpGetStatus(url, 1000, signal), 200, 'first request on a new connection');
  t.equal(await httpGetStatus(url, 1000, signal), 200, 'the reused connection is dropped: retried on a new one, and passes');
  t.equal(connections, 3);
});
