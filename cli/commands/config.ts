// config set-context | use-context | get-contexts | current-context | kubeconfig: the
// contexts file (mode 0600) and a kubeconfig for real kubectl.
import { str } from '../args.js';
import type { Command } from '../context.js';
import { kubeconfig, type TlsEndpoint, loadConfig, saveConfig, setContext, useContext } from '../config.js';
import { CliError } from '../errors.js';
import { renderTable } from '../table.js';

const nameArg = (args: string[], verb: string) => {
  if (args.length !== 1) throw new CliError(`config ${verb}: name one context, e.g. deployctl config ${verb} dev`);
  return args[0]!;
};

const setCtx: Command = {
  words: ['config', 'set-context'],
  usage: 'config set-context NAME [--server=URL] [--token=TOKEN] [--namespace=NS]',
  summary: 'create or change a context (the first one becomes current)',
  flags: [],
  local: true,
  async run(ctx) {
    const name = nameArg(ctx.args, 'set-context');
    const cfg = await loadConfig(ctx.configPath);
    const existed = cfg.contexts.some((c) => c.name === name);
    const next = setContext(cfg, name, { server: str(ctx.flags, 'server'), token: str(ctx.flags, 'token'), namespace: str(ctx.flags, 'namespace') });
    await saveConfig(ctx.configPath, next);
    ctx.io.out(`Context "${name}" ${existed ? 'modified' : 'created'}.\n`);
    return 0;
  },
};

const use: Command = {
  words: ['config', 'use-context'],
  usage: 'config use-context NAME',
  summary: 'make a context the current one',
  flags: [],
  local: true,
  async run(ctx) {
    const name = nameArg(ctx.args, 'use-context');
    await saveConfig(ctx.configPath, useContext(await loadConfig(ctx.configPath), name));
    ctx.io.out(`Switched to context "${name}".\n`);
    return 0;
  },
};

const list: Command = {
  words: ['config', 'get-contexts'],
  usage: 'config get-contexts',
  summary: 'the contexts (the current one marked *)',
  flags: [],
  local: true,
  async run(ctx) {
    const cfg = await loadConfig(ctx.configPath);
    const rows = cfg.contexts.map((c) => [c.name === cfg['current-context'] ? '*' : '', c.name, c.server ?? '', c.namespace ?? '']);
    ctx.io.out(renderTable({ headers: ['CURRENT', 'NAME', 'SERVER', 'NAMESPACE'], rows }));
    return 0;
  },
};

const current: Command = {
  words: ['config', 'current-context'],
  usage: 'config current-context',
  summary: 'the current context',
  flags: [],
  local: true,
  async run(ctx) {
    const cfg = await loadConfig(ctx.configPath);
    if (!cfg['current-context']) throw new CliError('current-context is not set');
    ctx.io.out(`${cfg['current-context']}\n`);
    return 0;
  },
};

const kube: Command = {
  words: ['config', 'kubeconfig'],
  usage: 'config kubeconfig',
  summary: "a kubeconfig for kubectl that reaches the same deployer (its HTTPS endpoint and certificate, the token, the namespace)",
  flags: [],
  async run(ctx) {
    const tls = await ctx.client.getOrNull<TlsEndpoint>('/api/tls');
    ctx.io.out(kubeconfig(ctx.settings, tls ?? undefined));
    return 0;
  },
};

export const config = [setCtx, use, list, current, kube];
