// Acceptance: SIGKILL the server during a stream of writes. After a restart every write
// that was acknowledged is there, and a watcher that resumes from the last resourceVersion
// it saw misses nothing and repeats nothing.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openWatch } from '../helpers/api.js';
import { api, spawnServer } from '../helpers/process.js';

const P = '/apis/deployer.dev/v1/namespaces/crash/projectservers';
const body = (name: string, port: number) => ({ metadata: { name }, spec: { serviceType: 'static', port } });

t.test('SIGKILL mid-stream: acknowledged writes survive, a resumed watch has no gap', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'deployer-crash-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { DATABASE_URL: undefined, DEPLOYER_DATA_DIR: dataDir, DEPLOYER_ADMIN_TOKEN: 'crash-admin-token' };
  const token = env.DEPLOYER_ADMIN_TOKEN;

  const s1 = await spawnServer(t, env);
  await s1.waitReady();
  // a first write, so the watch can start from a real revision ("0" means "from now")
  const start = Number((await api(s1.url, token, 'PUT', `${P}/seed`, body('seed', 1))).body.metadata.resourceVersion);
  const w1 = await openWatch(s1.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${start}`, token);

  // 4 writers, each owning 5 objects, writing until the server dies
  const lastAcked = new Map<string, { port: number; rv: number }>();
  const inflight = new Map<string, number>();
  const acked: number[] = [];
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const name = `w${w}-${i % 5}`;
      const port = 1 + i;
      inflight.set(name, port);
      try {
        const res = await api(s1.url, token, 'PUT', `${P}/${name}`, body(name, port));
        if (res.status === 200 || res.status === 201) {
          const rv = Number(res.body.metadata.resourceVersion);
          lastAcked.set(name, { port, rv });
          acked.push(rv);
        }
      } catch {
        return; // the server is gone
      }
    }
  };
  const writers = Array.from({ length: 4 }, (_, w) => writer(w));
  while (acked.length < 300) await new Promise((r) => setTimeout(r, 20));
  t.equal(await s1.kill('SIGKILL'), null, 'killed');
  stop = true;
  await Promise.all(writers);
  await w1.until(() => w1.ended, 5000).catch(() => undefined);
  const seenBefore = w1.events.map((e) => Number(e.object.metadata.resourceVersion));
  const lastSeen = seenBefore[seenBefore.length - 1];
  t.ok(acked.length >= 300, `${acked.length} writes acknowledged before the kill`);

  const s2 = await spawnServer(t, env);
  await s2.waitReady();
  // every acknowledged write is there: each object holds its last acknowledged write, or
  // the one that was in flight when the server died (it may have committed unacknowledged)
  for (const [name, ack] of lastAcked) {
    const got = await api(s2.url, token, 'GET', `${P}/${name}`);
    t.equal(got.status, 200, `${name} exists`, { diagnostic: false });
    t.ok(Number(got.body.metadata.resourceVersion) >= ack.rv, `${name} is at or after its acknowledged revision`, { diagnostic: false });
    t.ok([ack.port, inflight.get(name)].includes(got.body.spec.port), `${name} holds its last acknowledged write or a later one`);
  }
  // the full history after `start`, as a fresh watch replays it
  const end = Number((await api(s2.url, token, 'GET', P)).body.metadata.resourceVersion);
  const full = await openWatch(s2.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${start}`, token);
  await full.until((e) => e.length > 0 && Number(e[e.length - 1].object.metadata.resourceVersion) >= end, 20_000);
  const history = full.events.map((e) => Number(e.object.metadata.resourceVersion));
  const inHistory = new Set(history);
  t.ok(acked.every((rv) => inHistory.has(rv)), 'every acknowledged revision is in the history');
  // the watcher from before the crash resumes from its last resourceVersion
  const w2 = await openWatch(s2.url, `${P}?watch=true&allowWatchBookmarks=false&resourceVersion=${lastSeen}`, token);
  // (it may have nothing to catch up on, if it had seen everything before the kill)
  await w2.until((e) => (e.length > 0 ? Number(e[e.length - 1].object.metadata.resourceVersion) : lastSeen) >= end, 20_000);
  const resumed = [...seenBefore, ...w2.events.map((e) => Number(e.object.metadata.resourceVersion))];
  t.same(resumed, history, 'before + after the crash = the whole history, each revision once, in order');
  await full.close();
  await w2.close();
  t.equal(await s2.kill('SIGTERM'), 0);
});
