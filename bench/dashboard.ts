// bench/dashboard: does the dashboard keep up? 500 objects on the page, 20 changes per second
// for 30 s, and for every change the time until the page shows it.
//
//   node --import tsx bench/dashboard.ts [--seconds=30] [--rate=20]
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded, temporary data dir, a free
// loopback port) and removes it at the end; with DATABASE_URL (a user who may CREATE DATABASE)
// it uses that server. Either way it works in a fresh database that it drops at the end.
// deployer runs as its own process (server.ts, no controllers: nothing touches Docker, and the
// statuses are the bench's to write). The page runs in Debian's chromium (headless, driven by
// playwright-core; sh scripts/ensure-chromium.sh installs it), signed in with the admin token,
// all namespaces shown.
//
// Objects: 150 ProjectServers, 200 Deployments, 100 Routes and 50 Events in 5 namespaces (500),
// with realistic statuses. Changes, at a fixed rate, each carrying a unique token `c<n>x` in a
// field the page shows: 40% a Deployment's status (phase, progress, message), 30% a
// ProjectServer's status (health degraded, lastHealthIssue), 15% a Route's status (not ready,
// the Ready condition's message), 15% a new Event (message) — merge patches of `/status`, and
// POSTs. Each change's clock starts just before its request is sent; it stops when a
// MutationObserver in the page sees the token in the DOM (the page writes the DOM inside an
// animation frame, so it is painted with that frame). Both clocks are the machine's epoch
// clock (performance.timeOrigin + now()). Also: the time from sign-in until all 500 rows are
// on the page, and the page's long tasks (> 50 ms) during the changes.
//
// Prints p50 / p95 / p99 / max and the share of changes seen within 1 s (goal: all of them);
// writes bench/out/dashboard.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { openBenchDatabase, freePort, type BenchDatabase } from './database.js';
import { API_BASE, BenchApi, guardRun, pollUntil, runMain } from './lib-env.js';
import { fmt, table } from './lib-report.js';

const arg = (name: string, def: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const SECONDS = arg('seconds', 30);
const RATE = arg('rate', 20);
const NAMESPACES = ['shop', 'blog', 'docs', 'api', 'intranet'];
const COUNTS = { projectservers: 150, deployments: 200, routes: 100, events: 50 };
const GOAL_MS = 1000;
const STRAGGLER_MS = 5000;
const DEADLINE_MS = 300_000;
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'bench-dashboard-admin-token';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MERGE = 'application/merge-patch+json';

const T0 = Date.now();
const log = (msg: string): void => void process.stderr.write(`bench/dashboard [${((Date.now() - T0) / 1000).toFixed(1)} s]: ${msg}\n`);
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (msAgo = 0) => new Date(Date.now() - msAgo).toISOString();
const pick = <T>(a: readonly T[], i: number): T => a[i % a.length]!;

/** In the page: records when each `c<n>x` token first appears in the DOM, and long tasks. */
const OBSERVER = `(() => {
  const seen = (window.__seenAt = {});
  const now = () => performance.timeOrigin + performance.now();
  const scan = (text, t) => {
    if (!text || text.indexOf('x') < 0) return;
    for (const m of text.matchAll(/\\bc(\\d+)x\\b/g)) if (!(m[1] in seen)) seen[m[1]] = t;
  };
  new MutationObserver((records) => {
    const t = now();
    for (const r of records) {
      if (r.type === 'characterData') scan(r.target.data, t);
      else for (const n of r.addedNodes) scan(n.textContent, t);
    }
  }).observe(document.getElementById('app'), { subtree: true, childList: true, characterData: true });
  window.__longTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); }).observe({ type: 'longtask' });
  // long animation frames: where the time went (scripts, by function, and style + layout)
  window.__loaf = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      window.__loaf.push({
        duration: e.duration,
        layout: e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0,
        scripts: e.scripts.map((s) => ({ what: (s.sourceFunctionName || s.invoker || '?') + ' ' + (s.sourceURL || '').replace(/^.*\\//, ''), ms: s.duration })),
      });
  }).observe({ type: 'long-animation-frame' });
})()`;

interface Change {
  n: number;
  kind: string;
  sentAt: number;
  ackMs?: number;
  status?: number;
}

function seedObjects(): { plural: string; ns: string; body: Record<string, unknown>; status?: Record<string, unknown> }[] {
  const out: ReturnType<typeof seedObjects> = [];
  for (let i = 0; i < COUNTS.projectservers; i++) {
    const ns = pick(NAMESPACES, i);
    out.push({
      plural: 'projectservers',
      ns,
      body: { kind: 'ProjectServer', metadata: { name: `app-${i}` }, spec: { serviceType: i % 3 ? 'static' : 'docker', ...(i % 3 ? {} : { image: `registry.local/app-${i}:1` }) } },
      status: { phase: 'Running', health: 'healthy', restartCount: i % 4, currentDeployment: `app-${i}-1` },
    });
  }
  for (let i = 0; i < COUNTS.deployments; i++) {
    const s = i % COUNTS.projectservers;
    out.push({
      plural: 'deployments',
      ns: pick(NAMESPACES, s),
      body: { kind: 'Deployment', metadata: { name: `app-${s}-${Math.floor(i / COUNTS.projectservers) + 1}` }, spec: { projectServer: `app-${s}`, source: { inline: { files: { 'index.html': `release ${i}\n` } } } } },
      status: { phase: 'active', phaseProgress: 100, message: `live: deployment-app-${s}`, startedAt: iso(60_000), finishedAt: iso(55_000) },
    });
  }
  for (let i = 0; i < COUNTS.routes; i++) {
    const ns = pick(NAMESPACES, i);
    out.push({
      plural: 'routes',
      ns,
      body: { kind: 'Route', metadata: { name: `app-${i}` }, spec: { host: `app-${i}.${ns}.example.test`, projectServer: `app-${i}` } },
      status: { url: `http://app-${i}.${ns}.example.test/`, ready: true, conflicts: [] },
    });
  }
  for (let i = 0; i < COUNTS.events; i++) out.push({ plural: 'events', ns: pick(NAMESPACES, i), body: eventBody(`seed-${i}`, pick(NAMESPACES, i), `app-${i}`, `seeded event ${i}`) });
  return out;
}

function eventBody(name: string, ns: string, server: string, message: string): Record<string, unknown> {
  const now = iso();
  return {
    kind: 'Event',
    metadata: { name, namespace: ns },
    involvedObject: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', namespace: ns, name: server },
    reason: 'Bench',
    message,
    type: 'Normal',
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: 'bench' },
  };
}

/** Change n: a status patch (or a new Event) carrying the token c<n>x. */
function change(api: BenchApi, n: number): { kind: string; send: () => Promise<{ status: number }> } {
  const token = `c${n}x`;
  const r = n % 20;
  if (r < 8) {
    const i = (n * 7) % COUNTS.deployments;
    const s = i % COUNTS.projectservers;
    const name = `app-${s}-${Math.floor(i / COUNTS.projectservers) + 1}`;
    const phases = ['pulling_source', 'copying_files', 'creating_symlinks', 'health_check', 'active'] as const;
    const progress = [10, 50, 70, 90, 100];
    const p = n % phases.length;
    return {
      kind: 'Deployment',
      send: () => api.request('PATCH', `${API_BASE}/namespaces/${pick(NAMESPACES, s)}/deployments/${name}/status`, { status: { phase: phases[p], phaseProgress: progress[p], message: `${phases[p]}: step ${token}` } }, MERGE),
    };
  }
  if (r < 14) {
    const i = (n * 11) % COUNTS.projectservers;
    return {
      kind: 'ProjectServer',
      send: () => api.request('PATCH', `${API_BASE}/namespaces/${pick(NAMESPACES, i)}/projectservers/app-${i}/status`, { status: { health: 'degraded', lastHealthIssue: `health check slow ${token}` } }, MERGE),
    };
  }
  if (r < 17) {
    const i = (n * 13) % COUNTS.routes;
    return {
      kind: 'Route',
      send: () =>
        api.request(
          'PATCH',
          `${API_BASE}/namespaces/${pick(NAMESPACES, i)}/routes/app-${i}/status`,
          { status: { ready: false, conditions: [{ type: 'Ready', status: 'False', reason: 'ServerNotReady', message: `the server is not ready ${token}`, lastTransitionTime: iso() }] } },
          MERGE,
        ),
    };
  }
  const ns = pick(NAMESPACES, n);
  return { kind: 'Event', send: () => api.request('POST', `${API_BASE}/namespaces/${ns}/events`, { apiVersion: 'deployer.dev/v1', ...eventBody(`ev-${n}`, ns, `app-${n % COUNTS.projectservers}`, `bench change ${token}`) }) };
}

function startDeployer(db: string, dataDir: string, port: number): { proc: ChildProcess; output: () => string } {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({
    ...process.env,
    DATABASE_URL: db,
    DEPLOYER_ADMIN_TOKEN: TOKEN,
    DEPLOYER_CONTROLLERS: 'none',
    DEPLOYER_TLS_PORT: 'off',
    DEPLOYER_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
  }))
    if (v !== undefined) env[k] = v;
  const proc = spawn(process.execPath, ['start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
  return { proc, output: () => out };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: sh scripts/ensure-chromium.sh`);
  let db: BenchDatabase | undefined;
  let deployer: ReturnType<typeof startDeployer> | undefined;
  let browser: Browser | undefined;
  let api: BenchApi | undefined;
  const dataDir = mkdtempSync(join(os.tmpdir(), 'deployer-bench-dash-'));
  const close = async () => {
    await browser?.close().catch(() => undefined);
    api?.close();
    if (deployer && deployer.proc.exitCode === null) {
      deployer.proc.kill('SIGTERM');
      await new Promise((r) => deployer!.proc.once('exit', r));
    }
    await db?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const clearWatchdog = guardRun(close, log, DEADLINE_MS);
  const loadBefore = os.loadavg();
  try {
    db = await openBenchDatabase({ prefix: 'bench_dash', log });
    const port = await freePort();
    deployer = startDeployer(db.url, dataDir, port);
    const url = `http://127.0.0.1:${port}`;
    await pollUntil(async () => (await fetch(`${url}/readyz`)).status === 200, `deployer to be ready (${deployer.output().slice(-500)})`, 60_000);
    api = new BenchApi(url, TOKEN);

    log(`seeding ${Object.values(COUNTS).reduce((a, b) => a + b)} objects`);
    const seeds = seedObjects();
    for (let i = 0; i < seeds.length; i += 10)
      await Promise.all(
        seeds.slice(i, i + 10).map(async (o) => {
          const name = (o.body.metadata as { name: string }).name;
          if (o.plural === 'events') {
            const r = await api!.request('POST', `${API_BASE}/namespaces/${o.ns}/events`, { apiVersion: 'deployer.dev/v1', ...o.body });
            if (r.status !== 201) throw new Error(`POST event: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
            return;
          }
          await api!.put(o.ns, o.plural, o.body as never);
          const r = await api!.request('PATCH', `${API_BASE}/namespaces/${o.ns}/${o.plural}/${name}/status`, { status: o.status }, MERGE);
          if (r.status !== 200) throw new Error(`PATCH ${o.plural}/${name}/status: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        }),
      );

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    const page = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${url}/`);
    await page.fill('#token', TOKEN);
    const signIn = clock();
    await page.click('#login-form button[type=submit]');
    const full = `${COUNTS.projectservers}|${COUNTS.deployments}|${COUNTS.routes}|${COUNTS.events}`;
    await pollUntil(
      async () => (await page.evaluate(() => ['servers', 'deployments', 'routes', 'events'].map((k) => document.getElementById(`${k}-count`)!.textContent).join('|'))) === full,
      'all 500 objects on the page',
      30_000,
    );
    const loadMs = clock() - signIn;
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    log(`the page shows all ${seeds.length} objects ${fmt(loadMs)} ms after signing in`);
    await page.evaluate(OBSERVER);

    const total = Math.round(SECONDS * RATE);
    log(`${total} changes at ${RATE}/s`);
    const changes: Change[] = [];
    const inflight: Promise<void>[] = [];
    const start = clock();
    for (let n = 0; n < total; n++) {
      const due = start + (n * 1000) / RATE;
      const wait = due - clock();
      if (wait > 0) await sleep(wait);
      const c = change(api, n);
      const rec: Change = { n, kind: c.kind, sentAt: clock() };
      changes.push(rec);
      inflight.push(
        c.send().then(
          (r) => {
            rec.status = r.status;
            rec.ackMs = clock() - rec.sentAt;
          },
          (err: Error) => log(`change ${n}: ${err.message}`),
        ),
      );
    }
    await Promise.all(inflight);
    const sendSeconds = (clock() - start) / 1000;
    const bad = changes.filter((c) => c.status !== 200 && c.status !== 201);
    if (bad.length) throw new Error(`${bad.length} changes were refused, e.g. ${bad[0]!.kind} ${bad[0]!.n}: HTTP ${bad[0]!.status}`);
    const seenAt = async () => (await page.evaluate(() => (window as unknown as { __seenAt: Record<string, number> }).__seenAt)) as Record<string, number>;
    const end = clock() + STRAGGLER_MS;
    let seen = await seenAt();
    while (Object.keys(seen).length < total && clock() < end) {
      await sleep(100);
      seen = await seenAt();
    }
    const longTasks = (await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks)) as number[];
    const loaf = (await page.evaluate(() => (window as unknown as { __loaf: unknown }).__loaf)) as { duration: number; layout: number; scripts: { what: string; ms: number }[] }[];
    const scriptMs: Record<string, number> = {};
    for (const f of loaf) for (const sc of f.scripts) scriptMs[sc.what] = (scriptMs[sc.what] ?? 0) + sc.ms;
    const frames = {
      count: loaf.length,
      totalMs: loaf.reduce((a, f) => a + f.duration, 0),
      styleAndLayoutMs: loaf.reduce((a, f) => a + f.layout, 0),
      scriptMs: Object.fromEntries(Object.entries(scriptMs).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, Math.round(v)])),
    };

    const latencies = changes.map((c) => (seen[c.n] === undefined ? NaN : seen[c.n]! - c.sentAt));
    const stats = (vals: number[]) => {
      const a = vals.filter(Number.isFinite).sort((x, y) => x - y);
      const rank = (p: number) => (a.length ? a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]! : NaN);
      return { n: a.length, missed: vals.length - a.length, p50: rank(0.5), p95: rank(0.95), p99: rank(0.99), max: a.length ? a[a.length - 1]! : NaN, within1s: vals.filter((v) => v <= GOAL_MS).length / vals.length };
    };
    const byKind = Object.fromEntries(['Deployment', 'ProjectServer', 'Route', 'Event'].map((k) => [k, stats(changes.filter((c) => c.kind === k).map((c) => latencies[c.n]!))]));
    const all = stats(latencies);
    const ack = stats(changes.map((c) => c.ackMs ?? NaN));
    const out = {
      started: new Date(T0).toISOString(),
      commit: await gitCommit(),
      command: `node --import tsx bench/dashboard.ts --seconds=${SECONDS} --rate=${RATE}`,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadBefore, loadAfter: os.loadavg(), chromium: browser.version(), database: db.embedded ? 'embedded' : 'DATABASE_URL' },
      objects: COUNTS,
      changes: { total, rate: RATE, sendSeconds, achievedRate: total / sendSeconds },
      initialLoadMs: loadMs,
      visibleMs: all,
      visibleMsByKind: byKind,
      writeAckMs: ack,
      longTasks: { count: longTasks.length, maxMs: longTasks.length ? Math.max(...longTasks) : 0, totalMs: longTasks.reduce((a, b) => a + b, 0) },
      longAnimationFrames: frames,
      pageErrors,
      goal: { everyChangeVisibleWithinMs: GOAL_MS, met: all.missed === 0 && all.max <= GOAL_MS },
      samples: changes.map((c) => ({ n: c.n, kind: c.kind, visibleMs: latencies[c.n], ackMs: c.ackMs })),
    };
    mkdirSync('bench/out', { recursive: true });
    writeFileSync('bench/out/dashboard.json', JSON.stringify(out, null, 2) + '\n');

    const row = (name: string, s: ReturnType<typeof stats>) => [name, String(s.n), String(s.missed), fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max), `${fmt(s.within1s * 100, 1)}%`];
    const L: string[] = [];
    L.push(`bench/dashboard: ${seeds.length} objects, ${total} changes at ${fmt(out.changes.achievedRate, 1)}/s over ${fmt(sendSeconds, 1)} s; ${os.cpus().length} CPUs, load ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before; ${out.machine.chromium}`);
    L.push(`page loaded all objects in ${fmt(loadMs)} ms after signing in`);
    L.push('');
    L.push('change → visible on the page, ms');
    L.push(table([['', 'n', 'missed', 'p50', 'p95', 'p99', 'max', '≤ 1 s'], row('all', all), ...Object.entries(byKind).map(([k, s]) => row(k, s)), row('(write acknowledged)', ack)]));
    L.push('');
    L.push(`long tasks in the page during the changes: ${out.longTasks.count} (max ${fmt(out.longTasks.maxMs)} ms, ${fmt(out.longTasks.totalMs)} ms in all); page errors: ${pageErrors.length}`);
    L.push(`long animation frames (> 50 ms): ${frames.count}, ${fmt(frames.totalMs)} ms in all, of it style + layout ${fmt(frames.styleAndLayoutMs)} ms; scripts: ${Object.entries(frames.scriptMs).map(([k, v]) => `${k} ${v} ms`).join(', ') || 'none'}`);
    L.push(`goal: every change visible within ${GOAL_MS} ms — ${out.goal.met ? 'met' : 'NOT met'}`);
    L.push(`(JSON: bench/out/dashboard.json; run took ${fmt((Date.now() - T0) / 1000)} s)`);
    process.stdout.write(L.join('\n') + '\n');
  } finally {
    clearWatchdog();
    await close();
  }
}

async function gitCommit(): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => resolve(out.trim() || 'unknown'));
    p.on('error', () => resolve('unknown'));
  });
}

runMain(main, log);
