// One watch: the initial state or the backlog from a resourceVersion, then live events from
// the hub, with nothing missed or repeated between the two.
import type pg from 'pg';
import {
  badRequest,
  expired,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  type KindInfo,
} from '../resources/index.js';
import { mapPgError } from './pg-errors.js';
import type { ResourceStore } from './resource-store.js';
import { SQL } from './sql.js';
import { toLogEvent, type LogEvent, type WatchHub } from './watch-hub.js';

export interface WatchOptions {
  namespace?: string;
  scope?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Send every change after this revision; absent, "" or "0": first the current objects as ADDED. */
  resourceVersion?: string;
}

/** What a watch hands its consumer: the revision and the serialised `{"type","object"}`. */
export interface WatchItem {
  revision: number;
  type: LogEvent['type'];
  json: string;
}

export interface Watch {
  /** The revision up to which the consumer has been handed every matching event. */
  bookmarkRevision(): number;
  close(): void;
}

export function parseResourceVersion(rv: string | undefined, what = 'resourceVersion'): number | undefined {
  if (rv === undefined || rv === '' || rv === '0') return undefined;
  if (!/^\d{1,15}$/.test(rv)) throw badRequest(`invalid ${what} "${rv}": must be a resourceVersion this server returned`);
  return Number(rv);
}

/**
 * Starts a watch. Throws (400 for bad selectors, 410 when `resourceVersion` is older than
 * compaction) before anything is sent; afterwards events flow to `send` in revision order.
 */
export async function startWatch(
  deps: { pool: pg.Pool; hub: WatchHub; resources: ResourceStore },
  info: KindInfo,
  opts: WatchOptions,
  send: (item: WatchItem) => void,
): Promise<Watch> {
  const labels = parseLabelSelector(opts.labelSelector);
  const fields = parseFieldSelector(opts.fieldSelector, info.kind);
  const scope = opts.scope ? new Set(opts.scope) : undefined;
  const inView = (ev: { kind: string; namespace: string }) =>
    ev.kind === info.kind &&
    (opts.namespace === undefined || ev.namespace === opts.namespace) &&
    (scope === undefined || scope.has(ev.namespace));
  /**
   * What this watcher is sent for an event: the event, nothing, or — when a change moves an
   * object into or out of the label selection — ADDED or DELETED, as Kubernetes does.
   */
  const project = (ev: LogEvent): WatchItem | null => {
    if (!inView(ev) || !matchFields(fields, ev.object)) return null;
    const now = matchLabels(labels, ev.object.metadata.labels);
    if (ev.type !== 'MODIFIED' || labels.length === 0) return now ? { revision: ev.revision, type: ev.type, json: ev.json() } : null;
    const before = matchLabels(labels, ev.prevLabels ?? undefined);
    if (before && now) return { revision: ev.revision, type: ev.type, json: ev.json() };
    if (!before && !now) return null;
    const type = now ? 'ADDED' : 'DELETED';
    return { revision: ev.revision, type, json: JSON.stringify({ type, object: ev.object }) };
  };

  let from = parseResourceVersion(opts.resourceVersion);
  const initial: WatchItem[] = [];
  if (from === undefined) {
    const list = await deps.resources.list(info, {
      namespace: opts.namespace,
      scope: opts.scope,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
    });
    from = Number(list.resourceVersion);
    for (const object of list.items)
      initial.push({ revision: from, type: 'ADDED', json: JSON.stringify({ type: 'ADDED', object }) });
  }

  let sent = from;
  let closed = false;
  let buffer: LogEvent[] | null = [];
  const deliver = (ev: LogEvent) => {
    if (closed || ev.revision <= sent) return;
    sent = ev.revision;
    const item = project(ev);
    if (item) send(item);
  };
  const unsubscribe = deps.hub.subscribe((ev) => {
    if (buffer) buffer.push(ev);
    else deliver(ev);
  });
  const upTo = deps.hub.lastRevision;
  try {
    let backlog: LogEvent[] = [];
    if (from < upTo) {
      const res = await deps.pool.query(SQL.logRange, [info.kind, from, upTo]);
      const compacted = Number(res.rows[0].compacted);
      if (compacted > from)
        throw expired(`too old resource version: ${from} (history is kept from ${compacted}); list again and watch from the list's resourceVersion`);
      backlog = res.rows.filter((r) => r.revision !== null).map(toLogEvent);
    }
    for (const item of initial) send(item);
    for (const ev of backlog) deliver(ev);
    sent = Math.max(sent, upTo);
    const pending = buffer;
    buffer = null;
    for (const ev of pending) deliver(ev);
  } catch (err) {
    closed = true;
    unsubscribe();
    throw mapPgError(err);
  }
  return {
    bookmarkRevision: () => Math.max(sent, deps.hub.lastRevision),
    close: () => {
      closed = true;
      unsubscribe();
    },
  };
}
