// Hostile input (issue 9): a property-based fuzz test of the whole HTTP API. At least
// 10,000 generated requests, in-process through app.inject, across every route, method and
// content type — malformed JSON, wrong types, huge and deeply nested bodies, unicode and
// control characters, path traversal in names and file paths, invalid selectors and patches,
// hostile apply YAML — then watches (NDJSON and SSE, short timeouts) and requests over a
// real socket for what inject normalises (bad percent-encoding, NUL in the path, huge headers).
//
// Asserts: no 5xx (except the log endpoint's 503: this API has no Docker connected), every
// rejection a Status whose message is non-empty, not a stack trace and not "internal error"
// — naming the field or parameter when only one was wrong — and neither the global revision
// nor the token table moved for a rejected request. Every route the app serves must be a
// fuzz target (a new route fails the test until it gets one), and every route×method is hit.
//
// Replay: the seed and request count are printed; FUZZ_SEED=<seed> FUZZ_RUNS=<n> reruns them.
import fc from 'fast-check';
import pg from 'pg';
import t from 'tap';
import { connect } from 'node:net';
import { buildApi } from '../../api/app.js';
import { createMetrics } from '../../metrics/index.js';
import { openStore } from '../../store/index.js';
import { freshDatabase } from '../helpers/pg.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 10_000;
/** Watches run 40 at a time, each ending after its timeoutSeconds=1. */
const WATCH_BATCHES = Math.max(1, Math.round(RUNS / 2000));
const RAW_RUNS = Math.max(20, Math.round(RUNS / 40));
const REPLAY = `FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`;

const NS = 'fz';
const G = '/apis/deployer.dev/v1';
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
type Method = (typeof METHODS)[number];

interface FuzzRequest {
  method: Method;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** When only this field or query parameter was wrong: a 400/422 must name it. */
  field?: string;
}

// ---------------------------------------------------------------------------------------
// Values

const HOSTILE_STRINGS = [
  '',
  ' ',
  '..',
  '../',
  '../../etc/passwd',
  '/etc/passwd',
  '/',
  'a/../../b',
  '..%2f..%2fetc',
  '%2e%2e',
  'a\u0000b',
  '\u0000',
  'a\u0007\u001b[31m',
  'a\r\nSet-Cookie: x=1',
  'ü',
  '名前',
  '\u202eevil',
  '\ud800',
  '😀',
  'A_B',
  '-a',
  'a-',
  'x'.repeat(64),
  'x'.repeat(5000),
  '__proto__',
  'constructor',
  "'; DROP TABLE resources; --",
  '${jndi:ldap://x}',
  '*',
  '\\..\\windows',
];
const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 65536, 70000) },
  { weight: 1, arbitrary: fc.constantFrom([], {}, [1, 'a'], { a: { b: { c: 1 } } }, { __proto__x: 1 }) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

const nameSeg = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('blog', 'dep', 'rt', 'ev', 'nope', 'm0', 'm1', 'm2') },
  { weight: 3, arbitrary: hostileString },
);
const nsSeg = fc.oneof({ weight: 8, arbitrary: fc.constant(NS) }, { weight: 1, arbitrary: fc.constant('other') }, { weight: 3, arbitrary: hostileString });
const pluralSeg = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('projectservers', 'deployments', 'routes', 'events') },
  { weight: 2, arbitrary: fc.constantFrom('widgets', 'ProjectServers', 'projectserver', 'ps', '..', 'events%00', '') },
);

/** encodeURIComponent, with lone surrogates (which no URL can carry) replaced by U+FFFD. */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));

/** A path segment: encoded (mostly), double-encoded, or raw with "/" and "%" kept. */
const seg = (value: fc.Arbitrary<string>) =>
  fc.tuple(value, fc.constantFrom('enc', 'enc', 'enc', 'enc', 'double', 'raw')).map(([v, mode]) => {
    if (mode === 'enc') return enc(v);
    if (mode === 'double') return encodeURIComponent(enc(v));
    return v.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => enc(c));
  });

// Query strings: known parameters with valid and hostile values, and junk.
const PARAM_VALUES: Record<string, string[]> = {
  labelSelector: ['app=blog', 'app in (a,b)', '!x', 'a', 'a in (', 'a notin ()', 'a==b==c', 'a=b,', ',', 'a=\u0000', '(((', 'x'.repeat(5000), 'a=ü', 'a!=b,c', '= =', 'a in (b,c))'],
  fieldSelector: ['metadata.name=blog', 'metadata.name!=x', 'spec.x=1', 'metadata.name=\u0000', "metadata.name='; DROP TABLE x; --", 'metadata.name', 'reason=x', '=', 'metadata.name=ü', 'involvedObject.uid=\u0000x'],
  limit: ['0', '1', '500', '-1', 'abc', '1e3', '99999999999999', '1.5', ' 1', '0x10'],
  continue: ['', 'abc', '%%', Buffer.from('{"r":-1,"ns":"fz","n":"a"}').toString('base64url'), Buffer.from('{"r":1,"ns":"\\u0000","n":"a"}').toString('base64url'), Buffer.from('{"r":1e300,"ns":"a","n":"b"}').toString('base64url'), Buffer.from('{"r":1,"ns":"fz","n":"a\\u0000"}').toString('base64url'), Buffer.from('[]').toString('base64url')],
  watch: ['false', '0', '', 'yes', 'TRUE', '2', 'no'],
  resourceVersion: ['', '0', '1', '-1', 'abc', '99999999999999999999', '1.5'],
  resourceVersionMatch: ['NotOlderThan', 'Exact', 'bogus'],
  timeoutSeconds: ['1', '-1', 'x', '86401'],
  allowWatchBookmarks: ['true', 'maybe'],
  sendInitialEvents: ['true', 'x'],
  includeObject: ['None', 'Object', 'Metadata', 'bogus', ''],
  dryRun: ['All', 'Some', 'all', '', 'All,All'],
  fieldManager: ['kubectl', 'x'.repeat(300), '\u0000'],
  fieldValidation: ['Strict', 'Warn', 'Ignore', 'strict', 'bogus'],
  force: ['true', 'false', 'maybe'],
  propagationPolicy: ['Background', 'Foreground', 'Orphan', 'x', ''],
  gracePeriodSeconds: ['0', '-1', 'x'],
  orphanDependents: ['true', 'x'],
  pretty: ['true', 'x'],
  follow: ['true', 'false', '1', '0', 'yes', ''],
  tailLines: ['10', '0', '-1', 'x', '9999999999', '100000'],
  hash: ['', 'abc', 'x'.repeat(200)],
  controller: ['deployments', 'projectservers', 'Bad_Name', '-x', '', 'x'.repeat(70)],
};
const queryPair = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.keys(PARAM_VALUES)).chain((k) => fc.tuple(fc.constant(k), fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PARAM_VALUES[k]) }, { weight: 1, arbitrary: hostileString }))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('__proto__', 'constructor', 'x[y]', 'a.b', ''), hostileString) },
);
const query = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 6, arbitrary: fc.array(queryPair, { maxLength: 4 }).map((ps) => (ps.length ? '?' + ps.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&') : '')) },
  { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?a', '?labelSelector', '?=x', '?limit=1&limit=2', '?watch=false&watch=true&timeoutSeconds=abc', '?%%', '?a=%zz', '?labelSelector=%E0%A4%A') },
);

// Headers
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const accept = fc.constantFrom(
  'application/json',
  '*/*',
  TABLE,
  `${TABLE}, application/json`,
  'application/json;as=Table;v=v1beta1;g=meta.k8s.io',
  'application/json;as=Table;v=v2;g=meta.k8s.io',
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
  'application/json;as=APIGroupDiscoveryList',
  'application/vnd.kubernetes.protobuf',
  'text/html',
  'text/event-stream',
  ';;;,,,=',
  'application/json;as=Table;v=v1;g=meta.k8s.io;includeObject=Object',
);
const CONTENT_TYPES = [
  'application/json',
  'application/merge-patch+json',
  'application/json-patch+json',
  'application/apply-patch+yaml',
  'application/strategic-merge-patch+json',
  'application/yaml',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/octet-stream',
  'garbage',
];

type Tokens = { admin: string; viewer: string; otherEditor: string };
let TOKENS: Tokens = { admin: '', viewer: '', otherEditor: '' };
const auth = fc.oneof(
  { weight: 20, arbitrary: fc.constant('admin') },
  { weight: 1, arbitrary: fc.constantFrom('none', 'bad', 'viewer', 'other', 'malformed') },
);
function authHeader(kind: string): Record<string, string> {
  switch (kind) {
    case 'admin':
      return { authorization: `Bearer ${TOKENS.admin}` };
    case 'viewer':
      return { authorization: `Bearer ${TOKENS.viewer}` };
    case 'other':
      return { authorization: `Bearer ${TOKENS.otherEditor}` };
    case 'bad':
      return { authorization: 'Bearer not-a-token' };
    case 'malformed':
      return { authorization: 'Basic YTpi' };
    default:
      return {};
  }
}

// ---------------------------------------------------------------------------------------
// Bodies

const valid: Record<string, (name: string) => Record<string, unknown>> = {
  projectservers: (name) => ({
    apiVersion: 'deployer.dev/v1',
    kind: 'ProjectServer',
    metadata: { name, labels: { app: 'blog' }, annotations: { note: 'x' } },
    spec: { serviceType: 'docker', image: 'nginx:alpine', port: 80, env: [{ name: 'A', value: 'b' }], healthCheck: { httpGet: { path: '/' }, intervalSeconds: 5 }, resources: { memory: '64Mi', cpus: 0.5 } },
  }),
  deployments: (name) => ({
    apiVersion: 'deployer.dev/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: 'blog' } },
    spec: { projectServer: 'blog', source: { inline: { files: { 'index.html': 'hi', 'css/site.css': 'a{}' } } }, build: { command: ['sh', '-c', 'true'], outputDir: 'dist' }, progressDeadlineSeconds: 60 },
  }),
  routes: (name) => ({ apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name }, spec: { host: 'blog.example.com', projectServer: 'blog', pathPrefix: '/', port: 80 } }),
  events: (name) => ({
    apiVersion: 'deployer.dev/v1',
    kind: 'Event',
    metadata: { name },
    involvedObject: { kind: 'ProjectServer', namespace: NS, name: 'blog' },
    reason: 'Fuzz',
    message: 'hello',
    type: 'Normal',
  }),
};

/** Every path (as key lists) into a JSON value, objects and arrays included. */
function pathsOf(v: unknown, prefix: string[] = []): string[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  const out: string[][] = prefix.length ? [prefix] : [];
  for (const [k, child] of Object.entries(v)) out.push(...pathsOf(child, [...prefix, k]));
  return out;
}
function setPath(doc: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(doc);
  let cur: Record<string, unknown> = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[path[path.length - 1]] = value;
  return copy;
}

/** A valid object with one field changed (or one unknown field added): the field a rejection must name. */
const mutated = (plural: string, name: string) => {
  const base = valid[plural](name);
  const paths = pathsOf(base).filter((p) => !(p[0] === 'metadata' && p[1] === 'name'));
  return fc.oneof(
    fc.tuple(fc.constantFrom(...paths), hostileValue).map(([p, v]) => ({ doc: setPath(base, p, v), field: p.filter((k) => !/^\d+$/.test(k)).pop()! })),
    fc.tuple(fc.constantFrom(...paths.filter((p) => p.length < 3)), fc.constantFrom('bogusField', 'Spec', 'extra', 'unknownKey')).map(([p, k]) => {
      const parent = p.slice(0, -1);
      return { doc: setPath(base, [...parent, k], 1), field: k };
    }),
    fc.tuple(hostileString, hostileString).map(([k, v]) => ({ doc: setPath(base, ['metadata', 'labels'], { [k || 'k']: v }), field: 'labels' })),
    fc.tuple(hostileString, hostileString).map(([p, c]) => ({ doc: plural === 'deployments' ? setPath(base, ['spec', 'source', 'inline', 'files'], { [p]: c }) : base, field: 'files' })),
    fc.tuple(fc.constantFrom('service', 'outputDir', 'host', 'pathPrefix', 'image'), hostileString).map(([k, v]) => {
      const doc = structuredClone(base);
      const spec = (doc.spec ?? doc) as Record<string, unknown>;
      const target = k === 'outputDir' ? ((spec.build ?? spec) as Record<string, unknown>) : spec;
      target[k] = v;
      return { doc, field: k };
    }),
  );
};

function nested(depth: number, kind: 'array' | 'object' | 'labels'): string {
  if (kind === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  return `{"apiVersion":"deployer.dev/v1","kind":"ProjectServer","metadata":{"name":"m0","labels":${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}},"spec":{"serviceType":"static"}}`;
}

const YAML_BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]', 'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]', 'g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]'].join('\n');
const applyYaml = (name: string, plural: string) =>
  fc.constantFrom(
    YAML_BOMB,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata:\n  name: ${name}\n  labels: &l {a: b}\n  annotations: *l\nspec: {serviceType: static}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: !!js/function 'function(){}'\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: !custom {serviceType: static}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: {serviceType: !!binary aGk=}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: {serviceType: static}\n---\nkind: Route\n`,
    `base: &b {serviceType: static}\napiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: {<<: *b}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}, __proto__: {polluted: true}}\nspec: {serviceType: static}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}, uid: 00000000-0000-0000-0000-000000000000}\nstatus: {phase: Running}\nspec: {serviceType: static}\n`,
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: ${name}}\nspec: {serviceType: static, port: 1e400}\n`,
    `? [a, b]\n: c\n`,
    `- 1\n- 2\n`,
    `"unterminated\n`,
    `a: b\n  c: d\n`,
    `\t- tab`,
    `x: ${'y'.repeat(200_000)}\n`,
    `${'- '.repeat(2000)}x\n`,
    `${'['.repeat(5000)}${']'.repeat(5000)}\n`,
    `apiVersion: deployer.dev/v1\nkind: ${plural}\nmetadata: {name: ${name}}\n`,
    '%YAML 1.1\n---\na: 1\n',
    `apiVersion: deployer.dev/v1\nkind: ProjectServer\nmetadata: {name: "${name}\\0"}\nspec: {serviceType: static}\n`,
  );

const JSON_PATCH_PATHS = ['/metadata/uid', '/metadata/name', '/metadata/namespace', '/metadata/resourceVersion', '/metadata/creationTimestamp', '/metadata/generation', '/metadata/deletionTimestamp', '/status', '/status/phase', '/spec', '/spec/port', '/spec/serviceType', '/metadata/labels/a', '/metadata/labels/a~1b', '/metadata/labels', '/spec/env/-', '/spec/env/0/name', '/spec/env/99', '', '/', '/x/y/z', '/metadata/__proto__/polluted', '/constructor/prototype/x', '/kind', '/apiVersion', '~2', '/spec/source/inline/files/..~1..~1etc~1passwd'];
const jsonPatch = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(
      fc.record(
        {
          op: fc.constantFrom('add', 'remove', 'replace', 'test', 'move', 'copy', 'bogus', 'ADD'),
          path: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...JSON_PATCH_PATHS) }, { weight: 1, arbitrary: hostileString }),
          value: hostileValue,
          from: fc.constantFrom('/spec', '/nope', '/metadata/labels', '/status'),
        },
        { requiredKeys: ['op', 'path'] },
      ),
      { minLength: 1, maxLength: 4 },
    ),
  },
  { weight: 1, arbitrary: fc.constant([{ op: 'test', path: '/spec/serviceType', value: 'nope' }, { op: 'replace', path: '/spec/port', value: 81 }]) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
);
const mergePatch = fc.oneof(
  fc.record({ metadata: fc.record({ uid: hostileValue, labels: fc.dictionary(hostileString, hostileValue, { maxKeys: 3 }), name: hostileValue, resourceVersion: hostileValue }, { requiredKeys: [] }), status: hostileValue, spec: fc.dictionary(fc.constantFrom('port', 'serviceType', 'image', 'env', 'bogus', 'projectServer', 'source', 'host'), hostileValue, { maxKeys: 3 }) }, { requiredKeys: [] }),
  fc.anything({ maxDepth: 3 }),
);

function bodyFor(plural: string, name: string, contentType: string): fc.Arbitrary<{ body: string; field?: string }> {
  const p = valid[plural] ? plural : 'projectservers';
  const asJson = <T>(a: fc.Arbitrary<T>) => a.map((v) => ({ body: JSON.stringify(v) ?? 'null' }));
  const choices: fc.WeightedArbitrary<{ body: string; field?: string }>[] = [
    { weight: 25, arbitrary: mutated(p, name).map((m) => ({ body: JSON.stringify(m.doc), field: m.field })) },
    { weight: 10, arbitrary: asJson(fc.anything({ maxDepth: 3, withNullPrototype: true })) },
    { weight: 5, arbitrary: fc.constantFrom('', '{', '{"a":', '[', 'null', 'true', '"str"', '1e999', '\ufeff{}', '{"a":1}garbage', '{"a":1,"a":2}', "{'a':1}", '\u0000', 'NaN', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}').map((body) => ({ body })) },
    { weight: 5, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }).map((body) => ({ body })) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(100, 1000, 10_000, 100_000), fc.constantFrom('array', 'object', 'labels') as fc.Arbitrary<'array' | 'object' | 'labels'>).map(([d, k]) => ({ body: nested(d, k) })) },
    { weight: 1, arbitrary: fc.constantFrom(1, 2).map((n) => ({ body: n === 1 ? `{"a":"${'x'.repeat(1024 * 1024)}"}` : JSON.stringify(setPath(valid[p](name), ['metadata', 'annotations'], { big: 'x'.repeat(900 * 1024) })) })) },
  ];
  if (contentType.startsWith('application/json-patch')) choices.push({ weight: 40, arbitrary: asJson(jsonPatch) });
  if (contentType.startsWith('application/merge-patch')) choices.push({ weight: 40, arbitrary: asJson(mergePatch) });
  if (contentType.startsWith('application/apply-patch')) choices.push({ weight: 40, arbitrary: applyYaml(name, p).map((body) => ({ body })) });
  return fc.oneof(...choices);
}

// ---------------------------------------------------------------------------------------
// Targets: one per route the app serves (checked against app.printRoutes()).

interface Target {
  route: string;
  gen: (method: Method) => fc.Arbitrary<Omit<FuzzRequest, 'method'>>;
}

/** Headers, a content type and a body for any route (most do not read bodies). */
const anyRequest = (path: fc.Arbitrary<string>, method: Method, plural = 'projectservers', name = 'm0') =>
  fc.tuple(path, query, auth, accept, fc.constantFrom(...CONTENT_TYPES)).chain(([p, q, a, acc, ct]) => {
    const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
    const base = { url: p + q, headers: { ...authHeader(a), accept: acc } as Record<string, string> };
    if (!hasBody) return fc.constant(base);
    return fc.option(bodyFor(plural, name, ct), { freq: 4 }).map((b) => (b ? { ...base, headers: { ...base.headers, 'content-type': ct }, body: b.body } : base));
  });

const simple = (route: string, path: fc.Arbitrary<string> = fc.constant(route)): Target => ({ route, gen: (m) => anyRequest(path, m) });

/** The resource routes: hostile segments, plus precise requests (one wrong field) to named objects. */
const resourceTarget = (route: string, build: (ns: string, plural: string, name: string) => string): Target => ({
  route,
  gen: (method) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(seg(nsSeg), seg(pluralSeg), seg(nameSeg)).chain(([ns, plural, name]) => anyRequest(fc.constant(build(ns, plural, name)), method, decodeURIComponentSafe(plural), decodeURIComponentSafe(name))) },
      { weight: 2, arbitrary: precise(method, build) },
    ),
});

/** A request whose path, token and content type are right: the only wrong thing is the body field or query parameter it names. */
function precise(method: Method, build: (ns: string, plural: string, name: string) => string): fc.Arbitrary<Omit<FuzzRequest, 'method'>> {
  type R = Omit<FuzzRequest, 'method'>;
  return fc.tuple(fc.constantFrom('projectservers', 'deployments', 'routes', 'events'), fc.constantFrom('m0', 'm1', 'm2', 'blog', 'dep', 'rt', 'ev')).chain(([plural, name]): fc.Arbitrary<R> => {
    const url = build(NS, plural, name);
    const headers: Record<string, string> = { authorization: `Bearer ${TOKENS.admin}`, accept: 'application/json' };
    const param: fc.Arbitrary<R> = fc.constantFrom(...(method === 'DELETE' ? ['dryRun', 'propagationPolicy'] : method === 'GET' || method === 'HEAD' ? ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch', 'includeObject'] : ['dryRun', 'fieldValidation', 'force'])).chain((k) =>
      fc.constantFrom(...PARAM_VALUES[k]).map((v) => ({ url: `${url}?${k}=${enc(v)}`, headers, field: k })),
    );
    if (method === 'GET' || method === 'HEAD' || method === 'DELETE' || method === 'OPTIONS') return param;
    if (method === 'PATCH')
      return fc.oneof(
        fc.constantFrom('application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml').chain((ct) => bodyFor(plural, name, ct).map((b) => ({ url, headers: { ...headers, 'content-type': ct }, body: b.body, field: b.field }))),
        mutated(plural, name).map((m) => ({ url, headers: { ...headers, 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify(m.doc), field: m.field })),
      );
    return fc.oneof(param.map((p) => ({ ...p, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(valid[plural](name)) })), mutated(plural, name).map((m) => ({ url, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(m.doc), field: m.field })));
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const eventsPath = (ns: fc.Arbitrary<string>, name?: fc.Arbitrary<string>) =>
  name ? fc.tuple(seg(ns), seg(name)).map(([n, m]) => `/api/v1/namespaces/${n}/events/${m}`) : seg(ns).map((n) => `/api/v1/namespaces/${n}/events`);

const TARGETS: Target[] = [
  simple('/'),
  simple('/ui/:file', seg(fc.oneof(fc.constantFrom('app.js', 'style.css', 'index.html', 'nope.js', '../package.json', '..%2f..%2fpackage.json', '.env', 'APP.JS'), hostileString)).map((f) => `/ui/${f}`)),
  simple('/healthz'),
  simple('/readyz'),
  simple('/version'),
  simple('/apis'),
  simple('/apis/deployer.dev'),
  simple(G),
  simple('/openapi.yaml'),
  simple('/openapi/v3'),
  simple('/openapi/v3/apis/deployer.dev/v1'),
  simple('/metrics'),
  simple('/api/tls'),
  simple('/api/monitoring/leaders'),
  simple('/api/monitoring/health'),
  simple('/api/monitoring/reconcile'),
  {
    route: '/api/tokens',
    gen: (method) =>
      fc.oneof(
        anyRequest(fc.constant('/api/tokens'), method),
        fc
          .record({ name: fc.oneof(fc.constantFrom('fz-made'), hostileString), role: fc.oneof(fc.constantFrom('viewer', 'editor', 'root'), hostileValue), namespaces: fc.oneof(fc.constant([NS]), fc.array(hostileString, { maxLength: 3 }), hostileValue), extra: hostileValue }, { requiredKeys: ['name'] })
          .map((b) => ({ url: '/api/tokens', headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' }, body: JSON.stringify(b) })),
      ),
  },
  { route: '/api/tokens/:name', gen: (m) => anyRequest(seg(fc.oneof(fc.constantFrom('fz-made', 'nope', 'fz-viewer'), hostileString)).map((n) => `/api/tokens/${n}`), m) },
  simple('/api/v1/events'),
  simple('/api/v1/namespaces/:namespace/events', eventsPath(nsSeg)),
  simple('/api/v1/namespaces/:namespace/events/:name', eventsPath(nsSeg, nameSeg)),
  resourceTarget(`${G}/:plural`, (_ns, plural) => `${G}/${plural}`),
  resourceTarget(`${G}/namespaces/:namespace/:plural`, (ns, plural) => `${G}/namespaces/${ns}/${plural}`),
  resourceTarget(`${G}/namespaces/:namespace/:plural/:name`, (ns, plural, name) => `${G}/namespaces/${ns}/${plural}/${name}`),
  resourceTarget(`${G}/namespaces/:namespace/:plural/:name/status`, (ns, plural, name) => `${G}/namespaces/${ns}/${plural}/${name}/status`),
  simple(`${G}/namespaces/:namespace/projectservers/:name/log`, fc.tuple(seg(nsSeg), seg(nameSeg)).map(([n, m]) => `${G}/namespaces/${n}/projectservers/${m}/log`)),
];

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.constantFrom(...TARGETS), fc.constantFrom(...METHODS))
  .chain(([target, method]) => target.gen(method).map((r) => ({ ...r, method })));

// ---------------------------------------------------------------------------------------
// Checks

/** The app's routes as "METHOD pattern", from printRoutes' tree. */
function appRoutes(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = line.match(/^([\s│├└─]*)(\S.*?)(?: \(([^)]*)\))?$/u);
    if (!m) continue;
    const depth = Math.floor([...m[1]].length / 4);
    stack.length = depth;
    stack[depth] = m[2];
    const path = stack.join('');
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path}`);
  }
  return out;
}

/** Why a response breaks the rules, or undefined. */
function problemOf(req: FuzzRequest, status: number, headers: Record<string, unknown>, text: string): string | undefined {
  const isLog = /\/projectservers\/[^/?]+\/log(\?|$)/.test(req.url);
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (status >= 500) {
    const noDocker = isLog && status === 503 && headers['retry-after'] && (req.method === 'HEAD' || (body?.kind === 'Status' && /Docker/.test(body.message)));
    if (!noDocker) return `a ${status}`;
  }
  if (status < 400 || req.method === 'HEAD') return undefined;
  if (body?.kind !== 'Status' || body.apiVersion !== 'v1' || body.status !== 'Failure' || body.code !== status) return `a ${status} that is not a Status`;
  if (typeof body.message !== 'string' || body.message.trim().length < 8) return 'a Status without a message';
  if (/\n\s+at |internal error|\[object Object\]|undefined|FST_/i.test(body.message)) return 'a Status whose message is a stack trace, an internal error or a placeholder';
  // a JSON patch that is not an array is wrong as a patch: that, not a field in it, is the problem
  const notAPatch = /json-patch/.test(String(req.headers?.['content-type'] ?? '')) && !String(req.body ?? '').trimStart().startsWith('[');
  // An update may be refused for an immutable field that an earlier generated request stored
  // with another value (a Deployment is one release): then that field is the problem, rightly.
  const immutable = (req.method === 'PUT' || req.method === 'PATCH') && status === 422 && /field is immutable/.test(body.message);
  if (req.field && !notAPatch && !immutable && (status === 400 || status === 422)) {
    // "invalid label selector" names labelSelector
    const said = `${body.message} ${JSON.stringify(body.details?.causes ?? [])}`.toLowerCase().replace(/[\s_-]/g, '');
    if (!said.includes(req.field.toLowerCase())) return `a ${status} that does not name "${req.field}"`;
  }
  return undefined;
}

/** `p`, or a failure naming the request when it takes longer than `ms`. */
async function within<T>(ms: number, p: Promise<T>, req: FuzzRequest): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${show(req)}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const show = (req: FuzzRequest) => `${req.method} ${req.url.slice(0, 300)} ${JSON.stringify(req.headers)} ${req.body === undefined ? '' : JSON.stringify(req.body.slice(0, 300))}`;

t.test(`hostile input: ${RUNS} requests (seed ${SEED})`, async (t) => {
  t.comment(`fuzz seed ${SEED}, ${RUNS} inject requests; replay: ${REPLAY} node_modules/.bin/tap tests/integration/api-fuzz.test.ts`);
  const connectionString = await freshDatabase(t);
  const store = await openStore({ connectionString, hubPollIntervalMs: 200 });
  const metrics = createMetrics({ processMetrics: false });
  const hits = new Set<string>();
  const observe = metrics.observeRequest;
  metrics.observeRequest = (route, method, code, seconds) => {
    if (route) hits.add(`${method} ${route}`);
    observe(route, method, code, seconds);
  };
  const api = await buildApi({ store, metrics, shutdownGraceMs: 300, identity: 'fuzz', tls: () => ({ url: 'https://127.0.0.1:6443', certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' }) });
  const app = api.app;
  const db = new pg.Client({ connectionString });
  await db.connect();
  t.teardown(async () => {
    await db.end();
    await app.close();
    await store.close();
  });
  const admin = await store.tokens.create({ name: 'fz-admin', role: 'admin', namespaces: ['*'] });
  const viewer = await store.tokens.create({ name: 'fz-viewer', role: 'viewer', namespaces: [NS] });
  const other = await store.tokens.create({ name: 'fz-other', role: 'editor', namespaces: ['other'] });
  TOKENS = { admin: admin.token, viewer: viewer.token, otherEditor: other.token };
  const PROTECTED = new Set(['fz-admin', 'fz-viewer', 'fz-other']);

  const fingerprint = async () =>
    JSON.stringify(
      (
        await db.query(
          `SELECT (SELECT revision FROM revision_counter WHERE id = 1) AS rev,
                  (SELECT md5(coalesce(string_agg(name || ':' || role || ':' || namespaces::text || ':' || token_hash, ',' ORDER BY name), '')) FROM api_tokens) AS tokens`,
        )
      ).rows[0],
    );
  /** Puts back any fixture an accepted request deleted; true when it wrote. */
  const ensureFixtures = async () => {
    let wrote = false;
    for (const [plural, name] of [['projectservers', 'blog'], ['deployments', 'dep'], ['routes', 'rt'], ['events', 'ev']] as const) {
      const res = await app.inject({ method: 'GET', url: `${G}/namespaces/${NS}/${plural}/${name}`, headers: authHeader('admin') });
      if (res.statusCode === 200) continue;
      const put = await app.inject({ method: 'PUT', url: `${G}/namespaces/${NS}/${plural}/${name}`, headers: { ...authHeader('admin'), 'content-type': 'application/json' }, payload: JSON.stringify(valid[plural](name)) });
      if (put.statusCode >= 300) throw new Error(`fixture ${plural}/${name}: ${put.statusCode} ${put.body}`);
      wrote = true;
    }
    return wrote;
  };
  await ensureFixtures();

  // Every route the app serves is a fuzz target.
  const routes = appRoutes(app.printRoutes({ commonPrefix: false }));
  const known = new Set(TARGETS.map((x) => x.route));
  t.ok(routes.length > 20, `the app serves ${routes.length} route×methods`);
  t.same(routes.filter((r) => !known.has(r.slice(r.indexOf(' ') + 1))), [], 'every route of the app is a fuzz target (add a Target for a new route)');

  let sent = 0;
  let rejected = 0;
  // The store's fingerprint is read after every write-method request; reads (GET, HEAD,
  // OPTIONS) are checked 25 at a time, and before the next write, so a read that wrote is
  // still caught (and named among the 25) at half the queries.
  let state = await fingerprint();
  const reads: string[] = [];
  const settleReads = async () => {
    if (reads.length === 0) return;
    const now = await fingerprint();
    if (now !== state) throw new Error(`the store changed (${state} → ${now}) during one of these reads:\n${reads.join('\n')}`);
    reads.length = 0;
  };
  const isRead = (m: string) => m === 'GET' || m === 'HEAD' || m === 'OPTIONS';
  const check = async (req: FuzzRequest, status: number, headers: Record<string, unknown>, text: string) => {
    sent++;
    if (status >= 400) rejected++;
    const problem = problemOf(req, status, headers, text);
    if (problem) throw new Error(`${problem}: ${show(req)} → ${status} ${text.slice(0, 500)}`);
    if (isRead(req.method)) {
      reads.push(`${show(req)} → ${status}`);
      if (reads.length >= 25) await settleReads();
      return;
    }
    const now = await fingerprint();
    if (status >= 400) {
      if (now !== state) throw new Error(`rejected with ${status} but the store changed (${state} → ${now}): ${show(req)} → ${text.slice(0, 300)}`);
      return;
    }
    state = now;
    // An accepted delete: put the fixtures back if it removed one.
    if (req.method === 'DELETE' && /\/(blog|dep|rt|ev)(\/|\?|$)/.test(req.url) && (await ensureFixtures())) state = await fingerprint();
  };

  const run = async <T>(what: string, p: fc.IAsyncProperty<[T]>, numRuns: number, seed: number) => {
    const out = await fc.check(p, { numRuns, seed, endOnFailure: true });
    if (out.failed) {
      t.fail(`${what}: ${out.counterexample ? String((out.errorInstance as Error)?.message ?? out.errorInstance) : 'failed'}\nreplay: ${REPLAY} (fast-check seed ${seed}, path ${out.counterexamplePath})`);
    } else t.pass(`${what}: ${numRuns} runs, none broke a rule`);
  };

  // 1. The bulk, in process.
  const start = Date.now();
  await run(
    'inject',
    fc.asyncProperty(fuzzRequest, async (req) => {
      if (req.url.includes('/api/tokens/') && req.method === 'DELETE' && PROTECTED.has(decodeURIComponentSafe(req.url.split('/api/tokens/')[1].split('?')[0]))) return;
      if (!isRead(req.method)) await settleReads();
      const res = await within(10_000, app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.body }), req);
      await check(req, res.statusCode, res.headers, res.body);
    }),
    RUNS,
    SEED,
  );
  await settleReads();
  t.comment(`inject: ${sent} requests (${rejected} rejected) in ${Date.now() - start} ms`);

  // 2. Watches over HTTP (timeoutSeconds=1, so every stream ends): NDJSON, SSE and Tables, 40 at a time.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const watchReq = fc
    .tuple(fc.constantFrom(`${G}/namespaces/${NS}/projectservers`, `${G}/namespaces/${NS}/events`, `${G}/deployments`, `${G}/namespaces/${NS}/widgets`, `${G}/namespaces/%E2%82%AC/routes`), fc.array(queryPair, { maxLength: 2 }), fc.constantFrom('1', '1', '1', '-1', 'abc'), fc.constantFrom('application/json', 'text/event-stream', TABLE, 'garbage'), fc.option(fc.constantFrom('1', '999999999999', 'abc', '\u0000', '-1')))
    .map(([path, extra, timeout, acc, lastId]) => {
      const params = [...extra.filter(([k]) => k !== 'timeoutSeconds' && k !== 'watch'), ['watch', 'true'], ['timeoutSeconds', timeout]];
      const headers: Record<string, string> = { ...authHeader('admin'), accept: acc };
      if (lastId !== null) headers['last-event-id'] = lastId.replace(/\u0000/g, '%00');
      return { method: 'GET' as Method, url: `${path}?${params.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`, headers };
    });
  const watchesBefore = sent;
  await run(
    'watches',
    fc.asyncProperty(fc.array(watchReq, { minLength: 40, maxLength: 40 }), async (reqs) => {
      const before = await fingerprint();
      const results = await Promise.all(
        reqs.map(async (req) => {
          const res = await within(10_000, fetch(base + req.url, { headers: req.headers, signal: AbortSignal.timeout(10_000) }), req);
          return { req, res: { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() } };
        }),
      );
      for (const { req, res } of results) {
        sent++;
        const problem = problemOf(req, res.statusCode, res.headers, res.body);
        if (problem) throw new Error(`${problem}: ${show(req)} → ${res.statusCode} ${res.body.slice(0, 500)}`);
        if (res.statusCode === 200) {
          const sse = String(res.headers['content-type']).startsWith('text/event-stream');
          const frames = sse ? res.body.split('\n\n').filter((f) => f.trim()).map((f) => f.split('\n').find((l) => l.startsWith('data: '))?.slice(6) ?? '') : res.body.split('\n').filter((l) => l.trim());
          for (const f of frames) {
            const ev = JSON.parse(f) as { type?: string; object?: { kind?: string } };
            if (!['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].includes(ev.type ?? '') || !ev.object) throw new Error(`a watch frame that is not an event: ${f.slice(0, 200)} (${show(req)})`);
          }
        }
      }
      if ((await fingerprint()) !== before) throw new Error('a watch wrote to the store');
    }),
    WATCH_BATCHES,
    SEED + 1,
  );
  t.comment(`watches: ${sent - watchesBefore} streams`);

  // 3. Over a raw socket: what inject (and fetch) would normalise or refuse to send.
  const rawReq = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'FOO', 'get', 'CONNECT', 'TRACE'),
      fc.oneof(
        fc.constantFrom(
          `${G}/namespaces/%zz/projectservers`,
          `${G}/namespaces/${NS}/projectservers/%`,
          `${G}/namespaces/${NS}/projectservers/%c0%af`,
          `${G}/namespaces/${NS}/projectservers/a%00b`,
          `${G}/namespaces/${NS}/projectservers/a\u0000b`,
          `${G}/namespaces/${NS}/projectservers/../../../../etc/passwd`,
          `${G}/namespaces/${NS}/../../../../../etc/passwd`,
          `/ui/../../package.json`,
          `/ui/..%2f..%2fpackage.json`,
          `/ui/%2e%2e/%2e%2e/package.json`,
          `//${G}`,
          `${G}/./namespaces/${NS}/projectservers`,
          `http://evil.example${G}/projectservers`,
          `*`,
          `${G}/namespaces/${NS}/projectservers/${'a'.repeat(600)}`,
          `${G}/namespaces/${NS}/projectservers?labelSelector=%E0%A4%A`,
          `/${'x/'.repeat(5000)}`,
          `${G}/namespaces/${NS}/projectservers/blog\tx`,
          `/apis/deployer.dev/v1/namespaces/${NS}/projectservers/bl og`,
          `/metrics?%%`,
        ),
      ),
      fc.constantFrom('none', 'huge', 'badLength', 'control', 'dupLength', 'http10', 'chunkedBad', 'manyHeaders', 'noHost'),
    )
    .map(([method, path, quirk]) => ({ method, path, quirk }));
  const rawBefore = sent;
  await run(
    'raw HTTP',
    fc.asyncProperty(rawReq, async ({ method, path, quirk }) => {
      const before = await fingerprint();
      const lines = [`${method} ${path} ${quirk === 'http10' ? 'HTTP/1.0' : 'HTTP/1.1'}`, ...(quirk === 'noHost' ? [] : ['Host: 127.0.0.1']), `Authorization: Bearer ${TOKENS.admin}`, 'Connection: close'];
      let body = '';
      if (quirk === 'huge') lines.push(`X-Big: ${'a'.repeat(20_000)}`);
      if (quirk === 'manyHeaders') for (let i = 0; i < 3000; i++) lines.push(`X-H${i}: v`);
      if (quirk === 'control') lines.push('X-Ctl: a\u0001b');
      if (quirk === 'badLength') {
        lines.push('Content-Type: application/json', 'Content-Length: 100');
        body = '{}';
      }
      if (quirk === 'dupLength') lines.push('Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 3'), (body = '{}');
      if (quirk === 'chunkedBad') lines.push('Content-Type: application/json', 'Transfer-Encoding: chunked'), (body = 'zz\r\n{}\r\n0\r\n\r\n');
      const text = await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        s.setTimeout(10_000, () => {
          s.destroy();
          resolve(Buffer.concat(chunks).toString('latin1'));
        });
        s.on('data', (c) => chunks.push(c));
        s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e)));
        s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
        // written, not ended: Node's HTTP server aborts a request whose client half-closes
        // before the (asynchronous) answer, as it may; Connection: close ends the exchange.
        // A body shorter than its Content-Length is ended, or the server waits for the rest.
        const raw = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
        if (quirk === 'badLength') s.end(raw);
        else s.write(raw);
      });
      sent++;
      const req: FuzzRequest = { method: method as Method, url: path, headers: { quirk } };
      const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
      if (!m) throw new Error(`no HTTP answer: ${show(req)} → ${JSON.stringify(text.slice(0, 200))}`);
      const status = Number(m[1]);
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      let payload = text.slice(split + 4);
      const length = head.match(/content-length: (\d+)/i);
      if (length) payload = Buffer.from(payload, 'latin1').subarray(0, Number(length[1])).toString('utf8');
      else if (/transfer-encoding: chunked/i.test(head)) payload = payload.replace(/(^|\r\n)[0-9a-f]+\r\n/gi, '');
      const problem = problemOf(req, status, { 'retry-after': /retry-after/i.test(head) ? '1' : undefined }, payload);
      if (problem) throw new Error(`${problem}: ${show(req)} → ${text.slice(0, 600)}`);
      if (status >= 400 && (await fingerprint()) !== before) throw new Error(`rejected with ${status} but the store changed: ${show(req)}`);
    }),
    RAW_RUNS,
    SEED + 2,
  );
  t.comment(`raw HTTP: ${sent - rawBefore} requests`);

  // Every route×method was hit (when the run is big enough to make that certain).
  if (RUNS >= 5000) t.same(routes.filter((r) => !hits.has(r)), [], 'every route×method of the app got fuzzed requests');
  t.ok(sent >= Math.min(RUNS, 10_000), `${sent} requests in all (seed ${SEED}; replay: ${REPLAY})`);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200, 'the server is still well');
  console.log(`# api-fuzz: ${sent} requests, seed ${SEED} (replay: ${REPLAY})`);
});
