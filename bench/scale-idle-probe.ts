// bench/scale's idle probe: a deployer with every controller and no objects (or with the
// objects of a database given by BENCH_DB), under --cpu-prof, idle for IDLE_S seconds; prints its
// CPU time over the window and the transactions its database committed meanwhile (lease
// rounds, the watch hub's poll, controllers' reads: what idle costs in round trips), and
// writes the profile (cut later to that window) to PROF_DIR.
//   PROF_DIR=/tmp/prof node --import tsx bench/scale-idle-probe.ts
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DockerRuntime } from '../docker/index.js';
import { caddyImage, staticImage } from '../images/index.js';
import { freePort, migrate } from '../store/index.js';
import { openBenchDatabase } from './database.js';
import { sleep } from './health-docker.js';
import { runMain, sweepInstallation } from './lib-env.js';
import { procFigures, startDeployer } from './scale-env.js';

const log = (m: string) => process.stderr.write(`scale-idle-probe: ${m}\n`);
const IDLE_S = Number(process.env.IDLE_S ?? 30);

runMain(async () => {
  const docker = new DockerRuntime();
  const db = await openBenchDatabase({ prefix: 'bench_scale_probe', log });
  const dir = mkdtempSync(join(os.tmpdir(), 'deployer-scale-probe-'));
  let installation: string | undefined;
  try {
    await migrate(db.url);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    installation = (await c.query<{ id: string }>('SELECT id FROM installation')).rows[0].id;
    await c.end();
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      DEPLOYER_DATA_DIR: join(dir, 'data'),
      DEPLOYER_ADMIN_TOKEN: randomBytes(12).toString('hex'),
      DEPLOYER_STATIC_IMAGE: await docker.ensureImage(staticImage()),
      DEPLOYER_PROXY_IMAGE: await docker.ensureImage(caddyImage()),
      DEPLOYER_PROXY_PORT: String(await freePort()),
      DEPLOYER_PROXY_HTTPS_PORT: '0',
      ...(process.env.PROBE_CONTROLLERS ? { DEPLOYER_CONTROLLERS: process.env.PROBE_CONTROLLERS } : {}),
    };
    const d = startDeployer(env, await freePort(), join(dir, 'log'), process.env.PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF_DIR}`] : []);
    await d.waitReady(120_000);
    await sleep(15_000);
    const stats = new pg.Client({ connectionString: db.url });
    await stats.connect();
    // committed transactions of the database (the probe's own two reads included); the
    // statistics are flushed about once a second, so this is ± a second's worth
    const commits = async () => {
      await stats.query('SELECT pg_stat_clear_snapshot()');
      return Number((await stats.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n);
    };
    const a = procFigures(d.pid);
    const xa = await commits();
    const t = performance.now();
    await sleep(IDLE_S * 1000);
    const b = procFigures(d.pid);
    const ms = performance.now() - t;
    const xb = await commits();
    await stats.end();
    log(
      `idle ${(ms / 1000).toFixed(1)} s, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}: ${(((b.cpuMs - a.cpuMs) / ms) * 100).toFixed(2)}% of a core, ` +
        `${((xb - xa) / (ms / 1000)).toFixed(1)} transactions/s, RSS ${b.rssMiB.toFixed(0)} MiB; window ends ${Date.now()}`,
    );
    await d.kill('SIGTERM');
  } finally {
    await sweepInstallation(docker, installation, log);
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}, log);
