// Tenant isolation (issue 9, third bullet), request by request: a matrix built from data —
// principals (viewer and editor of namespace a, the same of b, an admin and an editor of "*")
// × both namespaces × every kind × every verb — then the all-namespaces lists, the core
// /api/v1 events, logs, /api/monitoring/*, /metrics and /api/tokens. A request into a
// namespace the token does not hold is a 403 Status naming the token, its role and the
// namespaces; an all-namespaces list is silently cut to the token's namespaces; a refused
// write stores nothing. Watches, the SSE stream and the dashboard's calls:
// tenant-isolation-watch.test.ts; references to another namespace's ProjectServer:
// tenant-isolation-refs.test.ts.
import t, { type Test } from 'tap';
import type { LogSource } from '../../api/routes/logs.js';
import { parseMetrics } from '../../metrics/index.js';
import { startApi, type TestApi } from '../helpers/api.js';

const G = '/apis/deployer.dev/v1';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const A = 'tenant-a';
const B = 'tenant-b';
const NAMESPACES = [A, B] as const;

interface Principal {
  name: string;
  role: 'admin' | 'editor' | 'viewer';
  namespaces: string[];
}
const PRINCIPALS: Principal[] = [
  { name: 'viewer-a', role: 'viewer', namespaces: [A] },
  { name: 'editor-a', role: 'editor', namespaces: [A] },
  { name: 'viewer-b', role: 'viewer', namespaces: [B] },
  { name: 'editor-b', role: 'editor', namespaces: [B] },
  { name: 'root', role: 'admin', namespaces: ['*'] },
  { name: 'star', role: 'editor', namespaces: ['*'] },
];
const sees = (p: Principal, ns: string) => p.role === 'admin' || p.namespaces.includes('*') || p.namespaces.includes(ns);
const mayWrite = (p: Principal, ns: string) => sees(p, ns) && p.role !== 'viewer';

/** A valid body of each kind; Deployments and Routes name the namespace's own server "seed". */
const BODIES: Record<string, { kind: string; status: boolean; body: (name: string, ns: string) => Record<string, unknown> }> = {
  projectservers: { kind: 'ProjectServer', status: true, body: (name) => ({ spec: { serviceType: 'static' }, metadata: { name } }) },
  deployments: { kind: 'Deployment', status: true, body: (name) => ({ metadata: { name }, spec: { projectServer: 'seed', source: { inline: { files: { 'index.html': name } } } } }) },
  routes: { kind: 'Route', status: true, body: (name, ns) => ({ metadata: { name }, spec: { host: `${name}.${ns}.test`, projectServer: 'seed' } }) },
  events: {
    kind: 'Event',
    status: false,
    body: (name, ns) => ({ metadata: { name }, involvedObject: { kind: 'ProjectServer', namespace: ns, name: 'seed' }, reason: 'Seeded', message: `seed of ${ns}`, type: 'Normal' }),
  },
};
const PLURALS = Object.keys(BODIES);
const full = (plural: string, name: string, ns: string) => ({ apiVersion: 'deployer.dev/v1', kind: BODIES[plural].kind, ...BODIES[plural].body(name, ns) });

interface Res {
  status: number;
  body: any;
}

/** One request; a watch that opens (200) is closed at once — its headers are the answer. */
async function call(api: TestApi, method: string, path: string, token: string, o: { body?: unknown; raw?: string; contentType?: string; accept?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: o.accept ?? 'application/json' };
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  const ac = new AbortController();
  const res = await fetch(api.url + path, { method, headers, body, signal: ac.signal });
  if (path.includes('watch=true') && res.status === 200) {
    ac.abort();
    await res.body?.cancel().catch(() => undefined);
    return { status: 200, body: undefined };
  }
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: res.status, body: text };
  }
}

/**
 * The verbs. `target` is "seed" for a request that must be refused (it must leave the seed
 * as it was) and a fresh object made for the case when the request is allowed.
 */
interface Verb {
  name: string;
  write: boolean;
  /** Needs the object to exist first when allowed (item verbs other than creates). */
  existing: boolean;
  /** Only for kinds with a status subresource. */
  status?: boolean;
  send(api: TestApi, token: string, ns: string, plural: string, target: string): Promise<Res>;
}
const item = (ns: string, plural: string, name: string) => `${G}/namespaces/${ns}/${plural}/${name}`;
const coll = (ns: string, plural: string) => `${G}/namespaces/${ns}/${plural}`;
const VERBS: Verb[] = [
  { name: 'get', write: false, existing: true, send: (a, tk, ns, p, n) => call(a, 'GET', item(ns, p, n), tk) },
  { name: 'get as Table', write: false, existing: true, send: (a, tk, ns, p, n) => call(a, 'GET', item(ns, p, n), tk, { accept: TABLE }) },
  { name: 'get status', write: false, existing: true, status: true, send: (a, tk, ns, p, n) => call(a, 'GET', `${item(ns, p, n)}/status`, tk) },
  { name: 'list', write: false, existing: false, send: (a, tk, ns, p) => call(a, 'GET', coll(ns, p), tk) },
  { name: 'list as Table', write: false, existing: false, send: (a, tk, ns, p) => call(a, 'GET', coll(ns, p), tk, { accept: TABLE }) },
  { name: 'list by field selector', write: false, existing: false, send: (a, tk, ns, p, n) => call(a, 'GET', `${coll(ns, p)}?fieldSelector=metadata.name%3D${n}`, tk) },
  { name: 'watch', write: false, existing: false, send: (a, tk, ns, p) => call(a, 'GET', `${coll(ns, p)}?watch=true`, tk) },
  { name: 'watch (SSE)', write: false, existing: false, send: (a, tk, ns, p) => call(a, 'GET', `${coll(ns, p)}?watch=true`, tk, { accept: 'text/event-stream' }) },
  { name: 'watch as Table', write: false, existing: false, send: (a, tk, ns, p) => call(a, 'GET', `${coll(ns, p)}?watch=true`, tk, { accept: TABLE }) },
  { name: 'create', write: true, existing: false, send: (a, tk, ns, p, n) => call(a, 'POST', coll(ns, p), tk, { body: full(p, n, ns) }) },
  { name: 'create (dryRun)', write: true, existing: false, send: (a, tk, ns, p, n) => call(a, 'POST', `${coll(ns, p)}?dryRun=All`, tk, { body: full(p, n, ns) }) },
  { name: 'create by PUT', write: true, existing: false, send: (a, tk, ns, p, n) => call(a, 'PUT', item(ns, p, n), tk, { body: full(p, n, ns) }) },
  { name: 'create by apply', write: true, existing: false, send: (a, tk, ns, p, n) => call(a, 'PATCH', item(ns, p, n), tk, { raw: JSON.stringify(full(p, n, ns)), contentType: 'application/apply-patch+yaml' }) },
  {
    name: 'replace',
    write: true,
    existing: true,
    send: async (a, tk, ns, p, n) => {
      const cur = await call(a, 'GET', item(ns, p, n), a.adminToken);
      return call(a, 'PUT', item(ns, p, n), tk, { body: { ...cur.body, metadata: { ...cur.body.metadata, labels: { by: 'replace' } } } });
    },
  },
  { name: 'patch (merge)', write: true, existing: true, send: (a, tk, ns, p, n) => call(a, 'PATCH', item(ns, p, n), tk, { body: { metadata: { labels: { by: 'merge' } } }, contentType: 'application/merge-patch+json' }) },
  {
    name: 'patch (json)',
    write: true,
    existing: true,
    send: (a, tk, ns, p, n) => call(a, 'PATCH', item(ns, p, n), tk, { body: [{ op: 'add', path: '/metadata/labels', value: { by: 'json' } }], contentType: 'application/json-patch+json' }),
  },
  {
    name: 'patch (apply)',
    write: true,
    existing: true,
    send: (a, tk, ns, p, n) => {
      const obj = full(p, n, ns);
      return call(a, 'PATCH', item(ns, p, n), tk, { raw: JSON.stringify({ ...obj, metadata: { name: n, labels: { by: 'apply' } } }), contentType: 'application/apply-patch+yaml' });
    },
  },
  {
    name: 'replace status',
    write: true,
    existing: true,
    status: true,
    send: async (a, tk, ns, p, n) => {
      const cur = await call(a, 'GET', item(ns, p, n), a.adminToken);
      return call(a, 'PUT', `${item(ns, p, n)}/status`, tk, { body: { ...cur.body, status: { observedGeneration: 41 } } });
    },
  },
  { name: 'patch status (merge)', write: true, existing: true, status: true, send: (a, tk, ns, p, n) => call(a, 'PATCH', `${item(ns, p, n)}/status`, tk, { body: { status: { observedGeneration: 42 } }, contentType: 'application/merge-patch+json' }) },
  {
    name: 'patch status (json)',
    write: true,
    existing: true,
    status: true,
    send: (a, tk, ns, p, n) => call(a, 'PATCH', `${item(ns, p, n)}/status`, tk, { body: [{ op: 'add', path: '/status', value: { observedGeneration: 43 } }], contentType: 'application/json-patch+json' }),
  },
  { name: 'delete (dryRun)', write: true, existing: true, send: (a, tk, ns, p, n) => call(a, 'DELETE', `${item(ns, p, n)}?dryRun=All`, tk) },
  { name: 'delete', write: true, existing: true, send: (a, tk, ns, p, n) => call(a, 'DELETE', item(ns, p, n), tk) },
];

async function seed(a: TestApi): Promise<Record<string, string>> {
  for (const ns of NAMESPACES)
    for (const p of PLURALS) {
      const res = await call(a, 'POST', coll(ns, p), a.adminToken, { body: full(p, 'seed', ns) });
      if (res.status !== 201) throw new Error(`seeding ${ns}/${p}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  // every seed server has a status, so health figures and metrics have something to leak
  for (const ns of NAMESPACES) {
    const cur = await call(a, 'GET', item(ns, 'projectservers', 'seed'), a.adminToken);
    const st = ns === B ? { phase: 'Running', health: 'unhealthy', restartCount: 7 } : { phase: 'Running', health: 'healthy', restartCount: 1 };
    const res = await call(a, 'PUT', `${item(ns, 'projectservers', 'seed')}/status`, a.adminToken, { body: { ...cur.body, status: st } });
    if (res.status !== 200) throw new Error(`status of ${ns}/seed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return snapshot(a);
}

/** Every object of every namespace, name → resourceVersion. */
async function snapshot(a: TestApi): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of PLURALS)
    for (const o of (await call(a, 'GET', `${G}/${p}`, a.adminToken)).body.items) out[`${p}/${o.metadata.namespace}/${o.metadata.name}`] = o.metadata.resourceVersion;
  return out;
}

async function tokens(a: TestApi): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of PRINCIPALS) out[p.name] = await a.token(p.name, p.role, p.namespaces);
  return out;
}

/** The 403 Status of a refused request names the token, its role and the namespaces. */
function forbiddenAsExpected(t: Test, res: Res, p: Principal, ns: string, what: string): void {
  if (res.status !== 403 || res.body?.kind !== 'Status' || res.body.reason !== 'Forbidden') {
    t.fail(`${what}: expected a 403 Forbidden Status, got ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return;
  }
  const msg = String(res.body.message);
  const why = sees(p, ns) ? /the "viewer" role may only read/ : new RegExp(`its namespaces are ${p.namespaces.map((n) => `"${n}"`).join(', ')}`);
  if (!msg.includes(`token "${p.name}" (${p.role})`) || !msg.includes(`namespace "${ns}"`) || !why.test(msg)) t.fail(`${what}: the message does not name token, role and namespaces: ${msg}`);
}

t.test('the matrix: principals × namespaces × kinds × verbs', async (t) => {
  const a = await startApi(t);
  const before = await seed(a);
  const tk = await tokens(a);
  let requests = 0;
  let refused = 0;
  let n = 0;
  // one lane per principal and namespace, side by side: every case has objects of its own
  const lane = async (p: Principal, ns: string) => {
    for (const plural of PLURALS)
      for (const verb of VERBS) {
        if (verb.status && !BODIES[plural].status) continue;
        const allowed = verb.write ? mayWrite(p, ns) : sees(p, ns);
        const what = `${p.name} ${verb.name} ${plural} in ${ns}`;
        // a refused request aims at the seed (or a name that must not appear); an allowed one at its own object
        let target = verb.existing ? 'seed' : `deny-${n++}`;
        if (allowed) {
          target = `ok-${n++}`;
          if (verb.existing) {
            const made = await call(a, 'POST', coll(ns, plural), a.adminToken, { body: full(plural, target, ns) });
            if (made.status !== 201) t.fail(`preparing ${what}: ${made.status}`);
          }
        }
        const res = await verb.send(a, tk[p.name], ns, plural, target);
        requests++;
        if (allowed) {
          if (res.status < 200 || res.status > 202) t.fail(`${what}: expected 2xx, got ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
        } else {
          refused++;
          forbiddenAsExpected(t, res, p, ns, what);
        }
      }
  };
  await Promise.all(PRINCIPALS.flatMap((p) => NAMESPACES.map((ns) => lane(p, ns))));
  t.ok(requests > 500, `${requests} requests, ${refused} refused`);
  // Nothing a refused request sent was stored: the seeds are as they were and no deny-* object exists.
  const after = await snapshot(a);
  for (const [key, rv] of Object.entries(before)) t.equal(after[key], rv, `${key} unchanged`);
  t.same(Object.keys(after).filter((k) => k.includes('/deny-')), [], 'no object a refused create would have made');
});

t.test('all-namespaces lists are cut to the token’s namespaces (JSON, Table, paged, selectors, core events)', async (t) => {
  const a = await startApi(t);
  await seed(a);
  const tk = await tokens(a);
  const nsOf = (o: any) => o?.metadata?.namespace ?? o?.object?.metadata?.namespace;
  for (const p of PRINCIPALS) {
    const want = NAMESPACES.filter((ns) => sees(p, ns));
    for (const plural of PLURALS) {
      const base = `${G}/${plural}`;
      const json = await call(a, 'GET', base, tk[p.name]);
      t.equal(json.status, 200);
      t.same([...new Set(json.body.items.map(nsOf))].sort(), want, `${p.name} lists ${plural} of ${want.join(', ')} only`);
      const table = await call(a, 'GET', `${base}?includeObject=Object`, tk[p.name], { accept: TABLE });
      t.same([...new Set(table.body.rows.map(nsOf))].sort(), want, `${p.name}: the Table of ${plural} too`);
      for (const other of NAMESPACES.filter((ns) => !sees(p, ns))) {
        const sel = await call(a, 'GET', `${base}?fieldSelector=metadata.namespace%3D${other}`, tk[p.name]);
        t.same(sel.body.items, [], `${p.name}: a field selector on ${other} finds nothing`);
      }
      // paged: every page stays in scope, and a continue token of the admin's list does not widen it
      const seen: string[] = [];
      let cont = '';
      do {
        const page = await call(a, 'GET', `${base}?limit=1${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, tk[p.name]);
        seen.push(...page.body.items.map(nsOf));
        cont = page.body.metadata.continue ?? '';
      } while (cont);
      t.same([...new Set(seen)].sort(), want, `${p.name}: paged ${plural} in scope`);
      const adminPage = await call(a, 'GET', `${base}?limit=1`, a.adminToken);
      const borrowed = await call(a, 'GET', `${base}?limit=10&continue=${encodeURIComponent(adminPage.body.metadata.continue)}`, tk[p.name]);
      if (borrowed.status === 200) t.ok(borrowed.body.items.every((o: any) => want.includes(nsOf(o))), `${p.name}: an admin's continue token gives nothing out of scope`);
      else t.equal(borrowed.body.kind, 'Status');
    }
    // core v1 Events, where kubectl describe reads them
    const core = await call(a, 'GET', '/api/v1/events', tk[p.name]);
    t.same([...new Set(core.body.items.map(nsOf))].sort(), want, `${p.name}: /api/v1/events in scope`);
    for (const other of NAMESPACES.filter((ns) => !sees(p, ns))) {
      const sel = await call(a, 'GET', `/api/v1/events?fieldSelector=involvedObject.namespace%3D${other}`, tk[p.name]);
      t.same(sel.body.items, [], `${p.name}: no Event about ${other}`);
      forbiddenAsExpected(t, await call(a, 'GET', `/api/v1/namespaces/${other}/events`, tk[p.name]), p, other, `${p.name} core events list in ${other}`);
      forbiddenAsExpected(t, await call(a, 'GET', `/api/v1/namespaces/${other}/events/seed`, tk[p.name]), p, other, `${p.name} core event get in ${other}`);
      forbiddenAsExpected(t, await call(a, 'GET', `/api/v1/namespaces/${other}/events?watch=true`, tk[p.name]), p, other, `${p.name} core events watch in ${other}`);
    }
  }
});

t.test('an Event of one namespace cannot claim to be about another namespace’s object', async (t) => {
  const a = await startApi(t);
  await seed(a);
  const tk = await tokens(a);
  const claim = (name: string) => ({ ...full('events', name, A), involvedObject: { kind: 'ProjectServer', namespace: B, name: 'seed' } });
  const refused = (res: Res, what: string) =>
    t.match(res, { status: 422, body: { kind: 'Status', reason: 'Invalid', message: /involvedObject\.namespace/, details: { causes: [{ field: 'involvedObject.namespace' }] } } }, what);
  for (const who of ['editor-a', 'star', 'root']) {
    refused(await call(a, 'POST', coll(A, 'events'), tk[who], { body: claim(`claim-${who}`) }), `${who}: create`);
    refused(await call(a, 'PUT', item(A, 'events', `claim-${who}`), tk[who], { body: claim(`claim-${who}`) }), `${who}: create by PUT`);
    refused(await call(a, 'PATCH', item(A, 'events', `claim-${who}`), tk[who], { raw: JSON.stringify(claim(`claim-${who}`)), contentType: 'application/apply-patch+yaml' }), `${who}: apply`);
    refused(await call(a, 'PATCH', item(A, 'events', 'seed'), tk[who], { body: { involvedObject: { namespace: B } }, contentType: 'application/merge-patch+json' }), `${who}: merge patch of a's Event`);
    refused(await call(a, 'PATCH', item(A, 'events', 'seed'), tk[who], { body: [{ op: 'replace', path: '/involvedObject/namespace', value: B }], contentType: 'application/json-patch+json' }), `${who}: json patch`);
  }
  const core = await call(a, 'GET', `/api/v1/events?fieldSelector=involvedObject.namespace%3D${B}`, a.adminToken);
  t.same([...new Set(core.body.items.map((e: any) => e.metadata.namespace))], [B], `every Event about ${B}'s objects is in ${B}`);
  // a cluster-scoped object has no namespace: an Event about one may be written anywhere
  const node = await call(a, 'POST', coll(A, 'events'), tk['editor-a'], { body: { ...full('events', 'node', A), involvedObject: { apiVersion: 'v1', kind: 'Node', name: 'host-1' } } });
  t.equal(node.status, 201);
});

t.test('logs: only of servers in the token’s namespaces; the log source is not even asked', async (t) => {
  const asked: string[] = [];
  const logs: LogSource = {
    tail: async ({ namespace: ns, name }) => {
      asked.push(`${ns}/${name}`);
      return `a line of ${ns}/${name}\n`;
    },
    follow: async ({ namespace: ns, name }, o, onLine) => {
      asked.push(`${ns}/${name}`);
      o.opened();
      onLine(`a line of ${ns}/${name}`);
      await new Promise((r) => o.signal.addEventListener('abort', r));
      return true;
    },
  };
  const a = await startApi(t, { logs });
  await seed(a);
  const tk = await tokens(a);
  for (const p of PRINCIPALS)
    for (const ns of NAMESPACES) {
      const path = `${item(ns, 'projectservers', 'seed')}/log`;
      asked.length = 0;
      if (sees(p, ns)) {
        const res = await call(a, 'GET', path, tk[p.name]);
        t.equal(res.body, `a line of ${ns}/seed\n`, `${p.name} reads the log of ${ns}/seed`);
        continue;
      }
      forbiddenAsExpected(t, await call(a, 'GET', path, tk[p.name]), p, ns, `${p.name} log in ${ns}`);
      forbiddenAsExpected(t, await call(a, 'GET', `${path}?follow=true&tailLines=5`, tk[p.name]), p, ns, `${p.name} log -f in ${ns}`);
      forbiddenAsExpected(t, await call(a, 'GET', `${item(ns, 'projectservers', 'no-such')}/log`, tk[p.name]), p, ns, `${p.name} log of a missing server in ${ns}`);
      t.same(asked, [], `${p.name}: the log source was not asked for ${ns}`);
    }
});

t.test('/api/monitoring, /metrics and /api/tokens show nothing of the other namespace', async (t) => {
  const a = await startApi(t);
  await seed(a);
  const tk = await tokens(a);
  // requests into b (refused and allowed) first, so the HTTP counters have seen b's paths
  await call(a, 'GET', item(B, 'projectservers', 'seed'), tk['viewer-a']);
  await call(a, 'GET', item(B, 'projectservers', 'seed'), tk['viewer-b']);
  await call(a, 'GET', `/nowhere/${B}/seed`, tk['viewer-b']);
  for (const p of PRINCIPALS) {
    const want = NAMESPACES.filter((ns) => sees(p, ns));
    const health = await call(a, 'GET', '/api/monitoring/health', tk[p.name]);
    t.equal(health.status, 200);
    t.match(
      health.body.containers,
      { total: want.length, healthy: want.includes(A) ? 1 : 0, unhealthy: want.includes(B) ? 1 : 0, restarts: (want.includes(A) ? 1 : 0) + (want.includes(B) ? 7 : 0) },
      `${p.name}: health figures of ${want.join(', ')} only`,
    );
    const leaders = await call(a, 'GET', '/api/monitoring/leaders', tk[p.name]);
    t.equal(leaders.status, 200);
    for (const other of NAMESPACES.filter((ns) => !sees(p, ns))) {
      t.notMatch(JSON.stringify(health.body) + JSON.stringify(leaders.body), other, `${p.name}: monitoring never names ${other}`);
      const m = await call(a, 'GET', '/metrics', tk[p.name], { accept: 'text/plain' });
      t.equal(m.status, 200);
      const scrape = parseMetrics(m.body);
      const labelled = scrape.samples.filter((s) => Object.values(s.labels).some((v) => v.includes(other)));
      t.same(labelled, [], `${p.name}: no series labelled with ${other}`);
      t.notOk(String(m.body).includes(other), `${p.name}: /metrics never mentions ${other}`);
      t.ok(scrape.samples.some((s) => s.name === 'deployer_projectserver_health' && s.labels.namespace === want[0]), `${p.name}: but its own servers are there`);
    }
    // a resync acts on every namespace: only a token of every namespace may ask for one
    const resync = await call(a, 'POST', '/api/monitoring/reconcile', tk[p.name]);
    if (mayWrite(p, A) && mayWrite(p, B)) t.equal(resync.status, 202, `${p.name} may resync`);
    else {
      t.equal(resync.status, 403, `${p.name} may not resync`);
      t.match(resync.body, { kind: 'Status', reason: 'Forbidden', message: new RegExp(`token "${p.name}" \\(${p.role}\\)`) });
    }
    // tokens: only admins list, mint or revoke
    if (p.role === 'admin') continue;
    for (const [method, path, body] of [
      ['GET', '/api/tokens', undefined],
      ['POST', '/api/tokens', { name: `minted-by-${p.name}`, role: 'admin', namespaces: ['*'] }],
      ['DELETE', `/api/tokens/${p.name.endsWith('-a') ? 'editor-b' : 'editor-a'}`, undefined],
    ] as const) {
      const res = await call(a, method, path, tk[p.name], { body });
      t.match(res, { status: 403, body: { kind: 'Status', reason: 'Forbidden', message: new RegExp(`token "${p.name}" \\(${p.role}\\) may not .*only admin tokens may`) } }, `${p.name}: ${method} ${path}`);
    }
  }
  const list = await call(a, 'GET', '/api/tokens', a.adminToken);
  t.same(list.body.items.filter((x: any) => x.name.startsWith('minted-by-')), [], 'no token was minted');
  for (const p of PRINCIPALS) t.equal((await call(a, 'GET', '/apis', tk[p.name])).status, 200, `${p.name}'s token still works`);
});
