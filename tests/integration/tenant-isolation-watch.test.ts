// Tenant isolation (issue 9, third bullet), the streams: while watches of every principal are
// open — all-namespaces JSON, SSE and Table watches, field-selected ones, in-namespace ones
// and the dashboard's own calls (list, then an SSE watch from the list's resourceVersion with
// Last-Event-ID) — objects of every kind are created, changed, given a status and deleted in
// both namespaces; then a sentinel per kind and namespace. Every stream gets the sentinels of
// its namespaces (so it was live) and never an event of a namespace its token does not hold;
// watches resumed from before the changes (resourceVersion, Last-Event-ID) replay only theirs.
// The dashboard's page and assets carry no data. A token revoked while its watches are open
// (here or in another process) ends them within seconds, with a 401 ERROR event.
import t from 'tap';
import { readFrames, startApi, type TestApi } from '../helpers/api.js';

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
  { name: 'star', role: 'viewer', namespaces: ['*'] },
];
const sees = (p: Principal, ns: string) => p.role === 'admin' || p.namespaces.includes('*') || p.namespaces.includes(ns);

const BODIES: Record<string, (name: string, ns: string) => Record<string, unknown>> = {
  projectservers: (name) => ({ kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static' } }),
  deployments: (name) => ({ kind: 'Deployment', metadata: { name }, spec: { projectServer: 'seed', source: { inline: { files: { 'index.html': name } } } } }),
  routes: (name, ns) => ({ kind: 'Route', metadata: { name }, spec: { host: `${name}.${ns}.test`, projectServer: 'seed' } }),
  events: (name, ns) => ({ kind: 'Event', metadata: { name }, involvedObject: { kind: 'ProjectServer', namespace: ns, name: 'seed' }, reason: 'Test', message: name }),
};
const PLURALS = Object.keys(BODIES);
const body = (plural: string, name: string, ns: string) => ({ apiVersion: 'deployer.dev/v1', ...BODIES[plural](name, ns) });

/** An open stream (newline-delimited JSON or SSE); `events` fills as frames arrive. */
interface Stream {
  label: string;
  principal: Principal;
  plural: string;
  /** Namespaces whose sentinels this stream must see. */
  expect: string[];
  status: number;
  events: any[];
  /** True once the server ended the stream. */
  readonly ended: boolean;
  close(): Promise<void>;
}

async function open(api: TestApi, o: { label: string; principal: Principal; plural: string; path: string; token: string; headers?: Record<string, string>; expect: string[] }): Promise<Stream> {
  const ac = new AbortController();
  const accept = o.headers?.accept ?? 'application/json';
  const res = await fetch(api.url + o.path, { headers: { authorization: `Bearer ${o.token}`, accept, ...o.headers }, signal: ac.signal });
  const events: any[] = [];
  const sse = accept === 'text/event-stream';
  const { done, ended } = readFrames(res, sse ? '\n\n' : '\n', (frame) => {
    if (!frame.trim()) return;
    const data = sse ? frame.split('\n').find((l) => l.startsWith('data: '))?.slice(6) : frame;
    if (data) events.push(JSON.parse(data));
  });
  return {
    ...o,
    status: res.status,
    events,
    get ended() {
      return ended();
    },
    close: async () => {
      ac.abort();
      await done;
    },
  };
}

/** The namespace and name an event is about (a Table event's row carries the object's metadata). */
function about(ev: any): { ns?: string; name?: string } {
  const obj = ev.object?.kind === 'Table' ? ev.object.rows?.[0]?.object : ev.object;
  return { ns: obj?.metadata?.namespace, name: obj?.metadata?.name };
}

async function until(fn: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('watches of one namespace never carry the other’s events', async (t) => {
  const a = await startApi(t, { bookmarkMs: 300 });
  const tk: Record<string, string> = {};
  for (const p of PRINCIPALS) tk[p.name] = await a.token(p.name, p.role, p.namespaces);
  const req = async (method: string, path: string, payload?: unknown, contentType?: string) => {
    const res = await a.request(method, path, { body: payload, contentType });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  for (const ns of NAMESPACES) for (const p of PLURALS) await req('POST', `${G}/namespaces/${ns}/${p}`, body(p, 'seed', ns));
  const rv0 = (await req('GET', `${G}/projectservers`)).metadata.resourceVersion;

  const streams: Stream[] = [];
  for (const p of PRINCIPALS) {
    const mine = NAMESPACES.filter((ns) => sees(p, ns));
    const others = NAMESPACES.filter((ns) => !sees(p, ns));
    for (const plural of PLURALS) {
      const base = { principal: p, plural, token: tk[p.name] };
      const all = `${G}/${plural}?watch=true`;
      streams.push(await open(a, { ...base, label: 'all-namespaces JSON', path: all, expect: mine }));
      streams.push(await open(a, { ...base, label: 'all-namespaces SSE', path: all, headers: { accept: 'text/event-stream' }, expect: mine }));
      streams.push(await open(a, { ...base, label: 'all-namespaces Table', path: all, headers: { accept: TABLE }, expect: mine }));
      for (const other of others)
        streams.push(await open(a, { ...base, label: `all-namespaces, fieldSelector on ${other}`, path: `${all}&fieldSelector=metadata.namespace%3D${other}`, expect: [] }));
      for (const ns of mine.length === 1 ? mine : [])
        streams.push(await open(a, { ...base, label: `in ${ns}`, path: `${G}/namespaces/${ns}/${plural}?watch=true&allowWatchBookmarks=true`, expect: [ns] }));
      // the dashboard: list across namespaces, then an SSE watch from the list's resourceVersion
      const list = await a.request('GET', `${G}/${plural}`, { token: tk[p.name] });
      t.same([...new Set(list.body.items.map((i: any) => i.metadata.namespace))].sort(), mine, `${p.name}: the dashboard's list of ${plural}`);
      const rv = list.body.metadata.resourceVersion;
      streams.push(
        await open(a, { ...base, label: 'the dashboard’s SSE watch', path: `${all}&resourceVersion=${rv}`, headers: { accept: 'text/event-stream', 'last-event-id': rv }, expect: mine }),
      );
    }
  }
  t.ok(streams.every((s) => s.status === 200), `${streams.length} watches open`);

  // changes in both namespaces: create, modify, status, delete — then a sentinel per kind and namespace
  for (const ns of NAMESPACES)
    for (const p of PLURALS) {
      const path = `${G}/namespaces/${ns}/${p}`;
      await req('POST', path, body(p, 'live', ns));
      await req('PATCH', `${path}/live`, { metadata: { labels: { changed: 'yes' } } }, 'application/merge-patch+json');
      if (p !== 'events') await req('PATCH', `${path}/live/status`, { status: { observedGeneration: 1 } }, 'application/merge-patch+json');
      await req('DELETE', `${path}/live`);
    }
  for (const ns of NAMESPACES) for (const p of PLURALS) await req('POST', `${G}/namespaces/${ns}/${p}`, body(p, 'sentinel', ns));

  // and watches resumed from before the changes replay the backlog in scope
  for (const p of PRINCIPALS)
    for (const plural of PLURALS) {
      const base = { principal: p, plural, token: tk[p.name], expect: NAMESPACES.filter((ns) => sees(p, ns)) };
      streams.push(await open(a, { ...base, label: 'resumed (resourceVersion)', path: `${G}/${plural}?watch=true&resourceVersion=${rv0}` }));
      streams.push(await open(a, { ...base, label: 'resumed SSE (Last-Event-ID)', path: `${G}/${plural}?watch=true`, headers: { accept: 'text/event-stream', 'last-event-id': rv0 } }));
    }

  const sentinels = (s: Stream) => new Set(s.events.map(about).filter((x) => x.name === 'sentinel').map((x) => x.ns));
  await until(() => streams.every((s) => s.expect.every((ns) => sentinels(s).has(ns))), 'every stream to see the sentinels of its namespaces');
  await new Promise((r) => setTimeout(r, 500)); // streams that expect none had the same time
  let events = 0;
  for (const s of streams) {
    const what = `${s.principal.name}: ${s.plural}, ${s.label}`;
    const foreign = s.events.filter((ev) => ev.type !== 'BOOKMARK' && !s.expect.includes(about(ev).ns!));
    t.same(foreign, [], `${what}: nothing of another namespace`);
    if (s.expect.length) {
      t.ok(s.events.some((ev) => about(ev).name === 'live' && ev.type === 'DELETED'), `${what}: it did see its own changes`);
      if (s.label.startsWith('in ')) t.ok(s.events.some((ev) => ev.type === 'BOOKMARK'), `${what}: bookmarks too`);
    }
    events += s.events.length;
    await s.close();
  }
  t.ok(events > 0, `${events} events over ${streams.length} streams`);
});

t.test('a revoked token’s watches end within seconds (a 401 ERROR event), in this process and in another', async (t) => {
  const a = await startApi(t);
  const other = await startApi(t, { connectionString: a.connectionString }); // a second deployer process on the database
  const viewer: Principal = { name: 'gone', role: 'viewer', namespaces: [A] };
  const tokens = { gone: await a.token('gone', 'viewer', [A]), goneElsewhere: await a.token('gone-elsewhere', 'viewer', [A]), kept: await a.token('kept', 'viewer', [A]) };
  await a.request('POST', `${G}/namespaces/${A}/projectservers`, { body: body('projectservers', 'seed', A) });
  const watch = (api: TestApi, token: string, label: string, headers?: Record<string, string>) =>
    open(api, { label, principal: viewer, plural: 'projectservers', path: `${G}/namespaces/${A}/projectservers?watch=true`, token, headers, expect: [A] });
  const kinds = [undefined, { accept: 'text/event-stream' }, { accept: TABLE }];
  const gone = [...(await Promise.all(kinds.map((h) => watch(a, tokens.gone, `revoked here, ${h?.accept ?? 'JSON'}`, h)))), await watch(other, tokens.gone, 'revoked in the other process')];
  const goneElsewhere = await Promise.all(kinds.map((h) => watch(a, tokens.goneElsewhere, `revoked by the other process, ${h?.accept ?? 'JSON'}`, h)));
  const kept = await watch(a, tokens.kept, 'a token not revoked');
  const all = [...gone, ...goneElsewhere, kept];
  t.ok(all.every((s) => s.status === 200), `${all.length} watches open`);
  await until(() => all.every((s) => s.events.some((ev) => about(ev).name === 'seed')), 'every watch to be live');

  const started = Date.now();
  t.equal((await a.request('DELETE', '/api/tokens/gone')).status, 200);
  t.equal((await other.request('DELETE', '/api/tokens/gone-elsewhere')).status, 200);
  await until(() => [...gone, ...goneElsewhere].every((s) => s.ended), 'the revoked tokens’ watches to end', 10_000);
  const took = Date.now() - started;
  t.ok(took < 5000, `ended ${took} ms after the revokes`);
  for (const s of [...gone, ...goneElsewhere]) {
    const last = s.events.at(-1);
    t.match(last, { type: 'ERROR', object: { kind: 'Status', code: 401, reason: 'Unauthorized', message: /revoked/ } }, `${s.label}: a 401 ERROR event last`);
  }
  // the other token's watch lives on and still gets events
  await a.request('POST', `${G}/namespaces/${A}/projectservers`, { body: body('projectservers', 'after', A) });
  await until(() => kept.events.some((ev) => about(ev).name === 'after'), 'the kept watch to see a new object');
  t.notOk(kept.ended, 'the watch of a token not revoked goes on');
  t.notOk(gone.some((s) => s.events.some((ev) => about(ev).name === 'after')), 'nothing reached a revoked watch after it ended');
  t.equal((await a.request('GET', `${G}/namespaces/${A}/projectservers?watch=true`, { token: tokens.gone })).status, 401, 'and it cannot open a new one');
  for (const s of all) await s.close();
});

t.test('the dashboard page and its assets carry no data and no token', async (t) => {
  const a = await startApi(t);
  await a.request('POST', `${G}/namespaces/${B}/projectservers`, { body: body('projectservers', 'secret-site', B) });
  for (const path of ['/', '/ui/dashboard.js', '/ui/watch.js', '/ui/table.js', '/ui/dashboard.css']) {
    const res = await a.request('GET', path, { token: null });
    t.equal(res.status, 200, `${path} is served without a token`);
    t.notOk(String(res.body).includes(B) || String(res.body).includes('secret-site'), `${path} holds no object`);
  }
});
