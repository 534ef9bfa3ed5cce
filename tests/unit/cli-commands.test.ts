// deployctl's commands without a server: the text they print from given objects, and whole
// runs of main() against a fake fetch (no I/O).
import t from 'tap';
import { applyOutcome, putBody } from '../../cli/commands/apply.js';
import { describeText, eventAge } from '../../cli/commands/describe.js';
import { eventsTable } from '../../cli/commands/events.js';
import { healthText } from '../../cli/commands/info.js';
import { historyTable, phaseLine, terminal, undoTarget } from '../../cli/commands/rollout.js';
import { main } from '../../cli/main.js';
import { renderTable } from '../../cli/table.js';
import { DISCOVERY, fakeFetch, memoryIo, notFound, watchBody, type SeenRequest } from '../helpers/cli.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

t.test('apply: created, configured, unchanged; controllers\' finalizers are kept', async (t) => {
  t.equal(applyOutcome(201, null, { metadata: { resourceVersion: '3' } }), 'created');
  t.equal(applyOutcome(200, { metadata: { resourceVersion: '3' } }, { metadata: { resourceVersion: '4' } }), 'configured');
  t.equal(applyOutcome(200, { metadata: { resourceVersion: '3' } }, { metadata: { resourceVersion: '3' } }), 'unchanged');
  const m = { kind: 'ProjectServer', metadata: { name: 'blog', resourceVersion: '1' }, spec: {}, status: { phase: 'x' } };
  const current = { metadata: { name: 'blog', finalizers: ['deployer.dev/cleanup'] } };
  t.same(putBody(m, current, 'team-a'), { kind: 'ProjectServer', metadata: { name: 'blog', namespace: 'team-a', finalizers: ['deployer.dev/cleanup'] }, spec: {} });
  t.same(putBody({ ...m, metadata: { name: 'blog', finalizers: [] } }, current, 'n').metadata.finalizers, [], 'a manifest that states finalizers wins');
});

t.test('describe: metadata, spec, status, conditions and Events', async (t) => {
  const obj = {
    apiVersion: 'deployer.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'blog-2', namespace: 'team-a', creationTimestamp: ago(300), labels: { team: 'web' } },
    spec: { projectServer: 'blog', source: { archive: { url: 'http://x/a.tar' } } },
    status: {
      phase: 'failed',
      message: 'the archive answered 404',
      conditions: [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'the archive answered 404', lastTransitionTime: ago(60) }],
    },
  };
  const events = [
    { type: 'Warning', reason: 'Failed', message: 'the archive answered 404', lastTimestamp: ago(60), firstTimestamp: ago(240), count: 3, source: { component: 'deployment-controller' } },
    { type: 'Normal', reason: 'Queued', message: 'queued', lastTimestamp: ago(290), reportingComponent: 'deployment-controller' },
  ];
  const text = describeText(obj, events, NOW);
  t.match(text, /^Name:         blog-2\nNamespace:    team-a\nKind:         Deployment\nLabels:       team=web\nAnnotations:  <none>\nCreated:      .* \(5m ago\)\n/);
  t.match(text, /Spec:\n  projectServer: blog\n  source:\n    archive:\n      url: http:\/\/x\/a\.tar\n/);
  t.match(text, /Status:\n  phase: failed\n  message: the archive answered 404\n/);
  t.match(text, /Conditions:\n  Type    Status   Reason   Age   Message\n  Ready   False    Failed   60s   the archive answered 404\n/);
  t.match(text, /Events:\n  Type +Reason +Age +From +Message\n  ----/);
  const ev = text.slice(text.indexOf('Events:'));
  t.ok(ev.indexOf('Queued') < ev.indexOf('Warning'), 'events oldest first');
  t.equal(eventAge(events[0]!, NOW), '60s (x3 over 4m)');
  t.match(describeText({ kind: 'Route', metadata: { name: 'r' } }, [], NOW), /Events:       <none>/);
});

t.test('rollout: phase lines, the terminal phases, undo\'s target, history', async (t) => {
  t.equal(phaseLine('d', { phase: 'copying_files', phaseProgress: 40 }), 'deployment "d": copying_files (40%)');
  t.equal(phaseLine('d', { phase: 'active', phaseProgress: 100 }), 'deployment "d": active');
  t.same(terminal('d', { phase: 'active' }), [0, 'deployment "d" successfully rolled out']);
  t.same(terminal('d', { phase: 'failed', message: 'HTTP 404', phaseMetadata: { failedPhase: 'pulling_source' } }), [1, 'deployment "d" failed in pulling_source: HTTP 404']);
  t.equal(terminal('d', { phase: 'superseded' })![0], 1);
  t.equal(terminal('d', { phase: 'building' }), undefined);
  const d = (name: string, phase: string, s: number, source: object = { inline: {} }) => ({ metadata: { name, creationTimestamp: ago(s) }, spec: { projectServer: 'blog', source }, status: { phase, startedAt: ago(s), finishedAt: ago(s - 5) } });
  const list = [d('b1', 'superseded', 600), d('b2', 'failed', 500), d('b3', 'superseded', 400), d('b4', 'active', 300), d('b5', 'active', 100, { fromDeployment: { name: 'b3' } })];
  t.equal(undoTarget(list, 'b5', undefined, 'blog').metadata.name, 'b4', 'the newest that went live other than the current one');
  t.equal(undoTarget(list, 'b5', 'b1', 'blog').metadata.name, 'b1');
  t.throws(() => undoTarget(list, 'b5', 'zz', 'blog'), { message: /"zz" is not a deployment of projectserver "blog"/ });
  t.throws(() => undoTarget([d('b1', 'active', 10)], 'b1', undefined, 'blog'), { message: /no earlier deployment/ });
  const h = renderTable(historyTable(list, 'b5', NOW)).split('\n');
  t.match(h[0], /^DEPLOYMENT   PHASE +SOURCE +STARTED   FINISHED   CURRENT$/);
  t.match(h[5], /^b5 +active +fromDeployment:b3 +100s +95s +\*$/);
});

t.test('events and health', async (t) => {
  const rows = eventsTable([{ type: 'Warning', reason: 'B', message: 'two\nlines', lastTimestamp: ago(10), involvedObject: { kind: 'Deployment', name: 'd' } }, { reason: 'A', lastTimestamp: ago(20), involvedObject: { kind: 'Route', name: 'r' } }], NOW, false);
  t.same(rows.rows, [['20s', 'Normal', 'A', 'route/r', ''], ['10s', 'Warning', 'B', 'deployment/d', 'two lines']]);
  const text = healthText({ containers: { total: 3, healthy: 2, unhealthy: 1, degraded: 0, stopped: 0, restarts: 4 }, zombies: { found: 1, removed: 1, lastSweepAt: ago(30) }, helpersRemoved: 0, volumesRemoved: 2, leaders: [{ name: 'deployment', holder: 'host-1', valid: true }, { name: 'route', holder: null, valid: false }], timestamp: ago(0) }, NOW);
  t.match(text, /Containers:  3 \(2 healthy, 0 degraded, 1 unhealthy, 0 stopped\), 4 restarts/);
  t.match(text, /Zombies:     1 found, 1 removed \(last sweep 30s ago\)/);
  t.match(text, /deployment +led by host-1\n  route +no leader/);
  t.match(text, /Overall:     attention needed/);
});

t.test('main: get asks for a Table and falls back to NAME and AGE on a plain list', async (t) => {
  const seen: SeenRequest[] = [];
  const io = memoryIo({ env: { DEPLOYER_SERVER: 'http://deployer.test:1', DEPLOYER_TOKEN: 'sekrit' }, now: NOW });
  const code = await main(['get', 'ps', '-n', 'team-a'], io, fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    '/apis/deployer.dev/v1/namespaces/team-a/projectservers': () => Response.json({ kind: 'ProjectServerList', metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'blog', creationTimestamp: ago(90) } }] }),
  }, seen));
  t.equal(code, 0);
  t.equal(io.stdout, 'NAME   AGE\nblog   90s\n');
  t.equal(seen[1]!.headers.accept, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json');
  t.equal(seen[1]!.headers.authorization, 'Bearer sekrit');
});

t.test('main: a Status answer is printed as kubectl does, exit 1', async (t) => {
  const io = memoryIo({ env: { DEPLOYER_SERVER: 'http://deployer.test:1' }, now: NOW });
  const code = await main(['get', 'ps'], io, fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'the token is not valid', code: 401 }, { status: 401 }),
  }));
  t.equal(code, 1);
  t.equal(io.stderr, 'Error from server (Unauthorized): the token is not valid\n');
  t.equal(io.stdout, '');
});

t.test('main: unknown commands and flags, and an unreachable server', async (t) => {
  let io = memoryIo({ now: NOW });
  t.equal(await main(['frobnicate'], io, fakeFetch({})), 1);
  t.match(io.stderr, /unknown command "frobnicate"/);
  io = memoryIo({ now: NOW });
  t.equal(await main(['rollout', 'sideways'], io, fakeFetch({})), 1);
  t.match(io.stderr, /unknown command "rollout sideways": rollout status, rollout undo, rollout history/);
  io = memoryIo({ now: NOW });
  t.equal(await main(['get', 'ps', '--bogus'], io, fakeFetch({})), 1);
  t.equal(io.stderr, 'unknown flag: --bogus\n');
  io = memoryIo({ env: { DEPLOYER_SERVER: 'http://127.0.0.1:7' }, now: NOW });
  const refused = (async () => {
    throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  }) as typeof fetch;
  t.equal(await main(['get', 'ps'], io, refused), 1);
  t.equal(io.stderr, 'Unable to connect to the server at http://127.0.0.1:7: ECONNREFUSED\n');
  io = memoryIo({ now: NOW });
  t.equal(await main(['--help'], io), 0);
  t.match(io.stdout, /rollout status deployment\/NAME/);
});

const SERVER_ENV = { DEPLOYER_SERVER: 'http://deployer.test:1', DEPLOYER_TOKEN: 'sekrit' };
const PS_PATH = '/apis/deployer.dev/v1/namespaces/team-a/projectservers';

t.test('main: get -o json prints a v1 List for a list and the object itself for one name', async (t) => {
  const blog = { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name: 'blog', namespace: 'team-a', resourceVersion: '4' }, spec: { serviceType: 'static' } };
  const shop = { ...blog, metadata: { ...blog.metadata, name: 'shop', resourceVersion: '5' } };
  const seen: SeenRequest[] = [];
  const fetch = fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    [PS_PATH]: () => Response.json({ apiVersion: 'deployer.dev/v1', kind: 'ProjectServerList', metadata: { resourceVersion: '5' }, items: [blog, shop] }),
    [`${PS_PATH}/blog`]: () => Response.json(blog),
  }, seen);
  let io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['get', 'ps', '-n', 'team-a', '-o', 'json'], io, fetch), 0);
  t.same(JSON.parse(io.stdout), { apiVersion: 'v1', kind: 'List', items: [blog, shop], metadata: { resourceVersion: '' } }, 'a list: a Kubernetes List of the objects');
  t.match(io.stdout, /^\{\n {4}"apiVersion": "v1",\n/, 'indented as kubectl does (4 spaces)');
  t.equal(seen.at(-1)!.headers.accept, 'application/json', '-o json asks for objects, not a Table');
  io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['get', 'ps', 'blog', '-n', 'team-a', '-o', 'json'], io, fetch), 0);
  t.same(JSON.parse(io.stdout), blog, 'one name: the object itself');
  io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['get', 'ps', '-n', 'team-a', '-o', 'jsn'], io, fetch), 1);
  t.equal(io.stderr, 'unknown output format "jsn": yaml, json, wide, name\n');
});

t.test('main: delete reports progress while finalizers run, then clears the line', async (t) => {
  const item = `${PS_PATH}/blog`;
  let gets = 0;
  const fetch = fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    [item]: (_url, init) => {
      const terminating = { kind: 'ProjectServer', metadata: { name: 'blog', deletionTimestamp: ago(1), finalizers: ['deployer.dev/cleanup'] } };
      if (init.method === 'DELETE') return Response.json(terminating);
      return ++gets === 1 ? Response.json(terminating) : notFound('projectservers "blog"');
    },
  });
  const io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['delete', 'ps', 'blog', '-n', 'team-a'], io, fetch), 0);
  t.equal(io.stdout, 'projectserver "blog" deleted\n');
  t.same(io.progressLines, ['waiting for projectserver "blog" to go (finalizers: deployer.dev/cleanup)… 0s', ''], 'one progress line naming the finalizer, then cleared');
  t.equal(gets, 2, 'it polled until the 404');
  t.equal(io.stderr, '');
});

t.test('main: rollout status prints each phase once and its progress as a progress line', async (t) => {
  const d = (phase: string, phaseProgress: number, rv: string) => ({ kind: 'Deployment', metadata: { name: 'web-3', resourceVersion: rv }, status: { phase, phaseProgress } });
  const seen: SeenRequest[] = [];
  const fetch = fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    '/apis/deployer.dev/v1/namespaces/team-a/deployments/web-3': () => Response.json(d('copying_files', 10, '7')),
    '/apis/deployer.dev/v1/namespaces/team-a/deployments': () =>
      watchBody([
        { type: 'MODIFIED', object: d('copying_files', 40, '8') },
        { type: 'MODIFIED', object: d('copying_files', 90, '9') },
        { type: 'MODIFIED', object: d('active', 100, '10') },
      ]),
  }, seen);
  const io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['rollout', 'status', 'deployment/web-3', '-n', 'team-a'], io, fetch), 0);
  t.equal(io.stdout, 'deployment "web-3": copying_files (10%)\ndeployment "web-3": active\ndeployment "web-3" successfully rolled out\n');
  t.same(io.progressLines, ['deployment "web-3": copying_files (40%)', 'deployment "web-3": copying_files (90%)', '']);
  t.match(seen.at(-1)!.url, /watch=true/);
  t.match(seen.at(-1)!.url, /resourceVersion=7/, 'the watch starts after the revision first read');
});

t.test('main: delete --wait=false and --ignore-not-found, version --client, health -o json', async (t) => {
  const seen: SeenRequest[] = [];
  const fetch = fakeFetch({
    '/apis/deployer.dev/v1': () => Response.json(DISCOVERY),
    [`${PS_PATH}/blog`]: () => Response.json({ kind: 'ProjectServer', metadata: { name: 'blog', finalizers: ['deployer.dev/cleanup'] } }),
    '/api/monitoring/health': () => Response.json({ containers: { total: 0 } }),
  }, seen);
  let io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['delete', 'ps', 'blog', 'gone', '-n', 'team-a', '--wait=false', '--ignore-not-found'], io, fetch), 0);
  t.equal(io.stdout, 'projectserver "blog" deleted\n', 'the missing one is skipped quietly');
  t.same(seen.filter((r) => r.method !== 'GET' || r.url.includes('/projectservers/')).map((r) => `${r.method} ${new URL(r.url).pathname.split('/').pop()}`), ['DELETE blog', 'DELETE gone'], 'no wait: nothing polled');
  t.same(io.progressLines, []);
  io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['delete', 'ps', 'gone', '-n', 'team-a'], io, fetch), 1, 'without --ignore-not-found a missing object fails');
  t.match(io.stderr, /^Error from server \(NotFound\): /);
  io = memoryIo({ now: NOW });
  const before = seen.length;
  t.equal(await main(['version', '--client'], io, fetch), 0);
  t.match(io.stdout, /^Client Version: \S+\n$/);
  t.equal(seen.length, before, '--client asks no server');
  io = memoryIo({ env: SERVER_ENV, now: NOW });
  t.equal(await main(['health', '-o', 'json'], io, fetch), 0);
  t.same(JSON.parse(io.stdout), { containers: { total: 0 } });
});
