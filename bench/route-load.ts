// HTTP for bench/route: one GET with a Host header (fetch cannot set Host), a 5 ms poll until
// a host answers 200, a closed-loop load generator, and CPU accounting for a time window.
//
// The load generator: `connections` loops, each sending its next GET when the last one has
// been answered, over one keep-alive Agent with that many sockets. A server that closes the
// connection after each response (busybox httpd does) gets a new connection per request;
// `newConnections` counts them. Requests sent before `warmupMs` has passed are not counted;
// requests answered after the end are not counted either, so the rate is over exactly
// `durationMs`. Latency is from the request's creation to the end of its response body, on
// the client, so it includes the client's own queueing.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { now, sleep } from './health-docker.js';

export interface Target {
  /** Where the TCP connection goes. */
  address: string;
  port: number;
  path: string;
  /** The Host header (default: address:port). */
  host?: string;
}

export interface Reply {
  status: number;
  body: string;
}

/** One GET on a new connection; status 0 and the error as body when it failed. Never throws. */
export function getOnce(t: Target, timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request({ host: t.address, port: t.port, path: t.path, headers: t.host ? { host: t.host } : {}, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: 0, body: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** GETs every `intervalMs` (after each answer) until one answers 200; the time it did, and how many tries. */
export async function firstOk(t: Target, deadline: number, what: string, intervalMs = 5): Promise<{ at: number; tries: number; last: Reply }> {
  for (let tries = 1; ; tries++) {
    const r = await getOnce(t, 1000);
    if (r.status === 200) return { at: now(), tries, last: r };
    if (now() > deadline) throw new Error(`timed out waiting for ${what}: the last answer was ${r.status} ${r.body.slice(0, 120)}`);
    await sleep(intervalMs);
  }
}

export interface LoadOptions {
  connections: number;
  durationMs: number;
  warmupMs: number;
}

export interface LoadResult {
  /** 200s answered within the measured window. */
  requests: number;
  requestsPerS: number;
  /** Latency of those requests, ms. */
  latencies: number[];
  /** Answers other than 200 (by status), and failed requests, over warm-up and window. */
  non200: number;
  statuses: Record<number, number>;
  errors: number;
  firstError?: string;
  /** Requests that needed a new connection, over warm-up and window, and all requests sent. */
  newConnections: number;
  sent: number;
  cpu: CpuWindow;
}

export async function runLoad(t: Target, o: LoadOptions, cpu: CpuMeter): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections });
  const headers = t.host ? { host: t.host } : {};
  const from = now() + o.warmupMs;
  const end = from + o.durationMs;
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let non200 = 0;
  let errors = 0;
  let firstError: string | undefined;
  let newConnections = 0;
  let sent = 0;
  let mark: CpuMark | undefined;
  const markTimer = setTimeout(() => (mark = cpu.mark()), o.warmupMs);
  const failed = (err: Error) => {
    errors++;
    firstError ??= err.message;
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = now();
      sent++;
      const req = http.request({ host: t.address, port: t.port, path: t.path, headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const t1 = now();
          if (res.statusCode !== 200) {
            non200++;
            statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          } else if (t0 >= from && t1 <= end) latencies.push(t1 - t0);
          resolve();
        });
        res.on('error', (err) => {
          failed(err);
          resolve();
        });
      });
      req.on('socket', () => {
        if (!req.reusedSocket) newConnections++;
      });
      req.on('error', (err) => {
        failed(err);
        // A refused or reset connection fails at once: do not spin on it.
        setTimeout(resolve, 1);
      });
      req.end();
    });
  const loop = async () => {
    while (now() < end) await one();
  };
  await Promise.all(Array.from({ length: o.connections }, loop));
  clearTimeout(markTimer);
  const window = cpu.since(mark ?? cpu.mark());
  agent.destroy();
  return {
    requests: latencies.length,
    requestsPerS: latencies.length / (o.durationMs / 1000),
    latencies,
    non200,
    statuses,
    errors,
    firstError,
    newConnections,
    sent,
    cpu: window,
  };
}

// CPU over a window, in cores (CPU seconds per second): the whole machine from /proc/stat, this
// process from process.cpuUsage() (the load generator, and the controllers and API, which are
// idle meanwhile), and named others — containers through their cgroup v1 cpuacct, processes
// through /proc/<pid>/stat. A source that cannot be read reads NaN.

export interface CpuMark {
  t: number;
  busyJiffies: number;
  self: NodeJS.CpuUsage;
  named: Map<string, number>;
}

export interface CpuWindow {
  /** Cores busy on the whole machine (user, nice, system, irq, softirq, steal). */
  machine: number;
  self: number;
  named: Record<string, number>;
  /** machine − self − named: the engine, docker-proxy when not named, others' work. */
  other: number;
}

/** Where to read a named CPU consumer's total CPU time, in seconds. */
export type CpuSource = () => number;

const CLK_TCK = 100;

function busyJiffies(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] ?? 0);
}

/** A container's CPU seconds from the cgroup v1 cpuacct controller (cgroupfs driver). */
export function containerCpu(id: string): CpuSource {
  return () => {
    try {
      return Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, 'utf8')) / 1e9;
    } catch {
      return NaN;
    }
  };
}

/** The CPU seconds of these processes together (utime + stime; a process gone reads 0). */
export function processesCpu(pids: number[]): CpuSource {
  return () => {
    let s = 0;
    for (const pid of pids) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
        s += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
      } catch {
        // exited
      }
    }
    return s;
  };
}

/** The pids of processes whose command line contains every one of `words` (e.g. docker-proxy of a port). */
export function findProcesses(words: string[]): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (words.every((w) => argv.includes(w))) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export class CpuMeter {
  constructor(private readonly sources: Record<string, CpuSource> = {}) {}

  mark(): CpuMark {
    const named = new Map<string, number>();
    for (const [k, f] of Object.entries(this.sources)) named.set(k, f());
    return { t: now(), busyJiffies: busyJiffies(), self: process.cpuUsage(), named };
  }

  /** From `m` to now. */
  since(m: CpuMark): CpuWindow {
    const elapsedS = (now() - m.t) / 1000;
    const machine = (busyJiffies() - m.busyJiffies) / CLK_TCK / elapsedS;
    const u = process.cpuUsage(m.self);
    const self = (u.user + u.system) / 1e6 / elapsedS;
    const named: Record<string, number> = {};
    let known = self;
    for (const [k, f] of Object.entries(this.sources)) {
      named[k] = (f() - (m.named.get(k) ?? NaN)) / elapsedS;
      if (Number.isFinite(named[k])) known += named[k];
    }
    return { machine, self, named, other: machine - known };
  }
}

/**
 * The TCP counters of a network namespace (/proc/<pid>/net/netstat and snmp, read through a
 * process in it): ListenOverflows (a SYN or handshake dropped because a listener's accept
 * queue was full), ListenDrops, and the namespace's RetransSegs. Empty when unreadable.
 */
export function tcpCounters(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of ['netstat', 'snmp']) {
    let lines: string[];
    try {
      lines = readFileSync(`/proc/${pid}/net/${file}`, 'utf8').trim().split('\n');
    } catch {
      continue;
    }
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(/\s+/);
      const values = lines[i + 1].split(/\s+/);
      if (names[0] !== values[0]) continue;
      for (let j = 1; j < names.length; j++) out[`${names[0].slice(0, -1)}.${names[j]}`] = Number(values[j]);
    }
  }
  return out;
}

/** after − before for the named counters. */
export function counterDelta(before: Record<string, number>, after: Record<string, number>, names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, (after[n] ?? NaN) - (before[n] ?? NaN)]));
}
