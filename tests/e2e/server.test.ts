// The server as a whole process with its own embedded PostgreSQL: the bootstrap admin
// token, persistence across restarts, and a clean SIGTERM.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openWatch } from '../helpers/api.js';
import { api, spawnServer } from '../helpers/process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const PS = '/apis/deployer.dev/v1/namespaces/default/projectservers';

function postmasterAlive(dataDir: string): boolean {
  const pidFile = join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('first start makes and prints an admin token; restarts keep data; SIGTERM exits 0', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-e2e-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { DATABASE_URL: undefined, DEPLOYER_DATA_DIR: dataDir, DEPLOYER_ADMIN_TOKEN: undefined };

  const s1 = await spawnServer(t, env);
  await s1.waitReady();
  const tokenFile = join(dataDir, 'admin-token');
  t.ok(existsSync(tokenFile), 'admin-token written');
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'mode 0600');
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.ok(s1.output().includes(token), 'printed once on first start');
  const logLines = s1
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; time: number; msg: string });
  t.ok(logLines.some((l) => /serving the API/.test(l.msg) && l.level && l.time), 'logs are structured JSON lines');
  t.equal((await api(s1.url, token, 'PUT', `${PS}/blog`, { metadata: { name: 'blog' }, spec: { serviceType: 'static' } })).status, 201);

  // SIGTERM with an open watch and a request in flight
  const w = await openWatch(s1.url, `${PS}?watch=true`, token);
  await w.until((e) => e.length >= 1);
  const inflight = api(s1.url, token, 'PUT', `${PS}/docs`, { metadata: { name: 'docs' }, spec: { serviceType: 'static' } }).catch(
    (e) => ({ status: -1, body: String(e) }),
  );
  const code = await s1.kill('SIGTERM');
  t.equal(code, 0, 'exit code 0');
  const res = await inflight;
  t.ok(res.status === 201 || res.status === 503 || res.status === -1, `the in-flight request finished or was refused cleanly (${res.status})`);
  await w.until(() => w.ended, 5000).catch(() => undefined);
  t.ok(w.ended, 'the watch was closed');
  t.notOk(postmasterAlive(dataDir), 'the embedded PostgreSQL was stopped');

  const s2 = await spawnServer(t, env);
  await s2.waitReady();
  t.notOk(s2.output().includes(token), 'the token is not printed again');
  const got = await api(s2.url, token, 'GET', `${PS}/blog`);
  t.equal(got.status, 200, 'data and token survive a restart');
  t.equal(await s2.kill('SIGTERM'), 0);
});

t.test('DEPLOYER_ADMIN_TOKEN sets the admin token; two processes migrate one database at once', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-e2e-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const { freshDatabase } = await import('../helpers/pg.js');
  const db = await freshDatabase(t);
  const env = { DATABASE_URL: db, DEPLOYER_DATA_DIR: dataDir, DEPLOYER_ADMIN_TOKEN: 'my-admin-secret-123' };
  const [a, b] = await Promise.all([spawnServer(t, env), spawnServer(t, env)]);
  await Promise.all([a.waitReady(), b.waitReady()]);
  t.equal((await api(a.url, 'my-admin-secret-123', 'GET', PS)).status, 200);
  t.equal((await api(b.url, 'my-admin-secret-123', 'GET', PS)).status, 200);
  t.notOk(existsSync(join(dataDir, 'admin-token')), 'no generated token when one is given');
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  const rows = (await c.query('SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version')).rows;
  await c.end();
  t.ok(rows.length >= 1 && rows.every((r) => r.n === 1), 'each migration applied once');
  t.equal(await a.kill('SIGTERM'), 0);
  t.equal(await b.kill('SIGTERM'), 0);
});

t.test('npm start (scripts/start.sh) brings the API up on HOST and PORT', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-e2e-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const { freshDatabase } = await import('../helpers/pg.js');
  const db = await freshDatabase(t);
  // scripts/start.sh execs node, so the signal reaches deployer itself
  const s = await spawnServer(t, { DATABASE_URL: db, DEPLOYER_DATA_DIR: dataDir, DEPLOYER_ADMIN_TOKEN: 'start-sh-token' }, ['sh', 'scripts/start.sh']);
  await s.waitReady();
  const v = await fetch(`${s.url}/version`);
  t.equal(v.status, 200);
  t.equal((await api(s.url, 'start-sh-token', 'GET', PS)).status, 200, 'the migrations ran (read next to store/migrate.ts, also from the bundle)');
  const page = await fetch(`${s.url}/`);
  t.match(await page.text(), /<html/i, 'the dashboard is served (its files read next to api/routes/dashboard.ts, also from the bundle)');
  t.ok(statSync(join(ROOT, '.deployer-server', 'main.mjs')).isFile(), 'start.mjs ran deployer from its bundle');
  t.equal(await s.kill('SIGTERM'), 0);
});

t.test('controllers that need Docker, and no Docker: one clear line, exit 1, nothing started', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-e2e-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const s = await spawnServer(t, {
    DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
    DEPLOYER_DATA_DIR: dataDir,
    DEPLOYER_CONTROLLERS: 'projectserver',
    DOCKER_HOST: `unix://${join(dataDir, 'no-docker.sock')}`,
  });
  t.equal(await s.exited, 1, 'exits 1');
  const lines = s.output().trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /^deployer: Docker is not reachable .*no-docker\.sock.*start Docker/);
});
