// The container logs of ProjectServers, for the API's log endpoint (api/routes/logs.ts
// LogSource). The API gets this object from server.ts and never imports docker/; the
// container is the server's live one (blue/green: the slot status.services names is not known
// here, so the slot-a name is tried, then slot b).
//
// A name is not proof of ownership: a container left by a deleted server of the same name, or
// one of another installation whose id starts alike (names carry six characters of it), may
// hold it. Only a container whose labels name this installation and the server's uid is
// streamed; anything else is as if the server had no container.
import { containerName, managedOf } from './labels.js';
import type { ContainerRuntime, ContainerState } from './types.js';

/** The server a log is asked for; `uid` is its stored object's uid. */
export interface LogServerRef {
  namespace: string;
  name: string;
  uid: string;
}

/** True when `c` is the server container of `server` in `installation` (by its labels). */
export function isServerContainerOf(c: ContainerState, installation: string, server: LogServerRef): boolean {
  const m = managedOf(c.labels);
  return (
    m !== undefined &&
    m.installation === installation &&
    m.role === 'server' &&
    m.owner.kind === 'ProjectServer' &&
    m.owner.namespace === server.namespace &&
    m.owner.name === server.name &&
    m.owner.uid === server.uid
  );
}

export function containerLogSource(runtime: ContainerRuntime, installation: () => Promise<string>) {
  const find = async (server: LogServerRef) => {
    const inst = await installation();
    const base = containerName(inst, server);
    for (const name of [base, `${base}_b`]) {
      const c = await runtime.inspect(name);
      if (c && isServerContainerOf(c, inst, server)) return c;
    }
    return null;
  };
  return {
    async tail(server: LogServerRef, tail: number): Promise<string | null> {
      const c = await find(server);
      return c ? runtime.logs(c.id, { tail }) : null;
    },
    async follow(server: LogServerRef, opts: { tail: number; signal: AbortSignal; opened: () => void }, onLine: (line: string) => void): Promise<boolean> {
      const c = await find(server);
      if (!c) return false;
      opts.opened();
      await runtime.followLogs(c.id, { tail: opts.tail, signal: opts.signal }, onLine);
      return true;
    },
  };
}
