// The container logs of ProjectServers, by namespace and name, for the API's log endpoint
// (api/routes/logs.ts LogSource). The API gets this object from server.ts and never imports
// docker/; the container is the server's live one (blue/green: the slot status.services names
// is not known here, so the slot-a name is tried, then slot b).
import { containerName } from './labels.js';
import type { ContainerRuntime } from './types.js';

export function containerLogSource(runtime: ContainerRuntime, installation: () => Promise<string>) {
  const find = async (namespace: string, name: string) => {
    const base = containerName(await installation(), { namespace, name });
    return (await runtime.inspect(base)) ?? (await runtime.inspect(`${base}_b`));
  };
  return {
    async tail(namespace: string, name: string, tail: number): Promise<string | null> {
      const c = await find(namespace, name);
      return c ? runtime.logs(c.id, { tail }) : null;
    },
    async follow(namespace: string, name: string, opts: { tail: number; signal: AbortSignal; opened: () => void }, onLine: (line: string) => void): Promise<boolean> {
      const c = await find(namespace, name);
      if (!c) return false;
      opts.opened();
      await runtime.followLogs(c.id, { tail: opts.tail, signal: opts.signal }, onLine);
      return true;
    },
  };
}
