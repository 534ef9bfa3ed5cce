// The HTTP clients of bench/store.ts, run in worker threads so that the load they generate
// and the timestamps they take do not share an event loop with the API server under test.
// Imports node built-ins only. One job per worker (workerData.job):
//   put     N sequential clients PUTting their own objects round-robin over keep-alive sockets
//   writer  open-loop PUTs at a fixed rate, each carrying its send time in label `t`
//   watch   M SSE watch streams, recording when each revision arrives
// Time everywhere is `performance.timeOrigin + performance.now()` (ms since the epoch, sub-ms);
// it agrees across the threads of one process to within microseconds.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export interface Target {
  port: number;
  token: string;
  namespace: string;
}

export interface PutJob extends Target {
  job: 'put';
  clients: number;
  /** Object names per client: names[c][k]. */
  names: string[][];
  warmupMs: number;
  durationMs: number;
}

export interface PutResult {
  /** Completed requests inside the measured window. */
  count: number;
  windowMs: number;
  /** Latency (ms) of each request measured. */
  latencies: Float64Array;
  errors: number;
  firstError?: string;
}

export interface WriterJob extends Target {
  job: 'writer';
  names: string[];
  rate: number;
  /** Writes at the same rate before the measured ones (flagged `warmup` in the result). */
  warmupMs: number;
  durationMs: number;
}

export interface WriterResult {
  /** Per acknowledged write: revision, send time, ack time (parallel arrays). */
  revisions: Float64Array;
  sent: Float64Array;
  acked: Float64Array;
  /** 1 for a write sent during the warm-up. */
  warmup: Uint8Array;
  errors: number;
  firstError?: string;
  /** How late (ms) the worst write left compared to its schedule. */
  maxScheduleLagMs: number;
  /** From the first measured send to the last response (ms). */
  elapsedMs: number;
}

export interface WatchJob extends Target {
  job: 'watch';
  watchers: number;
  resourceVersion: string;
}

export interface WatchResult {
  /** Per watcher: revisions received, receipt times, and the label `t` each carried (NaN if none). */
  revisions: Float64Array[];
  received: Float64Array[];
  labelT: Float64Array[];
  /** Per watcher: frames whose `id:` and data resourceVersion disagreed, or arrived out of order. */
  badFrames: number;
  outOfOrder: number;
  bookmarks: number;
  streamErrors: number;
  firstError?: string;
}

/** put and writer workers post `{type:'measure'}` when the measured window starts, then their result. */
export type MeasureMessage = { type: 'measure' };

/** Watch worker messages: main → worker `{type:'finish', until, timeoutMs}`; worker → main `{type:'ready'}` then `{type:'result'}`. */
export type WatchMessage = { type: 'ready' } | { type: 'result'; result: WatchResult } | { type: 'error'; message: string };

function put(agent: http.Agent, t: Target, name: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: t.port,
        method: 'PUT',
        path: `/apis/deployer.dev/v1/namespaces/${t.namespace}/projectservers/${name}`,
        agent,
        headers: {
          authorization: `Bearer ${t.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const psBody = (name: string, port: number, labels?: Record<string, string>): string =>
  JSON.stringify({
    apiVersion: 'deployer.dev/v1',
    kind: 'ProjectServer',
    metadata: labels ? { name, labels } : { name },
    spec: { serviceType: 'static', port },
  });

async function runPut(job: PutJob): Promise<PutResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.clients });
  const start = now();
  const measureFrom = start + job.warmupMs;
  const tell = setTimeout(() => parentPort?.postMessage({ type: 'measure' }), job.warmupMs);
  const stopAt = measureFrom + job.durationMs;
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let count = 0;
  const client = async (c: number) => {
    const names = job.names[c];
    // Ports differ per client and per round, so every PUT changes the spec.
    let port = 1 + ((c * 7919) % 60000);
    for (let i = 0; ; i++) {
      const t0 = now();
      if (t0 >= stopAt) return;
      const name = names[i % names.length];
      port = (port % 65535) + 1;
      try {
        const res = await put(agent, job, name, psBody(name, port));
        const t1 = now();
        if (res.status !== 200) {
          errors++;
          firstError ??= `PUT ${name}: HTTP ${res.status} ${res.body.slice(0, 300)}`;
        } else if (t0 >= measureFrom && t1 <= stopAt) {
          count++;
          lat.push(t1 - t0);
        }
      } catch (err) {
        errors++;
        firstError ??= `PUT ${name}: ${(err as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: job.clients }, (_, c) => client(c)));
  clearTimeout(tell);
  agent.destroy();
  return { count, windowMs: job.durationMs, latencies: Float64Array.from(lat), errors, firstError };
}

async function runWriter(job: WriterJob): Promise<WriterResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const warm = Math.round((job.rate * job.warmupMs) / 1000);
  const total = warm + Math.round((job.rate * job.durationMs) / 1000);
  const interval = 1000 / job.rate;
  const revisions: number[] = [];
  const sent: number[] = [];
  const acked: number[] = [];
  const warmup: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let maxLag = 0;
  const inflight: Promise<void>[] = [];
  const start = now() + 20;
  for (let i = 0; i < total; i++) {
    if (i === warm) parentPort?.postMessage({ type: 'measure' });
    const due = start + i * interval;
    const wait = due - now();
    if (wait > 0) await sleep(wait); // timers are ms-precise; the real send time is what is recorded
    const name = job.names[i % job.names.length];
    const t0 = now();
    maxLag = Math.max(maxLag, t0 - due);
    const body = psBody(name, 1 + (i % 65535), { t: t0.toFixed(3) });
    inflight.push(
      put(agent, job, name, body).then(
        (res) => {
          const t1 = now();
          if (res.status !== 200) {
            errors++;
            firstError ??= `PUT ${name}: HTTP ${res.status} ${res.body.slice(0, 300)}`;
            return;
          }
          const rv = (JSON.parse(res.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
          revisions.push(Number(rv));
          sent.push(t0);
          acked.push(t1);
          warmup.push(i < warm ? 1 : 0);
        },
        (err: Error) => {
          errors++;
          firstError ??= `PUT ${name}: ${err.message}`;
        },
      ),
    );
  }
  await Promise.all(inflight);
  agent.destroy();
  return {
    revisions: Float64Array.from(revisions),
    sent: Float64Array.from(sent),
    acked: Float64Array.from(acked),
    warmup: Uint8Array.from(warmup),
    errors,
    firstError,
    maxScheduleLagMs: maxLag,
    elapsedMs: now() - (start + warm * interval),
  };
}

interface WatcherState {
  revisions: number[];
  received: number[];
  labelT: number[];
  last: number;
  req?: http.ClientRequest;
}

async function runWatch(job: WatchJob): Promise<void> {
  const port = parentPort!;
  const states: WatcherState[] = [];
  let badFrames = 0;
  let outOfOrder = 0;
  let bookmarks = 0;
  let streamErrors = 0;
  let firstError: string | undefined;
  let closing = false;
  const rvRe = /"resourceVersion":"(\d+)"/;
  const tRe = /"labels":\{[^}]*"t":"([0-9.]+)"/;

  const open = (st: WatcherState) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: job.port,
          method: 'GET',
          path: `/apis/deployer.dev/v1/namespaces/${job.namespace}/projectservers?watch=true&resourceVersion=${job.resourceVersion}`,
          agent: false,
          headers: { authorization: `Bearer ${job.token}`, accept: 'text/event-stream' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`watch: HTTP ${res.statusCode}`));
            res.resume();
            return;
          }
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            const at = now();
            buf += chunk;
            let end: number;
            while ((end = buf.indexOf('\n\n')) >= 0) {
              const frame = buf.slice(0, end);
              buf = buf.slice(end + 2);
              let id = NaN;
              let event = '';
              let data = '';
              for (const line of frame.split('\n')) {
                if (line.startsWith('id:')) id = Number(line.slice(3).trim());
                else if (line.startsWith('event:')) event = line.slice(6).trim();
                else if (line.startsWith('data:')) data += line.slice(5).trimStart();
              }
              if (event === 'BOOKMARK') {
                bookmarks++;
                continue;
              }
              const m = rvRe.exec(data);
              const rv = m ? Number(m[1]) : NaN;
              if (!(rv === id)) badFrames++;
              if (rv <= st.last) outOfOrder++;
              st.last = Math.max(st.last, rv);
              const t = tRe.exec(data);
              st.revisions.push(rv);
              st.received.push(at);
              st.labelT.push(t ? Number(t[1]) : NaN);
            }
          });
          res.on('error', (err) => {
            if (closing) return;
            streamErrors++;
            firstError ??= `watch stream: ${err.message}`;
          });
          res.on('end', () => {
            if (closing) return;
            streamErrors++;
            firstError ??= 'watch stream ended early';
          });
          resolve();
        },
      );
      req.on('error', (err) => {
        if (closing) return;
        streamErrors++;
        firstError ??= `watch request: ${err.message}`;
        reject(err);
      });
      req.end();
      st.req = req;
    });

  for (let i = 0; i < job.watchers; i++) states.push({ revisions: [], received: [], labelT: [], last: Number(job.resourceVersion) });
  // Open in batches: 100 simultaneous connects would just queue on the listen backlog anyway.
  for (let i = 0; i < states.length; i += 20) await Promise.all(states.slice(i, i + 20).map(open));
  port.postMessage({ type: 'ready' } satisfies WatchMessage);

  const finish = await new Promise<{ until: number; timeoutMs: number }>((resolve) =>
    port.on('message', (m: { type: string; until: number; timeoutMs: number }) => {
      if (m.type === 'finish') resolve(m);
    }),
  );
  const deadline = now() + finish.timeoutMs;
  while (now() < deadline && states.some((s) => s.last < finish.until)) await sleep(5);
  closing = true;
  for (const s of states) s.req?.destroy();
  const result: WatchResult = {
    revisions: states.map((s) => Float64Array.from(s.revisions)),
    received: states.map((s) => Float64Array.from(s.received)),
    labelT: states.map((s) => Float64Array.from(s.labelT)),
    badFrames,
    outOfOrder,
    bookmarks,
    streamErrors,
    firstError,
  };
  port.postMessage({ type: 'result', result } satisfies WatchMessage);
}

async function main(): Promise<void> {
  const job = workerData as PutJob | WriterJob | WatchJob;
  if (job.job === 'put') parentPort!.postMessage(await runPut(job));
  else if (job.job === 'writer') parentPort!.postMessage(await runWriter(job));
  else await runWatch(job);
}

if (parentPort && workerData && typeof (workerData as { job?: unknown }).job === 'string') {
  main().catch((err: Error) => {
    parentPort!.postMessage({ type: 'error', message: err.stack ?? err.message });
  });
}
