// apply -f and diff -f: the declarative PUT per object, and what it would change.
import { bool, strs } from '../args.js';
import { itemPath } from '../client.js';
import type { Command, Ctx } from '../context.js';
import { colorDiff, forDiff, toYaml, unifiedDiff } from '../diff.js';
import { CliError } from '../errors.js';
import { resolveKind, type KindRef } from '../kinds.js';
import { applyOrder, readManifests, type Manifest } from '../manifests.js';

/** The outcome word of one apply: 201 → created; a new resourceVersion → configured; else unchanged. */
export function applyOutcome(status: number, before: { metadata?: { resourceVersion?: string } } | null, after: { metadata?: { resourceVersion?: string } }): 'created' | 'configured' | 'unchanged' {
  if (status === 201 || before === null) return 'created';
  return before.metadata?.resourceVersion === after.metadata?.resourceVersion ? 'unchanged' : 'configured';
}

/**
 * The body of the PUT: the manifest in the namespace, keeping what controllers add and the
 * manifest does not state (finalizers, ownerReferences), so applying the same file twice
 * changes nothing and never drops a finalizer that cleanup waits on.
 */
export function putBody(m: Manifest, current: Record<string, any> | null, namespace: string): Record<string, any> {
  const body: Record<string, any> = structuredClone(m);
  body.metadata = { ...body.metadata, namespace };
  delete body.metadata.resourceVersion;
  delete body.status;
  if (current)
    for (const k of ['finalizers', 'ownerReferences'])
      if (body.metadata[k] === undefined && current.metadata?.[k] !== undefined) body.metadata[k] = current.metadata[k];
  return body;
}

interface Target {
  m: Manifest;
  kind: KindRef;
  namespace: string;
  path: string;
}

async function targets(ctx: Ctx): Promise<Target[]> {
  const objects = applyOrder(await readManifests(strs(ctx.flags, 'filename'), () => ctx.io.readStdin()));
  const kinds = await ctx.kinds();
  return objects.map((m) => {
    const kind = resolveKind(kinds, m.kind);
    const namespace = m.metadata.namespace ?? ctx.namespace;
    return { m, kind, namespace, path: itemPath(kind.plural, namespace, m.metadata.name) };
  });
}

const FILE_FLAG = { long: 'filename', short: 'f', type: 'strings' } as const;

export const apply: Command = {
  words: ['apply'],
  usage: 'apply -f FILE|DIR|- [--dry-run]',
  summary: 'create or update objects from manifests (YAML or JSON)',
  flags: [FILE_FLAG, { long: 'dry-run', type: 'boolean' }],
  async run(ctx) {
    const dryRun = bool(ctx.flags, 'dry-run');
    let failed = 0;
    for (const t of await targets(ctx)) {
      const ref = `${t.kind.kind.toLowerCase()}/${t.m.metadata.name}`;
      try {
        const before = await ctx.client.getOrNull(t.path);
        const { status, body } = await ctx.client.json('PUT', t.path, { body: putBody(t.m, before, t.namespace), query: { dryRun: dryRun ? 'All' : undefined } });
        let outcome = applyOutcome(status, before, body);
        // a dry run returns the stored resourceVersion: compare the objects instead
        if (dryRun && before) outcome = toYaml(forDiff(before)) === toYaml(forDiff(body)) ? 'unchanged' : 'configured';
        ctx.io.out(`${ref} ${outcome}${dryRun ? ' (dry run)' : ''}\n`);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        failed++;
        ctx.io.err(`${err.message}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};

export const diff: Command = {
  words: ['diff'],
  usage: 'diff -f FILE|DIR|-',
  summary: 'show what apply would change (exit 1 when something would)',
  flags: [FILE_FLAG],
  async run(ctx) {
    let differs = false;
    for (const t of await targets(ctx)) {
      const before = await ctx.client.getOrNull(t.path);
      const { body: after } = await ctx.client.json('PUT', t.path, { body: putBody(t.m, before, t.namespace), query: { dryRun: 'All' } });
      const label = `${t.kind.plural}/${t.namespace}/${t.m.metadata.name}`;
      const text = unifiedDiff(toYaml(forDiff(before)), toYaml(forDiff(after)), before ? `live/${label}` : '/dev/null', `merged/${label}`);
      if (text === '') continue;
      differs = true;
      ctx.io.out(ctx.io.color ? colorDiff(text) : text);
    }
    return differs ? 1 : 0;
  },
};
