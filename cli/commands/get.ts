// get KIND [NAME]: the server's Table (NAME and AGE when it sends plain objects), -o
// yaml|json|wide|name, -l, and -w: the current rows, then one row per change.
import YAML from 'yaml';
import { bool, str } from '../args.js';
import { collectionPath, itemPath, TABLE_ACCEPT, type WatchEvent } from '../client.js';
import type { Command } from '../context.js';
import { CliError, serverError } from '../errors.js';
import { resolveKind, splitTypeName, type KindRef } from '../kinds.js';
import { fromObjects, fromServerTable, isTable, renderTable, widths, type Printable } from '../table.js';

const OUTPUTS = ['yaml', 'json', 'wide', 'name'];

/** What one answer (a Table, a list, one object) prints as rows. */
export function printable(body: any, now: number, opts: { wide?: boolean; allNamespaces?: boolean }): Printable {
  if (isTable(body)) return fromServerTable(body, opts);
  const items = Array.isArray(body?.items) ? body.items : body ? [body] : [];
  return fromObjects(items, now, opts);
}

export const nameOf = (k: KindRef, o: { metadata?: { name?: string } }) => `${k.kind.toLowerCase()}/${o.metadata?.name ?? ''}`;

/** Objects as -o yaml|json prints them: one object, or a v1 List of several. */
export function renderObjects(objects: Record<string, unknown>[], format: 'yaml' | 'json', single: boolean): string {
  const doc = single ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects, metadata: { resourceVersion: '' } };
  return format === 'json' ? JSON.stringify(doc, null, 4) + '\n' : YAML.stringify(doc);
}

/** The rows a watch event carries: a one-row Table, or an object. */
export function eventRows(ev: WatchEvent, now: number, opts: { wide?: boolean; allNamespaces?: boolean }): Printable {
  return printable(ev.object, now, opts);
}

export const get: Command = {
  words: ['get'],
  usage: 'get KIND [NAME] [-o yaml|json|wide|name] [-l SELECTOR] [-w] [-A]',
  summary: 'list objects, or show one',
  flags: [
    { long: 'output', short: 'o', type: 'string' },
    { long: 'selector', short: 'l', type: 'string' },
    { long: 'watch', short: 'w', type: 'boolean' },
  ],
  async run(ctx) {
    const { kindWord, name } = splitTypeName(ctx.args, 'get');
    if (ctx.args.length > 2 || (ctx.args.length > 1 && ctx.args[0]!.includes('/'))) throw new CliError('get: one kind and at most one name');
    const kind = resolveKind(await ctx.kinds(), kindWord);
    const output = str(ctx.flags, 'output');
    if (output !== undefined && !OUTPUTS.includes(output)) throw new CliError(`unknown output format "${output}": ${OUTPUTS.join(', ')}`);
    const selector = str(ctx.flags, 'selector');
    const all = ctx.allNamespaces && name === undefined;
    const ns = all ? undefined : ctx.namespace;
    const structured = output === 'yaml' || output === 'json' || output === 'name';
    const accept = structured ? 'application/json' : TABLE_ACCEPT;
    const path = name !== undefined ? itemPath(kind.plural, ctx.namespace, name) : collectionPath(kind.plural, ns);
    const { body } = await ctx.client.json('GET', path, { accept, query: { labelSelector: selector } });
    const opts = { wide: output === 'wide', allNamespaces: all };
    let shown: number[] = [];
    if (output === 'name') {
      const items = name !== undefined ? [body] : (body.items ?? []);
      for (const o of items) ctx.io.out(`${nameOf(kind, o)}\n`);
    } else if (output === 'yaml' || output === 'json') {
      ctx.io.out(renderObjects(name !== undefined ? [body] : (body.items ?? []), output, name !== undefined));
    } else {
      const p = printable(body, ctx.io.now(), opts);
      if (p.rows.length === 0 && !bool(ctx.flags, 'watch')) {
        ctx.io.err(all ? 'No resources found\n' : `No resources found in ${ctx.namespace} namespace.\n`);
        return 0;
      }
      shown = widths(p);
      if (p.rows.length > 0 || !bool(ctx.flags, 'watch')) ctx.io.out(renderTable(p, { widths: shown }));
      else shown = [];
    }
    if (!bool(ctx.flags, 'watch')) return 0;
    // the list's revision, so the watch sends every change after what was printed
    const resourceVersion: string | undefined = body?.metadata?.resourceVersion;
    const watchPath = collectionPath(kind.plural, ns);
    const query = { labelSelector: selector, fieldSelector: name !== undefined ? `metadata.name=${name}` : undefined, resourceVersion, allowWatchBookmarks: false };
    let headerDone = shown.length > 0;
    for await (const ev of ctx.client.watch(watchPath, { accept, query })) {
      if (ev.type === 'BOOKMARK') continue;
      if (ev.type === 'ERROR') throw serverError(ev.object?.code ?? 500, ev.object);
      if (output === 'name') ctx.io.out(`${nameOf(kind, isTable(ev.object) ? (ev.object.rows[0]?.object ?? {}) : ev.object)}\n`);
      else if (output === 'yaml') ctx.io.out(`---\n${YAML.stringify(ev.object)}`);
      else if (output === 'json') ctx.io.out(JSON.stringify(ev.object, null, 4) + '\n');
      else {
        const p = eventRows(ev, ctx.io.now(), opts);
        if (!headerDone) {
          shown = widths(p);
          headerDone = true;
          ctx.io.out(renderTable(p, { widths: shown }));
        } else {
          shown = widths(p, shown);
          ctx.io.out(renderTable(p, { header: false, widths: shown }));
        }
      }
    }
    return 0;
  },
};
