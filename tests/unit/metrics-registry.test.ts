// The metrics layer without I/O: instrument names and labels, the HTTP route label (pattern,
// unmatched, unknown methods), scrape hooks, the snapshot's series, and the text parser.
import t from 'tap';
import { createMetrics, parseMetrics, UNMATCHED_ROUTE, type ScrapeSnapshot } from '../../metrics/index.js';

const EMPTY: ScrapeSnapshot = { servers: [], deployments: [], zombiesRemoved: 0, openWatches: 0, watchLag: 0 };

t.test('HTTP requests by route pattern, method and code, with latency', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const route = '/apis/deployer.dev/v1/namespaces/:namespace/:plural';
  m.observeRequest(route, 'GET', 200, 0.003);
  m.observeRequest(route, 'GET', 200, 0.2);
  m.observeRequest(route, 'POST', 201, 0.01);
  m.observeRequest(undefined, 'GET', 404, 0.001);
  m.observeRequest(undefined, 'BREW', 404, 0.001);
  const s = parseMetrics((await m.scrape(EMPTY)).text);
  t.equal(s.types.get('deployer_http_requests_total'), 'counter');
  t.equal(s.types.get('deployer_http_request_duration_seconds'), 'histogram');
  t.equal(s.sum('deployer_http_requests_total', { route, method: 'GET', code: '200' }), 2);
  t.equal(s.sum('deployer_http_requests_total', { route, method: 'POST', code: '201' }), 1);
  t.equal(s.sum('deployer_http_requests_total', { route: UNMATCHED_ROUTE, method: 'GET', code: '404' }), 1, 'unmatched share one label');
  t.equal(s.sum('deployer_http_requests_total', { route: UNMATCHED_ROUTE, method: 'other' }), 1, 'unknown methods are "other"');
  t.equal(s.sum('deployer_http_request_duration_seconds_count', { route, method: 'GET' }), 2);
  t.ok(Math.abs(s.sum('deployer_http_request_duration_seconds_sum', { route, method: 'GET' }) - 0.203) < 1e-9);
  t.equal(s.sum('deployer_http_request_duration_seconds_bucket', { route, method: 'GET', le: '0.005' }), 1);
  t.equal(s.sum('deployer_http_request_duration_seconds_bucket', { route, method: 'GET', le: '+Inf' }), 2);
});

t.test('controller instruments, scrape hooks and phase durations', async (t) => {
  const m = createMetrics({ processMetrics: false });
  let depth = 3;
  const off = m.onScrape(() => {
    m.queueDepth.set({ controller: 'deployment' }, depth);
    m.leader.set({ controller: 'deployment' }, 1);
  });
  m.reconciles.inc({ controller: 'deployment', result: 'success' });
  m.reconcileDuration.observe({ controller: 'deployment' }, 0.5);
  m.retries.inc({ controller: 'deployment' });
  m.phaseDuration.observe({ phase: 'building' }, 4);
  let s = parseMetrics((await m.scrape(EMPTY)).text);
  t.equal(s.sum('deployer_controller_queue_depth', { controller: 'deployment' }), 3, 'the hook ran before rendering');
  t.equal(s.sum('deployer_controller_leader', { controller: 'deployment' }), 1);
  t.equal(s.sum('deployer_controller_reconciles_total', { result: 'success' }), 1);
  t.equal(s.sum('deployer_controller_reconcile_duration_seconds_count'), 1);
  t.equal(s.sum('deployer_controller_retries_total'), 1);
  t.equal(s.sum('deployer_deployment_phase_duration_seconds_bucket', { phase: 'building', le: '5' }), 1);
  t.equal(s.sum('deployer_deployment_phase_duration_seconds_bucket', { phase: 'building', le: '2' }), 0);
  off();
  depth = 7;
  s = parseMetrics((await m.scrape(EMPTY)).text);
  t.equal(s.sum('deployer_controller_queue_depth'), 3, 'an unsubscribed hook no longer runs');
});

t.test('the snapshot: servers, deployments, zombies, watches and lag', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const { text, contentType } = await m.scrape({
    servers: [
      { namespace: 'a', name: 'web', health: 'healthy', restarts: 2 },
      { namespace: 'b', name: 'odd "name"', health: 'stopped', restarts: 0 },
    ],
    deployments: [
      { namespace: 'a', phase: 'active', count: 1 },
      { namespace: 'a', phase: 'building', count: 0 },
    ],
    zombiesRemoved: 4,
    openWatches: 2,
    watchLag: 1,
  });
  t.match(contentType, /^text\/plain; version=0\.0\.4/);
  const s = parseMetrics(text);
  t.same(
    s.find('deployer_projectserver_health', { namespace: 'a', name: 'web' }).map((x) => [x.labels.health, x.value]),
    [['healthy', 1], ['degraded', 0], ['unhealthy', 0], ['pending', 0], ['stopped', 0]],
    'one series per health state, 1 for the current one',
  );
  t.equal(s.sum('deployer_projectserver_health', { name: 'odd "name"', health: 'stopped' }), 1, 'label values escaped and read back');
  t.equal(s.sum('deployer_projectserver_restarts_total', { namespace: 'a', name: 'web' }), 2);
  t.equal(s.types.get('deployer_projectserver_restarts_total'), 'counter');
  t.equal(s.sum('deployer_deployments', { namespace: 'a', phase: 'active' }), 1);
  t.equal(s.find('deployer_deployments', { phase: 'building' }).length, 1, 'zero counts are series too');
  t.equal(s.sum('deployer_cleanup_zombies_removed_total'), 4);
  t.equal(s.sum('deployer_watch_streams_open'), 2);
  t.equal(s.sum('deployer_watch_hub_lag_revisions'), 1);
});

t.test('process metrics carry the deployer_ prefix; registries are independent', async (t) => {
  const a = createMetrics();
  const b = createMetrics({ processMetrics: false });
  a.observeRequest('/x', 'GET', 200, 0.01);
  const sa = parseMetrics((await a.scrape(EMPTY)).text);
  const sb = parseMetrics((await b.scrape(EMPTY)).text);
  t.ok(sa.find('deployer_process_cpu_user_seconds_total').length === 1, 'Node process metrics');
  t.equal(sb.find('deployer_process_cpu_user_seconds_total').length, 0);
  t.equal(sb.sum('deployer_http_requests_total'), 0, 'b counted nothing of a');
});

t.test('the parser', async (t) => {
  const s = parseMetrics('# HELP x_total a\n# TYPE x_total counter\nx_total{a="1",b="q\\"\\\\\\n"} 3\ny +Inf\nz NaN\n');
  t.same(s.samples[0], { name: 'x_total', labels: { a: '1', b: 'q"\\\n' }, value: 3 });
  t.equal(s.samples[1]!.value, Infinity);
  t.ok(Number.isNaN(s.samples[2]!.value));
  t.throws(() => parseMetrics('x{a=1} 2\n'), /bad label/);
  t.throws(() => parseMetrics('x{a="1} 2\n'), /unterminated/);
  t.throws(() => parseMetrics('x abc\n'), /bad value/);
});
