// resources/validation.ts (through rules.validate, as the store calls it, and directly).
import t from 'tap';
import { GROUP_VERSION } from '../../schemas/index.js';
import {
  ApiError,
  fieldPath,
  immutableFieldErrors,
  kindByName,
  kindRuleErrors,
  metadataErrors,
  refOf,
  schemaErrors,
  validate,
  type KindInfo,
} from '../../resources/index.js';
import { kind } from '../helpers/resources.js';

const PS = kind('ProjectServer');
const DEPLOY = kind('Deployment');

type Obj = Record<string, unknown>;

/** Validates a whole object of `info` named "blog"; returns the ApiError or undefined when valid. */
function check(info: KindInfo, spec: Obj, meta: Obj = {}): ApiError | undefined {
  const obj = { apiVersion: GROUP_VERSION, kind: info.kind, metadata: { name: 'blog', namespace: 'default', ...meta }, spec };
  try {
    validate(info, obj, refOf(info, 'default', 'blog'));
    return undefined;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
}
const fields = (err: ApiError | undefined) => err?.details?.causes?.map((c) => c.field) ?? [];
const GOOD_PS = { serviceType: 'docker', image: 'nginx:1.27', port: 80 };
const GOOD_SOURCE = { git: { url: 'https://example.com/site.git', ref: 'main' } };

t.test('a valid object passes', async (t) => {
  t.equal(check(PS, GOOD_PS), undefined);
  t.equal(
    check(
      PS,
      {
        serviceType: 'static',
        env: [{ name: 'NODE_ENV', value: 'production' }],
        healthCheck: { httpGet: { path: '/healthz', port: 8080 }, intervalSeconds: 10 },
        restartPolicy: { name: 'on-failure', maximumRetryCount: 5 },
        resources: { memory: '512Mi', cpus: 0.5 },
      },
      { labels: { 'app.kubernetes.io/name': 'blog', empty: '' }, annotations: { 'deployer.dev/owner': 'team-a' }, finalizers: ['deployer.dev/container'] },
    ),
    undefined,
  );
  t.equal(check(DEPLOY, { projectServer: 'blog', service: 'site', source: GOOD_SOURCE }), undefined);
});

t.test('unknown fields give 400 BadRequest naming each field', async (t) => {
  const err = check(
    PS,
    { ...GOOD_PS, foo: 1, healthCheck: { httpGet: { path: '/', x: 1 } }, env: [{ name: 'A', value: 'b' }, { name: 'B', value: 'c', y: 2 }] },
    { bogus: true },
  );
  t.equal(err?.code, 400);
  t.equal(err?.reason, 'BadRequest');
  t.same(fields(err).sort(), ['metadata.bogus', 'spec.env[1].y', 'spec.foo', 'spec.healthCheck.httpGet.x']);
  t.ok(err?.details?.causes?.every((c) => c.reason === 'FieldValueNotSupported'));
  for (const f of ['metadata.bogus', 'spec.foo', 'spec.healthCheck.httpGet.x', 'spec.env[1].y']) t.match(err?.message, `unknown field "${f}"`);

  const withBad = check(PS, { ...GOOD_PS, port: 0, foo: 1 });
  t.equal(withBad?.code, 400, 'unknown fields are reported first, even with bad values beside them');
  t.same(fields(withBad), ['spec.foo']);
});

t.test('several bad values give one 422 with every cause', async (t) => {
  const err = check(
    PS,
    {
      serviceType: 'bogus',
      port: 0,
      env: [{ name: '1x', value: 'v' }],
      restartPolicy: { name: 'unless-stopped', maximumRetryCount: 3 },
      healthCheck: {},
    },
    { labels: { '-x': 'y' } },
  );
  t.equal(err?.code, 422);
  t.equal(err?.reason, 'Invalid');
  t.same(fields(err).sort(), [
    'metadata.labels',
    'spec.env[0].name',
    'spec.healthCheck',
    'spec.port',
    'spec.restartPolicy.maximumRetryCount',
    'spec.serviceType',
  ]);
  for (const f of fields(err)) t.match(err?.message, `${f}: `, `the message lists ${f}`);
  t.match(err?.message, /^ProjectServer "blog" is invalid: /);

  const required = check(DEPLOY, { source: { git: {} }, service: 'BAD', progressDeadlineSeconds: 0 });
  t.same(fields(required).sort(), ['spec.progressDeadlineSeconds', 'spec.projectServer', 'spec.service', 'spec.source.git.url']);
  t.equal(required?.details?.causes?.find((c) => c.field === 'spec.projectServer')?.reason, 'FieldValueRequired');
});

t.test('every bad value is reported, however many there are', async (t) => {
  // Known typebox quirk: Value.Errors stops after Settings.maxErrors (8) raw errors, and a
  // union of n literals uses n + 1 of them. Ten bad fields must still give ten causes.
  const err = check(PS, {
    serviceType: 'bogus', // 3 raw errors (2 const + anyOf)
    image: '',
    port: 0,
    command: 'ls',
    env: 'A=b',
    stopped: 'yes',
    revisionHistoryLimit: -1,
    restartPolicy: { name: 'always' }, // 3 raw errors
    resources: { cpus: 0 },
    healthCheck: { exec: { command: [] }, retries: 0 },
  });
  t.equal(err?.code, 422);
  t.same(fields(err).sort(), [
    'spec.command',
    'spec.env',
    'spec.healthCheck.exec.command',
    'spec.healthCheck.retries',
    'spec.image',
    'spec.port',
    'spec.resources.cpus',
    'spec.restartPolicy.name',
    'spec.revisionHistoryLimit',
    'spec.serviceType',
    'spec.stopped',
  ]);
  const status = schemaErrors(PS.statusSchema!, { health: 'meh', restartCount: -1, conditions: [{ type: 'A', status: 'maybe' }, { type: 'B', status: 'no' }] });
  t.same(status.invalid.map((c) => c.field).sort(), ['conditions[0].status', 'conditions[1].status', 'health', 'restartCount']);
  const env = Array.from({ length: 12 }, (_, i) => ({ name: `V${i}`, value: 'x', [`typo${i}`]: 1 }));
  const unknown = check(PS, { ...GOOD_PS, env });
  t.equal(unknown?.code, 400);
  t.equal(fields(unknown).length, 12, 'twelve unknown fields give twelve causes');
});

t.test('serviceType other than static or docker is 422 Unsupported value', async (t) => {
  for (const serviceType of ['node', 'STATIC', '']) {
    const err = check(PS, { ...GOOD_PS, serviceType });
    t.equal(err?.code, 422, `serviceType ${JSON.stringify(serviceType)}`);
    const cause = err?.details?.causes?.[0];
    t.equal(cause?.field, 'spec.serviceType');
    t.equal(cause?.reason, 'FieldValueNotSupported');
    t.equal(cause?.message, `Unsupported value: ${JSON.stringify(serviceType)}: supported values: "static", "docker"`);
  }
  t.same(fields(check(PS, { ...GOOD_PS, serviceType: 3 })), ['spec.serviceType'], 'a number is 422 too (as a type error)');
  t.equal(check(PS, { serviceType: 'static' }), undefined);
});

t.test('label keys and values, annotation keys and finalizer names are checked', async (t) => {
  const cases: [string, Obj, string][] = [
    ['label key with a space', { labels: { 'bad key': 'v' } }, 'metadata.labels'],
    ['label key with an uppercase prefix', { labels: { 'Example.com/app': 'v' } }, 'metadata.labels'],
    ['label key with an empty prefix', { labels: { '/app': 'v' } }, 'metadata.labels'],
    ['label key name part of 64 characters', { labels: { ['a'.repeat(64)]: 'v' } }, 'metadata.labels'],
    ['label value starting with "-"', { labels: { app: '-blog' } }, 'metadata.labels[app]'],
    ['label value of 64 characters', { labels: { app: 'b'.repeat(64) } }, 'metadata.labels[app]'],
    ['label value with a slash', { labels: { app: 'a/b' } }, 'metadata.labels[app]'],
    ['annotation key ending with "."', { annotations: { 'note.': 'v' } }, 'metadata.annotations'],
    ['annotation key with two slashes', { annotations: { 'a.io/b/c': 'v' } }, 'metadata.annotations'],
    ['finalizer with a space', { finalizers: ['deployer.dev/ok', 'bad name'] }, 'metadata.finalizers[1]'],
    ['finalizer with a bad prefix', { finalizers: ['-x/y'] }, 'metadata.finalizers[0]'],
    ['duplicate finalizer', { finalizers: ['deployer.dev/a', 'deployer.dev/a'] }, 'metadata.finalizers'],
  ];
  for (const [what, meta, field] of cases) {
    const err = check(PS, GOOD_PS, meta);
    t.equal(err?.code, 422, `${what}: 422`);
    t.same(fields(err), [field], `${what}: cause at ${field}`);
  }
  t.same(metadataErrors({ labels: { 'deployer.dev/app': 'a.b_c-d', x: '' }, annotations: { 'a.b/c': 'anything / goes' } }), [], 'valid metadata');
  t.same(metadataErrors(undefined), [], 'no metadata');
  const tooBig = metadataErrors({ annotations: { big: 'x'.repeat(256 * 1024) } });
  t.same(tooBig.map((c) => [c.field, c.reason]), [['metadata.annotations', 'FieldValueTooLong']], 'annotations over 256 KiB');
});

t.test('restartPolicy maximumRetryCount is only allowed with on-failure', async (t) => {
  const err = check(PS, { ...GOOD_PS, restartPolicy: { name: 'unless-stopped', maximumRetryCount: 3 } });
  t.equal(err?.code, 422);
  t.same(err?.details?.causes, [
    {
      field: 'spec.restartPolicy.maximumRetryCount',
      reason: 'FieldValueForbidden',
      message: 'Forbidden: a retry count is only allowed with restartPolicy "on-failure" (Docker rejects it with "unless-stopped")',
    },
  ]);
  t.equal(check(PS, { ...GOOD_PS, restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }), undefined);
  t.equal(check(PS, { ...GOOD_PS, restartPolicy: { name: 'unless-stopped' } }), undefined);
  t.equal(check(PS, { ...GOOD_PS, restartPolicy: { name: 'on-failure', maximumRetryCount: 0 } }), undefined, 'zero is a count too');
  t.same(fields(check(PS, { ...GOOD_PS, restartPolicy: { name: 'unless-stopped', maximumRetryCount: 0 } })), ['spec.restartPolicy.maximumRetryCount']);
});

t.test('healthCheck needs exactly one of httpGet or exec', async (t) => {
  for (const [what, hc] of [
    ['neither', { intervalSeconds: 10 }],
    ['both', { httpGet: { path: '/' }, exec: { command: ['true'] } }],
  ] as const) {
    const err = check(PS, { ...GOOD_PS, healthCheck: hc });
    t.equal(err?.code, 422, what);
    t.same(err?.details?.causes?.map((c) => [c.field, c.reason]), [['spec.healthCheck', 'FieldValueInvalid']], what);
    t.match(err?.message, /exactly one of httpGet or exec/);
  }
  t.equal(check(PS, { ...GOOD_PS, healthCheck: { httpGet: { path: '/' } } }), undefined, 'httpGet only');
  t.equal(check(PS, { ...GOOD_PS, healthCheck: { exec: { command: ['true'] } } }), undefined, 'exec only');
});

t.test('Deployment source needs exactly one kind of source', async (t) => {
  const none = check(DEPLOY, { projectServer: 'blog', source: {} });
  t.equal(none?.code, 422);
  t.same(fields(none), ['spec.source']);
  t.match(none?.message, /got none/);
  const two = check(DEPLOY, { projectServer: 'blog', source: { ...GOOD_SOURCE, image: { name: 'nginx' } } });
  t.equal(two?.code, 422);
  t.same(fields(two), ['spec.source']);
  t.match(two?.message, /got git, image/);
  for (const source of [{ inline: { files: { 'index.html': '<h1>hi</h1>' } } }, { archive: { url: 'https://x/a.tgz' } }, { fromDeployment: { name: 'v1' } }, { image: { name: 'nginx' } }])
    t.equal(check(DEPLOY, { projectServer: 'blog', source }), undefined, `source ${Object.keys(source)[0]}`);
  t.same(kindRuleErrors('Route', { source: {} }), [], 'other kinds have no source rule');
});

t.test('Deployment sources: safe inline paths within 1 MiB, http(s) archives, plain git refs, a build only over files', async (t) => {
  const inline = (files: Obj) => check(DEPLOY, { projectServer: 'blog', source: { inline: { files } } });
  for (const bad of ['../etc/passwd', '/abs.txt', 'a/../../b', 'nul\u0000.txt', 'back\\slash', ''])
    t.same(fields(inline({ [bad]: 'x' })), [`spec.source.inline.files[${JSON.stringify(bad)}]`], `inline path ${JSON.stringify(bad)}`);
  t.equal(inline({ 'a/b/c.html': 'x', './d.txt': 'y' }), undefined, 'relative paths are fine');
  t.same(fields(inline({})), ['spec.source.inline.files'], 'at least one file');
  const big = inline({ 'a.txt': 'x'.repeat(1024 * 1024) });
  t.same(fields(big), ['spec.source.inline.files']);
  t.match(big?.message, /at most 1048576 bytes/);
  t.same(fields(check(DEPLOY, { projectServer: 'blog', source: { archive: { url: 'ftp://x/a.tar' } } })), ['spec.source.archive.url']);
  t.same(fields(check(DEPLOY, { projectServer: 'blog', source: { archive: { url: 'file:///etc/passwd' } } })), ['spec.source.archive.url']);
  t.same(fields(check(DEPLOY, { projectServer: 'blog', source: { git: { url: '--upload-pack=evil' } } })), ['spec.source.git.url']);
  for (const ref of ['-x', 'a..b', 'a b', 'a:b'])
    t.same(fields(check(DEPLOY, { projectServer: 'blog', source: { git: { url: '/srv/repo', ref } } })), ['spec.source.git.ref'], `ref ${ref}`);
  t.equal(check(DEPLOY, { projectServer: 'blog', source: { git: { url: '/srv/repo', ref: 'release/v1.2' } } }), undefined);
  t.same(fields(check(DEPLOY, { projectServer: 'blog', source: GOOD_SOURCE, build: { command: ['make'], outputDir: '../out' } })), ['spec.build.outputDir']);
  t.same(fields(check(DEPLOY, { projectServer: 'blog', source: { image: { name: 'nginx' } }, build: { command: ['make'] } })), ['spec.build']);
});

t.test('a Deployment is one release: its server, service, source and build cannot change', async (t) => {
  const before = { projectServer: 'blog', service: 'site', source: GOOD_SOURCE };
  t.same(immutableFieldErrors('Deployment', before, { ...before, source: { git: { url: 'https://example.com/site.git', ref: 'dev' } } }).map((c) => c.field), ['spec.source']);
  t.same(immutableFieldErrors('Deployment', before, { ...before, projectServer: 'other', service: 'docs' }).map((c) => c.field), ['spec.projectServer', 'spec.service']);
  t.same(immutableFieldErrors('Deployment', before, { ...before, progressDeadlineSeconds: 60, healthCheck: { path: '/' } }), [], 'the deadline and the health check may change');
});

t.test('fieldPath turns JSON pointers into Kubernetes field paths', async (t) => {
  t.equal(fieldPath('/spec/env/0/name'), 'spec.env[0].name');
  t.equal(fieldPath('/spec', 'foo'), 'spec.foo');
  t.equal(fieldPath('/spec/env/12', 'y'), 'spec.env[12].y');
  t.equal(fieldPath('/metadata/labels/app.kubernetes.io~1name'), 'metadata.labels[app.kubernetes.io/name]');
  t.equal(fieldPath('/metadata/annotations/a~0b'), 'metadata.annotations[a~b]');
  t.equal(fieldPath(''), '', 'the root has an empty path');
  t.equal(fieldPath('', 'spec'), 'spec');
  t.same(schemaErrors(PS.schema, { apiVersion: GROUP_VERSION, kind: 'ProjectServer', metadata: {}, spec: { serviceType: 'static', env: [{ name: 'A' }] } }).invalid, [
    { field: 'spec.env[0].value', reason: 'FieldValueRequired', message: 'Required value' },
  ]);
});
