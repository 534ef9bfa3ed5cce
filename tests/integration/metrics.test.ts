// Acceptance 1 of issue 8: GET /metrics scraped from a deployer process (server.ts, with the
// projectserver, route, deployment and cleanup controllers) during a deployment, a container
// restart and a zombie's removal: reconcile counters and durations, phase-duration histograms,
// deployments by phase, leadership, HTTP requests by route pattern, watch-hub lag, restarts
// and health, zombies removed — each moving as it should. Also: 401 without a token, and a
// viewer of one namespace sees no series of another. The text is parsed, not grepped.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName, managedLabels } from '../../docker/index.js';
import { parseMetrics, UNMATCHED_ROUTE, type Scrape } from '../../metrics/index.js';
import { startApi } from '../helpers/api.js';
import { until } from '../helpers/installation.js';
import { spawnDeployer } from '../helpers/deployer.js';

const run = promisify(execFile);
const TOKEN = 'metrics-test-admin';
const A = 'metrics-a';
const B = 'metrics-b';
const API = '/apis/deployer.dev/v1/namespaces';
const LIST_ROUTE = '/apis/deployer.dev/v1/namespaces/:namespace/:plural';
const ITEM_ROUTE = '/apis/deployer.dev/v1/namespaces/:namespace/:plural/:name';
const CONTROLLERS = ['projectserver', 'route', 'deployment', 'cleanup'];

t.setTimeout(120_000);

t.test('/metrics during a deployment, a container restart and a zombie', async (t) => {
  const { server, installation, docker, db, staticImage: staticTag } = await spawnDeployer(t, { token: TOKEN, controllers: CONTROLLERS, tmpPrefix: 'metrics-' });
  await server.waitReady();

  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text), headers: res.headers };
  };
  const scrape = async (token = TOKEN): Promise<Scrape> => {
    const res = await call('GET', '/metrics', undefined, token);
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.text}`);
    return parseMetrics(res.text);
  };
  const phaseOf = async (name: string) => (await call('GET', `${API}/${A}/deployments/${name}`)).json().status?.phase as string | undefined;

  await t.test('a token is needed; the format is Prometheus text', async (t) => {
    const res = await call('GET', '/metrics', undefined, null);
    t.equal(res.status, 401);
    t.match(res.json(), { kind: 'Status', code: 401 });
    t.equal((await call('GET', '/metrics', undefined, 'wrong')).status, 401);
    const ok = await call('GET', '/metrics');
    t.match(ok.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  });

  const leading = await until(async () => {
    const s = await scrape();
    return CONTROLLERS.every((c) => s.sum('deployer_controller_leader', { controller: c }) === 1) && s;
  }, 'this process to lead every controller', 15_000);
  t.ok(leading.find('deployer_process_resident_memory_bytes').length === 1, "Node's process metrics, prefixed");
  for (const c of CONTROLLERS) t.equal(leading.find('deployer_controller_queue_depth', { controller: c }).length, 1, `queue depth of ${c}`);

  // A's site, and a stopped server in B (health "stopped")
  t.equal((await call('POST', `${API}/${A}/projectservers`, { metadata: { name: 'web' }, spec: { serviceType: 'static', healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1 } } })).status, 201);
  t.equal((await call('POST', `${API}/${A}/routes`, { metadata: { name: 'web' }, spec: { host: 'web.metrics.test', projectServer: 'web' } })).status, 201);
  t.equal((await call('POST', `${API}/${B}/projectservers`, { metadata: { name: 'other' }, spec: { serviceType: 'static', stopped: true } })).status, 201);
  const running = await until(async () => {
    const s = await scrape();
    return s.sum('deployer_projectserver_health', { namespace: A, name: 'web', health: 'healthy' }) === 1 && s;
  }, 'web healthy in the metrics');
  t.equal(running.sum('deployer_projectserver_restarts_total', { namespace: A, name: 'web' }), 0);
  const before = await scrape();

  await t.test('a deployment moves the reconcile counters, the phase histograms and the phase gauge', async (t) => {
    const phases: string[] = [];
    t.equal((await call('POST', `${API}/${A}/deployments`, { metadata: { name: 'v1' }, spec: { projectServer: 'web', source: { inline: { files: { 'index.html': 'hello' } } } } })).status, 201);
    // what the deployment passes through, as the API shows it (for the histograms' labels)
    await until(async () => {
      const p = await phaseOf('v1');
      if (p && phases.at(-1) !== p) phases.push(p);
      return p === 'active' || p === 'failed';
    }, 'v1 to settle', 60_000);
    t.equal(phases.at(-1), 'active');
    const after = await until(async () => {
      const s = await scrape();
      // `active` is written inside the reconcile, which is counted once it returns
      const done = s.sum('deployer_controller_reconciles_total', { controller: 'deployment', result: 'success' }) > before.sum('deployer_controller_reconciles_total', { controller: 'deployment', result: 'success' });
      return s.sum('deployer_deployments', { namespace: A, phase: 'active' }) === 1 && done && s;
    }, 'deployments{phase="active"} and the reconcile that made it to show');
    t.equal(after.sum('deployer_deployments', { namespace: A, phase: 'queued' }), 0, 'no longer queued');
    t.equal(after.types.get('deployer_deployments'), 'gauge');

    const delta = (name: string, labels?: Record<string, string>) => after.sum(name, labels) - before.sum(name, labels);
    t.ok(delta('deployer_controller_reconciles_total', { controller: 'deployment' }) >= 1, 'deployment reconciles counted');
    t.ok(delta('deployer_controller_reconciles_total', { controller: 'deployment', result: 'success' }) >= 1, 'with a success');
    t.ok(delta('deployer_controller_reconcile_duration_seconds_count', { controller: 'deployment' }) >= 1, 'and timed');
    t.ok(delta('deployer_controller_reconcile_duration_seconds_sum', { controller: 'deployment' }) > 0);
    t.equal(
      after.sum('deployer_controller_reconcile_duration_seconds_count', { controller: 'deployment' }),
      after.sum('deployer_controller_reconciles_total', { controller: 'deployment' }),
      'one duration per counted reconcile',
    );
    t.ok(delta('deployer_controller_reconciles_total', { controller: 'projectserver' }) >= 1, 'projectserver reconciles too');
    // every phase it left was observed once (phases shorter than a poll may be missed by the
    // poll above, so check those seen, and that "queued" and the one before "active" are there)
    const left = [...new Set(phases.slice(0, -1))];
    t.ok(left.length >= 1, `phases seen: ${phases.join(' → ')}`);
    for (const p of left) t.equal(delta('deployer_deployment_phase_duration_seconds_count', { phase: p }), 1, `left ${p} once`);
    const observed = after.find('deployer_deployment_phase_duration_seconds_count').filter((x) => x.value > 0).map((x) => x.labels.phase);
    t.ok(observed.includes('queued'), `queued observed (${observed.join(', ')})`);
    t.ok(observed.length >= 4, 'a static deployment passes several phases');
    t.equal(delta('deployer_deployment_phase_duration_seconds_bucket', { phase: 'queued', le: '+Inf' }), 1);
    t.equal(after.types.get('deployer_deployment_phase_duration_seconds'), 'histogram');
    t.ok(after.find('deployer_deployment_phase_duration_seconds_bucket').some((x) => x.labels.le === '0.1'), 'sub-second buckets: most phases take under a second');

    t.ok(delta('deployer_http_requests_total', { route: LIST_ROUTE, method: 'POST', code: '201' }) >= 1, 'POSTs counted by route pattern');
    t.ok(delta('deployer_http_requests_total', { route: ITEM_ROUTE, method: 'GET', code: '200' }) >= phases.length, 'GETs of the deployment');
    t.ok(delta('deployer_http_request_duration_seconds_count', { route: ITEM_ROUTE, method: 'GET' }) >= phases.length, 'with latencies');
    t.ok(after.sum('deployer_http_requests_total', { route: '/metrics', method: 'GET', code: '200' }) >= 3, 'scrapes count too');
    t.notOk(after.samples.some((s) => s.labels.route?.includes(`/${A}/`)), 'no raw URLs as labels');
    t.ok(after.sum('deployer_watch_hub_lag_revisions') < 10, `watch-hub lag small (${after.sum('deployer_watch_hub_lag_revisions')})`);
    t.equal(after.sum('deployer_watch_streams_open'), 0);
  });

  await t.test('unmatched requests share one label; open watches are counted', async (t) => {
    await call('GET', '/no/such/path/' + randomBytes(3).toString('hex'));
    const ac = new AbortController();
    const res = await fetch(`${server.url}${API}/${A}/deployments?watch=true`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    t.equal(res.status, 200);
    const s = await until(async () => {
      const x = await scrape();
      return x.sum('deployer_watch_streams_open') === 1 && x;
    }, 'the watch to be counted');
    ac.abort();
    t.ok(s.sum('deployer_http_requests_total', { route: UNMATCHED_ROUTE, code: '404' }) >= 1);
    await until(async () => (await scrape()).sum('deployer_watch_streams_open') === 0, 'the watch to end');
  });

  await t.test('docker kill: the restart count goes up, the health changes and comes back', async (t) => {
    const name = containerName(installation, { namespace: A, name: 'web' });
    const seen: string[] = [];
    const healthOf = (s: Scrape) => s.find('deployer_projectserver_health', { namespace: A, name: 'web' }).find((x) => x.value === 1)?.labels.health;
    await run('docker', ['kill', name]);
    const s = await until(async () => {
      const x = await scrape();
      const h = healthOf(x);
      if (h && seen.at(-1) !== h) seen.push(h);
      return x.sum('deployer_projectserver_restarts_total', { namespace: A, name: 'web' }) === 1 && h === 'healthy' && x;
    }, 'one restart and healthy again', 20_000);
    t.equal(s.sum('deployer_projectserver_restarts_total', { namespace: A, name: 'web' }), 1);
    t.equal(healthOf(s), 'healthy');
    t.ok(seen.length >= 2 && seen.some((h) => h !== 'healthy'), `health went ${seen.join(' → ')}`);
  });

  await t.test('a zombie removed by the cleanup controller is counted', async (t) => {
    const b0 = (await scrape()).sum('deployer_cleanup_zombies_removed_total');
    const zombie = await docker.create({
      name: `zombie-${randomBytes(4).toString('hex')}`,
      image: staticTag,
      cmd: ['sleep', '1000'],
      labels: managedLabels(installation, { kind: 'ProjectServer', namespace: A, name: 'gone', uid: '7d0c1f52-0000-4000-8000-000000000001' }, 'server'),
      restartPolicy: { name: 'no' },
    });
    await docker.start(zombie);
    await until(async () => (await scrape()).sum('deployer_cleanup_zombies_removed_total') === b0 + 1, 'the zombie counted', 20_000);
    t.equal(await docker.inspect(zombie), null, 'and gone');
  });

  await t.test('a viewer of one namespace sees only its series', async (t) => {
    const created = await call('POST', '/api/tokens', { name: 'a-viewer', role: 'viewer', namespaces: [A] });
    t.equal(created.status, 201);
    const viewer = created.json().token as string;
    const admin = await scrape();
    t.equal(admin.sum('deployer_projectserver_health', { namespace: B, name: 'other', health: 'stopped' }), 1, 'the admin sees B');
    const s = await scrape(viewer);
    t.ok(s.find('deployer_projectserver_health', { namespace: A }).length > 0, 'the viewer sees A');
    t.same(s.samples.filter((x) => x.labels.namespace !== undefined && x.labels.namespace !== A), [], 'and nothing labelled with another namespace');
    t.ok(s.find('deployer_controller_reconciles_total').length > 0, 'the process metrics are the same for every token');
  });
});

t.test('an API built without a metrics object makes its own', async (t) => {
  const a = await startApi(t);
  await a.request('GET', `${API}/default/projectservers`);
  const res = await a.request('GET', '/metrics');
  t.equal(res.status, 200);
  const s = parseMetrics(res.body as string);
  t.equal(s.sum('deployer_http_requests_total', { route: LIST_ROUTE, method: 'GET', code: '200' }), 1);
  t.equal(s.find('deployer_process_cpu_user_seconds_total').length, 0, "no Node process metrics: that registry's owner decides");
  t.equal(s.find('deployer_controller_leader').length, 0, 'no controllers here');
  t.equal(s.sum('deployer_watch_hub_lag_revisions'), 0);
});
