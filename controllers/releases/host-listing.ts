// The listing of a service dir read straight from the volume's mountpoint, when deployer runs
// on the Docker host and can read it (docker volumeMountpoint): no exec, so a check costs
// microseconds instead of a Docker round trip, and it never queues behind a running upload.
// The same answer as LIST_SCRIPT run inside the container.
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MARKER_FILE, type ServiceListing } from './layout.js';

const NAMED = /^(deployment-|\.tmp-deployment-|\.build-|\.current-)/;

async function head(path: string, bytes: number): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

export async function listHostServiceDir(dir: string): Promise<ServiceListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [] };
    throw err;
  }
  const listing: ServiceListing = { entries: [] };
  const current = await readlink(join(dir, 'current')).catch(() => undefined);
  if (current) listing.current = current;
  for (const name of names.filter((n) => NAMED.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    // a marker is only read inside a real dir (never through a link that may point anywhere)
    const isLink = await lstat(join(dir, name)).then((st) => st.isSymbolicLink(), () => true);
    const marker = isLink ? undefined : await head(join(dir, name, MARKER_FILE), 200);
    const m = marker?.replace(/\n/g, ' ').trim();
    listing.entries.push(m ? { name, marker: m } : { name });
  }
  return listing;
}
