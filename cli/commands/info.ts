// health (the monitoring summary) and version (client and server).
import type { Command } from '../context.js';
import { clientVersion, paint } from '../io.js';
import { ageOf } from '../table.js';

export interface HealthSummary {
  containers: { total: number; healthy: number; unhealthy: number; degraded: number; pending?: number; stopped: number; restarts: number };
  zombies: { found: number; removed: number; lastSweepAt: string | null };
  helpersRemoved: number;
  volumesRemoved: number;
  leaders: { name: string; holder: string | null; valid: boolean }[];
  timestamp: string;
}

/** The health answer as a few readable lines. */
export function healthText(h: HealthSummary, now: number, color = false): string {
  const c = h.containers;
  const ok = c.unhealthy === 0 && c.degraded === 0;
  const lines = [
    `Containers:  ${c.total} (${paint(color, 32, `${c.healthy} healthy`)}, ${paint(color && c.degraded > 0, 33, `${c.degraded} degraded`)}, ${paint(color && c.unhealthy > 0, 31, `${c.unhealthy} unhealthy`)}, ${c.pending ? `${c.pending} pending, ` : ''}${c.stopped} stopped), ${c.restarts} restarts`,
    `Zombies:     ${h.zombies.found} found, ${h.zombies.removed} removed${h.zombies.lastSweepAt ? ` (last sweep ${ageOf(h.zombies.lastSweepAt, now)} ago)` : ' (no sweep yet)'}`,
    `Cleanup:     ${h.helpersRemoved} helpers and ${h.volumesRemoved} volumes removed`,
    'Controllers:',
    ...(h.leaders.length ? h.leaders.map((l) => `  ${l.name.padEnd(14)}${l.valid && l.holder ? `led by ${l.holder}` : paint(color, 31, 'no leader')}`) : ['  <none running>']),
    `Overall:     ${ok ? paint(color, 32, 'healthy') : paint(color, 31, 'attention needed')}`,
  ];
  return lines.join('\n') + '\n';
}

export const health: Command = {
  words: ['health'],
  usage: 'health',
  summary: "containers' health, zombies cleaned up and the controllers' leaders",
  flags: [{ long: 'output', short: 'o', type: 'string' }],
  async run(ctx) {
    const { body } = await ctx.client.json<HealthSummary>('GET', '/api/monitoring/health');
    if (ctx.flags.output === 'json') ctx.io.out(JSON.stringify(body, null, 2) + '\n');
    else ctx.io.out(healthText(body, ctx.io.now(), ctx.io.color));
    return 0;
  },
};

export const version: Command = {
  words: ['version'],
  usage: 'version [--client]',
  summary: "deployctl's version and the server's",
  flags: [{ long: 'client', type: 'boolean' }],
  async run(ctx) {
    ctx.io.out(`Client Version: ${clientVersion()}\n`);
    if (ctx.flags.client === true) return 0;
    const { body } = await ctx.client.json<{ gitVersion?: string; major?: string; minor?: string }>('GET', '/version');
    ctx.io.out(`Server Version: ${body.gitVersion ?? 'unknown'} (Kubernetes API ${body.major}.${body.minor})\n`);
    return 0;
  },
};
