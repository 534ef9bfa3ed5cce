// What a command runs with: the parsed flags, the client for the chosen server, the kinds
// the server has (discovered once, on first use) and where to write.
import type { FlagSpec, FlagValues } from './args.js';
import type { ApiClient } from './client.js';
import type { Settings } from './config.js';
import type { Io } from './io.js';
import type { KindRef } from './kinds.js';

export interface Ctx {
  io: Io;
  flags: FlagValues;
  /** The positional arguments after the command words. */
  args: string[];
  settings: Settings;
  client: ApiClient;
  kinds(): Promise<KindRef[]>;
  /** The namespace to use (`-n`, the context's, or "default"). */
  namespace: string;
  allNamespaces: boolean;
  configPath: string;
}

/** One command: its words (`rollout status`), its own flags, and what it does (the exit code). */
export interface Command {
  words: string[];
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Commands that never talk to the server (config, completion) skip the connection settings' checks. */
  local?: boolean;
  run(ctx: Ctx): Promise<number>;
}

export const lower = (k: KindRef) => k.kind.toLowerCase();
