// The real kubectl 1.32 (/usr/bin/kubectl) against a deployer process (issue 7, acceptance 2):
// get (the server's Table columns for every kind, -o yaml, -A, -l), apply -f create/update
// with default validation, a field removed by a later apply, and a bad manifest, apply
// --server-side, diff, patch (merge, json), delete -f and by name (waiting on a finalizer),
// get -w, get ev -w, describe with Events, events --for, get --raw, explain. One subtest per
// feature, in order, sharing one server and namespace: a failure names the feature.
//
// kubectl (client-go's clientcmd) sends a kubeconfig's or `--token`'s credentials only over
// https, so kubectl talks to deployer's own HTTPS port (DEPLOYER_TLS_PORT) and verifies it
// against the certificate GET /api/tls hands out, as `deployctl config kubeconfig` does.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import YAML from 'yaml';
import { freshDatabase } from '../helpers/pg.js';
import { api, freePort, spawnServer } from '../helpers/process.js';

const KUBECTL = '/usr/bin/kubectl';
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

t.test('kubectl 1.32 against deployer', async (t) => {
  const token = 'kubectl-e2e-' + Math.random().toString(36).slice(2);
  const dir = await mkdtemp(join(tmpdir(), 'deployer-kubectl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await spawnServer(t, {
    DATABASE_URL: await freshDatabase(t),
    DEPLOYER_ADMIN_TOKEN: token,
    DEPLOYER_DATA_DIR: join(dir, 'data'),
    DEPLOYER_TLS_PORT: String(await freePort()),
  });
  await server.waitReady();
  const tlsInfo = (await api(server.url, token, 'GET', '/api/tls')).body as { server: string; certificateAuthorityData: string };
  const url = tlsInfo.server;
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'deployer serves HTTPS');
  const ns = `kctl-${Math.random().toString(36).slice(2, 8)}`;
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'deployer', cluster: { server: url, 'certificate-authority-data': tlsInfo.certificateAuthorityData } }],
    users: [{ name: 'e2e', user: {} }],
    contexts: [{ name: 'e2e', context: { cluster: 'deployer', user: 'e2e', namespace: ns } }],
    'current-context': 'e2e',
  }));
  const base = ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--token', token];
  const env = { ...process.env, KUBECONFIG: undefined, NO_COLOR: '1' };
  const kubectl = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(KUBECTL, [...base, ...args], { timeout: 30_000, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  /** Runs kubectl, asserts in `t` (the running subtest) that it exited 0, and gives its stdout. */
  const ok = async (t: Test, ...args: string[]) => {
    const r = await kubectl(...args);
    t.equal(r.code, 0, `kubectl ${args.join(' ')}${r.code ? `: ${r.stderr}` : ''}`);
    return r.stdout;
  };
  const file = async (name: string, docs: unknown[]) => {
    const path = join(dir, name);
    await writeFile(path, docs.map((d) => YAML.stringify(d)).join('---\n'));
    return path;
  };
  const API = `/apis/deployer.dev/v1/namespaces/${ns}`;
  const get = (path: string) => api(server.url, token, 'GET', `${API}/${path}`);
  /** A long-running kubectl (get -w) whose output so far the test can wait on. */
  const follow = (t: Test, args: string[]) => {
    const proc: ChildProcess = spawn(KUBECTL, [...base, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      proc.kill('SIGKILL');
    });
    const out = { text: '' };
    proc.stdout!.on('data', (d) => (out.text += d));
    proc.stderr!.on('data', (d) => (out.text += d));
    const waitFor = async (re: RegExp, ms = 15_000) => {
      const end = Date.now() + ms;
      while (!re.test(out.text)) {
        if (Date.now() > end) throw new Error(`kubectl ${args.join(' ')} did not print ${re} within ${ms} ms:\n${out.text}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return { proc, out, waitFor };
  };
  const postEvent = (name: string, involved: { kind: string; name: string; uid?: string }, reason: string, message: string) => {
    const now = new Date().toISOString();
    return api(server.url, token, 'POST', `${API}/events`, {
      metadata: { name },
      involvedObject: { apiVersion: 'deployer.dev/v1', namespace: ns, ...involved },
      reason,
      message,
      type: 'Normal',
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'projectserver-controller' },
    });
  };

  // state the subtests hand on, in order
  const psDoc = { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name: 'web', labels: { team: 'kctl' } }, spec: { serviceType: 'static' } };
  const routeDoc = { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'web' }, spec: { host: 'web.example.test', projectServer: 'web' } };
  let manifest2 = '';
  let ssa2 = '';

  await t.test('discovery and version', async (t) => {
    const version = await run(KUBECTL, ['version', '--client']);
    t.match(version.stdout, /Client Version: v1\.32\./, 'the real kubectl 1.32');
    t.match(await ok(t, 'version'), /Server Version: v1\.32\.0-deployer/);
  });

  await t.test('apply -f: create, update, unchanged (validation by the server)', async (t) => {
    // create (default validation: kubectl reads /openapi/v3 and sends fieldValidation=Strict)
    const created = await ok(t, 'apply', '-f', await file('web.yaml', [psDoc, routeDoc]));
    t.match(created, 'projectserver.deployer.dev/web created');
    t.match(created, 'route.deployer.dev/web created');
    const web = (await get('projectservers/web')).body;
    t.match(web.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], /"team":"kctl"/, 'client-side apply keeps its annotation');

    // update (a JSON merge patch computed from the last applied configuration)
    manifest2 = await file('web.yaml', [{ ...psDoc, metadata: { name: 'web', labels: { team: 'kctl', tier: 'front' } } }, { ...routeDoc, spec: { ...routeDoc.spec, pathPrefix: '/app' } }]);
    const configured = await ok(t, 'apply', '-f', manifest2);
    t.match(configured, 'projectserver.deployer.dev/web configured');
    t.match(configured, 'route.deployer.dev/web configured');
    t.equal((await get('routes/web')).body.spec.pathPrefix, '/app');
    const rvBefore = (await get('projectservers/web')).body.metadata.resourceVersion;
    t.match(await ok(t, 'apply', '-f', manifest2), 'projectserver.deployer.dev/web unchanged');
    t.equal((await get('projectservers/web')).body.metadata.resourceVersion, rvBefore, 'an unchanged apply writes nothing');
  });

  await t.test('apply -f of a manifest that drops fields: the merge patch nulls them and they are gone', async (t) => {
    // an object of its own, so web's manifest stays what later subtests diff against
    const trimDoc = { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'trim', labels: { keep: 'k', drop: 'd' } }, spec: { host: 'trim.example.test', projectServer: 'web', pathPrefix: '/old', port: 8080 } };
    t.match(await ok(t, 'apply', '-f', await file('trim.yaml', [trimDoc])), 'route.deployer.dev/trim created');
    t.match((await get('routes/trim')).body, { metadata: { labels: { keep: 'k', drop: 'd' } }, spec: { pathPrefix: '/old', port: 8080 } });
    const trimmed = await file('trim.yaml', [{ ...trimDoc, metadata: { name: 'trim', labels: { keep: 'k' } }, spec: { host: 'trim.example.test', projectServer: 'web' } }]);
    // -v=8 logs each request body (klog quotes it: body="{\"spec\":…}"): the patch kubectl sent
    const applied = await kubectl('apply', '-f', trimmed, '-v=8');
    t.equal(applied.code, 0, `kubectl apply -f trim.yaml${applied.code ? `: ${applied.stderr.slice(-300)}` : ''}`);
    t.match(applied.stdout, 'route.deployer.dev/trim configured');
    const patch = applied.stderr.split('\n').find((l) => /Request Body.*null/.test(l)) ?? '';
    t.match(patch, /\bdrop\\?":null/, 'the dropped label is nulled in the merge patch');
    t.match(patch, /\bport\\?":null/, 'spec.port is nulled in the merge patch');
    t.match(patch, /\bpathPrefix\\?":null/, 'spec.pathPrefix is nulled in the merge patch');
    const after = (await get('routes/trim')).body;
    t.equal(after.spec?.port, undefined, 'spec.port is gone on the server');
    t.equal(after.spec?.pathPrefix, '/', 'spec.pathPrefix is gone: back to its default, /');
    t.same(after.metadata.labels, { keep: 'k' }, 'the dropped label is gone, the kept one stays');
    t.notMatch(after.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], /pathPrefix/, 'nor is it in the last applied configuration');
    t.equal((await api(server.url, token, 'DELETE', `${API}/routes/trim`)).status, 200, 'trim removed (get routes -A lists web alone)');
  });

  await t.test('apply -f: Strict validation errors name the field', async (t) => {
    // a bad manifest: non-zero exit and kubectl's "is invalid" line naming the field
    const bad = await kubectl('apply', '-f', await file('bad.yaml', [{ apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'bad' }, spec: { projectServer: 'web', source: {} } }]));
    t.not(bad.code, 0, 'a bad manifest fails');
    t.match(bad.stderr, /The Deployment "bad" is invalid: spec\.source: /);
    const unknown = await kubectl('apply', '-f', await file('unknown.yaml', [{ ...psDoc, metadata: { name: 'typo' }, spec: { serviceType: 'static', prot: 80 } }]));
    t.not(unknown.code, 0);
    t.match(unknown.stderr, /unknown field "spec\.prot"/, 'strict validation by the server');
  });

  await t.test("get: the server's Table columns for ProjectServers, Deployments and Routes", async (t) => {
    // a Deployment to list (no controllers run here: it stays as written), removed at the end
    const deployDoc = { metadata: { name: 'web-1' }, spec: { projectServer: 'web', source: { inline: { files: { 'index.html': 'one\n' } } } } };
    t.equal((await api(server.url, token, 'POST', `${API}/deployments`, deployDoc)).status, 201);
    for (const [plural, first] of [['projectservers', /^web\s+static\s/], ['deployments', /^web-1\s+web\s/], ['routes', /^web\s+web\.example\.test\s/]] as const) {
      const table = await fetch(`${server.url}${API}/${plural}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } }).then((r) => r.json());
      const columns = (table.columnDefinitions as { name: string; priority: number }[]).filter((c) => c.priority === 0).map((c) => c.name.toUpperCase());
      const listed = (await ok(t, 'get', plural)).trim().split('\n');
      t.same(listed[0].trim().split(/\s{2,}/), columns, `kubectl get ${plural} prints the server's columns (${columns.join(', ')})`);
      t.match(listed[1], first, `and ${plural}' first cells`);
    }
    t.equal((await api(server.url, token, 'DELETE', `${API}/deployments/web-1`)).status, 200);
  });

  await t.test('get -o yaml, -A, -l', async (t) => {
    const asYaml = YAML.parse(await ok(t, 'get', 'ps', 'web', '-o', 'yaml'));
    t.match(asYaml, { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name: 'web', namespace: ns, labels: { tier: 'front' } }, spec: { serviceType: 'static' } });
    const all = (await ok(t, 'get', 'routes', '-A')).trim().split('\n');
    t.match(all[0], /^NAMESPACE\s+NAME\s/);
    t.match(all[1], new RegExp(`^${ns}\\s+web\\s+web\\.example\\.test`));
    t.match(await ok(t, 'get', 'ps', '-l', 'tier=front', '-o', 'name'), /^projectserver\.deployer\.dev\/web\n$/);
    const none = await kubectl('get', 'ps', '-l', 'tier=back');
    t.equal(none.code, 0);
    t.match(none.stderr, /No resources found in .* namespace/);
  });

  await t.test('diff: dryRun=All, nothing saved; exit 1 with differences, 0 without', async (t) => {
    const rv = (await get('projectservers/web')).body.metadata.resourceVersion;
    const differs = await kubectl('diff', '-f', await file('diff.yaml', [{ ...psDoc, metadata: { name: 'web', labels: { team: 'kctl', tier: 'back' } } }]));
    t.equal(differs.code, 1, `diff exits 1 when something differs${differs.code > 1 ? `: ${differs.stderr}` : ''}`);
    t.match(differs.stdout, /-\s+tier: front\n\+\s+tier: back/);
    t.equal((await get('projectservers/web')).body.metadata.resourceVersion, rv, 'diff changed nothing');
    t.equal((await get('projectservers/web')).body.metadata.labels.tier, 'front');
    const same = await kubectl('diff', '-f', manifest2);
    t.equal(same.code, 0, 'no differences: exit 0');
  });

  await t.test('apply --server-side: create, then merge (fields left out stay)', async (t) => {
    const ssaDoc = { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name: 'ssa', labels: { a: '1' } }, spec: { serviceType: 'static' } };
    t.match(await ok(t, 'apply', '--server-side', '-f', await file('ssa.yaml', [ssaDoc])), 'projectserver.deployer.dev/ssa serverside-applied');
    t.equal((await get('projectservers/ssa')).status, 200, 'created');
    ssa2 = await file('ssa.yaml', [{ ...ssaDoc, metadata: { name: 'ssa', labels: { b: '2' } } }]);
    t.match(await ok(t, 'apply', '--server-side', '-f', ssa2), 'serverside-applied');
    t.match((await get('projectservers/ssa')).body.metadata.labels, { a: '1', b: '2' }, 'merged');
  });

  await t.test('patch --type=merge and --type=json', async (t) => {
    t.match(await ok(t, 'patch', 'ps', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"patched":"merge"}}}'), 'projectserver.deployer.dev/web patched');
    t.match(await ok(t, 'patch', 'ps', 'web', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]'), 'patched');
    t.match((await get('projectservers/web')).body.metadata.labels, { patched: 'merge', json: 'yes', tier: 'front' });
  });

  await t.test('describe, with the Events from /api/v1/namespaces/{ns}/events', async (t) => {
    const uid = (await get('projectservers/web')).body.metadata.uid;
    t.equal((await postEvent('web-started', { kind: 'ProjectServer', name: 'web', uid }, 'ContainerStarted', 'the static server is up')).status, 201);
    const described = await ok(t, 'describe', 'ps', 'web');
    t.match(described, /^Name:\s+web$/m);
    t.match(described, /Service Type:\s+static/);
    t.match(described, /Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n.*\n\s+Normal\s+ContainerStarted\s+\S+\s+projectserver-controller\s+the static server is up/);
  });

  await t.test('events --for ps/web lists that object\'s Events only', async (t) => {
    // another object's Event, which must not be listed
    t.equal((await postEvent('route-bound', { kind: 'Route', name: 'web' }, 'Bound', 'the route is bound')).status, 201);
    const r = await kubectl('events', '--for', 'ps/web');
    t.equal(r.code, 0, `kubectl events --for ps/web${r.code ? `: ${r.stderr}` : ''}`);
    t.match(r.stdout, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/m, 'kubectl events columns');
    t.match(r.stdout, /\s+Normal\s+ContainerStarted\s+projectserver\/web\s+the static server is up/i, "web's Event");
    t.notMatch(r.stdout, /Bound|route\/web/i, "not the Route's");
  });

  await t.test('get --raw and explain (the OpenAPI v3 document)', async (t) => {
    const raw = JSON.parse(await ok(t, 'get', '--raw', '/apis/deployer.dev/v1'));
    t.equal(raw.kind, 'APIResourceList');
    t.ok(raw.resources.some((r: { name: string }) => r.name === 'deployments'));
    const explained = await ok(t, 'explain', 'projectservers.spec');
    t.match(explained, /KIND:\s+ProjectServer/);
    t.match(explained, /serviceType\s+<string> -required-/);
  });

  await t.test('get -w: ADDED, MODIFIED, DELETED as they happen', async (t) => {
    const w = follow(t, ['get', 'ps', '-w', '--output-watch-events']);
    await w.waitFor(/^ADDED\s+web\s/m);
    t.pass('the watch listed web');
    t.equal((await api(server.url, token, 'POST', `${API}/projectservers`, { metadata: { name: 'watched' }, spec: { serviceType: 'static' } })).status, 201);
    await w.waitFor(/^ADDED\s+watched\s/m);
    t.equal((await api(server.url, token, 'PATCH', `${API}/projectservers/watched`, { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json')).status, 200);
    await w.waitFor(/^MODIFIED\s+watched\s/m);
    t.equal((await api(server.url, token, 'DELETE', `${API}/projectservers/watched`)).status, 200);
    await w.waitFor(/^DELETED\s+watched\s/m);
    t.pass('ADDED, MODIFIED and DELETED arrived');
    t.notMatch(w.out.text, /BOOKMARK|error/i, 'no bookmarks or errors printed');
    w.proc.kill('SIGTERM');
  });

  await t.test('get ev -w: a new Event appears', async (t) => {
    const w = follow(t, ['get', 'ev', '-w']);
    await w.waitFor(/the static server is up/);
    t.pass('the watch listed the Events there are');
    t.equal((await postEvent('web-ready', { kind: 'ProjectServer', name: 'web' }, 'Ready', 'answers its health check')).status, 201);
    await w.waitFor(/answers its health check/);
    t.match(w.out.text, /\sReady\s/, 'with its reason');
    t.notMatch(w.out.text, /error/i, 'no errors printed');
    w.proc.kill('SIGTERM');
  });

  await t.test('delete -f and delete by name (waiting on a finalizer)', async (t) => {
    // delete -f: returns once gone
    t.match(await ok(t, 'delete', '-f', ssa2), 'projectserver.deployer.dev "ssa" deleted');
    t.equal((await get('projectservers/ssa')).status, 404, 'gone when delete -f returns');

    // delete by name with a finalizer: returns only after the finalizer is removed
    t.equal((await api(server.url, token, 'PATCH', `${API}/projectservers/web`, { metadata: { finalizers: ['e2e.deployer.dev/hold'] } }, 'application/merge-patch+json')).status, 200);
    let deleteDone = false;
    const deleting = kubectl('delete', 'ps', 'web').then((r) => {
      deleteDone = true;
      return r;
    });
    const marked = Date.now() + 10_000;
    while ((await get('projectservers/web')).body.metadata?.deletionTimestamp === undefined && Date.now() < marked) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500));
    t.notOk(deleteDone, 'kubectl delete still waits while the finalizer holds the object');
    t.ok((await get('projectservers/web')).body.metadata.deletionTimestamp, 'marked for deletion');
    t.equal((await api(server.url, token, 'PATCH', `${API}/projectservers/web`, [{ op: 'remove', path: '/metadata/finalizers' }], 'application/json-patch+json')).status, 200);
    const deleted = await deleting;
    t.equal(deleted.code, 0, deleted.stderr);
    t.match(deleted.stdout, 'projectserver.deployer.dev "web" deleted');
    t.equal((await get('projectservers/web')).status, 404, 'gone once the finalizer went');
    t.match(await ok(t, 'delete', 'route', 'web'), 'route.deployer.dev "web" deleted');
    t.equal((await get('routes/web')).status, 404);
  });
});
