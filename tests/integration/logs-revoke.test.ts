// A followed log (GET …/projectservers/{name}/log?follow=true) of a token revoked while it
// streams ends within about the registry's re-check interval (2 s), whether the token is
// revoked through this process or another one on the same database: its last line says the
// token was revoked. The stream of a token not revoked goes on.
import t from 'tap';
import { REVOKED_LINE } from '../../api/routes/logs.js';
import { containerLogSource, containerName } from '../../docker/index.js';
import { nsPath, readFrames, startApi, type TestApi } from '../helpers/api.js';
import { startControllers } from '../helpers/controllers.js';
import { SERVER } from '../helpers/deployments.js';

const NS = 'logs-revoke';

/** A followed log read line by line; `ended` once the server closed it. */
interface Follow {
  label: string;
  status: number;
  lines: string[];
  readonly ended: boolean;
  close(): Promise<void>;
}

async function follow(api: TestApi, token: string, label: string): Promise<Follow> {
  const ac = new AbortController();
  const res = await fetch(`${api.url}${nsPath(NS)}/talker/log?follow=true&tailLines=1`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  const lines: string[] = [];
  const { done, ended } = readFrames(res, '\n', (line) => lines.push(line));
  return {
    label,
    status: res.status,
    lines,
    get ended() {
      return ended();
    },
    close: async () => {
      ac.abort();
      await done;
    },
  };
}

async function until(fn: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('a revoked token’s followed logs end within seconds, revoked here or in another process', async (t) => {
  const h = await startControllers(t, ['projectserver']);
  const logs = containerLogSource(h.docker, () => h.store.records.installation());
  const a = await startApi(t, { connectionString: h.connectionString, logs });
  const other = await startApi(t, { connectionString: h.connectionString, logs }); // a second deployer process on the database
  // a docker server that prints a numbered line every 100 ms
  await h.store.resources.create(SERVER, NS, {
    metadata: { name: 'talker' },
    spec: { serviceType: 'docker', image: h.deps.staticImage, command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.1; done'] },
  });
  await h.until(async () => (await h.docker.inspect(containerName(h.installation, { namespace: NS, name: 'talker' })))?.running, 'the talker', 30_000);

  const tokens = {
    gone: await a.token('gone', 'viewer', [NS]),
    goneElsewhere: await a.token('gone-elsewhere', 'viewer', [NS]),
    kept: await a.token('kept', 'viewer', [NS]),
  };
  const gone = [
    await follow(a, tokens.gone, 'revoked in this process'),
    await follow(other, tokens.gone, 'followed in the other process, revoked in this one'),
    await follow(a, tokens.goneElsewhere, 'revoked by the other process'),
  ];
  const kept = await follow(a, tokens.kept, 'a token not revoked');
  const all = [...gone, kept];
  t.ok(all.every((s) => s.status === 200), `${all.length} logs followed`);
  await until(() => all.every((s) => s.lines.some((l) => /^line \d+$/.test(l))), 'every followed log to carry lines');
  t.equal(a.api.openWatches(), 0, 'followed logs are not counted as open watches');

  const started = Date.now();
  t.equal((await a.request('DELETE', '/api/tokens/gone')).status, 200);
  t.equal((await other.request('DELETE', '/api/tokens/gone-elsewhere')).status, 200);
  await until(() => gone.every((s) => s.ended), 'the revoked tokens’ followed logs to end', 10_000);
  const took = Date.now() - started;
  t.ok(took < 5000, `ended ${took} ms after the revokes`);
  for (const s of gone) t.equal(s.lines.at(-1), REVOKED_LINE, `${s.label}: the last line says the token was revoked`);

  // the kept token's log goes on
  const seen = kept.lines.length;
  await until(() => kept.lines.length >= seen + 3, 'the kept log to carry new lines', 5000);
  t.notOk(kept.ended, 'the followed log of a token not revoked goes on');
  t.notOk(kept.lines.includes(REVOKED_LINE));
  t.equal((await a.request('GET', `${nsPath(NS)}/talker/log?follow=true`, { token: tokens.gone })).status, 401, 'and the revoked token cannot follow again');
  for (const s of all) await s.close();
});
