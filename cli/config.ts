// deployctl's config file: named contexts (server, token, namespace) and the current one,
// YAML at $DEPLOYCTL_CONFIG or ~/.config/deployctl/config.yaml, written mode 0600 (it holds
// tokens). Pure functions over the parsed file, and two small ones that read and write it.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { CliError } from './errors.js';

export interface Context {
  name: string;
  server?: string;
  token?: string;
  namespace?: string;
}

export interface ConfigFile {
  'current-context'?: string;
  contexts: Context[];
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export function configPath(env: Readonly<Record<string, string | undefined>>): string {
  if (env.DEPLOYCTL_CONFIG) return env.DEPLOYCTL_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'deployctl', 'config.yaml');
}

/** Parses the file's text; throws a CliError naming the file when it is not a config. */
export function parseConfig(text: string, path = 'config'): ConfigFile {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new CliError(`${path}: not YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return { contexts: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new CliError(`${path}: expected a mapping with current-context and contexts`);
  const d = doc as Record<string, unknown>;
  const contexts = d.contexts ?? [];
  if (!Array.isArray(contexts)) throw new CliError(`${path}: contexts must be a list`);
  const out: ConfigFile = { contexts: [] };
  if (typeof d['current-context'] === 'string') out['current-context'] = d['current-context'];
  for (const [i, c] of contexts.entries()) {
    if (!c || typeof c !== 'object' || typeof (c as Context).name !== 'string') throw new CliError(`${path}: contexts[${i}] needs a name`);
    const ctx: Context = { name: (c as Context).name };
    for (const k of ['server', 'token', 'namespace'] as const) {
      const v = (c as Record<string, unknown>)[k];
      if (typeof v === 'string' && v !== '') ctx[k] = v;
    }
    out.contexts.push(ctx);
  }
  return out;
}

export function renderConfig(cfg: ConfigFile): string {
  const doc: Record<string, unknown> = {};
  if (cfg['current-context']) doc['current-context'] = cfg['current-context'];
  doc.contexts = cfg.contexts;
  return YAML.stringify(doc);
}

/** Creates or updates a context; fields left undefined keep their values. The first context becomes current. */
export function setContext(cfg: ConfigFile, name: string, fields: Omit<Context, 'name'>): ConfigFile {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@:-]*$/.test(name)) throw new CliError(`invalid context name "${name}": letters, digits and . _ @ : -`);
  if (fields.server !== undefined) checkServer(fields.server);
  const contexts = cfg.contexts.map((c) => ({ ...c }));
  let ctx = contexts.find((c) => c.name === name);
  if (!ctx) contexts.push((ctx = { name }));
  for (const k of ['server', 'token', 'namespace'] as const) {
    const v = fields[k];
    if (v === undefined) continue;
    if (v === '') delete ctx[k];
    else ctx[k] = v;
  }
  return { ...cfg, contexts, 'current-context': cfg['current-context'] ?? name };
}

export function useContext(cfg: ConfigFile, name: string): ConfigFile {
  if (!cfg.contexts.some((c) => c.name === name)) throw new CliError(`no context exists with the name: "${name}"${knownContexts(cfg)}`);
  return { ...cfg, 'current-context': name };
}

const knownContexts = (cfg: ConfigFile) => (cfg.contexts.length ? ` (contexts: ${cfg.contexts.map((c) => c.name).join(', ')})` : ' (there are none: deployctl config set-context NAME --server=URL --token=TOKEN)');

export function checkServer(server: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new CliError(`invalid server "${server}": a URL such as http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`invalid server "${server}": http:// or https://`);
  return server;
}

export interface Settings {
  server: string;
  token?: string;
  namespace: string;
  /** The context used, if any. */
  context?: string;
}

/**
 * What a run talks to. Flags win; then an explicitly chosen `--context`; then
 * DEPLOYER_SERVER / DEPLOYER_TOKEN; then the current context; the server defaults to
 * DEFAULT_SERVER and the namespace to "default".
 */
export function resolveSettings(
  cfg: ConfigFile,
  flags: { server?: string; token?: string; context?: string; namespace?: string },
  env: Readonly<Record<string, string | undefined>>,
): Settings {
  let ctx: Context | undefined;
  if (flags.context !== undefined) {
    ctx = cfg.contexts.find((c) => c.name === flags.context);
    if (!ctx) throw new CliError(`context "${flags.context}" does not exist${knownContexts(cfg)}`);
  } else if (cfg['current-context']) ctx = cfg.contexts.find((c) => c.name === cfg['current-context']);
  const explicit = flags.context !== undefined;
  const pick = (flag: string | undefined, envValue: string | undefined, fromCtx: string | undefined) =>
    flag ?? (explicit ? (fromCtx ?? envValue) : (envValue || undefined) ?? fromCtx);
  const server = checkServer(pick(flags.server, env.DEPLOYER_SERVER, ctx?.server) ?? DEFAULT_SERVER);
  const token = pick(flags.token, env.DEPLOYER_TOKEN, ctx?.token);
  const namespace = flags.namespace ?? ctx?.namespace ?? 'default';
  return { server, token: token || undefined, namespace, context: ctx?.name };
}

/** Where deployer serves HTTPS and the certificate to trust (GET /api/tls). */
export interface TlsEndpoint {
  server: string;
  certificateAuthorityData: string;
}

/**
 * A kubeconfig (YAML) for real kubectl that reaches the same deployer as `s`: through its
 * HTTPS endpoint when `tls` is given (client-go drops a token meant for an http:// server),
 * else at `s.server` with a comment saying why kubectl will be refused.
 */
export function kubeconfig(s: Settings, tls?: TlsEndpoint): string {
  const name = s.context ?? 'deployer';
  const server = tls?.server ?? s.server;
  const note = server.startsWith('http:')
    ? `# kubectl sends the token only over https, and ${s.server} serves no HTTPS (DEPLOYER_TLS_PORT=off):\n# start deployer with its HTTPS port, or put a TLS terminator in front (README, "kubectl")\n`
    : '';
  const cluster: Record<string, string> = { server };
  if (tls) cluster['certificate-authority-data'] = tls.certificateAuthorityData;
  return note + YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name, user: s.token ? { token: s.token } : {} }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: s.namespace } }],
    'current-context': name,
    preferences: {},
  });
}

export async function loadConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: [] };
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return parseConfig(text, path);
}

/** Writes the file atomically, mode 0600 (its directory 0700 when created). */
export async function saveConfig(path: string, cfg: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, renderConfig(cfg), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
