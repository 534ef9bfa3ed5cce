// describe KIND NAME: metadata, spec, status, conditions and the object's Events, as kubectl
// describe lays them out.
import YAML from 'yaml';
import { collectionPath, itemPath } from '../client.js';
import type { Command } from '../context.js';
import { CliError } from '../errors.js';
import { resolveKind, splitTypeName } from '../kinds.js';
import { ageOf, renderTable } from '../table.js';

export interface EventLike {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  source?: { component?: string };
  reportingComponent?: string;
  involvedObject?: { kind?: string; name?: string };
  metadata?: { creationTimestamp?: string; name?: string };
}

/** When an Event last happened. */
export const eventTime = (e: EventLike) => e.lastTimestamp ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;

/** kubectl's event age: `5m`, or `5m (x3 over 20m)` for a repeated one. */
export function eventAge(e: EventLike, now: number): string {
  const last = ageOf(eventTime(e), now);
  if ((e.count ?? 1) > 1 && e.firstTimestamp) return `${last} (x${e.count} over ${ageOf(e.firstTimestamp, now)})`;
  return last;
}

const indent = (text: string, by: string) =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => by + l)
    .join('\n') + '\n';

const mapLine = (m: Record<string, string> | undefined) =>
  m && Object.keys(m).length ? Object.entries(m).map(([k, v]) => `${k}=${v}`).join('\n              ') : '<none>';

/** The whole describe text of `obj` and its Events (pure, so it is tested as text). */
export function describeText(obj: Record<string, any>, events: EventLike[], now: number): string {
  const md = obj.metadata ?? {};
  const out: string[] = [];
  const field = (k: string, v: string) => out.push(`${`${k}:`.padEnd(14)}${v}`);
  field('Name', md.name);
  field('Namespace', md.namespace);
  field('Kind', obj.kind);
  field('Labels', mapLine(md.labels));
  const annotations = Object.fromEntries(Object.entries((md.annotations ?? {}) as Record<string, string>).filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration'));
  field('Annotations', mapLine(annotations));
  field('Created', md.creationTimestamp ? `${md.creationTimestamp} (${ageOf(md.creationTimestamp, now)} ago)` : '<unknown>');
  if (md.deletionTimestamp) field('Deleting', `since ${md.deletionTimestamp}, finalizers: ${(md.finalizers ?? []).join(', ') || '<none>'}`);
  else if (md.finalizers?.length) field('Finalizers', md.finalizers.join(', '));
  if (md.ownerReferences?.length) field('Owners', md.ownerReferences.map((o: { kind: string; name: string }) => `${o.kind}/${o.name}`).join(', '));
  const body: Record<string, any> = {};
  for (const [k, v] of Object.entries(obj)) if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) body[k] = v;
  if (Object.keys(body).length) out.push(indent(YAML.stringify(body), '').trimEnd());
  if (obj.spec !== undefined) out.push('Spec:', indent(YAML.stringify(obj.spec), '  ').trimEnd());
  const { conditions, ...status } = (obj.status ?? {}) as { conditions?: Record<string, string>[] };
  if (Object.keys(status).length) out.push('Status:', indent(YAML.stringify(status), '  ').trimEnd());
  if (conditions?.length) {
    out.push('Conditions:');
    const rows = conditions.map((c) => [c.type ?? '', c.status ?? '', c.reason || '<none>', ageOf(c.lastTransitionTime, now), c.message || '']);
    out.push(indent(renderTable({ headers: ['Type', 'Status', 'Reason', 'Age', 'Message'], rows }), '  ').trimEnd());
  }
  if (events.length === 0) out.push('Events:       <none>');
  else {
    out.push('Events:');
    const sorted = [...events].sort((a, b) => Date.parse(eventTime(a) ?? '') - Date.parse(eventTime(b) ?? ''));
    const rows = sorted.map((e) => [e.type ?? 'Normal', e.reason ?? '', eventAge(e, now), e.source?.component ?? e.reportingComponent ?? '', e.message ?? '']);
    const table = renderTable({ headers: ['Type', 'Reason', 'Age', 'From', 'Message'], rows });
    const [head, ...lines] = table.replace(/\n$/, '').split('\n');
    const rule = head!.replace(/\S+/g, (w) => '-'.repeat(w.length));
    out.push(indent([head, rule, ...lines].join('\n'), '  ').trimEnd());
  }
  return out.join('\n') + '\n';
}

export const describe: Command = {
  words: ['describe'],
  usage: 'describe KIND NAME',
  summary: 'show an object in detail, with its conditions and Events',
  flags: [],
  async run(ctx) {
    const { kindWord, name } = splitTypeName(ctx.args, 'describe');
    if (name === undefined) throw new CliError('describe: name the object, e.g. deployctl describe projectserver blog');
    const kinds = await ctx.kinds();
    const kind = resolveKind(kinds, kindWord);
    const { body: obj } = await ctx.client.json('GET', itemPath(kind.plural, ctx.namespace, name));
    const eventKind = kinds.find((k) => k.kind === 'Event');
    let events: EventLike[] = [];
    if (eventKind && kind.kind !== 'Event') {
      const { body } = await ctx.client.json('GET', collectionPath(eventKind.plural, ctx.namespace), {
        query: { fieldSelector: `involvedObject.kind=${kind.kind},involvedObject.name=${name}` },
      });
      events = body.items ?? [];
    }
    ctx.io.out(describeText(obj, events, ctx.io.now()));
    return 0;
  },
};
