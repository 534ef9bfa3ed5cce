// Where the CPU went during a phase of a benchmark (Linux /proc; elsewhere only this process):
// the whole machine, this process (all its threads), the PostgreSQL server (the postmaster and
// every backend, including backends that exited, through the postmaster's reaped-children
// times), and everything else, which on a shared machine is interference.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICK_MS = 10; // USER_HZ is 100 on every Linux that Node supports

interface Snapshot {
  at: number;
  /** Machine-wide busy and total time (ms, summed over CPUs), or null without /proc/stat. */
  machineBusyMs: number | null;
  machineTotalMs: number | null;
  selfMs: number;
  mainThreadMs: number | null;
  postgresMs: number | null;
}

/** CPU used during a phase, in cores (1.0 = one CPU busy for the whole phase). */
export interface CpuFigure {
  seconds: number;
  machineCores: number | null;
  benchProcessCores: number;
  /** The main thread alone: the API server's event loop (clients run in workers). */
  mainThreadCores: number | null;
  postgresCores: number | null;
  otherCores: number | null;
  cpus: number;
}

function machineTimes(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]; // cpu  user nice system idle iowait irq softirq steal
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
  } catch {
    return null;
  }
}

function statFields(pid: number, file = `/proc/${pid}/stat`): string[] | null {
  try {
    const s = readFileSync(file, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
  } catch {
    return null;
  }
}

/** The postmaster's own, its reaped children's and its live children's CPU time (ms). */
function postgresTime(postmasterPid: number | undefined): number | null {
  if (!postmasterPid) return null;
  const pm = statFields(postmasterPid);
  if (!pm) return null;
  // After the name: [0]=state [1]=ppid … [11]=utime [12]=stime [13]=cutime [14]=cstime
  let ticks = Number(pm[11]) + Number(pm[12]) + Number(pm[13]) + Number(pm[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks * TICK_MS;
}

function mainThreadTime(): number | null {
  const f = statFields(process.pid, `/proc/self/task/${process.pid}/stat`);
  return f ? (Number(f[11]) + Number(f[12])) * TICK_MS : null;
}

export class CpuMeter {
  constructor(private readonly postmasterPid?: number) {}

  snapshot(): Snapshot {
    const m = machineTimes();
    const u = process.cpuUsage();
    return {
      at: performance.now(),
      machineBusyMs: m?.busy ?? null,
      machineTotalMs: m?.total ?? null,
      selfMs: (u.user + u.system) / 1000,
      mainThreadMs: mainThreadTime(),
      postgresMs: postgresTime(this.postmasterPid),
    };
  }

  since(a: Snapshot): CpuFigure {
    const b = this.snapshot();
    const wall = b.at - a.at;
    const cores = (x: number) => Math.round((x / wall) * 100) / 100;
    const machine = a.machineBusyMs !== null && b.machineBusyMs !== null ? b.machineBusyMs - a.machineBusyMs : null;
    const self = b.selfMs - a.selfMs;
    const pgMs = a.postgresMs !== null && b.postgresMs !== null ? b.postgresMs - a.postgresMs : null;
    return {
      seconds: Math.round(wall / 100) / 10,
      machineCores: machine === null ? null : cores(machine),
      benchProcessCores: cores(self),
      mainThreadCores: a.mainThreadMs !== null && b.mainThreadMs !== null ? cores(b.mainThreadMs - a.mainThreadMs) : null,
      postgresCores: pgMs === null ? null : cores(pgMs),
      otherCores: machine === null || pgMs === null ? null : cores(Math.max(0, machine - self - pgMs)),
      cpus: os.availableParallelism(),
    };
  }
}
