// Shared pieces of the tests that run deployer against real Docker: the installation id of a
// test database (everything deployer makes in Docker is labelled with it), the removal of all
// of it, polling, and GETs with a Host header (fetch cannot set Host).
import { request } from 'node:http';
import pg from 'pg';
import type { Test } from 'tap';
import { DockerRuntime, installationFilter } from '../../docker/index.js';
import { migrate } from '../../store/index.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Removes every container, volume and network labelled with the installation. */
export async function removeInstallation(docker: DockerRuntime, installation: string): Promise<void> {
  const filter = installationFilter(installation);
  for (const c of await docker.listContainers(filter)) await docker.remove(c.id);
  for (const v of await docker.listVolumes(filter)) await docker.removeVolume(v.name).catch(() => undefined);
  for (const n of await docker.listNetworks(filter)) await docker.removeNetwork(n.name).catch(() => undefined);
}

/**
 * Migrates `db` (as a server starting on it would) and returns its installation id; at
 * teardown everything deployer made in Docker for it is removed.
 */
export async function installationOf(t: Test, db: string): Promise<{ installation: string; docker: DockerRuntime }> {
  await migrate(db);
  const client = new pg.Client({ connectionString: db });
  await client.connect();
  const installation = (await client.query<{ id: string }>('SELECT id FROM installation')).rows[0].id;
  await client.end();
  const docker = new DockerRuntime();
  t.teardown(() => removeInstallation(docker, installation));
  return { installation, docker };
}

/** Polls `fn` every 100 ms until it returns a truthy value (errors count as "not yet"). */
export async function until<T>(fn: () => Promise<T | false | undefined | null>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** GET http://127.0.0.1:<port><path> with `Host: host`; network errors give status 0. */
export function getWithHost(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: 0, body: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}
