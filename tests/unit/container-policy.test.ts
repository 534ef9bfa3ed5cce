// What containers may do (issue 9): host access in a ProjectServer's securityContext only
// from an admin writer, judged on the stored result (resources/security.ts via rules.ts);
// limits and security options on every container (container-spec.ts, docker/mapping.ts);
// secrets redacted (resources/secrets.ts).
import t, { type Test } from 'tap';
import { desiredContainer, DEFAULT_LIMITS, parseMemory } from '../../controllers/projectserver/container-spec.js';
import { createOptions, helperCreateOptions, HELPER_LIMITS } from '../../docker/mapping.js';
import {
  ApiError,
  applyPatch,
  newHostAccess,
  prepareCreate,
  prepareUpdate,
  redactDeep,
  redactError,
  redactText,
  secretValues,
  toObject,
  type Json,
} from '../../resources/index.js';
import { GROUP_VERSION, type ProjectServer } from '../../schemas/index.js';
import { CTX, kind } from '../helpers/resources.js';

const PS = kind('ProjectServer');
const server = (spec: Record<string, unknown>) => ({ apiVersion: GROUP_VERSION, kind: 'ProjectServer', metadata: { name: 'app' }, spec: { serviceType: 'docker', image: 'app:1', ...spec } });
const ADMIN = { ...CTX, mayGrantHostAccess: true };

function forbidden(t: Test, fn: () => unknown, fields: string[]): void {
  try {
    fn();
    t.fail('expected 403');
  } catch (err) {
    t.ok(err instanceof ApiError && err.code === 403 && err.reason === 'Forbidden', `403 Forbidden (${(err as Error).message})`);
    const causes = (err as ApiError).details?.causes ?? [];
    t.same(causes.map((c) => c.field), fields);
    for (const f of fields) t.match((err as Error).message, `${f}: only an admin token may ask for`);
  }
}

t.test('a create asking for any host access is refused unless the writer may grant it; every field is named', async (t) => {
  const sc = {
    privileged: true,
    hostNetwork: true,
    hostPID: true,
    capAdd: ['NET_ADMIN', 'CAP_SYS_TIME'],
    devices: [{ hostPath: '/dev/fuse' }],
    hostPaths: [{ hostPath: '/var/run/docker.sock', containerPath: '/var/run/docker.sock' }],
  };
  forbidden(t, () => prepareCreate(PS, server({ securityContext: sc }), CTX), [
    'spec.securityContext.privileged',
    'spec.securityContext.hostNetwork',
    'spec.securityContext.hostPID',
    'spec.securityContext.capAdd[0]',
    'spec.securityContext.capAdd[1]',
    'spec.securityContext.devices[0]',
    'spec.securityContext.hostPaths[0]',
  ]);
  try {
    prepareCreate(PS, server({ securityContext: { privileged: true } }), CTX);
  } catch (err) {
    t.match((err as Error).message, 'spec.securityContext.privileged: only an admin token may ask for privileged mode');
  }
  t.ok(prepareCreate(PS, server({ securityContext: sc }), ADMIN), 'an admin writer may');
  t.ok(prepareCreate(PS, server({ securityContext: { privileged: false, hostNetwork: false, capAdd: [], devices: [], hostPaths: [] } }), CTX), 'asking for nothing needs nothing');
  // a bad value is a 422 first, not a 403: validation runs before the grant check
  t.throws(() => prepareCreate(PS, server({ securityContext: { capAdd: ['net admin'] } }), CTX), { code: 422 });
  t.throws(() => prepareCreate(PS, server({ securityContext: { hostPaths: [{ hostPath: 'relative', containerPath: '/x' }] } }), CTX), { code: 422 });
  t.throws(() => prepareCreate(PS, server({ securityContext: { sysctls: {} } }), ADMIN), { code: 400 }, 'an unknown field is a 400');
});

t.test('updates: the result is judged, so a patch cannot slip it in; keeping or narrowing a grant is fine, adding or widening is not', async (t) => {
  const plain = prepareCreate(PS, server({}), CTX);
  const asObj = (parts: typeof plain) => toObject(PS, parts, 5) as Json;
  const upd = (current: typeof plain, input: unknown, admin = false) =>
    prepareUpdate(PS, current, input, { ...CTX, name: 'app', mayGrantHostAccess: admin }, 'main');

  const merged = applyPatch(asObj(plain), 'merge', { spec: { securityContext: { privileged: true } } });
  forbidden(t, () => upd(plain, merged), ['spec.securityContext.privileged']);
  const jsonPatched = applyPatch(asObj(plain), 'json', [{ op: 'add', path: '/spec/securityContext', value: { hostPID: true } }]);
  forbidden(t, () => upd(plain, jsonPatched), ['spec.securityContext.hostPID']);

  const granted = upd(plain, applyPatch(asObj(plain), 'merge', { spec: { securityContext: { capAdd: ['NET_ADMIN'], hostPaths: [{ hostPath: '/srv/shared', containerPath: '/shared' }], devices: [{ hostPath: '/dev/fuse', permissions: 'rw' }] } } }), true).parts;
  t.ok(granted.body.securityContext, 'an admin granted it');

  const r = upd(granted, applyPatch(asObj(granted), 'merge', { spec: { image: 'app:2' } }));
  t.ok(r.changed, 'an editor may change the image of a server that keeps an admin grant unchanged');
  t.ok(upd(granted, applyPatch(asObj(granted), 'merge', { spec: { securityContext: { capAdd: ['CAP_NET_ADMIN'] } } })).changed, 'the same capability spelt with CAP_ is no new grant');
  t.ok(upd(granted, applyPatch(asObj(granted), 'merge', { spec: { securityContext: null } })).changed, 'removing every grant is fine');
  t.ok(upd(granted, applyPatch(asObj(granted), 'json', [{ op: 'add', path: '/spec/securityContext/hostPaths/0/readOnly', value: true }])).changed, 'making a bind mount read-only narrows it');
  t.ok(upd(granted, applyPatch(asObj(granted), 'json', [{ op: 'replace', path: '/spec/securityContext/devices/0/permissions', value: 'r' }])).changed, 'fewer device permissions narrow it');
  forbidden(t, () => upd(granted, applyPatch(asObj(granted), 'json', [{ op: 'replace', path: '/spec/securityContext/devices/0/permissions', value: 'rwm' }])), ['spec.securityContext.devices[0]']);
  forbidden(t, () => upd(granted, applyPatch(asObj(granted), 'json', [{ op: 'add', path: '/spec/securityContext/capAdd/-', value: 'SYS_ADMIN' }])), ['spec.securityContext.capAdd[1]']);
  forbidden(t, () => upd(granted, applyPatch(asObj(granted), 'json', [{ op: 'replace', path: '/spec/securityContext/hostPaths/0/hostPath', value: '/' }])), ['spec.securityContext.hostPaths[0]']);

  const ro = prepareCreate(PS, server({ securityContext: { hostPaths: [{ hostPath: '/srv', containerPath: '/srv', readOnly: true }] } }), ADMIN);
  forbidden(t, () => upd(ro, applyPatch(asObj(ro), 'json', [{ op: 'replace', path: '/spec/securityContext/hostPaths/0/readOnly', value: false }])), ['spec.securityContext.hostPaths[0]']);

  const status = prepareUpdate(PS, granted, { ...asObj(granted), status: { phase: 'Running' } }, { ...CTX, name: 'app' }, 'status');
  t.ok(status.changed, "a controller's status write on an admin-granted server needs no grant");
  t.same(newHostAccess(undefined, { securityContext: { privileged: false } }), []);
});

const ps = (spec: Partial<ProjectServer['spec']>): ProjectServer => ({
  apiVersion: GROUP_VERSION,
  kind: 'ProjectServer',
  metadata: { name: 'app', namespace: 'team', uid: 'u-1', generation: 1, resourceVersion: '1' },
  spec: { serviceType: 'docker', image: 'app:1', ...spec },
});
const settings = { installation: 'abcdef0123', staticImage: 'deployer/static:1', network: 'deployer-net' };

t.test('every server container gets limits, no-new-privileges and no host access unless asked', async (t) => {
  const d = desiredContainer(ps({}), settings);
  t.equal(d.spec.memoryBytes, parseMemory(DEFAULT_LIMITS.memory));
  t.equal(d.spec.nanoCpus, DEFAULT_LIMITS.cpus * 1e9);
  t.equal(d.spec.pidsLimit, DEFAULT_LIMITS.pids);
  const hc = createOptions(d.spec).HostConfig!;
  t.equal(hc.Privileged, false);
  t.same(hc.SecurityOpt, ['no-new-privileges:true']);
  t.notOk(hc.CapAdd);
  t.notOk(hc.PidMode);
  t.notOk(hc.Devices);
  t.equal(hc.NetworkMode, 'deployer-net');
  t.same(hc.Mounts!.map((m) => m.Type), ['volume']);
  t.equal(hc.PidsLimit, 512);

  const limited = createOptions(desiredContainer(ps({ resources: { memory: '256Mi', cpus: 0.5, pids: 64 } }), settings).spec).HostConfig!;
  t.same([limited.Memory, limited.NanoCpus, limited.PidsLimit], [256 * 1024 ** 2, 5e8, 64]);
});

t.test('an admin-granted securityContext reaches HostConfig', async (t) => {
  const d = desiredContainer(
    ps({
      securityContext: {
        hostNetwork: true,
        hostPID: true,
        capAdd: ['CAP_NET_ADMIN'],
        devices: [{ hostPath: '/dev/fuse' }],
        hostPaths: [{ hostPath: '/srv/shared', containerPath: '/shared', readOnly: true }],
      },
    }),
    settings,
  );
  const hc = createOptions(d.spec).HostConfig!;
  t.equal(hc.NetworkMode, 'host', 'the host network, and no Docker network beside it');
  t.notOk(createOptions(d.spec).NetworkingConfig);
  t.equal(hc.PidMode, 'host');
  t.same(hc.CapAdd, ['NET_ADMIN']);
  t.same(hc.Devices, [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }]);
  t.same(hc.Mounts![1], { Type: 'bind', Source: '/srv/shared', Target: '/shared', ReadOnly: true });
  t.same(hc.SecurityOpt, ['no-new-privileges:true'], 'still no setuid escalation');
  const priv = createOptions(desiredContainer(ps({ securityContext: { privileged: true } }), settings).spec).HostConfig!;
  t.equal(priv.Privileged, true);
  t.not(desiredContainer(ps({ securityContext: { privileged: true } }), settings).hash, desiredContainer(ps({}), settings).hash, 'a grant recreates the container');
});

t.test('helper containers get default limits and no-new-privileges', async (t) => {
  const o = helperCreateOptions({ image: 'img', argv: ['true'], labels: {} }, { a: 'b' });
  t.same([o.HostConfig!.Memory, o.HostConfig!.NanoCpus, o.HostConfig!.PidsLimit], [HELPER_LIMITS.memoryBytes, HELPER_LIMITS.nanoCpus, HELPER_LIMITS.pidsLimit]);
  t.same(o.HostConfig!.SecurityOpt, ['no-new-privileges:true']);
  t.equal(o.HostConfig!.Privileged, false);
});

t.test('secrets: env values of 4+ characters are redacted from text, JSON and errors', async (t) => {
  const secrets = secretValues({ env: [{ value: 'sk-live-123456' }, { value: 'sk-live-123456-long' }, { value: 'on' }, { value: '' }] });
  t.same(secrets, ['sk-live-123456-long', 'sk-live-123456'], 'longest first, short ones left');
  t.equal(redactText('a sk-live-123456-long b sk-live-123456 c on', secrets), 'a *** b *** c on');
  t.same(redactDeep({ m: ['x sk-live-123456'], n: 3, sk: null }, secrets), { m: ['x ***'], n: 3, sk: null });
  const err = new TypeError('failed with sk-live-123456', { cause: new Error('sk-live-123456') });
  t.equal(redactError(err, secrets), err, 'the same error, rethrowable');
  t.equal(err.message, 'failed with ***');
  t.notMatch(err.stack!, 'sk-live');
  t.equal((err.cause as Error).message, '***');
});
