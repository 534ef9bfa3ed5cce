// deployctl: the command table, global flags, and one run (argv in, exit code out). The
// process edges (stdout, env, fetch) come in as arguments, so a run is testable in-process.
import { bool, commandWords, GLOBAL_FLAGS, parseArgs, str } from './args.js';
import { ApiClient, type Fetch } from './client.js';
import { configPath, loadConfig, resolveSettings, type Settings } from './config.js';
import type { Command, Ctx } from './context.js';
import { CliError } from './errors.js';
import { processIo, type Io } from './io.js';
import { discoverKinds, type KindRef } from './kinds.js';
import { apply, diff } from './commands/apply.js';
import { completionCommand } from './commands/completion.js';
import { config } from './commands/config.js';
import { del } from './commands/delete.js';
import { describe } from './commands/describe.js';
import { events } from './commands/events.js';
import { get } from './commands/get.js';
import { health, version } from './commands/info.js';
import { logs } from './commands/logs.js';
import { rollout } from './commands/rollout.js';

const COMMANDS: Command[] = [get, describe, apply, diff, del, ...rollout, logs, events, health, version, ...config];
COMMANDS.push(
  completionCommand(() => {
    const top = [...new Set(COMMANDS.map((c) => c.words[0]!))];
    const sub: Record<string, string[]> = {};
    for (const c of COMMANDS) if (c.words.length > 1) (sub[c.words[0]!] ??= []).push(c.words[1]!);
    return { top, sub };
  }),
);

/** The command `words` start with (the longest match), or undefined. */
export function findCommand(words: readonly string[]): Command | undefined {
  return COMMANDS.filter((c) => c.words.every((w, i) => words[i] === w)).sort((a, b) => b.words.length - a.words.length)[0];
}

export function helpText(): string {
  const lines = COMMANDS.map((c) => `  ${c.usage.padEnd(62)} ${c.summary}`);
  return `deployctl: deployer's command line

Usage: deployctl COMMAND [flags]

Commands:
${lines.join('\n')}

Flags for every command:
  --server=URL, --token=TOKEN   override DEPLOYER_SERVER / DEPLOYER_TOKEN and the context
  --context=NAME                use this context of the config file
  -n, --namespace=NS            the namespace (default: the context's, else "default")
  -A, --all-namespaces          every namespace the token may read (get, events)

Config: $DEPLOYCTL_CONFIG, else ~/.config/deployctl/config.yaml (deployctl config set-context).
`;
}

function usageOf(c: Command): string {
  const flags = c.flags.map((f) => `  ${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.type === 'boolean' ? '' : '=VALUE'}`).join('\n');
  return `${c.summary}\n\nUsage: deployctl ${c.usage}\n${flags ? `\nFlags:\n${flags}\n` : ''}`;
}

/** Runs deployctl once; prints errors itself and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo(), fetchImpl: Fetch = fetch): Promise<number> {
  try {
    const words = commandWords(argv, 2);
    if (words.length === 0) {
      if (argv.some((a) => a === '-h' || a === '--help')) {
        io.out(helpText());
        return 0;
      }
      io.err(helpText());
      return 1;
    }
    const cmd = findCommand(words);
    if (!cmd) {
      const group = COMMANDS.filter((c) => c.words[0] === words[0]);
      if (group.length) throw new CliError(`unknown command "${words.join(' ')}": ${group.map((c) => c.words.join(' ')).join(', ')}`);
      throw new CliError(`unknown command "${words[0]}" for "deployctl"; run deployctl --help for the commands`);
    }
    const parsed = parseArgs(argv, [...GLOBAL_FLAGS, ...cmd.flags]);
    if (bool(parsed.flags, 'help')) {
      io.out(usageOf(cmd));
      return 0;
    }
    const path = configPath(io.env);
    let settings: Settings | undefined;
    let client: ApiClient | undefined;
    let kinds: Promise<KindRef[]> | undefined;
    const cfg = await loadConfig(path);
    const settingsOf = () =>
      (settings ??= resolveSettings(cfg, { server: str(parsed.flags, 'server'), token: str(parsed.flags, 'token'), context: str(parsed.flags, 'context'), namespace: str(parsed.flags, 'namespace') }, io.env));
    const ctx: Ctx = {
      io,
      flags: parsed.flags,
      args: parsed.positionals.slice(cmd.words.length),
      get settings() {
        return settingsOf();
      },
      get client() {
        return (client ??= new ApiClient({ server: settingsOf().server, token: settingsOf().token }, fetchImpl));
      },
      kinds: () => (kinds ??= discoverKinds(ctx.client)),
      get namespace() {
        return settingsOf().namespace;
      },
      allNamespaces: bool(parsed.flags, 'all-namespaces'),
      configPath: path,
    };
    return await cmd.run(ctx);
  } catch (err) {
    if (err instanceof CliError) {
      io.progress('');
      io.err(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
