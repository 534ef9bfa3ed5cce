// Acceptance 2 of issue 8: the dashboard in a real browser (Debian's chromium, headless, driven
// by playwright-core) against a deployer process with the projectserver, route and deployment
// controllers. The page is opened once and never reloaded: a token is entered; a Deployment
// created afterwards is seen moving through its phases to `active` (progress 100%); a server
// container killed with `docker kill` is seen turning unhealthy and coming back healthy with
// one more restart. A wrong token shows the server's message and lets the user try again; a
// viewer token limited to one namespace sees only it and is refused a resync with the
// server's message. Any uncaught error in the page fails the test. The screenshot is saved
// in the test's fixture folder (kept: .tap/fixtures/…/dashboard.png); with
// DASHBOARD_SCREENSHOT=<path> it is also written there (how docs/dashboard.png is made).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
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

const recordRows = (page: Page, tbody: string, name: string, cols: number[]) => page.evaluate(`${RECORDER}(${JSON.stringify({ tbody, name, cols })})`);

const seen = (page: Page, tbody: string, name: string) =>
  page.evaluate((k) => (window as unknown as { __seen: Record<string, string[][]> }).__seen[k] ?? [], `${tbody}/${name}`);

t.test('the dashboard, live, in chromium', async (t) => {
  // scripts/test.sh installs it (scripts/ensure-chromium.sh); a first install may still be running
  await until(async () => existsSync(CHROMIUM), `${CHROMIUM} (sh scripts/ensure-chromium.sh)`, 120_000);
  const begin = Date.now();
  const { server, installation, docker, dir, staticImage: staticTag } = await spawnDeployer(t, { token: TOKEN, controllers: ['projectserver', 'route', 'deployment'], tmpPrefix: 'dashboard-e2e-' });
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

  await t.test('a new deployment moves to active on the page', async (t) => {
    await recordRows(page, 'deployments-body', 'site-2', [3, 4]);
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

  await t.test('the rest of the page: routes, leaders, events, namespace filter, resync; a screenshot', async (t) => {
    await page.locator('#routes-body tr[data-key="web/site"] .ready-ready').waitFor({ timeout: 20_000 });
    t.match(await page.locator('#routes-body tr[data-key="web/docs"]').textContent(), /not ready/, 'a route without its server is not ready');
    t.match(await page.locator('#deployments-body tr[data-key="web/site-broken"]').textContent(), /failed/);
    await until(async () => (await page.locator('#leaders-body tr').count()) >= 3, 'the leaders table', 15_000);
    t.match(await page.locator('#leaders-body').textContent(), /deployment.*held/s);
    t.ok((await page.locator('#events-body tr').count()) >= 5, 'events are listed');
    const routeKeys = () => page.locator('#routes-body tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.key).join(' '));
    await page.selectOption('#namespace', 'other');
    await until(async () => (await routeKeys()) === 'other/blog', 'the filter to show one namespace', 5000);
    t.equal(await page.locator('#deployments-body tr').count(), 0, 'the filter shows one namespace');
    await page.selectOption('#namespace', '');
    await until(async () => (await routeKeys()) === 'other/blog web/docs web/site', 'all of them again', 5000);
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

  t.same(errors, [], 'no error in the page');
  t.comment(`dashboard e2e: ${Math.round((Date.now() - begin) / 1000)} s`);
});
