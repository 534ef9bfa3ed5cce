// delete -f FILE | delete KIND NAME, and --wait (the default) until each object is gone,
// showing the finalizers it waits on.
import { bool, str, strs } from '../args.js';
import { itemPath } from '../client.js';
import type { Command, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { resolveKind, splitTypeName, type KindRef } from '../kinds.js';
import { deleteOrder, readManifests } from '../manifests.js';
import { deadline, sleep, timedOut } from '../wait.js';

interface Target {
  kind: KindRef;
  namespace: string;
  name: string;
}

async function targetsOf(ctx: Ctx): Promise<Target[]> {
  const kinds = await ctx.kinds();
  const files = strs(ctx.flags, 'filename');
  if (files.length) {
    if (ctx.args.length) throw new CliError('delete: either -f FILE or KIND NAME, not both');
    return deleteOrder(await readManifests(files, () => ctx.io.readStdin())).map((m) => ({
      kind: resolveKind(kinds, m.kind),
      namespace: m.metadata.namespace ?? ctx.namespace,
      name: m.metadata.name,
    }));
  }
  const { kindWord, name } = splitTypeName(ctx.args.slice(0, 1), 'delete');
  const names = name !== undefined ? [name, ...ctx.args.slice(1)] : ctx.args.slice(1);
  if (names.length === 0) throw new CliError('delete: name the objects, e.g. deployctl delete projectserver blog, or use -f FILE');
  const kind = resolveKind(kinds, kindWord);
  return names.map((n) => ({ kind, namespace: ctx.namespace, name: n }));
}

export const del: Command = {
  words: ['delete'],
  usage: 'delete (-f FILE|DIR|- | KIND NAME...) [--wait=true] [--timeout=DURATION]',
  summary: 'delete objects, waiting until they are gone',
  flags: [
    { long: 'filename', short: 'f', type: 'strings' },
    { long: 'wait', type: 'boolean', default: true },
    { long: 'timeout', type: 'string' },
    { long: 'ignore-not-found', type: 'boolean' },
  ],
  async run(ctx) {
    let failed = 0;
    const pending: (Target & { path: string })[] = [];
    for (const t of await targetsOf(ctx)) {
      const path = itemPath(t.kind.plural, t.namespace, t.name);
      try {
        const { status } = await ctx.client.json('DELETE', path, {}, bool(ctx.flags, 'ignore-not-found') ? [404] : []);
        if (status === 404) continue;
        ctx.io.out(`${t.kind.kind.toLowerCase()} "${t.name}" deleted\n`);
        pending.push({ ...t, path });
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        failed++;
        ctx.io.err(`${err.message}\n`);
      }
    }
    if (!bool(ctx.flags, 'wait')) return failed ? 1 : 0;
    const timeout = str(ctx.flags, 'timeout');
    const until = deadline(timeout, ctx.io.now());
    const started = ctx.io.now();
    for (const t of pending) {
      for (;;) {
        const obj = await ctx.client.getOrNull(t.path);
        if (!obj) break;
        if (ctx.io.now() > until) throw timedOut(`${t.kind.kind.toLowerCase()} "${t.name}" to be deleted`, timeout);
        const fin = (obj.metadata?.finalizers ?? []) as string[];
        const secs = Math.round((ctx.io.now() - started) / 1000);
        ctx.io.progress(`waiting for ${t.kind.kind.toLowerCase()} "${t.name}" to go${fin.length ? ` (finalizers: ${fin.join(', ')})` : ''}… ${secs}s`);
        await sleep(250);
      }
    }
    ctx.io.progress('');
    return failed ? 1 : 0;
  },
};
