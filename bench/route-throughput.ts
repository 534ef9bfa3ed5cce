// Part (2) of bench/route: the same GET load on several targets (through the proxy, straight
// to the server, …), interleaved round by round at each concurrency, with the CPU each part
// used and the TCP counters that explain tail latency; and its tables.
//
// Each run reads, before and after, the TCP counters of three network namespaces: the host
// (the load generator and docker-proxy), the proxy container and the server container.
// ListenOverflows counts connection attempts a listener's full accept queue dropped; each
// such drop costs the client a SYN retransmission, 1 s later (Linux's initial RTO).
import { fmt, summarize, table } from './lib-report.js';
import { counterDelta, runLoad, tcpCounters, type CpuMeter, type LoadResult, type Target } from './route-load.js';
import { sleep } from './health-docker.js';

export interface LoadTarget {
  name: string;
  label: string;
  target: Target;
}

export interface ThroughputOptions {
  /** Concurrency levels, in the order they run; at each, ROUNDS rounds of all targets. */
  levels: number[];
  rounds: number;
  durationMs: number;
  warmupMs: number;
  /** Network namespaces to read TCP counters in, by name: a pid in each (host, proxy, server). */
  netns: Record<string, number>;
  log: (msg: string) => void;
}

const TCP_COUNTERS = ['TcpExt.ListenOverflows', 'Tcp.RetransSegs'];

export type LoadRun = LoadResult & { tcp: Record<string, Record<string, number>> };
/** Connections → target name → one run per round. */
export type ThroughputRuns = Record<number, Record<string, LoadRun[]>>;

export async function runThroughput(targets: LoadTarget[], o: ThroughputOptions, cpu: CpuMeter): Promise<ThroughputRuns> {
  const out: ThroughputRuns = {};
  const read = () => Object.fromEntries(Object.entries(o.netns).map(([k, pid]) => [k, tcpCounters(pid)]));
  for (const connections of o.levels) {
    out[connections] = {};
    for (let round = 1; round <= o.rounds; round++)
      for (const t of targets) {
        const before = read();
        const r = await runLoad(t.target, { connections, durationMs: o.durationMs, warmupMs: o.warmupMs }, cpu);
        const after = read();
        const tcp = Object.fromEntries(Object.keys(o.netns).map((k) => [k, counterDelta(before[k], after[k], TCP_COUNTERS)]));
        o.log(`(2) ${connections} connections, round ${round}, ${t.name}: ${r.requestsPerS.toFixed(0)} req/s, ${r.errors} errors, ${r.non200} non-200`);
        if (r.requests === 0) throw new Error(`(2) ${t.name}: no request succeeded (${r.firstError ?? `${r.non200} non-200 answers`})`);
        (out[connections][t.name] ??= []).push({ ...r, tcp });
        await sleep(300);
      }
  }
  return out;
}

/** Requests/s of `name` over `base`, round by round, and of the rounds' means. */
export function ratio(runs: Record<string, LoadRun[]>, name: string, base: string): { byRound: number[]; ofMeans: number } {
  const rps = (n: string) => runs[n].map((r) => r.requestsPerS);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  return { byRound: rps(name).map((p, i) => p / rps(base)[i]), ofMeans: mean(rps(name)) / mean(rps(base)) };
}

/** The figures for the JSON, without the per-request latencies. */
export function throughputSummary(targets: LoadTarget[], runs: ThroughputRuns): unknown {
  return Object.fromEntries(
    Object.entries(runs).map(([connections, byTarget]) => [
      connections,
      Object.fromEntries(
        targets.map((t) => {
          const rs = byTarget[t.name];
          return [
            t.name,
            {
              label: t.label,
              requestsPerS: rs.map((r) => r.requestsPerS),
              latencyMs: rs.map((r) => summarize(r.latencies)),
              newConnectionsPerRequest: rs.map((r) => r.newConnections / r.sent),
              errors: rs.map((r) => r.errors),
              non200: rs.map((r) => r.statuses),
              cpuCores: rs.map((r) => r.cpu),
              tcp: rs.map((r) => r.tcp),
            },
          ];
        }),
      ),
    ]),
  );
}

export function throughputTable(targets: LoadTarget[], runs: Record<string, LoadRun[]>): string {
  const cores = (x: number) => fmt(x, 2);
  return table([
    ['target', 'round', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'new conn/req', 'errors', 'accept drops srv/proxy/host', 'retrans host/proxy', 'CPU: machine', 'ms/req', 'bench', 'caddy', 'httpd', 'docker-proxy', 'other'],
    ...targets.flatMap((t) =>
      runs[t.name].map((r, i) => {
        const l = summarize(r.latencies);
        const c = r.cpu;
        const tcp = (ns: string, k: string) => fmt(r.tcp[ns]?.[k]);
        return [
          t.label, String(i + 1), fmt(r.requestsPerS), fmt(l.p50, 2), fmt(l.p99, 2), fmt(l.max, 1), fmt(r.newConnections / r.sent, 2), String(r.errors + r.non200),
          `${tcp('server', 'TcpExt.ListenOverflows')}/${tcp('proxy', 'TcpExt.ListenOverflows')}/${tcp('host', 'TcpExt.ListenOverflows')}`,
          `${tcp('host', 'Tcp.RetransSegs')}/${tcp('proxy', 'Tcp.RetransSegs')}`,
          cores(c.machine), fmt((c.machine * 1000) / r.requestsPerS, 1), cores(c.self), cores(c.named.caddy), cores(c.named.httpd), cores(c.named['docker-proxy']), cores(c.other),
        ];
      }),
    ),
  ]);
}
