// Acceptance 2 of issue 8: the dashboard in a real browser (Debian's chromium, headless, driven
// by playwright-core) against a deployer process with the projectserver, route and deployment
// controllers. The page is opened once and never reloaded: a token is entered; a Deployment
// created afterwards is seen moving through its phases to `active` (progress 100%, a message
// at each step), its server's current deployment and a new Event follow; a server container
// killed with `docker kill` is seen turning unhealthy and coming back healthy with one more
// restart; a server stopped on purpose shows `stopped` (as /metrics says); a Route's url is
// its status.url and a Route that lost its host and path shows the conflict; ages keep
// counting. A wrong token shows the server's message and lets the user try again; a right one
// is kept in the tab's session, so a reload does not ask again; a viewer token limited to one
// namespace sees only it and is refused a resync with the server's message. Last, the page's
// watch streams are cut (in the page: its fetch) while a Route is deleted: they resume with
// Last-Event-ID (no relist) and the change shows. Any uncaught error in the page fails the test. The screenshot is saved
// in the test's fixture folder (kept: .tap/fixtures/…/dashboard.png); with
// DASHBOARD_SCREENSHOT=<path> it is also written there (how docs/dashboard.png is made).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import t from 'tap';
import { containerName } from '../../docker/index.js';
import { until } from '../helpers/installation.js';
import { spawnDeployer, missingArchive } from '../helpers/deployer.js';
import { api } from '../helpers/process.js';

const TOKEN = 'dashboard-e2e-admin-token';
const NS = 'web';
const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);
const A = '/apis/deployer.dev/v1';

t.setTimeout(170_000);

/**
 * Records the texts a row shows, one entry per change (a MutationObserver in the page). Plain
 * JavaScript, not a function: tsx would wrap a function's inner closures in a helper the page
 * does not have.
 */
const RECORDER = `(({ tbody, name, cols }) => {
  window.__seen ??= {};
  const seen = (window.__seen[tbody + '/' + name] = []);
  const snap = () => {
    for (const tr of document.getElementById(tbody).children) {
      if (!tr.dataset.key.endsWith('/' + name)) continue;
      const row = cols.map((i) => tr.children[i].textContent);
      if (seen.length === 0 || seen[seen.length - 1].join('|') !== row.join('|')) seen.push(row);
    }
  };
  new MutationObserver(snap).observe(document.getElementById(tbody), { subtree: true, childList: true, characterData: true });
  snap();
})`;

/**
 * Lets the test cut the page's watch streams (Chromium's offline mode leaves open streams to
 * 127.0.0.1 alone): `__cut(true)` fails every open stream mid-read, as a dropped connection
 * does, and new watch requests fail at once, as a network error does, until `__cut(false)`.
 * Installed before the page's own script runs; plain JavaScript for the same reason as RECORDER.
 */
const CUTTABLE_STREAMS = `(() => {
  const fetch0 = window.fetch.bind(window);
  let open = new Set();
  let cut = false;
  window.fetch = (input, init = {}) => {
    if (!String(input).includes('watch=true')) return fetch0(input, init);
    if (cut) return Promise.reject(new TypeError('Failed to fetch (cut by the test)'));
    const c = new AbortController();
    open.add(c);
    return fetch0(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, c.signal]) : c.signal });
  };
  window.__cut = (on) => {
    cut = on;
    if (on) for (const c of open) c.abort(new TypeError('network error (cut by the test)'));
    if (on) open = new Set();
  };
})()`;

const recordRows = (page: Page, tbody: string, name: string, cols: number[]) => page.evaluate(`${RECORDER}(${JSON.stringify({ tbody, name, cols })})`);

const seen = (page: Page, tbody: string, name: string) =>
  page.evaluate((k) => (window as unknown as { __seen: Record<string, string[][]> }).__seen[k] ?? [], `${tbody}/${name}`);

/** The seconds an age cell (`5s`, `2m5s`, `12m`, `1h3m`, `2d4h`) stands for; NaN for anything else. */
function secondsOf(age: string | null): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(age ?? '');
  if (!m || !age) return NaN;
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  return d! * 86400 + h! * 3600 + min! * 60 + s!;
}

t.test('the dashboard, live, in chromium', async (t) => {
  // scripts/test.sh installs it (scripts/ensure-chromium.sh); a first install may still be running
  await until(async () => existsSync(CHROMIUM), `${CHROMIUM} (sh scripts/ensure-chromium.sh)`, 120_000);
  const begin = Date.now();
  const { server, installation, docker, proxyPort, staticImage: staticTag } = await spawnDeployer(t, { token: TOKEN, controllers: ['projectserver', 'route', 'deployment'], tmpPrefix: 'dashboard-e2e-' });
  const missingUrl = await missingArchive(t);
  const put = async (plural: string, name: string, body: Record<string, unknown>, ns = NS) => {
    const r = await api(server.url, TOKEN, 'PUT', `${A}/namespaces/${ns}/${plural}/${name}`, { apiVersion: 'deployer.dev/v1', metadata: { name }, ...body });
    t.ok(r.status === 200 || r.status === 201, `PUT ${plural}/${name}: ${r.status}`);
  };
  const phaseOf = async (name: string) => (await api(server.url, TOKEN, 'GET', `${A}/namespaces/${NS}/deployments/${name}`)).body?.status?.phase;

  await server.waitReady();
  await put('projectservers', 'site', { kind: 'ProjectServer', spec: { serviceType: 'static', healthCheck: { httpGet: { path: '/.deployer-health' }, intervalSeconds: 1 } } });
  await put('routes', 'site', { kind: 'Route', spec: { host: 'site.example.test', projectServer: 'site' } });
  await put('routes', 'docs', { kind: 'Route', spec: { host: 'docs.example.test', projectServer: 'docs' } });
  // the same host and path as web/site, newer: site keeps them, this one is not applied
  await put('routes', 'site-copy', { kind: 'Route', spec: { host: 'site.example.test', projectServer: 'site' } });
  await put('deployments', 'site-1', { kind: 'Deployment', spec: { projectServer: 'site', source: { inline: { files: { 'index.html': 'one\n' } } } } });
  await until(async () => (await phaseOf('site-1')) === 'active', 'site-1 active', 60_000);
  await put('deployments', 'site-broken', { kind: 'Deployment', spec: { projectServer: 'site', source: { archive: { url: missingUrl } } } });
  await until(async () => (await phaseOf('site-broken')) === 'failed', 'site-broken failed', 60_000);
  await put('routes', 'blog', { kind: 'Route', spec: { host: 'blog.example.test', projectServer: 'blog' } }, 'other');
  // more to look at in the screenshot: a docker server and a stopped one
  await put('projectservers', 'worker', { kind: 'ProjectServer', spec: { serviceType: 'docker', image: staticTag, command: ['sh', '-c', 'while true; do sleep 1; done'] } });
  await put('projectservers', 'staging', { kind: 'ProjectServer', spec: { serviceType: 'static', stopped: true } });

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const errors: string[] = [];
  const open = async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    await context.addInitScript(CUTTABLE_STREAMS);
    const page = await context.newPage();
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(server.url + '/');
    return page;
  };

  await t.test('a wrong token shows the server\'s message; another can be entered', async (t) => {
    const page = await open();
    await page.fill('#token', 'not-a-token');
    await page.click('#login-form button[type=submit]');
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible', timeout: 10_000 });
    t.match(await error.textContent(), /401 Unauthorized: the token is not valid \(unknown or revoked\)/);
    t.equal(await page.locator('#app').isVisible(), false, 'the dashboard stays closed');
    t.equal(await page.evaluate(() => sessionStorage.getItem('deployer.token')), null, 'the wrong token is not kept');
    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.locator('#servers-body tr[data-key="web/site"]').waitFor({ timeout: 10_000 });
    t.equal(await page.locator('#login').isVisible(), false, 'the right token opens it');
    t.equal(await page.evaluate(() => sessionStorage.getItem('deployer.token')), TOKEN, "the right token is kept in the tab's session");
    await page.reload();
    await page.locator('#servers-body tr[data-key="web/site"]').waitFor({ timeout: 10_000 });
    t.same([await page.locator('#login').isVisible(), await page.locator('#app').isVisible()], [false, true], 'a reload opens the dashboard without asking again');
    await page.context().close();
  });

  await t.test('a viewer of one namespace sees only it and may not resync', async (t) => {
    const made = await api(server.url, TOKEN, 'POST', '/api/tokens', { name: 'other-viewer', role: 'viewer', namespaces: ['other'] });
    t.equal(made.status, 201);
    const page = await open();
    await page.fill('#token', made.body.token);
    await page.click('#login-form button[type=submit]');
    await page.locator('#routes-body tr[data-key="other/blog"]').waitFor({ timeout: 10_000 });
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    t.same(await page.locator('#routes-body tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.key)), ['other/blog'], 'only its namespace');
    t.equal(await page.locator('#servers-body tr').count(), 0, 'no server of another namespace');
    await page.click('#resync');
    await page.locator('#notice.error').waitFor({ timeout: 10_000 });
    t.match(await page.locator('#notice').textContent(), /403 Forbidden: token "other-viewer" \(viewer\) may not ask for a resync/);
    await page.context().close();
  });

  const page = await open();
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.locator('#servers-body tr[data-key="web/site"]').waitFor({ timeout: 10_000 });
  await page.locator('#conn.live').waitFor({ timeout: 10_000 });
  await page.evaluate(() => ((window as unknown as { __loaded: boolean }).__loaded = true));
  const sameDocument = () => page.evaluate(() => (window as unknown as { __loaded?: boolean }).__loaded === true);
  const cell = (tbody: string, key: string, n: number) => page.locator(`#${tbody}-body tr[data-key="${key}"] td:nth-child(${n})`);
  const serverDeployment = cell('servers', 'web/site', 7);
  t.equal(await serverDeployment.textContent(), 'site-1', "the server's current deployment");
  const site1Age = secondsOf(await cell('deployments', 'web/site-1', 6).textContent());
  t.ok(site1Age >= 0, `site-1's age is a duration (${site1Age} s)`);

  await t.test('a new deployment moves to active on the page', async (t) => {
    const eventsBefore = await page.locator('#events-body tr').count();
    await recordRows(page, 'deployments-body', 'site-2', [3, 4, 6]);
    await put('deployments', 'site-2', { kind: 'Deployment', spec: { projectServer: 'site', source: { inline: { files: { 'index.html': 'two\n' } } } } });
    const row = page.locator('#deployments-body tr[data-key="web/site-2"]');
    await row.locator('td:nth-child(4)', { hasText: /^active$/ }).waitFor({ timeout: 60_000 });
    const history = await seen(page, 'deployments-body', 'site-2');
    const phases = [...new Set(history.map(([phase]) => phase))];
    t.equal(phases.at(-1), 'active', `phases seen: ${phases.join(' → ')}`);
    t.ok(phases.length >= 3, 'at least three phases were shown on the way');
    const progress = history.map(([, p]) => Number(p!.replace('%', '')));
    t.same([progress[0]! < 100, progress.at(-1)], [true, 100], `progress rose to 100% (${progress.join(', ')})`);
    t.same(progress, [...progress].sort((a, b) => a - b), 'progress never went back');
    const messages = history.filter(([phase]) => phase !== 'active').map(([, , m]) => m);
    t.ok(messages.some((m) => /^fetched \d+ files|^files in deployment-site-2$/.test(m!)), `on the way it said what it did (${messages.join(' | ')})`);
    t.equal(history.at(-1)![2], 'live: deployment-site-2', 'active, it says what is live');
    await serverDeployment.filter({ hasText: /^site-2$/ }).waitFor({ timeout: 10_000 });
    t.pass("the server's current deployment became site-2");
    // the Event the controller records for it, pushed to the open page
    const activeEvent = () =>
      page.locator('#events-body tr').evaluateAll((rows) => rows.some((r) => r.children[3]!.textContent === 'Active' && r.children[4]!.textContent === 'deployment/site-2'));
    await until(activeEvent, 'the Event "Active" of deployment/site-2 on the page', 10_000);
    t.ok((await page.locator('#events-body tr').count()) > eventsBefore, 'a new Event row came in live');
    await page.locator('#deployments-body tr[data-key="web/site-1"] td:nth-child(4)', { hasText: 'superseded' }).waitFor({ timeout: 10_000 });
    t.pass('the previous one shows superseded');
    t.ok(await sameDocument(), 'without reloading');
  });

  await t.test('a killed container: its health changes and recovers', async (t) => {
    const row = page.locator('#servers-body tr[data-key="web/site"]');
    await row.locator('td:nth-child(5)', { hasText: /^healthy$/ }).waitFor({ timeout: 30_000 });
    const restartsBefore = Number(await row.locator('td:nth-child(6)').textContent());
    await recordRows(page, 'servers-body', 'site', [3, 4, 5]);
    const id = (await docker.inspect(containerName(installation, { namespace: NS, name: 'site' })))!.id;
    await run('docker', ['kill', id]);
    await until(async () => (await seen(page, 'servers-body', 'site')).some(([, health]) => health !== 'healthy'), 'the page to show the server not healthy', 20_000);
    await until(
      async () => {
        const last = (await seen(page, 'servers-body', 'site')).at(-1)!;
        return last[1] === 'healthy' && Number(last[2]) > restartsBefore;
      },
      'the page to show it healthy again, with one more restart',
      45_000,
    );
    const history = await seen(page, 'servers-body', 'site');
    t.comment(`the row showed: ${history.map((r) => r.join(' ')).join(' → ')}`);
    t.ok(history.some(([, health]) => health === 'unhealthy' || health === 'degraded'), 'it showed the server unhealthy or degraded');
    t.equal(Number(history.at(-1)![2]), restartsBefore + 1, 'restarts went up by one');
    t.ok(await sameDocument(), 'without reloading');
  });

  await t.test('a server stopped on purpose shows stopped, as the API says', async (t) => {
    const st = (await api(server.url, TOKEN, 'GET', `${A}/namespaces/${NS}/projectservers/staging`)).body.status;
    t.match(st, { phase: 'Stopped', health: 'unknown' }, 'status: phase Stopped; health unknown (nothing is probed)');
    t.match(st.conditions.find((c: { type: string }) => c.type === 'Healthy'), { status: 'Unknown', reason: 'Stopped' }, 'condition Healthy: Unknown, reason Stopped');
    const metrics = (await api(server.url, TOKEN, 'GET', '/metrics')).body as string;
    t.match(metrics, /^deployer_projectserver_health\{(?=[^}]*name="staging")(?=[^}]*health="stopped")[^}]*\} 1$/m, '/metrics classes it stopped');
    await cell('servers', 'web/staging', 5).filter({ hasText: /^stopped$/ }).waitFor({ timeout: 10_000 });
    t.equal(await cell('servers', 'web/staging', 4).textContent(), 'Stopped', 'phase Stopped');
    t.equal(await cell('servers', 'web/staging', 8).textContent(), 'stopped on purpose (spec.stopped)', 'and why');
  });

  const routeKeys = () => page.locator('#routes-body tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.key).join(' '));

  await t.test('the rest of the page: routes, leaders, events, namespace filter, resync; a screenshot', async (t) => {
    await page.locator('#routes-body tr[data-key="web/site"] .ready-ready').waitFor({ timeout: 20_000 });
    const siteUrl = (await api(server.url, TOKEN, 'GET', `${A}/namespaces/${NS}/routes/site`)).body.status.url;
    t.equal(siteUrl, `http://site.example.test:${proxyPort}/`, "the route's status.url");
    t.equal(await cell('routes', 'web/site', 3).textContent(), siteUrl, 'is its URL on the page');
    t.match(await page.locator('#routes-body tr[data-key="web/docs"]').textContent(), /not ready/, 'a route without its server is not ready');
    await cell('routes', 'web/site-copy', 6).filter({ hasText: /^conflicts with web\/site$/ }).waitFor({ timeout: 10_000 });
    t.equal(await cell('routes', 'web/site-copy', 5).textContent(), 'not ready', 'the Route that lost its host and path is not ready and names the winner');
    t.equal(await cell('routes', 'web/site', 6).textContent(), 'conflicts with web/site-copy', 'the winner names the one it keeps out');
    const broken = (await api(server.url, TOKEN, 'GET', `${A}/namespaces/${NS}/deployments/site-broken`)).body.status.message as string;
    t.match(broken, /^SourceNotFound: /);
    t.equal(await cell('deployments', 'web/site-broken', 7).textContent(), broken, 'a failed deployment shows its message');
    t.match(await cell('deployments', 'web/site-broken', 4).textContent(), /^failed$/);
    const ages = await page.locator('#deployments-body td:nth-child(6)').allTextContents();
    t.ok(ages.every((a) => secondsOf(a) >= 0), `ages look like 5s or 2m (${ages.join(', ')})`);
    // the page refreshes ages every 5 s
    await until(async () => secondsOf(await cell('deployments', 'web/site-1', 6).textContent()) > site1Age, 'the age of site-1 to count up', 6000);
    t.pass('and keep counting without a reload');
    const eventTimes = await page.locator('#events-body time').evaluateAll((ts) => ts.map((e) => Date.parse((e as HTMLTimeElement).dateTime)));
    t.same(eventTimes, [...eventTimes].sort((a, b) => b - a), 'events newest first');
    await until(async () => (await page.locator('#leaders-body tr').count()) >= 3, 'the leaders table', 15_000);
    t.match(await page.locator('#leaders-body').textContent(), /deployment.*held/s);
    t.ok((await page.locator('#events-body tr').count()) >= 5, 'events are listed');
    await page.selectOption('#namespace', 'other');
    await until(async () => (await routeKeys()) === 'other/blog', 'the filter to show one namespace', 5000);
    t.equal(await page.locator('#deployments-body tr').count(), 0, 'the filter shows one namespace');
    await page.selectOption('#namespace', '');
    await until(async () => (await routeKeys()) === 'other/blog web/docs web/site web/site-copy', 'all of them again', 5000);
    t.pass('and all of them again');
    await page.click('#resync');
    await page.locator('#notice.ok').waitFor({ timeout: 10_000 });
    t.match(await page.locator('#notice').textContent(), /resync requested for every controller/);
    await page.evaluate(() => (document.getElementById('notice')!.hidden = true));
    t.saveFixture = true;
    const shot = join(t.testdir(), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.comment(`screenshot: ${shot}`);
    if (process.env.DASHBOARD_SCREENSHOT) {
      const to = resolve(process.env.DASHBOARD_SCREENSHOT);
      await mkdir(dirname(to), { recursive: true });
      await copyFile(shot, to);
    }
    t.ok(await sameDocument(), 'one document all along');
  });

  await t.test('dropped streams resume with Last-Event-ID, without a relist', async (t) => {
    const sent: { url: string; lastEventId?: string }[] = [];
    const onRequest = (r: Request) => {
      if (r.url().includes(`${A}/routes`)) sent.push({ url: r.url(), lastEventId: r.headers()['last-event-id'] });
    };
    page.on('request', onRequest);
    t.teardown(() => page.off('request', onRequest));
    await page.evaluate('window.__cut(true)');
    await page.locator('#conn.retrying').waitFor({ timeout: 10_000 });
    t.ok((await api(server.url, TOKEN, 'DELETE', `${A}/namespaces/${NS}/routes/site-copy`)).status < 300, 'a change while the page is cut off');
    await page.evaluate('window.__cut(false)');
    await until(async () => (await routeKeys()) === 'other/blog web/docs web/site', 'the deleted route to go from the page', 20_000);
    await until(async () => (await cell('routes', 'web/site', 6).textContent()) === '', 'the winner to name no conflict any more', 10_000);
    t.pass('the winner no longer names a conflict');
    await page.locator('#conn.live').waitFor({ timeout: 10_000 });
    t.ok(sent.length > 0 && sent.every((r) => r.url.includes('watch=true') && /^\d+$/.test(r.lastEventId ?? '')), `the routes stream resumed with Last-Event-ID, no relist (${sent.length} requests)`);
    t.ok(await sameDocument(), 'without reloading');
  });

  t.same(errors, [], 'no error in the page');
  t.comment(`dashboard e2e: ${Math.round((Date.now() - begin) / 1000)} s`);
});
