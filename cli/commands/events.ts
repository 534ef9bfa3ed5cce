// events [-w]: the namespace's Events, oldest first; -w then prints each new one.
import { bool } from '../args.js';
import { collectionPath, type WatchEvent } from '../client.js';
import type { Command } from '../context.js';
import { serverError } from '../errors.js';
import { resolveKind } from '../kinds.js';
import { ageOf, renderTable, widths, type Printable } from '../table.js';
import { eventTime, type EventLike } from './describe.js';

/** LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (and NAMESPACE first with -A), oldest first. */
export function eventsTable(events: readonly (EventLike & { metadata?: { namespace?: string } })[], now: number, allNamespaces: boolean): Printable {
  const sorted = [...events].sort((a, b) => Date.parse(eventTime(a) ?? '') - Date.parse(eventTime(b) ?? ''));
  const rows = sorted.map((e) => {
    const row = [ageOf(eventTime(e), now), e.type ?? 'Normal', e.reason ?? '', `${(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`, (e.message ?? '').replace(/\n/g, ' ')];
    return allNamespaces ? [e.metadata?.namespace ?? '', ...row] : row;
  });
  const headers = ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'];
  return { headers: allNamespaces ? ['NAMESPACE', ...headers] : headers, rows };
}

export const events: Command = {
  words: ['events'],
  usage: 'events [-w] [-A]',
  summary: "the namespace's Events, newest last (-w follows)",
  flags: [{ long: 'watch', short: 'w', type: 'boolean' }],
  async run(ctx) {
    const kind = resolveKind(await ctx.kinds(), 'Event');
    const path = collectionPath(kind.plural, ctx.allNamespaces ? undefined : ctx.namespace);
    const { body } = await ctx.client.json('GET', path);
    const p = eventsTable(body.items ?? [], ctx.io.now(), ctx.allNamespaces);
    let w: number[] = [];
    if (p.rows.length) {
      w = widths(p);
      ctx.io.out(renderTable(p, { widths: w }));
    } else if (!bool(ctx.flags, 'watch')) {
      ctx.io.err(ctx.allNamespaces ? 'No events found.\n' : `No events found in ${ctx.namespace} namespace.\n`);
      return 0;
    }
    if (!bool(ctx.flags, 'watch')) return 0;
    for await (const ev of ctx.client.watch(path, { query: { resourceVersion: body.metadata?.resourceVersion, allowWatchBookmarks: false } }) as AsyncGenerator<WatchEvent>) {
      if (ev.type === 'ERROR') throw serverError(ev.object?.code ?? 500, ev.object);
      if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
      const row = eventsTable([ev.object], ctx.io.now(), ctx.allNamespaces);
      const first = w.length === 0;
      w = widths(row, w);
      ctx.io.out(renderTable(row, { header: first, widths: w }));
    }
    return 0;
  },
};
