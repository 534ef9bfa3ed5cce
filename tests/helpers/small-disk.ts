// A real, small filesystem for tests of a full disk: a tmpfs of a given size mounted on a
// fresh directory (needs root, as the test runner is). Teardown stops a postmaster left
// running on it (a deployer killed with SIGKILL does not stop its embedded Postgres), then
// unmounts and removes the directory, also when the test failed.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';

const run = promisify(execFile);

export interface SmallDisk {
  /** The mount point (mode 1777, as tmpfs makes it). */
  dir: string;
  /** Bytes still free for an unprivileged writer (statfs bavail). */
  available(): Promise<number>;
  /**
   * Writes a filler file until at most `leave` bytes stay free (the rest of the disk is
   * taken); returns its size. Writing stops at ENOSPC too: a concurrent writer (Postgres)
   * may take space meanwhile.
   */
  fill(leave: number): Promise<number>;
  /** Removes the filler file: the space is free again. */
  free(): Promise<void>;
}

/** Mounts a tmpfs of `megabytes` MiB; `t.teardown` unmounts it. */
export async function smallDisk(t: Test, megabytes: number, prefix: string): Promise<SmallDisk> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=1777`, 'tmpfs', dir]);
  } catch (err) {
    await rmdir(dir).catch(() => undefined);
    throw new Error(`cannot mount a ${megabytes} MiB tmpfs on ${dir} (the test needs root): ${(err as Error).message}`);
  }
  t.teardown(() => unmount(dir));
  const filler = join(dir, 'filler');
  const available = async () => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    available,
    async fill(leave) {
      const f = await open(filler, 'a');
      const chunk = Buffer.alloc(1024 * 1024, 0xa5);
      let written = (await f.stat()).size;
      try {
        for (let want = (await available()) - leave; want > 0; want = (await available()) - leave) {
          const n = Math.min(want, chunk.length);
          try {
            await f.write(chunk, 0, n);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
          written += n;
        }
      } finally {
        await f.close();
      }
      return written;
    },
    free: () => rm(filler, { force: true }),
  };
}

/** A postmaster whose data dir is under `dir`: asked to stop at once (SIGQUIT), then killed. */
async function stopPostmaster(dir: string): Promise<void> {
  const pidFile = join(dir, 'postgres', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
}

async function unmount(dir: string): Promise<void> {
  await stopPostmaster(dir);
  for (let i = 0; ; i++) {
    try {
      await run('umount', [dir]);
      break;
    } catch (err) {
      // Postgres's backends may take a moment to go after their postmaster
      if (i >= 40) throw new Error(`cannot unmount ${dir}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await rmdir(dir);
}
