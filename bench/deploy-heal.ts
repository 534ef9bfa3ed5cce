// bench/deploy (2) and (3): a rollback through a Deployment with source.fromDeployment, timed
// to active and to the proxy serving the older content; and the projectserver controller
// putting `current` back after `rm current` or `ln -sfn <another dir> current`.
//
// `current` is watched from this host, on the volume's directory (the bench runs beside the
// engine, as deployer does): fs.watch on the service dir plus a readlink every 5 ms as the
// backstop, each change stamped when seen. Where the volume is not readable here (a remote
// engine), a readlink by docker exec every 20 ms stands in, and the figures are coarser.
import { watch, readlinkSync, type FSWatcher } from 'node:fs';
import { STATIC_ROOT } from '../controllers/releases/layout.js';
import { HOST, type DeployBenchEnv, type Site } from './deploy-env.js';
import { deployOnce, type DeployResult } from './deploy-copy.js';
import { now, sleep } from './health-docker.js';
import { getOnce } from './route-load.js';

const SERVICE = 'site';
const HEAL_TIMEOUT_MS = 15_000;

/** GET / through the proxy, a new connection each, every 5 ms, until the body holds `text`; when it did. */
async function untilProxyServes(port: number, text: string, deadline: number): Promise<number> {
  for (;;) {
    const r = await getOnce({ address: '127.0.0.1', port, path: '/', host: HOST }, 1000);
    if (r.status === 200 && r.body.includes(text)) return now();
    if (now() > deadline) throw new Error(`the proxy did not serve "${text}" in time; the last answer: ${r.status} ${r.body.slice(0, 120)}`);
    await sleep(5);
  }
}

/** A rollback to `from`: PUT → active, and PUT → the proxy serving `text` (probed from the PUT on). */
export async function rollbackOnce(env: DeployBenchEnv, site: Site, name: string, from: string, text: string): Promise<DeployResult> {
  const put = now();
  const served = untilProxyServes(site.proxyPort, text, put + 30_000);
  served.catch(() => undefined);
  const r = await deployOnce(env, name, { fromDeployment: { name: from } });
  r.times['PUT sent → the proxy serves the older release (GET every 5 ms)'] = (await served) - put;
  return r;
}

export interface LinkChange {
  t: number;
  /** readlink of `current`; undefined while there is none. */
  value: string | undefined;
}

/** Every change of `<service dir>/current` as seen from this host. */
export class LinkObserver {
  readonly changes: LinkChange[] = [];
  private last: string | undefined | null = null;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly env: DeployBenchEnv,
    private readonly site: Site,
  ) {}

  /** True when `current` is read on the host (else by exec). */
  get local(): boolean {
    return this.site.mountpoint !== null;
  }

  start(): void {
    if (this.site.mountpoint) {
      const dir = `${this.site.mountpoint}/${SERVICE}`;
      this.watcher = watch(dir, () => void this.check());
      this.timer = setInterval(() => void this.check(), 5);
    } else {
      this.timer = setInterval(() => void this.check(), 20);
    }
  }

  private async read(): Promise<string | undefined> {
    if (this.site.mountpoint) {
      try {
        return readlinkSync(`${this.site.mountpoint}/${SERVICE}/current`);
      } catch {
        return undefined;
      }
    }
    const r = await this.env.docker.exec(this.site.containerId, ['readlink', `${STATIC_ROOT}/${SERVICE}/current`]);
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const v = await this.read();
      if (v !== this.last) {
        this.last = v;
        this.changes.push({ t: now(), value: v });
      }
    } finally {
      this.busy = false;
    }
  }

  current(): string | undefined {
    return this.last ?? undefined;
  }

  /** After change index `from`: the first change away from `want`, and the first back to it after that. */
  async damagedAndBack(from: number, want: string): Promise<{ gone: LinkChange; back: LinkChange }> {
    const end = now() + HEAL_TIMEOUT_MS;
    for (;;) {
      const later = this.changes.slice(from);
      const gi = later.findIndex((c) => c.value !== want);
      const back = gi >= 0 ? later.slice(gi + 1).find((c) => c.value === want) : undefined;
      if (back) return { gone: later[gi]!, back };
      if (now() > end) throw new Error(`current was not put back to ${want} within ${HEAL_TIMEOUT_MS} ms (changes seen: ${JSON.stringify(later.map((c) => c.value))})`);
      await sleep(2);
    }
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
  }
}

/** One act of damage to `current`, timed until it points at `want` again; where the controller's time went. */
export async function healOnce(env: DeployBenchEnv, site: Site, obs: LinkObserver, damage: 'rm' | 'elsewhere', want: string, other: string): Promise<Record<string, number>> {
  const link = `${STATIC_ROOT}/${SERVICE}/current`;
  const from = obs.changes.length;
  const t0 = now();
  const r = await env.docker.exec(site.containerId, damage === 'rm' ? ['rm', link] : ['ln', '-sfn', other, link]);
  const t1 = now();
  if (r.exitCode !== 0) throw new Error(`${damage}: exit code ${r.exitCode}: ${r.stderr.trim()}`);
  const { gone, back } = await obs.damagedAndBack(from, want);
  const out: Record<string, number> = {
    'damage seen on the host → current back': back.t - gone.t,
    'damaging exec sent → current back': back.t - t0,
    'the damaging exec itself (sent → returned)': t1 - t0,
  };
  const calls = env.projectserver.between(gone.t - 1, back.t + 1);
  const list = calls.find((c) => c.op === 'exec list');
  const sw = calls.find((c) => c.op === 'exec switch (ln + mv)');
  // the rename is seen here before the exec that made it has returned
  for (const end = now() + 5000; sw && Number.isNaN(sw.t1) && now() < end; ) await sleep(5);
  if (list) {
    out['damage seen → the controller\'s exec list begins (inotify, debounce, queue, reads, inspect)'] = list.t0 - gone.t;
    out['the controller: exec list'] = list.t1 - list.t0;
  }
  if (list && sw) out['the controller: exec list returned → exec switch begins'] = sw.t0 - list.t1;
  if (sw) {
    out['the controller: exec switch (ln + mv)'] = sw.t1 - sw.t0;
    out['the controller: exec switch began → current back seen'] = back.t - sw.t0;
  }
  return out;
}
