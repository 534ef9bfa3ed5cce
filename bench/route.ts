// bench/route: Routes through Caddy. How soon a new Route serves, and what the proxy costs a
// request, in one run.
//
//   node --import tsx bench/route.ts [--samples=N]      (N = 20)
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir, a free
// loopback port) and removes it at the end; with DATABASE_URL (a user who may CREATE DATABASE)
// it uses that server. Either way it works in a fresh database that it drops at the end. It
// needs the Docker engine (DOCKER_HOST as a unix socket, or /var/run/docker.sock), the host's
// static busybox (deployer/static) and caddy (deployer/caddy). The projectserver and route
// controllers and the HTTP API run in this process (route-env.ts). One static ProjectServer,
// healthy, with a small index.html, is the upstream of every Route.
//
// Measures:
//   (1) A Route PUT through the HTTP API (`PUT …/namespaces/bench/routes/r-i`, a new host
//       each sample) until the first 200 through the proxy for that host: GETs with that
//       Host header on the proxy's published port, a new connection every 5 ms, from the
//       moment the PUT is sent. Goal: p50 ≤ 300 ms. Also when the API answered and when the
//       Route's status said ready, and where the time went (the route controller's Docker and
//       admin API calls, timed: route-trace.ts). The samples are apart: each starts once the
//       controller has been idle for QUIET_MS.
//   (2) Requests/s and latency, closed loop, keep-alive connections (32, then 8) for
//       DURATION_MS each (after WARMUP_MS), GET of the same file (route-load.ts):
//         - through the proxy: 127.0.0.1:<published port>, Host header, `/`;
//         - straight to the server container: its bridge address, port 80, `/site/current/`
//           (what the proxy's rewrite asks the server for);
//         - through the proxy at its own bridge address, port 80: the proxy without Docker's
//           port publishing (docker-proxy, the userland proxy, on loopback).
//       Interleaved, ROUNDS rounds of the three at each level, so all see the same machine;
//       with the CPU each part used and the accept-queue drops and retransmissions
//       (route-throughput.ts). The static server is busybox httpd: a fork per connection, no
//       keep-alive, listen backlog 9 — so 32 connections overflow its accept queue and 8 do not.
// Prints tables; writes bench/out/route.json. Everything it made in Docker carries the labels
// of this run's installation and is removed at the end, also on failure or a signal.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { guardRun, runMain } from './lib-env.js';
import { containerName } from '../docker/index.js';
import { containerIp, engine, now, sleep } from './health-docker.js';
import { fmt, summarize, table, type Summary } from './lib-report.js';
import { RouteBenchEnv } from './route-env.js';
import { containerCpu, CpuMeter, findProcesses, firstOk, getOnce, processesCpu, type Target } from './route-load.js';
import { ratio, runThroughput, throughputSummary, throughputTable, type LoadTarget } from './route-throughput.js';
import { sampleSteps } from './route-trace.js';

const samplesArg = process.argv.find((a) => a.startsWith('--samples='));
const SAMPLES = samplesArg ? Number(samplesArg.slice('--samples='.length)) : 20;
if (!Number.isInteger(SAMPLES) || SAMPLES < 1) throw new Error(`--samples must be a positive integer (got ${samplesArg})`);
/** Concurrency levels of (2), in order: 32, and 8, which fits busybox httpd's accept queue (backlog 9). */
const LEVELS = (process.env.BENCH_CONNECTIONS ?? '32,8').split(',').map(Number);
if (!LEVELS.every((c) => Number.isInteger(c) && c > 0)) throw new Error(`BENCH_CONNECTIONS must be a list of positive integers (got ${process.env.BENCH_CONNECTIONS})`);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS) || 5000;
const WARMUP_MS = 500;
const ROUNDS = 2;
const QUIET_MS = 300;
const SAMPLE_TIMEOUT_MS = 20_000;
const DEADLINE_MS = 180_000;
const GOAL_P50_MS = 300;
const NS = 'bench';
const SERVER = 'site';
const LOAD_HOST = 'load.bench.test';
/** 1 KiB of HTML: the file every request of this bench gets. */
const INDEX = `<!doctype html><title>bench/route</title><p>${'deployer '.repeat(110)}</p>\n`.slice(0, 1023) + '\n';

const T0 = Date.now();
const log = (msg: string) => process.stderr.write(`bench/route [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);

type Series = Record<string, number[]>;
const push = (s: Series, name: string, v: number | undefined) => (s[name] ??= []).push(v === undefined ? NaN : v);

/** Waits until the route controller has made no call for QUIET_MS (at most 5 s). */
async function quiet(env: RouteBenchEnv): Promise<void> {
  const end = now() + 5000;
  for (;;) {
    const recent = [...env.traced.calls.slice(-10), ...env.adminCalls.slice(-10)];
    const last = Math.max(0, ...recent.map((c) => (Number.isNaN(c.t1) ? Infinity : c.t1)));
    if (now() - last >= QUIET_MS || now() > end) return;
    await sleep(20);
  }
}

/** A static ProjectServer serving INDEX, healthy; its container's id and bridge address. */
async function setUpSite(env: RouteBenchEnv): Promise<{ id: string; ip: string }> {
  await env.put(NS, 'projectservers', { kind: 'ProjectServer', metadata: { name: SERVER }, spec: { serviceType: 'static' } });
  const cname = containerName(env.installation!, { namespace: NS, name: SERVER });
  const st = await env.until(async () => {
    const s = await env.docker.inspect(cname);
    return s?.running && s;
  }, `server ${SERVER} to run`, 60_000);
  const w = await env.docker.exec(st.id, ['sh', '-c', 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', 'sh', '/srv/static/site/current/index.html', INDEX]);
  if (w.exitCode !== 0) throw new Error(`writing index.html failed: ${w.stderr}`);
  // The first health check runs one interval (10 s) after the start.
  await env.until(async () => (await env.status(NS, 'projectservers', SERVER)).health === 'healthy', `server ${SERVER} to be healthy`, 40_000);
  return { id: st.id, ip: await containerIp(st.id) };
}

/** (1): N Routes, one after another. */
async function routeLatency(env: RouteBenchEnv, port: number): Promise<{ series: Series; steps: Series }> {
  const series: Series = {};
  const steps: Series = {};
  await quiet(env);
  for (let i = 0; i < SAMPLES; i++) {
    const name = `r-${i}`;
    const host = `r${i}.bench.test`;
    const target: Target = { address: '127.0.0.1', port, path: '/', host };
    const put = now();
    const served = firstOk(target, put + SAMPLE_TIMEOUT_MS, `${host} through the proxy`);
    await env.put(NS, 'routes', { kind: 'Route', metadata: { name }, spec: { host, projectServer: SERVER } });
    const ack = now();
    const ok = await served;
    if (ok.last.body !== INDEX) throw new Error(`${host} answered 200 with another body: ${ok.last.body.slice(0, 120)}`);
    await env.until(async () => (await env.status(NS, 'routes', name)).ready === true, `Route ${name} to be ready`, SAMPLE_TIMEOUT_MS);
    const ready = now();
    push(series, 'PUT sent → first 200 through the proxy', ok.at - put);
    push(series, 'PUT sent → API answered', ack - put);
    push(series, 'PUT sent → status.ready seen (API GET every 20 ms)', ready - put);
    push(series, 'probes until the first 200', ok.tries);
    for (const [k, v] of Object.entries(sampleSteps(env.traced.calls, env.adminCalls, { host, put, ok: ok.at }))) push(steps, k, v);
    await quiet(env);
    push(steps, 'syncs begun from this PUT until idle', env.traced.calls.filter((c) => c.op === 'ensureNetwork' && c.t0 >= put).length);
    push(steps, 'POST /load from this PUT until idle', env.adminCalls.filter((c) => c.op === 'POST' && c.target === '/load' && c.t0 >= put).length);
  }
  return { series, steps };
}

const containerPid = async (id: string) => ((await engine('GET', `/containers/${id}/json`)) as { State: { Pid: number } }).State.Pid;

async function main(): Promise<void> {
  const env = new RouteBenchEnv(log);
  const clearWatchdog = guardRun(() => env.close(), log, DEADLINE_MS);
  const started = new Date();
  const loadBefore = os.loadavg();
  try {
    await env.setUp();
    log(`controllers leading, API up; installation ${env.installation}`);
    const server = await setUpSite(env);
    const proxy = await env.proxy();
    const proxyIp = await containerIp(proxy.id);
    log(`server ${server.ip} healthy; proxy on 127.0.0.1:${proxy.httpPort} (${proxyIp})`);

    // The Route the load goes through; also the first config with a reverse proxy in it, not measured.
    await env.put(NS, 'routes', { kind: 'Route', metadata: { name: 'load' }, spec: { host: LOAD_HOST, projectServer: SERVER } });
    await firstOk({ address: '127.0.0.1', port: proxy.httpPort, path: '/', host: LOAD_HOST }, now() + SAMPLE_TIMEOUT_MS, LOAD_HOST);
    const nothing = await getOnce({ address: '127.0.0.1', port: proxy.httpPort, path: '/', host: 'unrouted.bench.test' });
    if (nothing.status !== 404) throw new Error(`a host without a Route answered ${nothing.status}, not 404`);

    log(`(1) Route PUT → first 200, ${SAMPLES} samples`);
    const latency = await routeLatency(env, proxy.httpPort);

    const targets: LoadTarget[] = [
      { name: 'proxy', label: 'through the proxy (127.0.0.1, published port)', target: { address: '127.0.0.1', port: proxy.httpPort, path: '/', host: LOAD_HOST } },
      { name: 'direct', label: 'straight to the server (bridge IP:80)', target: { address: server.ip, port: 80, path: '/site/current/' } },
      { name: 'proxy-bridge', label: "through the proxy at its bridge IP:80", target: { address: proxyIp, port: 80, path: '/', host: LOAD_HOST } },
    ];
    for (const t of targets) {
      const r = await getOnce(t.target);
      if (r.status !== 200 || r.body !== INDEX) throw new Error(`(2) ${t.name} does not serve index.html: ${r.status} ${r.body.slice(0, 120)}`);
    }
    const dockerProxyPids = findProcesses(['-host-port', String(proxy.httpPort), '-container-port', '80']);
    const cpu = new CpuMeter({ caddy: containerCpu(proxy.id), httpd: containerCpu(server.id), 'docker-proxy': processesCpu(dockerProxyPids) });
    const netns = { host: process.pid, proxy: await containerPid(proxy.id), server: await containerPid(server.id) };
    log(`(2) ${LEVELS.join(' and ')} connections × ${DURATION_MS / 1000} s, ${ROUNDS} rounds of ${targets.map((t) => t.name).join(', ')} at each`);
    const load = await runThroughput(targets, { levels: LEVELS, rounds: ROUNDS, durationMs: DURATION_MS, warmupMs: WARMUP_MS, netns, log }, cpu);
    const loadAfter = os.loadavg();
    // Caddy logs each failed proxying (a 502) as an error line with its cause.
    const proxyErrors = (await env.docker.logs(proxy.id, { tail: 2000 })).split('\n').filter((l) => l.includes('"level":"error"'));

    const first200 = summarize(latency.series['PUT sent → first 200 through the proxy']);
    const goal = { goal: `Route PUT → first 200, p50 ≤ ${GOAL_P50_MS} ms`, value: first200.p50, met: first200.p50 <= GOAL_P50_MS };
    const ratios = Object.fromEntries(LEVELS.map((c) => [c, { proxyDirect: ratio(load[c], 'proxy', 'direct'), proxyBridgeDirect: ratio(load[c], 'proxy-bridge', 'direct') }]));
    const out = {
      started: started.toISOString(),
      durationS: Math.round((Date.now() - T0) / 100) / 10,
      samples: SAMPLES,
      load: { connections: LEVELS, durationMs: DURATION_MS, warmupMs: WARMUP_MS, rounds: ROUNDS, bodyBytes: Buffer.byteLength(INDEX) },
      machine: { cpus: os.cpus().length, loadBefore, loadAfter, node: process.version, dockerEngine: env.engineVersion, database: env.db?.embedded ? 'embedded' : 'DATABASE_URL', dockerProxyPids },
      controllerLogLines: env.controllerLogLines,
      proxyErrors,
      routeLatency: Object.fromEntries(Object.entries(latency.series).map(([k, v]) => [k, summarize(v)])),
      steps: Object.fromEntries(Object.entries(latency.steps).map(([k, v]) => [k, summarize(v)])),
      throughput: throughputSummary(targets, load),
      ratios,
      goal,
      series: latency,
    };
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/route.json', JSON.stringify(out, null, 2) + '\n');

    const row = (what: string, s: Summary, goalText = '') => [what, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.max), goalText];
    const lines: string[] = [];
    lines.push(`bench/route — ${started.toISOString()}, ${os.cpus().length} CPUs, Docker ${env.engineVersion}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(2)).join(' ')} after`);
    lines.push('');
    lines.push(`(1) Route PUT → serving, ${SAMPLES} samples, a new host each (ms)`);
    lines.push(table([['measure', 'n', 'p50', 'p90', 'max', 'goal'], ...Object.entries(latency.series).map(([k, v]) => row(k, summarize(v), k.endsWith('first 200 through the proxy') ? `p50 ≤ ${GOAL_P50_MS}` : ''))]));
    lines.push('');
    lines.push("Where the time goes (ms; the route controller's calls, timed)");
    lines.push(table([['step', 'n', 'p50', 'p90', 'max', ''], ...Object.entries(latency.steps).map(([k, v]) => row(k, summarize(v)))]));
    for (const c of LEVELS) {
      const r = ratios[c];
      const rounds = (x: { byRound: number[]; ofMeans: number }) => `${x.byRound.map((v, i) => `round ${i + 1} ${v.toFixed(2)}×`).join(', ')}; of the means ${x.ofMeans.toFixed(2)}×`;
      lines.push('');
      lines.push(`(2) GET of a ${Buffer.byteLength(INDEX)}-byte file, ${c} keep-alive connections, ${DURATION_MS / 1000} s per run after ${WARMUP_MS} ms warm-up, ${ROUNDS} rounds interleaved`);
      lines.push(throughputTable(targets, load[c]));
      lines.push(`proxy / direct, requests/s: ${rounds(r.proxyDirect)}`);
      lines.push(`proxy at its bridge address / direct: ${rounds(r.proxyBridgeDirect)}`);
    }
    lines.push('');
    lines.push(`Caddy logged ${proxyErrors.length} error(s)${proxyErrors.length ? `; the first: ${proxyErrors[0].slice(0, 400)}` : ''}`);
    lines.push(`Goal: ${goal.goal}: ${fmt(goal.value)} ms — ${goal.met ? 'met' : 'NOT met'}`);
    lines.push(`(controller log lines: ${env.controllerLogLines}; JSON: bench/out/route.json; run took ${out.durationS} s)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await env.close();
    clearWatchdog();
  }
}

runMain(main, log);
