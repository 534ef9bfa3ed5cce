// Images FROM scratch out of host files: the content hash that names them, and the build
// context (a tar holding a Dockerfile and rootfs/) that makes them.
//
// The tag is a hash of exactly what goes into the image — each path with its mode and the
// bytes of its host file (or its symlink target), and the image config — read once and used for
// both the hash and the tar, so a tag never names different content. Parent directories are
// added as 0755 directory entries; the legacy builder's `COPY rootfs/ /` keeps modes and
// symlinks as they are in the tar.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { pack } from 'tar-stream';
import { DockerError } from './types.js';
import type { ImageDefinition } from './types.js';

/** Bumped when the way an image is laid out changes, so old tags are not reused. */
const FORMAT = 'deployer-image v1';
/** A fixed mtime: the tar (and so the image layer) depends only on the content. */
const MTIME = new Date('2000-01-01T00:00:00Z');

type Entry =
  | { kind: 'file'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'dir'; path: string; mode: number };

export interface ImageContent {
  /** `repository:<first 16 hex characters of the content hash>`. */
  tag: string;
  entries: Entry[];
  dockerfile: string;
}

/** Reads the host files of `def` and computes its tag. Throws DockerError(bad_request) for an invalid definition. */
export async function imageContent(def: ImageDefinition): Promise<ImageContent> {
  if (!/^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/.test(def.repository)) {
    throw new DockerError('bad_request', `invalid image repository "${def.repository}"`);
  }
  const byPath = new Map<string, Entry>();
  for (const [rawPath, f] of Object.entries(def.files)) {
    const path = imagePath(rawPath);
    if ('hostPath' in f) {
      let data: Buffer;
      let hostMode: number;
      try {
        data = await readFile(f.hostPath);
        hostMode = (await stat(f.hostPath)).mode & 0o7777;
      } catch (err) {
        throw new DockerError('bad_request', `image ${def.repository}: cannot read ${f.hostPath} for ${path}: ${(err as Error).message}`);
      }
      byPath.set(path, { kind: 'file', path, mode: f.mode ?? hostMode, data });
    } else if ('content' in f) {
      byPath.set(path, { kind: 'file', path, mode: f.mode ?? 0o644, data: Buffer.from(f.content) });
    } else if ('symlink' in f) {
      byPath.set(path, { kind: 'symlink', path, target: f.symlink });
    } else {
      byPath.set(path, { kind: 'dir', path, mode: f.mode ?? 0o755 });
    }
  }
  for (const path of [...byPath.keys()]) {
    for (let dir = posix.dirname(path); dir !== '/'; dir = posix.dirname(dir)) {
      const existing = byPath.get(dir);
      if (existing && existing.kind !== 'dir') {
        throw new DockerError('bad_request', `image ${def.repository}: ${dir} is both a file and the parent of ${path}`);
      }
      if (!existing) byPath.set(dir, { kind: 'dir', path: dir, mode: 0o755 });
    }
  }
  // Sorted by path, a directory always comes before what it contains.
  const entries = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const dockerfile = dockerfileOf(def);
  const hash = createHash('sha256').update(`${FORMAT}\n`);
  for (const e of entries) {
    if (e.kind === 'file') {
      hash.update(`file ${JSON.stringify(e.path)} ${e.mode.toString(8)} ${createHash('sha256').update(e.data).digest('hex')}\n`);
    } else if (e.kind === 'symlink') {
      hash.update(`symlink ${JSON.stringify(e.path)} ${JSON.stringify(e.target)}\n`);
    } else {
      hash.update(`dir ${JSON.stringify(e.path)} ${e.mode.toString(8)}\n`);
    }
  }
  hash.update(dockerfile);
  return { tag: `${def.repository}:${hash.digest('hex').slice(0, 16)}`, entries, dockerfile };
}

/** The build context: `Dockerfile` and `rootfs/…`, as one tar in memory (images of host binaries are small). */
export async function buildContext(content: ImageContent): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    tar.on('data', (c: unknown) => chunks.push(c as Buffer));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
  });
  const base = { mtime: MTIME, uid: 0, gid: 0 };
  tar.entry({ ...base, name: 'Dockerfile', mode: 0o644 }, content.dockerfile);
  tar.entry({ ...base, name: 'rootfs/', type: 'directory', mode: 0o755 });
  for (const e of content.entries) {
    const name = `rootfs${e.path}`;
    if (e.kind === 'file') tar.entry({ ...base, name, mode: e.mode, size: e.data.length }, e.data);
    else if (e.kind === 'symlink') tar.entry({ ...base, name, type: 'symlink', linkname: e.target, mode: 0o777 });
    else tar.entry({ ...base, name: `${name}/`, type: 'directory', mode: e.mode });
  }
  tar.finalize();
  return done;
}

function imagePath(raw: string): string {
  const path = posix.normalize(raw);
  if (!path.startsWith('/') || path === '/' || path.split('/').includes('..') || /[\n\r\0]/.test(path)) {
    throw new DockerError('bad_request', `invalid path in image: "${raw}" (must be absolute, below /)`);
  }
  return path.replace(/\/$/, '');
}

/** ENTRYPOINT and CMD in exec (JSON) form; ENV and WORKDIR quoted so Docker expands nothing. */
function dockerfileOf(def: ImageDefinition): string {
  const lines = ['FROM scratch', 'COPY rootfs/ /'];
  for (const key of Object.keys(def.env ?? {}).sort()) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new DockerError('bad_request', `invalid environment variable name "${key}"`);
    lines.push(`ENV ${key}=${quoted(def.env![key]!)}`);
  }
  if (def.workingDir !== undefined) lines.push(`WORKDIR ${quoted(imagePath(def.workingDir))}`);
  if (def.entrypoint) lines.push(`ENTRYPOINT ${JSON.stringify(def.entrypoint)}`);
  if (def.cmd) lines.push(`CMD ${JSON.stringify(def.cmd)}`);
  return `${lines.join('\n')}\n`;
}

function quoted(value: string): string {
  if (/[\n\r]/.test(value)) throw new DockerError('bad_request', `image config values may not contain newlines: ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}
