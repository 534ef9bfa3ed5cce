// Secrets in env are never echoed (issue 9, second bullet): a deployer process (server.ts,
// projectserver controller) runs servers whose env holds `API_KEY=sk-live-…` and which leak
// it every way a container can — an image name Docker quotes back in its error, a crash loop
// printing it (the CrashLoopBackOff Event quotes the last log lines), a health check printing
// it (restart reasons and status.lastHealthIssue quote its output), a bind mount Docker refuses
// quoting its path (the reconcile's error is logged) — and a create whose bad
// env value the 422 would quote. Then the value is looked for in every Event, every status and
// API answer, and the process' whole log (stdout and stderr): it is nowhere; `***` is.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { staticImage } from '../../images/index.js';
import { installationOf, until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';
import { spawnServer } from '../helpers/process.js';

const TOKEN = 'secrets-test-admin';
const NS = 'secrets';
const PS = `/apis/deployer.dev/v1/namespaces/${NS}/projectservers`;

t.setTimeout(240_000);

t.test('env values never appear in Events, status, API answers or the log', async (t) => {
  const secret = `sk-live-${randomBytes(12).toString('hex')}`;
  const db = await freshDatabase(t);
  const { docker } = await installationOf(t, db);
  const dir = await mkdtemp(join(tmpdir(), 'secrets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const image = await docker.ensureImage(staticImage());
  const server = await spawnServer(t, {
    DATABASE_URL: db,
    DEPLOYER_DATA_DIR: join(dir, 'data'),
    DEPLOYER_ADMIN_TOKEN: TOKEN,
    DEPLOYER_CONTROLLERS: 'projectserver',
    DEPLOYER_STATIC_IMAGE: image,
    LOG_LEVEL: 'debug',
  });
  await server.waitReady();
  const answers: string[] = [];
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };
  const env = [{ name: 'API_KEY', value: secret }];
  const create = async (name: string, spec: Record<string, unknown>) => {
    const res = await call('POST', PS, { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { env, ...spec } });
    t.equal(res.status, 201, `${name} created`);
  };

  // Docker's "No such image: <name>" quotes the image, which holds the value
  await create('missing-image', { serviceType: 'docker', image: `${secret}:1` });
  // prints the key and exits: Docker restarts it until deployer calls it a crash loop
  await create('crash', { serviceType: 'docker', image, command: ['sh', '-c', 'echo "starting with key $API_KEY"; exit 1'] });
  // healthy never: the check prints the key; deployer restarts it, quoting the output
  await create('unhealthy', {
    serviceType: 'static',
    healthCheck: { exec: { command: ['sh', '-c', 'echo "health: key is $API_KEY"; exit 1'] }, intervalSeconds: 1, timeoutSeconds: 1, retries: 1 },
  });
  // Docker refuses a bind mount of a missing host path, quoting the path (which holds the
  // value): the reconcile throws, and the error is logged
  await create('missing-path', { serviceType: 'static', securityContext: { hostPaths: [{ hostPath: `/nonexistent/${secret}`, containerPath: '/mnt' }] } });
  const bad = await call('POST', PS, {
    apiVersion: 'deployer.dev/v1',
    kind: 'ProjectServer',
    metadata: { name: 'bad' },
    spec: { serviceType: 'static', env: [...env, { name: 'LONG', value: `${secret}${'x'.repeat(70_000)}` }], port: 0 },
  });
  t.equal(bad.status, 422, 'a bad spec is refused');
  answers.push(bad.text);

  const events = async () => (await call('GET', `/apis/deployer.dev/v1/namespaces/${NS}/events`)).json().items as { reason: string; message: string; involvedObject: { name: string } }[];
  const statusOf = async (name: string) => (await call('GET', `${PS}/${name}`)).json().status ?? {};
  await until(async () => (await statusOf('missing-image')).conditions?.some((c: { reason: string }) => c.reason === 'ImageNotFound'), 'ImageNotFound on missing-image', 60_000);
  await until(async () => (await events()).some((e) => e.reason === 'CrashLoopBackOff' && e.involvedObject.name === 'crash'), 'a CrashLoopBackOff Event', 90_000);
  await until(async () => (await events()).some((e) => e.reason === 'Restarted' && e.involvedObject.name === 'unhealthy'), 'a Restarted Event for the health check', 90_000);

  await until(async () => server.output().includes('bind source path does not exist'), "Docker's refusal of the bind mount in the log", 60_000);

  const all = await events();
  const loop = all.find((e) => e.reason === 'CrashLoopBackOff')!;
  t.match(loop.message, 'starting with key ***', 'the log lines are quoted, the key is not');
  t.match(all.find((e) => e.reason === 'Restarted' && e.involvedObject.name === 'unhealthy')!.message, 'health: key is ***');
  const missing = await statusOf('missing-image');
  t.match(JSON.stringify(missing), 'No such image: ***:1', "Docker's error is quoted, the key is not");
  t.match(bad.json().message, 'spec.port');

  for (const name of ['missing-image', 'crash', 'unhealthy', 'missing-path']) answers.push(JSON.stringify(await statusOf(name)));
  answers.push(JSON.stringify(all));
  const list = (await call('GET', PS)).json();
  // the objects themselves hold the value (in spec, for whoever may read them): their metadata and status must not
  for (const item of list.items) answers.push(JSON.stringify({ metadata: item.metadata, status: item.status }));
  const joined = answers.join('\n');
  t.notMatch(joined, secret, 'not in Events, status or Status answers');
  t.match(joined, '***');

  const log = server.output();
  t.ok(log.length > 0, 'the process logged');
  t.notMatch(log, secret, "not in deployer's log");
  t.notMatch(log, secret.slice(0, 16), 'not even in part');
  t.match(log, 'bind source path does not exist: /nonexistent/***', "Docker's error is logged, the key is not");

  for (const name of ['missing-image', 'crash', 'unhealthy', 'missing-path']) await call('DELETE', `${PS}/${name}`);
  await until(async () => (await call('GET', PS)).json().items.length === 0, 'servers deleted', 60_000);
});
