// Acceptance 3 of the Deployments issue: twenty deployments in a row under a steady load of
// requests through the proxy — zero failed requests, and every response is one complete
// release (never a half-copied one, never an older one once a client saw a newer). The same
// for a docker server's blue/green switches.
import http from 'node:http';
import t from 'tap';
import { startControllers } from '../helpers/controllers.js';
import { appImage, deploy, proxyPort, ROUTE, SERVER, settled, st, staticSite } from '../helpers/deployments.js';

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const CLIENTS = 4;
/** Each client's pause between requests: a steady ~40 requests/s in all, not a CPU-saturating flood. */
const PAUSE_MS = 100;
const NS = 'load';

const page = (i: number) => `release ${i}\n${'x'.repeat(20_000 + i)}\nend ${i}\n`;

const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

/**
 * A keep-alive GET. Caddy closes idle keep-alive connections when its config is reloaded (any
 * Route change, and a blue/green switch): a request written on such a connection at that
 * instant is reset before any answer. Like browsers (RFC 9112 §9.3.1), an idempotent request
 * that fails that way on a reused connection is retried once, on a new one; `retried` counts
 * those. Any other failure, and a failed retry, is a failed request.
 */
async function get(port: number, host: string, retried?: { n: number }): Promise<{ status: number; body: string }> {
  try {
    return await getOnce(port, host);
  } catch (err) {
    if (!retried || !(err as { reusedSocket?: boolean }).reusedSocket) throw err;
    retried.n++;
    return getOnce(port, host, false);
  }
}

function getOnce(port: number, host: string, keepAlive = true): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: keepAlive ? agent : false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket && !res0 })));
    let res0 = false;
    req.on('response', () => (res0 = true));
  });
}

/** Clients requesting `/` in a loop until stopped; each checks that what it gets is whole and never goes back. */
function load(port: number, host: string, release: (body: string) => number | undefined) {
  let running = true;
  const stats = { ok: 0, retried: { n: 0 }, failed: [] as string[], mixed: [] as string[], backwards: [] as string[], seen: new Set<number>() };
  const client = async () => {
    let last = -1;
    while (running) {
      try {
        const r = await get(port, host, stats.retried);
        if (r.status !== 200) {
          stats.failed.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
          continue;
        }
        const i = release(r.body);
        if (i === undefined) stats.mixed.push(r.body.slice(0, 40));
        else {
          if (i < last) stats.backwards.push(`${last} then ${i}`);
          last = Math.max(last, i);
          stats.seen.add(i);
          stats.ok++;
        }
      } catch (err) {
        stats.failed.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
  };
  const done = Promise.all(Array.from({ length: CLIENTS }, client));
  return { stats, stop: async () => ((running = false), await done) };
}

t.teardown(() => agent.destroy());

t.test(`${ROUNDS} static deployments under load: no failed request, every response one whole release`, async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  await staticSite(h, NS, 'site', { revisionHistoryLimit: 2 });
  const port = await proxyPort(h);
  await deploy(h, NS, 'r0', 'site', { inline: { files: { 'index.html': page(0) } } });
  t.equal(st(await settled(h, NS, 'r0')).phase, 'active');
  await h.until(async () => (await get(port, 'site.test')).body === page(0), 'release 0 through the proxy');

  const l = load(port, 'site.test', (body) => {
    const i = Number(/^release (\d+)\n/.exec(body)?.[1]);
    return Number.isInteger(i) && body === page(i) ? i : undefined;
  });
  const t0 = Date.now();
  for (let i = 1; i <= ROUNDS; i++) {
    await deploy(h, NS, `r${i}`, 'site', { inline: { files: { 'index.html': page(i) } } });
    const d = await settled(h, NS, `r${i}`);
    if (st(d).phase !== 'active') t.fail(`r${i} ended ${st(d).phase}: ${st(d).message}`);
  }
  await new Promise((r) => setTimeout(r, 300));
  await l.stop();
  const { stats } = l;
  t.comment(`${ROUNDS} deployments in ${Date.now() - t0} ms; ${stats.ok} responses (${stats.retried.n} retried after the proxy closed an idle keep-alive connection), releases seen: ${stats.seen.size}`);
  t.same(stats.failed, [], 'no request failed');
  t.same(stats.mixed, [], 'every response was one whole release');
  t.same(stats.backwards, [], 'no client saw an older release after a newer one');
  t.ok(stats.ok > ROUNDS * 10, 'the load was steady');
  t.ok(stats.seen.has(ROUNDS), 'the last release was served');
});

t.test(`${ROUNDS} blue/green deployments of a docker server under load`, async (t) => {
  const h = await startControllers(t, ['projectserver', 'route', 'deployment']);
  const images = await Promise.all(Array.from({ length: ROUNDS + 1 }, (_, i) => appImage(h.docker, page(i))));
  await h.store.resources.create(SERVER, NS, { metadata: { name: 'api' }, spec: { serviceType: 'docker', image: images[0], port: 8080 } });
  await h.store.resources.create(ROUTE, NS, { metadata: { name: 'api' }, spec: { host: 'api.test', projectServer: 'api' } });
  const port = await proxyPort(h);
  await h.until(async () => (await get(port, 'api.test')).body === page(0), 'the first image through the proxy', 30_000);

  const l = load(port, 'api.test', (body) => {
    const i = Number(/^release (\d+)\n/.exec(body)?.[1]);
    return Number.isInteger(i) && body === page(i) ? i : undefined;
  });
  const t0 = Date.now();
  for (let i = 1; i <= ROUNDS; i++) {
    await deploy(h, NS, `v${i}`, 'api', { image: { name: images[i]! } });
    const d = await settled(h, NS, `v${i}`);
    if (st(d).phase !== 'active') t.fail(`v${i} ended ${st(d).phase}: ${st(d).message}`);
  }
  await new Promise((r) => setTimeout(r, 300));
  await l.stop();
  const { stats } = l;
  t.comment(`${ROUNDS} blue/green switches in ${Date.now() - t0} ms; ${stats.ok} responses (${stats.retried.n} retried after the proxy closed an idle keep-alive connection), releases seen: ${stats.seen.size}`);
  t.same(stats.failed, [], 'no request failed');
  t.same(stats.mixed, [], 'every response was one whole release');
  t.same(stats.backwards, [], 'no client saw an older release after a newer one');
  t.ok(stats.seen.has(ROUNDS), 'the last release was served');
  t.equal((await h.docker.listContainers([`deployer.dev/installation=${h.installation}`, 'deployer.dev/role=server'])).length, 1, 'one server container is left');
});
