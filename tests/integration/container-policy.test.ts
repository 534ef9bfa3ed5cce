// What containers may do (issue 9, second bullet), through the API and real Docker: a spec
// asking for privileged mode, the host's network or PID namespace, added capabilities, devices
// or bind mounts of host paths is refused with 403 naming the field unless an admin token
// writes it — for create, replace, merge and JSON patches and apply, dry runs too — and a
// later editor write may keep an admin's grant but not widen it. `docker inspect` shows the
// limits (memory, CPUs, pids) and no-new-privileges on server containers, with defaults when
// the spec has none; a helper container runs limited too.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { containerName, HELPER_LIMITS } from '../../docker/index.js';
import { nsPath, startApi } from '../helpers/api.js';
import { startControllers } from '../helpers/controllers.js';

const run = promisify(execFile);
const NS = 'policy';
const PS = nsPath(NS);

t.setTimeout(240_000);

t.test('host access needs an admin token; limits and no-new-privileges reach Docker', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const api = await startApi(t, { connectionString: h.connectionString });
  const editor = await api.token('editor', 'editor', [NS]);
  const shared = await mkdtemp(join(tmpdir(), 'policy-'));
  t.teardown(() => rm(shared, { recursive: true, force: true }));
  const server = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'deployer.dev/v1',
    kind: 'ProjectServer',
    metadata: { name },
    spec: { serviceType: 'static', ...spec },
  });
  const refused = (t: Tap, res: { status: number; body: any }, field: string, what: string) => {
    t.equal(res.status, 403, `403 for ${field}`);
    t.match(res.body, { kind: 'Status', code: 403, reason: 'Forbidden', details: { kind: 'ProjectServer', causes: [{ field }] } });
    t.match(res.body.message, `${field}: only an admin token may ask for ${what}`);
  };
  type Tap = typeof t;

  await t.test('an editor cannot ask for host access, by any write', async (t) => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ privileged: true }, 'spec.securityContext.privileged', 'privileged mode'],
      [{ hostNetwork: true }, 'spec.securityContext.hostNetwork', "the host's network"],
      [{ hostPID: true }, 'spec.securityContext.hostPID', "the host's PID namespace"],
      [{ capAdd: ['SYS_ADMIN'] }, 'spec.securityContext.capAdd[0]', 'capability SYS_ADMIN'],
      [{ devices: [{ hostPath: '/dev/kmsg' }] }, 'spec.securityContext.devices[0]', 'device /dev/kmsg'],
      [{ hostPaths: [{ hostPath: '/', containerPath: '/host' }] }, 'spec.securityContext.hostPaths[0]', 'a writable bind mount of host path /'],
    ];
    for (const [sc, field, what] of cases) {
      refused(t, await api.request('POST', PS, { token: editor, body: server('x', { securityContext: sc }) }), field, what);
      refused(t, await api.request('POST', `${PS}?dryRun=All`, { token: editor, body: server('x', { securityContext: sc }) }), field, what);
      refused(t, await api.request('PUT', `${PS}/x`, { token: editor, body: server('x', { securityContext: sc }) }), field, what);
      refused(t, await api.request('PATCH', `${PS}/x?fieldManager=t`, { token: editor, raw: JSON.stringify(server('x', { securityContext: sc })), contentType: 'application/apply-patch+yaml' }), field, what);
    }
    t.equal((await api.request('GET', PS, { token: editor })).body.items.length, 0, 'nothing was stored');

    t.equal((await api.request('POST', PS, { token: editor, body: server('plain') })).status, 201);
    refused(t, await api.request('PATCH', `${PS}/plain`, { token: editor, body: { spec: { securityContext: { hostPID: true } } }, contentType: 'application/merge-patch+json' }), 'spec.securityContext.hostPID', "the host's PID namespace");
    refused(
      t,
      await api.request('PATCH', `${PS}/plain`, { token: editor, body: [{ op: 'add', path: '/spec/securityContext', value: { capAdd: ['NET_RAW'] } }], contentType: 'application/json-patch+json' }),
      'spec.securityContext.capAdd[0]',
      'capability NET_RAW',
    );
    t.notOk((await api.request('GET', `${PS}/plain`)).body.spec.securityContext, 'unchanged');
  });

  const grant = { capAdd: ['NET_ADMIN'], hostPaths: [{ hostPath: shared, containerPath: '/shared', readOnly: true }] };
  await t.test('an admin may grant it; an editor may then keep it, narrow it, not widen it', async (t) => {
    const res = await api.request('POST', PS, { body: server('granted', { securityContext: grant, resources: { memory: '64Mi', cpus: 0.5, pids: 100 } }) });
    t.equal(res.status, 201, 'an admin token may');
    const patch = (body: unknown, type = 'application/merge-patch+json') => api.request('PATCH', `${PS}/granted`, { token: editor, body, contentType: type });
    t.equal((await patch({ spec: { env: [{ name: 'MODE', value: 'prod' }] } })).status, 200, 'an editor may change the env of a granted server');
    // The controller writes status meanwhile, so a read-then-replace may meet a 409 (stale
    // resourceVersion); a client reads again and retries, and so does this test.
    let kept = { status: 409 };
    for (let i = 0; i < 10 && kept.status === 409; i++) {
      kept = await api.request('PUT', `${PS}/granted`, { token: editor, body: (await api.request('GET', `${PS}/granted`)).body });
    }
    t.equal(kept.status, 200, 'and replace it with the grant unchanged');
    refused(t, await patch([{ op: 'replace', path: '/spec/securityContext/hostPaths/0/readOnly', value: false }], 'application/json-patch+json'), 'spec.securityContext.hostPaths[0]', `a writable bind mount of host path ${shared}`);
    refused(t, await patch({ spec: { securityContext: { capAdd: ['NET_ADMIN', 'SYS_PTRACE'] } } }), 'spec.securityContext.capAdd[1]', 'capability SYS_PTRACE');
  });

  await t.test('docker inspect: limits, no-new-privileges and the grant on the server containers', async (t) => {
    t.equal((await api.request('POST', PS, { body: server('defaults') })).status, 201);
    const inspect = async (name: string) => {
      const cname = containerName(h.installation, { namespace: NS, name });
      await h.until(async () => (await h.docker.inspect(cname))?.running, `${cname} running`, 30_000);
      const { stdout } = await run('docker', ['inspect', cname]);
      return JSON.parse(stdout)[0].HostConfig as Record<string, any>;
    };
    const g = await inspect('granted');
    t.same([g.Memory, g.NanoCpus, g.PidsLimit], [64 * 1024 * 1024, 5e8, 100], 'the spec’s limits');
    t.same(g.SecurityOpt, ['no-new-privileges:true']);
    t.equal(g.Privileged, false);
    t.same(g.CapAdd, ['NET_ADMIN']);
    t.match(g.Mounts, [{ Type: 'volume' }, { Type: 'bind', Source: shared, Target: '/shared', ReadOnly: true }]);
    const d = await inspect('defaults');
    t.same([d.Memory, d.NanoCpus, d.PidsLimit], [1024 ** 3, 1e9, 512], 'defaults without spec.resources');
    t.same(d.SecurityOpt, ['no-new-privileges:true']);
    t.notOk(d.CapAdd);
    t.notOk(d.Privileged);
    t.equal(d.PidMode, '');
    t.notOk(d.Binds);
    t.same(d.Mounts.map((m: { Type: string }) => m.Type), ['volume']);
  });

  await t.test('a helper container runs with the default limits and no new privileges', async (t) => {
    const r = await h.docker.run({
      image: h.deps.staticImage,
      argv: ['sh', '-c', 'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep NoNewPrivs /proc/self/status'],
      labels: { 'deployer.dev/installation': h.installation },
    });
    t.equal(r.exitCode, 0, r.stderr);
    const [pids, memory, nnp] = r.stdout.trim().split('\n');
    t.equal(Number(pids), HELPER_LIMITS.pidsLimit);
    t.equal(Number(memory), HELPER_LIMITS.memoryBytes);
    t.match(nnp, /NoNewPrivs:\s+1/);
  });

  await t.test('cleanup', async () => {
    for (const name of ['plain', 'granted', 'defaults']) await api.request('DELETE', `${PS}/${name}`);
    await h.until(async () => (await h.leaks()).length === 0, 'containers and volumes removed', 30_000);
  });
});
