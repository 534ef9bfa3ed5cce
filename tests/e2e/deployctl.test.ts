// Acceptance 1 of issue 7: the real `deployctl` bin (cli/deployctl.mjs, run as a child process)
// against a deployer process with the projectserver, route and deployment controllers. Every
// command: contexts in a temp DEPLOYCTL_CONFIG (mode 0600), apply of a directory holding all
// three kinds (and of stdin), apply of a changed object (configured), get (each kind's columns,
// -o yaml|json|name, -l, -A) and get -w showing a deployment's phases, the server and token
// from DEPLOYER_SERVER / DEPLOYER_TOKEN with -n (and --token overriding the environment),
// diff, describe with Events, rollout status for a good (exit 0) and a bad deployment (exit 1
// and the reason), rollout history, undo and undo --to, logs and logs -f, events and
// events -w, health, version, completion bash, config kubeconfig, delete -f and by name
// waiting until the finalizers are done; readable errors for a bad manifest (422 naming the
// field), an unknown kind and a wrong token. Everything it made in Docker is removed.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import YAML from 'yaml';
import { installationFilter } from '../../docker/index.js';
import { freePort } from '../../store/index.js';
import { site } from '../helpers/deployments.js';
import { until } from '../helpers/installation.js';
import { spawnDeployer, missingArchive } from '../helpers/deployer.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'cli', 'deployctl.mjs');
const TOKEN = 'deployctl-e2e-admin-token';
const NS = 'cli';

t.setTimeout(180_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A deployctl process that keeps running (watch, follow); `stop` kills it. */
interface Streaming {
  proc: ChildProcess;
  stdout(): string;
  stop(): Promise<void>;
}

t.test('deployctl against a running deployer', async (t) => {
  const begin = Date.now();
  const { server, installation, docker, dir, proxyPort, staticImage: staticTag } = await spawnDeployer(t, {
    token: TOKEN,
    controllers: ['projectserver', 'route', 'deployment'],
    tmpPrefix: 'deployctl-e2e-',
    env: { DEPLOYER_TLS_PORT: String(await freePort()) },
  });
  const missingUrl = await missingArchive(t);

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('NODE_V8_COVERAGE') && !k.startsWith('TAP') && !k.startsWith('DEPLOYER_') && k !== 'NODE_OPTIONS') env[k] = v;
  env.DEPLOYCTL_CONFIG = join(dir, 'config', 'deployctl.yaml');
  env.NO_COLOR = '1';

  const run = (args: string[], input?: string, extraEnv: Record<string, string> = {}) =>
    new Promise<Run>((resolve) => {
      const p = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
      p.stdin.end(input ?? '');
    });
  const ok = async (t: Test, args: string[], input?: string, extraEnv?: Record<string, string>) => {
    const r = await run(args, input, extraEnv);
    t.equal(r.code, 0, `deployctl ${args.join(' ')} exits 0${r.code ? `: ${r.stderr}` : ''}`);
    return r.stdout;
  };
  const streams: Streaming[] = [];
  const stream = (args: string[]): Streaming => {
    const proc = spawn(process.execPath, [BIN, ...args], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const closed = new Promise<void>((r) => proc.on('close', () => r()));
    const s = {
      proc,
      stdout: () => out,
      stop: async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await closed;
      },
    };
    streams.push(s);
    return s;
  };
  t.teardown(() => Promise.all(streams.map((s) => s.stop())));

  await server.waitReady();

  await t.test('contexts: set-context writes the file 0600; use-context, get-contexts, current-context', async (t) => {
    t.match(await ok(t, ['config', 'set-context', 'e2e', `--server=${server.url}`, `--token=${TOKEN}`, `--namespace=${NS}`]), 'Context "e2e" created.');
    t.equal((await stat(env.DEPLOYCTL_CONFIG!)).mode & 0o777, 0o600, 'the config file is mode 0600');
    await ok(t, ['config', 'set-context', 'other', '--server=http://127.0.0.1:9', '--token=nope']);
    t.equal(await ok(t, ['config', 'current-context']), 'e2e\n', 'the first context is current');
    t.match(await ok(t, ['config', 'get-contexts']), /^CURRENT\s+NAME\s+SERVER\s+NAMESPACE\n\*\s+e2e\s+http\S+\s+cli\n\s+other\s+http:\/\/127\.0\.0\.1:9\n$/);
    t.equal(await ok(t, ['config', 'use-context', 'e2e']), 'Switched to context "e2e".\n');
    const kcText = await ok(t, ['config', 'kubeconfig']);
    const kc = YAML.parse(kcText);
    t.match(kc.clusters[0].cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/, "kubeconfig: deployer's HTTPS endpoint");
    t.ok(kc.clusters[0].cluster['certificate-authority-data'], 'kubeconfig: the certificate to trust');
    t.same([kc.users[0].user.token, kc.contexts[0].context.namespace], [TOKEN, NS], 'kubeconfig: token, namespace');
    // real kubectl with that kubeconfig, verifying deployer's certificate
    const kcFile = join(dir, 'kubeconfig');
    await writeFile(kcFile, kcText);
    const got = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile('/usr/bin/kubectl', ['--kubeconfig', kcFile, '--cache-dir', join(dir, 'kube-cache'), 'get', 'projectservers'], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, out: stdout + stderr }),
      ),
    );
    t.same(got, { code: 0, out: `No resources found in ${NS} namespace.\n` }, 'kubectl works with the kubeconfig deployctl printed');
    t.match(await ok(t, ['version']), new RegExp(`^Client Version: 0\\.1\\.0\\nServer Version: .*1\\.32`));
  });

  await t.test('readable errors: a wrong token, an unknown kind, a bad manifest (422 naming the field)', async (t) => {
    const wrong = await run(['get', 'ps', '--token=not-a-token']);
    t.equal(wrong.code, 1);
    t.match(wrong.stderr, /^Error from server \(Unauthorized\): /);
    const kind = await run(['get', 'pods']);
    t.equal(kind.code, 1);
    t.match(kind.stderr, 'the server doesn\'t have a resource type "pods"; deployer has: projectservers (ps), deployments (deploy), routes (rt), events (ev)');
    await writeFile(join(dir, 'bad.yaml'), 'apiVersion: deployer.dev/v1\nkind: Deployment\nmetadata: { name: bad }\nspec: { projectServer: site, source: {} }\n');
    const bad = await run(['apply', '-f', join(dir, 'bad.yaml')]);
    t.equal(bad.code, 1);
    t.match(bad.stderr, /^Error from server \(Invalid\): Deployment "bad" is invalid: spec\.source: /);
    const unparsable = await run(['apply', '-f', '-'], 'kind: Route\nspec: {}\n');
    t.equal(unparsable.code, 1);
    t.match(unparsable.stderr, 'error validating stdin: the Route has no metadata.name');
  });

  const manifests = join(dir, 'manifests');
  const watchDeployments = stream(['get', 'deployments', '-w']);
  await t.test('apply of a directory with all three kinds; again: unchanged', async (t) => {
    await mkdir(manifests);
    // the Route and the Deployment sort before the server: apply puts the server first
    await writeFile(join(manifests, 'a-route.yaml'), `apiVersion: deployer.dev/v1\nkind: Route\nmetadata: { name: site, labels: { app: site } }\nspec: { host: site.test, projectServer: site }\n`);
    await writeFile(
      join(manifests, 'b-deploy.json'),
      JSON.stringify({ apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'site-1' }, spec: { projectServer: 'site', source: { inline: { files: { 'index.html': 'release one\n' } } } } }),
    );
    await writeFile(
      join(manifests, 'c-servers.yml'),
      `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: { name: site, labels: { app: site } }\nspec: { serviceType: static }\n---\napiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: { name: talker }\nspec:\n  serviceType: docker\n  image: ${staticTag}\n  command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.2; done']\n`,
    );
    t.equal(await ok(t, ['apply', '-f', manifests]), 'projectserver/site created\nprojectserver/talker created\nroute/site created\ndeployment/site-1 created\n');
  });

  await t.test('rollout status of a good deployment exits 0; get -w showed its phases', async (t) => {
    const r = await run(['rollout', 'status', 'deployment/site-1', '--timeout=60s']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deployment "site-1": \w+/);
    t.match(r.stdout, /deployment "site-1" successfully rolled out\n$/);
    await until(async () => /site-1\s+site\s+active/.test(watchDeployments.stdout()), 'get -w to show active', 10_000).catch(() => undefined);
    const out = watchDeployments.stdout();
    t.match(out, /^NAME\s+SERVER\s+PHASE\s+PROGRESS\s+AGE/, 'get -w prints the header');
    const phases = new Set([...out.matchAll(/^site-1\s+site\s+(\w+)/gm)].map((m) => m[1]));
    t.ok(phases.has('active') && phases.size >= 3, `get -w printed a row per change: ${[...phases].join(' → ')}`);
    await watchDeployments.stop();
    const served = await until(async () => (await site(proxyPort, 'site.test')).body === 'release one\n', 'the site to serve release one', 20_000).then(() => true, () => false);
    t.ok(served, 'the site serves it through the proxy');
    t.equal(await ok(t, ['apply', '-f', manifests]), 'projectserver/site unchanged\nprojectserver/talker unchanged\nroute/site unchanged\ndeployment/site-1 unchanged\n', 'applying again changes nothing');
  });

  await t.test('get: tables, -o yaml|name, -l, -A; describe with conditions and Events', async (t) => {
    t.match(await ok(t, ['get', 'ps']), /^NAME\s+TYPE\s+HEALTH\s+RESTARTS\s+CURRENT\s+AGE\nsite\s+static\s+\w+\s+\d+\s+site-1\s+\S+\ntalker\s+docker\s+/, 'server columns: health, restarts, current deployment, age');
    t.equal(await ok(t, ['get', 'ps', '-l', 'app=site', '-o', 'name']), 'projectserver/site\n');
    t.match(await ok(t, ['get', 'routes', '-A']), /^NAMESPACE\s+NAME\s+HOST\s+URL\s+READY\s+AGE\ncli\s+site\s+site\.test\s+http\S+\s+True\s+\S+\n$/, 'route columns: host, url, ready');
    const y = YAML.parse(await ok(t, ['get', 'deploy', 'site-1', '-o', 'yaml']));
    t.equal(y.status.phase, 'active');
    const d = await ok(t, ['describe', 'deployment', 'site-1']);
    t.match(d, /^Name:\s+site-1\nNamespace:\s+cli\nKind:\s+Deployment\n/);
    t.match(d, /\nSpec:\n(  .*\n)*  projectServer: site\n/);
    t.match(d, /\nConditions:\n  Type\s+Status\s+Reason\s+Age\s+Message\n(.*\n)*  Ready\s+True/);
    t.match(d, /\nEvents:\n  Type\s+Reason\s+Age\s+From\s+Message\n  ----/);
  });

  await t.test('DEPLOYER_SERVER / DEPLOYER_TOKEN with -n (get -o json); --token overrides the environment', async (t) => {
    // no config file at all: only the environment says where deployer is
    const fromEnv = { DEPLOYCTL_CONFIG: join(dir, 'no-such-config.yaml'), DEPLOYER_SERVER: server.url, DEPLOYER_TOKEN: TOKEN };
    // (without -n the namespace would be "default", which is empty)
    const list = JSON.parse(await ok(t, ['get', 'ps', '-n', NS, '-o', 'json'], undefined, fromEnv));
    t.match(list, { apiVersion: 'v1', kind: 'List', items: [{ kind: 'ProjectServer', metadata: { name: 'site' } }, { kind: 'ProjectServer', metadata: { name: 'talker' } }] }, '-o json of a list: a v1 List');
    t.equal(list.items.length, 2);
    const wrongEnv = { ...fromEnv, DEPLOYER_TOKEN: 'a-wrong-token' };
    t.equal(await ok(t, ['get', 'rt', 'site', '--namespace', NS, `--token=${TOKEN}`, '-o', 'name'], undefined, wrongEnv), 'route/site\n', '--token wins over a wrong DEPLOYER_TOKEN');
  });

  await t.test('diff: nothing, then a change (exit 1); apply --dry-run saves nothing; apply: configured', async (t) => {
    const same = await run(['diff', '-f', manifests]);
    t.same([same.code, same.stdout], [0, ''], 'no differences: exit 0, no output');
    await writeFile(join(manifests, 'a-route.yaml'), `apiVersion: deployer.dev/v1\nkind: Route\nmetadata: { name: site, labels: { app: site } }\nspec: { host: www.site.test, projectServer: site }\n`);
    const changed = await run(['diff', '-f', manifests]);
    t.equal(changed.code, 1);
    t.match(changed.stdout, /^--- live\/routes\/cli\/site\n\+\+\+ merged\/routes\/cli\/site\n@@ .* @@\n(.*\n)*-  host: site\.test\n\+  host: www\.site\.test\n/);
    t.notMatch(changed.stdout, /resourceVersion|generation/);
    t.match(await ok(t, ['apply', '-f', manifests, '--dry-run']), 'route/site configured (dry run)');
    t.match(await ok(t, ['get', 'rt', 'site', '-o', 'yaml']), 'host: site.test', 'the dry run saved nothing');
    // a real update (a new label; the host stays, as later subtests browse site.test)
    const labelled = `apiVersion: deployer.dev/v1\nkind: Route\nmetadata: { name: site, labels: { app: site, tier: web } }\nspec: { host: site.test, projectServer: site }\n`;
    t.equal(await ok(t, ['apply', '-f', '-'], labelled), 'route/site configured\n');
  });

  await t.test('a failing deployment: rollout status exits 1 with the reason', async (t) => {
    const m = { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { name: 'site-broken' }, spec: { projectServer: 'site', source: { archive: { url: missingUrl } }, progressDeadlineSeconds: 30 } };
    t.equal(await ok(t, ['apply', '-f', '-'], JSON.stringify(m)), 'deployment/site-broken created\n', 'apply -f - reads stdin');
    const r = await run(['rollout', 'status', 'deploy/site-broken', '--timeout=50s']);
    t.equal(r.code, 1);
    t.match(r.stderr, /deployment "site-broken" failed in pulling_source: .+/);
    t.comment(r.stderr.trim());
  });

  await t.test('rollout history and undo; events -w sees what happens', async (t) => {
    const watchEvents = stream(['events', '-w']);
    const two = 'apiVersion: deployer.dev/v1\nkind: Deployment\nmetadata: { name: site-2 }\nspec: { projectServer: site, source: { inline: { files: { index.html: "release two\\n" } } } }\n';
    t.equal(await ok(t, ['apply', '-f', '-'], two), 'deployment/site-2 created\n');
    await ok(t, ['rollout', 'status', 'deployment/site-2']);
    const h = await ok(t, ['rollout', 'history', 'projectserver/site']);
    t.match(h, /^DEPLOYMENT\s+PHASE\s+SOURCE\s+STARTED\s+FINISHED\s+CURRENT\nsite-1\s+superseded\s+inline\s.*\nsite-broken\s+failed\s+archive\s.*\nsite-2\s+active\s+inline\s.*\*\n$/);
    const undo = await ok(t, ['rollout', 'undo', 'projectserver/site']);
    const name = /^deployment\/(site-rollback-\w+) created: projectserver\/site rolls back to site-1\n$/.exec(undo)?.[1];
    t.ok(name, `undo created a Deployment: ${undo.trim()}`);
    await ok(t, ['rollout', 'status', `deployment/${name}`]);
    t.match(await ok(t, ['rollout', 'history', 'ps/site']), new RegExp(`${name}\\s+active\\s+fromDeployment:site-1\\s.*\\*\\n$`));
    const served = await until(async () => (await site(proxyPort, 'site.test')).body === 'release one\n', 'release one back', 20_000).then(() => true, () => false);
    t.ok(served, 'the site serves release one again');
    // --to picks the target: without it undo would now go back to site-2, the newest other release
    const undoTo = await ok(t, ['rollout', 'undo', 'projectserver/site', '--to=site-1']);
    const name2 = /^deployment\/(site-rollback-\w+) created: projectserver\/site rolls back to site-1\n$/.exec(undoTo)?.[1];
    t.ok(name2 && name2 !== name, `undo --to=site-1 created a Deployment: ${undoTo.trim()}`);
    // done before the next subtests count containers
    t.match(await ok(t, ['rollout', 'status', `deployment/${name2}`]), `deployment "${name2}" successfully rolled out`);
    t.match(await ok(t, ['events']), /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
    await until(async () => watchEvents.stdout().includes(`deployment/${name}`), 'events -w to show the rollback', 10_000).catch(() => undefined);
    t.match(watchEvents.stdout(), `deployment/${name}`, "events -w printed the rollback's Events as they came");
    await watchEvents.stop();
  });

  await t.test("logs and logs -f: the server container's lines as they arrive", async (t) => {
    await until(async () => (await run(['logs', 'projectserver/talker', '--tail=3'])).stdout.includes('line '), 'the talker to log', 30_000);
    const tail = await ok(t, ['logs', 'ps/talker', '--tail=3']);
    t.equal(tail.trim().split('\n').length, 3, '--tail=3: three lines');
    const follow = stream(['logs', 'projectserver/talker', '-f', '--tail=1']);
    const numbers = () => [...follow.stdout().matchAll(/line (\d+)/g)].map((m) => Number(m[1]));
    await until(async () => numbers().length >= 5, 'five lines through logs -f', 15_000).catch(() => undefined);
    const n = numbers();
    t.ok(n.length >= 5 && n[n.length - 1]! > n[0]!, `logs -f streamed new lines (${n.join(', ')})`);
    t.equal(follow.proc.exitCode, null, 'logs -f keeps following');
    await follow.stop();
    const missingLogs = await run(['logs', 'projectserver/nope']);
    t.equal(missingLogs.code, 1);
    t.match(missingLogs.stderr, /^Error from server \(NotFound\): /);
  });

  await t.test('health and completion', async (t) => {
    const h = await ok(t, ['health']);
    t.match(h, /^Containers:\s+2 \(/);
    t.match(h, /\n  deployment\s+led by /);
    const script = await ok(t, ['completion', 'bash']);
    t.match(script, 'complete -o default -F _deployctl deployctl');
    t.match(script, /get deployctl|deployctl get "\$kind" -o name/);
    t.equal(spawnSync('bash', ['-n'], { input: script }).status, 0, 'the script is valid bash');
  });

  await t.test('delete -f and delete by name wait until the objects are gone', async (t) => {
    const byName = await ok(t, ['delete', 'deployment', 'site-broken']);
    t.equal(byName, 'deployment "site-broken" deleted\n');
    t.equal((await run(['get', 'deploy', 'site-broken'])).code, 1, 'it is gone when delete returns');
    const out = await ok(t, ['delete', '-f', manifests, '--timeout=60s']);
    t.equal(out, 'deployment "site-1" deleted\nroute "site" deleted\nprojectserver "talker" deleted\nprojectserver "site" deleted\n');
    const left = await run(['get', 'ps']);
    t.same([left.code, left.stdout, left.stderr], [0, '', `No resources found in ${NS} namespace.\n`], 'the servers are gone (their finalizers done)');
    const servers = await docker.listContainers(installationFilter(installation, 'server'));
    t.same(servers.map((c) => c.name), [], 'no server container is left');
    const again = await run(['delete', 'ps', 'site']);
    t.equal(again.code, 1);
    t.match(again.stderr, /^Error from server \(NotFound\): /);
  });
  t.comment(`deployctl e2e: ${Math.round((Date.now() - begin) / 1000)} s`);
});
