// logs projectserver/NAME [-f] [--tail=N]: the server container's log, streamed as it comes.
import { bool, str } from '../args.js';
import { itemPath } from '../client.js';
import type { Command } from '../context.js';
import { CliError } from '../errors.js';
import { resolveKind, splitTypeName } from '../kinds.js';

export const logs: Command = {
  words: ['logs'],
  usage: 'logs projectserver/NAME [-f] [--tail=N]',
  summary: "print (and follow) a server's container log",
  flags: [
    { long: 'follow', short: 'f', type: 'boolean' },
    { long: 'tail', type: 'string' },
  ],
  async run(ctx) {
    const { kindWord, name } = ctx.args.length === 1 && !ctx.args[0]!.includes('/') ? { kindWord: 'projectserver', name: ctx.args[0] } : splitTypeName(ctx.args, 'logs');
    const kind = resolveKind(await ctx.kinds(), kindWord);
    if (kind.kind !== 'ProjectServer') throw new CliError(`logs are kept for projectservers only, not ${kind.plural}`);
    if (name === undefined) throw new CliError('logs: name the server, e.g. deployctl logs projectserver/blog');
    const tail = str(ctx.flags, 'tail');
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new CliError(`--tail must be a number of lines, not "${tail}"`);
    const res = await ctx.client.send('GET', `${itemPath(kind.plural, ctx.namespace, name)}/log`, {
      accept: 'text/plain',
      query: { tailLines: tail, follow: bool(ctx.flags, 'follow') ? 'true' : undefined },
    });
    if (!res.body) return 0;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) ctx.io.out(decoder.decode(chunk, { stream: true }));
    const rest = decoder.decode();
    if (rest) ctx.io.out(rest);
    return 0;
  },
};
