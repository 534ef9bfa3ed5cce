// Starts deployer as a whole process (server.ts), for end-to-end tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { freePort } from '../../store/index.js';

export { freePort };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));


export interface ServerProcess {
  url: string;
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  waitReady(ms?: number): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns deployer (`node start.mjs`, as `npm start` runs it, unless told otherwise) with `env`; kills it
 * (SIGKILL) at teardown if still running. No controllers run unless `env` names them
 * (DEPLOYER_CONTROLLERS), so API tests create no containers.
 */
export async function spawnServer(
  t: Test,
  env: Record<string, string | undefined>,
  command: string[] = [process.execPath, 'start.mjs'],
): Promise<ServerProcess> {
  const port = Number(env.PORT ?? (await freePort()));
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, DEPLOYER_CONTROLLERS: 'none', DEPLOYER_TLS_PORT: 'off', ...env, PORT: String(port), HOST: '127.0.0.1' }))
    if (v !== undefined && !k.startsWith('NODE_V8_COVERAGE') && !k.startsWith('TAP')) childEnv[k] = v;
  const proc = spawn(command[0], command.slice(1), { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let done = false;
  // tap's timeout ends a test file without its teardowns: never leave a deployer behind
  const orphanGuard = () => {
    if (!done) proc.kill('SIGKILL');
  };
  process.on('exit', orphanGuard);
  void exited.then(() => {
    done = true;
    process.off('exit', orphanGuard);
  });
  t.teardown(async () => {
    if (!done) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    proc,
    output: () => out,
    exited,
    async waitReady(ms = 60_000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (done) throw new Error(`deployer exited before it was ready:\n${out}`);
        try {
          const res = await fetch(`${url}/readyz`);
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`deployer was not ready within ${ms} ms:\n${out}`);
    },
    async kill(signal) {
      if (!done) proc.kill(signal);
      return exited;
    },
  };
}

export async function api(url: string, token: string, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}
