// deployer's dashboard: asks for a token once (kept in sessionStorage, so it lasts as long as
// the tab), then shows every ProjectServer, Deployment, Route and the latest Events live from
// the watch streams, and each controller's leader (polled). All DOM writes happen in one
// animation frame per batch of changes (see table.js).
import { cells, cls, KeyedTable, text } from './table.js';
import { failureOf, KindWatch } from './watch.js';

const TOKEN_KEY = 'deployer.token';
const NS_KEY = 'deployer.namespace';
const LEADERS_MS = 5000;
const EVENTS_SHOWN = 50;
const $ = (id) => document.getElementById(id);

// ---- formatting

function age(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** A <time> cell whose text the age timer refreshes. */
function ageCell(td, iso) {
  let t = td.firstElementChild;
  if (!t) t = td.appendChild(document.createElement('time'));
  if (t.dataset.t !== (iso ?? '')) {
    t.dataset.t = iso ?? '';
    t.dateTime = iso ?? '';
    t.title = iso ?? '';
  }
  text(t, age(iso));
}

function badge(td, value, kind) {
  let b = td.firstElementChild;
  if (!b) b = td.appendChild(document.createElement('span'));
  cls(b, `badge ${kind}-${String(value ?? 'none').replace(/[^a-z_]/gi, '')}`);
  text(b, value ?? '–');
}

const condition = (obj, type) => (obj.status?.conditions ?? []).find((c) => c.type === type);
const keyOf = (obj) => `${obj.metadata.namespace}/${obj.metadata.name}`;
const newestFirst = (iso) => String(1e13 - (Date.parse(iso ?? '') || 0)).padStart(14, '0');

// ---- the tables

function serverRow(tr, ps, fresh) {
  const c = cells(tr, 8, fresh);
  const st = ps.status ?? {};
  text(c[0], ps.metadata.namespace);
  text(c[1], ps.metadata.name);
  text(c[2], ps.spec.serviceType);
  badge(c[3], st.phase ?? 'Pending', 'phase');
  // a server stopped on purpose says so: status.health is `unknown` then (nothing is probed),
  // but its phase is Stopped, and /metrics and GET /api/monitoring/health class it `stopped`
  badge(c[4], st.phase === 'Stopped' ? 'stopped' : (st.health ?? 'unknown'), 'health');
  text(c[5], st.restartCount ?? 0);
  text(c[6], st.currentDeployment ?? '');
  const issue = st.health && st.health !== 'healthy' ? (st.lastHealthIssue ?? condition(ps, 'Ready')?.message ?? '') : '';
  text(c[7], issue);
  c[7].title = issue;
  cls(tr, ps.metadata.deletionTimestamp ? 'deleting' : '');
}

function deploymentRow(tr, d, fresh) {
  const c = cells(tr, 7, fresh);
  const st = d.status ?? {};
  const phase = st.phase ?? 'queued';
  text(c[0], d.metadata.namespace);
  text(c[1], d.metadata.name);
  text(c[2], d.spec.projectServer + (d.spec.service && d.spec.service !== 'site' ? `/${d.spec.service}` : ''));
  badge(c[3], phase, 'dphase');
  if (fresh) {
    c[4].innerHTML = '<div class="bar"><div class="fill"></div></div><span class="pct"></span>';
  }
  const pct = Math.max(0, Math.min(100, st.phaseProgress ?? 0));
  const fill = c[4].firstElementChild.firstElementChild;
  // a transform, not a width: the bar moves without a layout of the table
  const scale = `scaleX(${pct / 100})`;
  if (fill.style.transform !== scale) fill.style.transform = scale;
  cls(fill, `fill dphase-${phase}`);
  text(c[4].lastElementChild, `${pct}%`);
  ageCell(c[5], d.metadata.creationTimestamp);
  text(c[6], st.message ?? '');
  c[6].title = st.message ?? '';
}

function routeRow(tr, r, fresh) {
  const c = cells(tr, 6, fresh);
  const st = r.status ?? {};
  text(c[0], r.metadata.namespace);
  text(c[1], r.metadata.name);
  const url = st.url ?? `${r.spec.tls ? 'https' : 'http'}://${r.spec.host}${r.spec.pathPrefix ?? '/'}`;
  text(c[2], url);
  text(c[3], r.spec.projectServer);
  badge(c[4], st.ready === undefined ? 'pending' : st.ready ? 'ready' : 'not ready', 'ready');
  const conflict = (st.conflicts ?? []).length ? `conflicts with ${st.conflicts.join(', ')}` : '';
  const ready = condition(r, 'Ready');
  const why = conflict || (st.ready === false ? (ready?.message ?? '') : '');
  text(c[5], why);
  c[5].title = why;
}

function eventRow(tr, e, fresh) {
  const c = cells(tr, 6, fresh);
  ageCell(c[0], e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp);
  text(c[1], e.metadata.namespace);
  badge(c[2], e.type ?? 'Normal', 'event');
  text(c[3], e.reason ?? '');
  text(c[4], `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}${(e.count ?? 1) > 1 ? ` (×${e.count})` : ''}`);
  text(c[5], e.message ?? '');
  c[5].title = e.message ?? '';
}

const KINDS = [
  { plural: 'projectservers', table: 'servers', sortKey: keyOf, render: serverRow },
  { plural: 'deployments', table: 'deployments', sortKey: (d) => newestFirst(d.metadata.creationTimestamp), render: deploymentRow },
  { plural: 'routes', table: 'routes', sortKey: keyOf, render: routeRow },
  {
    plural: 'events',
    table: 'events',
    sortKey: (e) => newestFirst(e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp),
    render: eventRow,
    limit: EVENTS_SHOWN,
  },
];

// ---- the session

class Dashboard {
  constructor(token) {
    this.token = token;
    this.watches = [];
    this.states = new Map();
    this.namespaces = new Map(); // namespace → objects in it, across kinds
    this.namespace = sessionStorage.getItem(NS_KEY) ?? '';
    this.scheduled = false;
    this.timers = [];
    this.tables = new Map();
    for (const k of KINDS) {
      const table = new KeyedTable($(`${k.table}-body`), {
        sortKey: k.sortKey,
        render: k.render,
        limit: k.limit,
        onFlush: (shown, total) =>
          text($(`${k.table}-count`), k.limit && total > shown ? `latest ${shown} of ${total}` : String(total)),
      });
      table.setFilter(this.filterFn());
      this.tables.set(k.plural, table);
    }
  }

  filterFn() {
    const ns = this.namespace;
    return ns ? (obj) => obj.metadata.namespace === ns : () => true;
  }

  start() {
    for (const k of KINDS) {
      const table = this.tables.get(k.plural);
      const w = new KindWatch({
        plural: k.plural,
        token: this.token,
        onReset: (items) => {
          for (const obj of table.objects.values()) this.countNamespace(obj.metadata.namespace, -1);
          for (const obj of items) this.countNamespace(obj.metadata.namespace, 1);
          table.reset(items.map((obj) => [keyOf(obj), obj]));
          this.schedule();
        },
        onEvent: (type, obj) => {
          const key = keyOf(obj);
          const known = table.objects.has(key) || (table.pending.get(key) ?? null) !== null;
          if (type === 'DELETED') {
            if (known) this.countNamespace(obj.metadata.namespace, -1);
            table.delete(key);
          } else {
            if (!known) this.countNamespace(obj.metadata.namespace, 1);
            table.set(key, obj);
          }
          this.schedule();
        },
        onState: (state, detail) => this.setState(k.plural, state, detail),
        onUnauthorized: (message) => signOut(message),
      });
      this.watches.push(w);
      w.start();
    }
    void this.pollLeaders();
    this.timers.push(setInterval(() => void this.pollLeaders(), LEADERS_MS));
    this.timers.push(setInterval(refreshAges, 5000));
    $('namespace').onchange = () => this.setNamespace($('namespace').value);
    $('resync').onclick = () => void this.resync();
  }

  stop() {
    for (const w of this.watches) w.stop();
    for (const t of this.timers) clearInterval(t);
  }

  /** Applies queued changes at the next frame (a hidden tab gets no frames: a timer instead). */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      for (const table of this.tables.values()) if (table.dirty) table.flush();
      this.renderNamespaces();
    };
    if (document.hidden) setTimeout(run, 100);
    else requestAnimationFrame(run);
  }

  countNamespace(ns, delta) {
    const n = (this.namespaces.get(ns) ?? 0) + delta;
    if (n > 0) this.namespaces.set(ns, n);
    else this.namespaces.delete(ns);
    this.namespacesChanged = true;
  }

  renderNamespaces() {
    if (!this.namespacesChanged) return;
    this.namespacesChanged = false;
    const select = $('namespace');
    const names = [...new Set([...this.namespaces.keys(), ...(this.namespace ? [this.namespace] : [])])].sort();
    const want = ['', ...names];
    const have = [...select.options].map((o) => o.value);
    if (want.join('\n') === have.join('\n')) return;
    select.replaceChildren(
      ...want.map((ns) => {
        const o = document.createElement('option');
        o.value = ns;
        o.textContent = ns || 'all namespaces';
        return o;
      }),
    );
    select.value = this.namespace;
  }

  setNamespace(ns) {
    this.namespace = ns;
    sessionStorage.setItem(NS_KEY, ns);
    for (const table of this.tables.values()) table.setFilter(this.filterFn());
    this.schedule();
  }

  setState(plural, state, detail) {
    this.states.set(plural, { state, detail });
    const all = [...this.states.values()];
    const live = all.length === KINDS.length && all.every((s) => s.state === 'live');
    const trouble = all.find((s) => s.state === 'retrying');
    const el = $('conn');
    cls(el, `conn ${live ? 'live' : trouble ? 'retrying' : 'connecting'}`);
    text(el, live ? 'live' : trouble ? 'reconnecting…' : 'connecting…');
    el.title = trouble?.detail ?? '';
  }

  async call(method, path) {
    const res = await fetch(path, { method, headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' }, cache: 'no-store' });
    if (res.status === 401) {
      signOut((await failureOf(res)).message);
      throw new Error('signed out');
    }
    if (!res.ok) throw await failureOf(res);
    return res.json();
  }

  async pollLeaders() {
    try {
      const body = await this.call('GET', '/api/monitoring/leaders');
      text($('identity'), body.identity);
      const tbody = $('leaders-body');
      const rows = body.items.map((l) => {
        const tr = document.createElement('tr');
        const c = cells(tr, 4, true);
        text(c[0], l.name);
        text(c[1], l.valid ? l.holder : '(nobody)');
        badge(c[2], l.valid ? 'held' : 'expired', 'lease');
        ageCell(c[3], l.renewedAt);
        return tr;
      });
      const sig = body.items.map((l) => `${l.name}|${l.valid}|${l.holder}|${l.renewedAt}`).join('\n');
      if (tbody.dataset.sig !== sig) {
        tbody.dataset.sig = sig;
        tbody.replaceChildren(...rows);
      }
      text($('leaders-count'), String(body.items.length));
    } catch (err) {
      if (err.message !== 'signed out') notify(`leaders: ${err.message}`, 'error');
    }
  }

  async resync() {
    const button = $('resync');
    button.disabled = true;
    try {
      const body = await this.call('POST', '/api/monitoring/reconcile');
      notify(body.message, 'ok');
    } catch (err) {
      if (err.message !== 'signed out') notify(err.message, 'error');
    } finally {
      button.disabled = false;
    }
  }
}

function refreshAges() {
  for (const t of document.querySelectorAll('time[data-t]')) text(t, age(t.dataset.t));
}

let notifyTimer;
function notify(message, kind) {
  const el = $('notice');
  text(el, message);
  cls(el, `notice ${kind}`);
  el.hidden = false;
  clearTimeout(notifyTimer);
  notifyTimer = setTimeout(() => (el.hidden = true), 8000);
}

// ---- signing in and out

let session;

function showLogin(message) {
  $('app').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  text(err, message ?? '');
  $('token').value = '';
  $('token').focus();
}

function signOut(message) {
  session?.stop();
  session = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const tbody of document.querySelectorAll('#app tbody')) tbody.replaceChildren();
  showLogin(message);
}

/** Checks the token with a cheap call that any valid token may make, then opens the dashboard. */
async function signIn(token) {
  const res = await fetch('/api/monitoring/leaders', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' }).catch((err) => err);
  if (res instanceof Error) return showLogin(`deployer did not answer: ${res.message}`);
  if (!res.ok) {
    sessionStorage.removeItem(TOKEN_KEY);
    return showLogin(`${(await failureOf(res)).message}${res.status === 401 ? ' — enter another token.' : ''}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login').hidden = true;
  $('app').hidden = false;
  session = new Dashboard(token);
  session.start();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (token) void signIn(token);
});
$('signout').onclick = () => signOut();

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
else showLogin();
