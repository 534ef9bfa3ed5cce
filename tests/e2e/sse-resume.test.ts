// Acceptance 3 of issue 7: an EventSource (the `eventsource` package, which follows the WHATWG
// spec browsers implement) follows a watch over Server-Sent Events and, after deployer is
// killed and started again, resumes with Last-Event-ID and misses nothing. Changes made while
// the process is down (through a second store on the same database) and after it is back
// arrive exactly once, in order, with ids that only grow.
import { EventSource } from 'eventsource';
import t from 'tap';
import { kindByName } from '../../resources/index.js';
import { openStore } from '../../store/index.js';
import { until } from '../helpers/installation.js';
import { freshDatabase } from '../helpers/pg.js';
import { freePort, spawnServer, type ServerProcess } from '../helpers/process.js';

const SERVER = kindByName('ProjectServer')!;
const NS = 'sse';
const TOKEN = 'sse-resume-admin-token';
const P = `/apis/deployer.dev/v1/namespaces/${NS}/projectservers`;

interface Seen {
  type: string;
  id: string;
  name: string;
  rv: string;
}

t.test('an EventSource resumes with Last-Event-ID across a restart and misses nothing', async (t) => {
  const db = await freshDatabase(t);
  const port = String(await freePort());
  const env = { DATABASE_URL: db, DEPLOYER_ADMIN_TOKEN: TOKEN, PORT: port };
  let server: ServerProcess = await spawnServer(t, env);
  await server.waitReady();

  const put = async (name: string, body: Record<string, unknown>) => {
    const res = await fetch(`${server.url}${P}/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static', ...body } }),
    });
    t.ok(res.status === 200 || res.status === 201, `PUT ${name}: ${res.status}`);
  };

  const seen: Seen[] = [];
  let opens = 0;
  let lastEventIdSent: string | undefined;
  const es = new EventSource(`${server.url}${P}?watch=true&allowWatchBookmarks=false`, {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers as HeadersInit | undefined);
      headers.set('authorization', `Bearer ${TOKEN}`);
      if (headers.has('last-event-id')) lastEventIdSent = headers.get('last-event-id')!;
      return fetch(input, { ...init, headers });
    },
  });
  t.teardown(() => es.close());
  es.addEventListener('open', () => opens++);
  for (const type of ['ADDED', 'MODIFIED', 'DELETED', 'ERROR'])
    es.addEventListener(type, (e) => {
      const data = JSON.parse(e.data) as { object: { metadata: { name: string; resourceVersion: string } } };
      seen.push({ type, id: e.lastEventId, name: data.object.metadata?.name, rv: data.object.metadata?.resourceVersion });
    });
  await until(async () => opens === 1, 'the EventSource to open', 10_000);

  // Before the restart: two creates and an update.
  await put('a', {});
  await put('b', {});
  await put('a', { port: 8080 });
  await until(async () => seen.length >= 3, 'three events before the restart', 10_000);

  await server.kill('SIGKILL');

  // While deployer is down: changes through a second store on the same database.
  const store = await openStore({ connectionString: db });
  t.teardown(() => store.close());
  await store.resources.create(SERVER, NS, { metadata: { name: 'c' }, spec: { serviceType: 'static' } });
  await store.resources.delete(SERVER, NS, 'b');
  await store.resources.replace(SERVER, NS, 'a', { metadata: { name: 'a' }, spec: { serviceType: 'static', port: 9090 } });

  server = await spawnServer(t, env);
  await server.waitReady();
  await until(async () => opens === 2, 'the EventSource to reconnect', 20_000);
  // After the restart, through the new process.
  await put('d', {});
  await until(async () => seen.length >= 7, 'every event after the restart', 15_000);
  // A moment more: nothing may arrive twice.
  await new Promise((r) => setTimeout(r, 500));

  t.same(
    seen.map((s) => `${s.type} ${s.name}`),
    ['ADDED a', 'ADDED b', 'MODIFIED a', 'ADDED c', 'DELETED b', 'MODIFIED a', 'ADDED d'],
    'every change exactly once, in order',
  );
  for (const s of seen) t.equal(s.id, s.rv, `the event id of ${s.type} ${s.name} is its resourceVersion`);
  const ids = seen.map((s) => Number(s.id));
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'ids only grow');
  t.equal(lastEventIdSent, seen[2].id, 'the reconnect sent the id of the last event before the restart');
});
