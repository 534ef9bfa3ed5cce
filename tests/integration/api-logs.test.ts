// GET …/projectservers/{name}/log (issue 7's endpoint, like Kubernetes' pods/log): the last
// lines of a server's container, `follow=true` streaming new ones, 404 Status for a server that
// does not exist, 403 for a token of another namespace, 503 without Docker.
import http from 'node:http';
import t from 'tap';
import { containerLogSource, containerName } from '../../docker/index.js';
import { startApi, nsPath } from '../helpers/api.js';
import { startControllers } from '../helpers/controllers.js';
import { SERVER } from '../helpers/deployments.js';

const NS = 'logs';

t.test('a server container log: tail, follow, errors', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const logs = containerLogSource(h.docker, () => h.store.records.installation());
  const a = await startApi(t, { connectionString: h.connectionString, logs });
  // a docker server that prints a numbered line every 100 ms
  await h.store.resources.create(SERVER, NS, {
    metadata: { name: 'talker' },
    spec: { serviceType: 'docker', image: h.deps.staticImage, command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.1; done'] },
  });
  await h.until(async () => (await h.docker.inspect(containerName(h.installation, { namespace: NS, name: 'talker' })))?.running, 'the talker', 30_000);
  await new Promise((r) => setTimeout(r, 600));

  const tail = await a.request('GET', `${nsPath(NS)}/talker/log?tailLines=3`);
  t.equal(tail.status, 200);
  t.match(tail.headers.get('content-type'), /^text\/plain/);
  const lines = String(tail.body).trim().split('\n');
  t.equal(lines.length, 3, 'tailLines=3 gives three lines');
  t.match(lines[2], /^line \d+$/);

  // follow: the headers come at once, then lines keep arriving
  const got: string[] = [];
  const url = new URL(`${a.url}${nsPath(NS)}/talker/log?follow=true&tailLines=1`);
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${a.adminToken}` } }, (res) => {
      t.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        got.push(...c.split('\n').filter(Boolean));
        if (got.length >= 5) {
          req.destroy();
          resolve();
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (got.length >= 5 ? resolve() : reject(err)));
  });
  const nums = got.map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
  t.ok(nums.every((n, i) => i === 0 || n === nums[i - 1]! + 1), `consecutive lines while following: ${got.join(', ')}`);

  t.match(await a.request('GET', `${nsPath(NS)}/nobody/log`), { status: 404, body: { kind: 'Status', reason: 'NotFound' } });
  const other = await a.token('other', 'viewer', ['elsewhere']);
  t.match(await a.request('GET', `${nsPath(NS)}/talker/log`, { token: other }), { status: 403, body: { kind: 'Status' } });
  t.match(await a.request('GET', `${nsPath(NS)}/talker/log?tailLines=-1`), { status: 400, body: { kind: 'Status' } });
  const viewer = await a.token('viewer', 'viewer', [NS]);
  t.equal((await a.request('GET', `${nsPath(NS)}/talker/log?tailLines=1`, { token: viewer })).status, 200, 'a viewer of the namespace may read it');

  const bare = await startApi(t, { connectionString: h.connectionString });
  t.match(await bare.request('GET', `${nsPath(NS)}/talker/log`), { status: 503, body: { kind: 'Status', message: /no Docker engine/ } });
});
