// A test-only fault hook: DEPLOYER_FAULT="<point>[:crash|:pause]" makes this process SIGKILL
// itself (crash, the default) or stop and wait until its work is aborted (pause) when it
// reaches that point, so end-to-end tests can interrupt a deployment at an exact place.
//
// Points are the deployment phases (`pulling_source`, `building`, `copying_files`,
// `creating_symlinks`, `updating_routes`, `health_check`); each phase reaches its point
// half-way through its work (after the upload and before the rename, after the temporary link
// and before the rename over `current`…). The caller decides whether the hook applies (the
// deployment controller: only on a deployment's first attempt, so that the process that
// resumes it is not stopped again). Unset, the hook costs one comparison.
import { writeSync } from 'node:fs';

export interface FaultSpec {
  point: string;
  action: 'crash' | 'pause';
}

export function parseFault(value: string | undefined): FaultSpec | undefined {
  if (!value) return undefined;
  const [point, action = 'crash'] = value.split(':');
  if (!point || (action !== 'crash' && action !== 'pause')) throw new Error(`DEPLOYER_FAULT="${value}": expected "<point>[:crash|:pause]"`);
  return { point, action };
}

export type FaultHook = (point: string, signal: AbortSignal) => Promise<void>;

/** A hook for `spec` (none: a hook that does nothing). `onFault` runs just before the fault, for a log line. */
export function faultHook(spec: FaultSpec | undefined, onFault: (spec: FaultSpec) => void = () => undefined): FaultHook {
  if (!spec) return async () => undefined;
  return async (point, signal) => {
    if (point !== spec.point) return;
    onFault(spec);
    if (spec.action === 'crash') {
      // written synchronously: an asynchronous logger would lose the line to the SIGKILL
      writeSync(2, `deployer: fault hook: crash at ${point}\n`);
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
    }
    await new Promise<void>((_, reject) => {
      const abort = () => reject(signal.reason ?? new Error('aborted'));
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    });
  };
}
