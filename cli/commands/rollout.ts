// rollout status deployment/NAME (follow the phases until active or failed), rollout undo
// projectserver/NAME [--to=DEPLOYMENT] (a Deployment from a retained release) and rollout
// history projectserver/NAME.
import { str } from '../args.js';
import { collectionPath, itemPath } from '../client.js';
import type { Command, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { resolveKind, splitTypeName, type KindRef } from '../kinds.js';
import { ageOf, renderTable, type Printable } from '../table.js';
import { deadline, timedOut } from '../wait.js';

type Obj = Record<string, any>;

async function kindNamed(ctx: Ctx, verb: string, want: string): Promise<{ kind: KindRef; name: string }> {
  const { kindWord, name } = splitTypeName(ctx.args, `rollout ${verb}`);
  const kind = resolveKind(await ctx.kinds(), kindWord);
  if (kind.kind !== want) throw new CliError(`rollout ${verb} works on ${want.toLowerCase()}/NAME, not ${kind.plural}`);
  if (name === undefined) throw new CliError(`rollout ${verb}: name the ${want}, e.g. ${want.toLowerCase()}/NAME`);
  return { kind, name };
}

/** The line printed when a Deployment's phase (or progress) changes. */
export function phaseLine(name: string, st: Obj): string {
  const progress = typeof st.phaseProgress === 'number' && !['active', 'failed', 'superseded'].includes(st.phase) ? ` (${st.phaseProgress}%)` : '';
  return `deployment "${name}": ${st.phase ?? 'pending'}${progress}`;
}

/** The exit of a terminal phase: [code, line], or undefined while it goes on. */
export function terminal(name: string, st: Obj): [number, string] | undefined {
  if (st.phase === 'active') return [0, `deployment "${name}" successfully rolled out`];
  if (st.phase === 'failed') {
    const where = st.phaseMetadata?.failedPhase ? ` in ${st.phaseMetadata.failedPhase}` : '';
    return [1, `deployment "${name}" failed${where}: ${st.message ?? 'no reason recorded'}`];
  }
  if (st.phase === 'superseded') return [1, `deployment "${name}" was superseded by a newer deployment of its server and will not go live${st.message ? `: ${st.message}` : ''}`];
  return undefined;
}

const status: Command = {
  words: ['rollout', 'status'],
  usage: 'rollout status deployment/NAME [--timeout=DURATION]',
  summary: "follow a deployment's phases until it is active (exit 0) or failed (exit 1)",
  flags: [{ long: 'timeout', type: 'string' }],
  async run(ctx) {
    const { kind, name } = await kindNamed(ctx, 'status', 'Deployment');
    const timeout = str(ctx.flags, 'timeout');
    const until = deadline(timeout, ctx.io.now());
    const first = (await ctx.client.json('GET', itemPath(kind.plural, ctx.namespace, name))).body as Obj;
    const abort = new AbortController();
    const timer = until === Infinity ? undefined : setTimeout(() => abort.abort(), until - ctx.io.now());
    let last = '';
    const seen = (o: Obj): [number, string] | undefined => {
      const st = o.status ?? {};
      const line = phaseLine(name, st);
      const phase = String(st.phase);
      if (!last.startsWith(`${phase}:`)) ctx.io.out(`${line}\n`);
      else if (last !== `${phase}:${st.phaseProgress}`) ctx.io.progress(line);
      last = `${phase}:${st.phaseProgress}`;
      return terminal(name, st);
    };
    try {
      let done = seen(first);
      let rv: string | undefined = first.metadata?.resourceVersion;
      while (!done && !abort.signal.aborted) {
        // resumes after the stream ends (server restart, timeout) from the last revision seen
        for await (const ev of ctx.client.watch(collectionPath(kind.plural, ctx.namespace), {
          signal: abort.signal,
          query: { fieldSelector: `metadata.name=${name}`, resourceVersion: rv, allowWatchBookmarks: true },
        })) {
          if (ev.type === 'BOOKMARK') {
            rv = ev.object?.metadata?.resourceVersion ?? rv;
            continue;
          }
          if (ev.type === 'ERROR') {
            rv = undefined; // expired: start again from the current state
            break;
          }
          if (ev.type === 'DELETED') throw new CliError(`deployment "${name}" was deleted`);
          rv = ev.object.metadata?.resourceVersion;
          if ((done = seen(ev.object))) break;
        }
      }
      if (!done) throw timedOut(`deployment "${name}" to finish`, timeout);
      ctx.io.progress('');
      if (done[0] === 0) ctx.io.out(`${done[1]}\n`);
      else ctx.io.err(`${done[1]}\n`);
      return done[0];
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw timedOut(`deployment "${name}" to finish`, timeout);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  },
};

async function deploymentsOf(ctx: Ctx, server: string): Promise<{ deployments: Obj[]; deploymentKind: KindRef }> {
  const deploymentKind = resolveKind(await ctx.kinds(), 'Deployment');
  const { body } = await ctx.client.json('GET', collectionPath(deploymentKind.plural, ctx.namespace));
  const deployments = ((body.items ?? []) as Obj[])
    .filter((d) => d.spec?.projectServer === server)
    .sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
  return { deployments, deploymentKind };
}

/** The Deployment undo goes back to: `to`, or the newest that went live other than the current one. */
export function undoTarget(deployments: readonly Obj[], current: string | undefined, to: string | undefined, server: string): Obj {
  if (to !== undefined) {
    const d = deployments.find((x) => x.metadata.name === to);
    if (!d) throw new CliError(`deployment "${to}" is not a deployment of projectserver "${server}"`);
    return d;
  }
  const candidates = deployments.filter((d) => d.metadata.name !== current && ['active', 'superseded'].includes(d.status?.phase));
  const d = candidates[candidates.length - 1];
  if (!d) throw new CliError(`projectserver "${server}" has no earlier deployment that went live to roll back to`);
  return d;
}

const undo: Command = {
  words: ['rollout', 'undo'],
  usage: 'rollout undo projectserver/NAME [--to=DEPLOYMENT]',
  summary: 'roll a server back to an earlier release (a new Deployment from it)',
  flags: [{ long: 'to', type: 'string' }],
  async run(ctx) {
    const { kind, name } = await kindNamed(ctx, 'undo', 'ProjectServer');
    const server = (await ctx.client.json('GET', itemPath(kind.plural, ctx.namespace, name))).body as Obj;
    const { deployments, deploymentKind } = await deploymentsOf(ctx, name);
    const target = undoTarget(deployments, server.status?.currentDeployment, str(ctx.flags, 'to'), name);
    const spec: Obj = { projectServer: name, source: { fromDeployment: { name: target.metadata.name } } };
    if (target.spec?.service) spec.service = target.spec.service;
    const { body } = await ctx.client.json('POST', collectionPath(deploymentKind.plural, ctx.namespace), {
      body: { apiVersion: 'deployer.dev/v1', kind: 'Deployment', metadata: { generateName: `${name.slice(0, 48)}-rollback-` }, spec },
    });
    ctx.io.out(`deployment/${body.metadata.name} created: projectserver/${name} rolls back to ${target.metadata.name}\n`);
    return 0;
  },
};

/** The history table: oldest first, `*` marking the server's current deployment. */
export function historyTable(deployments: readonly Obj[], current: string | undefined, now: number): Printable {
  const rows = deployments.map((d) => {
    const src = d.spec?.source ?? {};
    const k = Object.keys(src)[0] ?? '<none>';
    const source = k === 'fromDeployment' ? `fromDeployment:${src.fromDeployment?.name}` : k;
    const st = d.status ?? {};
    return [d.metadata.name, st.phase ?? 'pending', source, st.startedAt ? ageOf(st.startedAt, now) : '<none>', st.finishedAt ? ageOf(st.finishedAt, now) : '<none>', d.metadata.name === current ? '*' : ''];
  });
  return { headers: ['DEPLOYMENT', 'PHASE', 'SOURCE', 'STARTED', 'FINISHED', 'CURRENT'], rows };
}

const history: Command = {
  words: ['rollout', 'history'],
  usage: 'rollout history projectserver/NAME',
  summary: "a server's deployments, oldest first, and which one is live",
  flags: [],
  async run(ctx) {
    const { kind, name } = await kindNamed(ctx, 'history', 'ProjectServer');
    const server = (await ctx.client.json('GET', itemPath(kind.plural, ctx.namespace, name))).body as Obj;
    const { deployments } = await deploymentsOf(ctx, name);
    if (deployments.length === 0) {
      ctx.io.err(`projectserver "${name}" has no deployments\n`);
      return 0;
    }
    ctx.io.out(renderTable(historyTable(deployments, server.status?.currentDeployment, ctx.io.now())));
    return 0;
  },
};

export const rollout = [status, undo, history];
