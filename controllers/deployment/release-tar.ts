// A release as an in-memory list of entries, the tar that uploads it (putArchive) and the
// parser that turns an untrusted tar (an archive download, `git archive`) into one.
//
// Safety is decided here, once, for every source: a release never names a path outside its
// root, never writes through a symlink, never holds a symlink that resolves outside the root
// (following the release's own symlinks, not just the target's text), and holds only regular
// files, directories and symlinks. Modes are normalized (0644/0755 files, 0755 dirs), owners
// are 0 and mtimes fixed, so a tar depends only on the content.
//
// Not guaranteed: a symlink target need not exist (a dangling link is allowed).
//
// SourceError lives here rather than in sources.ts (which re-exports it) so that parseTar
// can throw it without an import cycle.
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { extract, pack, type Header } from 'tar-stream';

export type SourceFailureReason =
  | 'SourceNotFound'
  | 'SourceUnavailable'
  | 'ChecksumMismatch'
  | 'BadArchive'
  | 'UnsafePath'
  | 'TooLarge'
  | 'GitRefNotFound'
  | 'GitFailed';

/**
 * A source could not be turned into a release. `terminal`: retrying cannot help (404,
 * checksum, unsafe path, unknown ref); otherwise (connection refused, 5xx) the caller retries
 * until the deployment's deadline. The message names the URL, ref or member.
 */
export class SourceError extends Error {
  constructor(
    readonly reason: SourceFailureReason,
    message: string,
    readonly terminal: boolean,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

/** What a release may hold. fetchSource takes overrides of any of these. */
export const SOURCE_LIMITS: Readonly<{ maxBytes: number; maxEntries: number; inlineMaxBytes: number }> = Object.freeze({
  maxBytes: 512 * 1024 * 1024,
  maxEntries: 100_000,
  inlineMaxBytes: 1024 * 1024,
});

export interface ReleaseEntry {
  /** Relative and normalized (normalizeReleasePath): no "./", "/", "..", empty segment or trailing slash. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Files 0o644, or 0o755 when any x bit was set; dirs 0o755; symlinks 0o777. */
  mode: number;
  /** Files only. */
  data?: Buffer;
  /** Symlinks only: relative, and resolving inside the release. */
  linkTarget?: string;
}

const MAX_PATH = 4096;
/** Linux's limit on symlinks followed in one lookup; more is treated as escaping. */
const MAX_LINK_HOPS = 40;
/** Default mtime: a fixed instant, so the same entries give the same bytes. */
const DEFAULT_MTIME = new Date(0);
const gunzipAsync = promisify(gunzip);

/** An upper bound on a tar's bytes beyond its file content: a header and padding per member, and the end blocks. */
export const tarOverhead = (entries: number): number => entries * 1536 + 1024 * 1024;

/**
 * Normalizes a release path or returns undefined when it is unsafe: absolute, a ".." segment,
 * NUL or control characters, backslash, empty, or longer than 4096. "./a//b/" -> "a/b".
 * ("a..b" is a name, not a "..", and is allowed.)
 */
export function normalizeReleasePath(p: string): string | undefined {
  if (p.length === 0 || p.length > MAX_PATH || p.startsWith('/') || p.includes('\\') || /[\x00-\x1f\x7f]/.test(p)) return undefined;
  const segments = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..')) return undefined;
  return segments.join('/');
}

export const fileMode = (mode: number | undefined): number => ((mode ?? 0) & 0o111 ? 0o755 : 0o644);

/**
 * Packs entries into an uncompressed tar. Every path goes under `prefix` (no leading or
 * trailing slash); a 0755 dir entry is emitted for the prefix, each of its parents and every
 * parent of every entry, once, before its children. Entries are written sorted by path, so
 * the bytes depend only on the entries; `extra` entries (a marker file) come last.
 *
 * Caveat: with one fixed mtime, an HTTP server whose ETag is mtime+size (Caddy's) gives a
 * changed file of unchanged size the old ETag; pass a per-release `mtime` (e.g. the
 * Deployment's creationTimestamp) to keep both determinism and correct caching.
 */
export async function packTar(
  entries: readonly ReleaseEntry[],
  opts: { prefix: string; extra?: readonly ReleaseEntry[]; mtime?: Date },
): Promise<Buffer> {
  const prefix = normalizeReleasePath(opts.prefix);
  if (prefix === undefined || prefix !== opts.prefix) throw new Error(`invalid tar prefix ${JSON.stringify(opts.prefix)}`);
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    tar.on('data', (c: unknown) => chunks.push(c as Buffer));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
  });
  const base = { mtime: opts.mtime ?? DEFAULT_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  const emitted = new Set<string>();
  const dir = (name: string, mode = 0o755) => {
    if (emitted.has(name)) return;
    const parent = posix.dirname(name);
    if (parent !== '.') dir(parent);
    emitted.add(name);
    tar.entry({ ...base, name: `${name}/`, type: 'directory', mode });
  };
  dir(prefix);
  for (const e of [...sortedByPath(entries), ...(opts.extra ?? [])]) {
    const name = `${prefix}/${e.path}`;
    dir(posix.dirname(name));
    if (e.type === 'dir') dir(name, e.mode);
    else if (e.type === 'symlink') tar.entry({ ...base, name, type: 'symlink', linkname: e.linkTarget ?? '', mode: 0o777 });
    else tar.entry({ ...base, name, type: 'file', mode: e.mode, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0));
  }
  tar.finalize();
  return done;
}

export function sortedByPath<T extends { path: string }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Parses a tar (gunzipped first when it starts with 1f 8b) into release entries. Rejects:
 * an absolute, ".." or control-character path, or a member inside a symlink (UnsafePath);
 * a symlink whose target is absolute or resolves outside the root (UnsafePath); hardlinks,
 * devices, fifos, a member inside a file, or bytes that are not a tar (BadArchive); more than
 * maxBytes of file content or maxEntries members (TooLarge). Every error names the member.
 * A later member with the same path replaces an earlier one (as tar extraction would).
 * Skips the "." root entry; pax and GNU long-name headers are applied by tar-stream.
 */
export async function parseTar(buf: Buffer, limits: { maxBytes?: number; maxEntries?: number } = {}): Promise<ReleaseEntry[]> {
  const maxBytes = limits.maxBytes ?? SOURCE_LIMITS.maxBytes;
  const maxEntries = limits.maxEntries ?? SOURCE_LIMITS.maxEntries;
  const gzipped = buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  let tar = buf;
  if (gzipped) {
    try {
      tar = await gunzipAsync(buf, { maxOutputLength: maxBytes + tarOverhead(maxEntries) });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new SourceError('TooLarge', `the archive unpacks to more than the limit of ${maxBytes} bytes of content`, true);
      throw new SourceError('BadArchive', `the archive is not a valid tar.gz: ${(err as Error).message}`, true);
    }
  }
  const ex = extract();
  ex.end(tar);
  const byPath = new Map<string, ReleaseEntry>();
  let bytes = 0;
  let count = 0;
  try {
    for await (const member of ex) {
      const entry = await readMember(member.header, member, maxBytes - bytes);
      if (entry === undefined) continue;
      if (++count > maxEntries) throw new SourceError('TooLarge', `the archive has more than ${maxEntries} members`, true);
      bytes += entry.data?.length ?? 0;
      byPath.delete(entry.path); // so a replaced member takes its new position
      byPath.set(entry.path, entry);
    }
  } catch (err) {
    ex.destroy();
    if (err instanceof SourceError) throw err;
    throw new SourceError('BadArchive', `the archive is not a valid tar: ${(err as Error).message}`, true);
  }
  const entries = [...byPath.values()];
  checkTree(entries);
  return entries;
}

async function readMember(h: Header, body: AsyncIterable<unknown>, bytesLeft: number): Promise<ReleaseEntry | undefined> {
  const raw = h.name;
  const member = JSON.stringify(raw);
  const type = h.type ?? 'file';
  const drain = async () => {
    for await (const _ of body);
  };
  if (type === 'directory' && (raw === '.' || raw === './')) return drain().then(() => undefined);
  const path = normalizeReleasePath(raw);
  if (path === undefined) {
    throw new SourceError('UnsafePath', `archive member ${member} has an unsafe path (absolute, "..", control characters or empty)`, true);
  }
  if (type === 'directory') {
    await drain();
    return { path, type: 'dir', mode: 0o755 };
  }
  if (type === 'symlink') {
    await drain();
    const target = h.linkname ?? '';
    if (target === '' || target.length > MAX_PATH || target.startsWith('/') || /[\x00-\x1f\x7f]/.test(target)) {
      throw new SourceError('UnsafePath', `archive member ${member} is a symlink to ${JSON.stringify(target)}, which is absolute or invalid`, true);
    }
    return { path, type: 'symlink', mode: 0o777, linkTarget: target };
  }
  if (type !== 'file' && type !== 'contiguous-file') {
    throw new SourceError('BadArchive', `archive member ${member} is a ${type === 'link' ? 'hard link' : type}; only files, directories and symlinks are allowed`, true);
  }
  if ((h.size ?? 0) > bytesLeft) throw new SourceError('TooLarge', `archive member ${member} takes the content over the limit`, true);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return { path, type: 'file', mode: fileMode(h.mode), data: Buffer.concat(chunks) };
}

/** Throws SourceError unless no entry is inside a file or a symlink and every symlink resolves inside the root. */
export function checkTree(entries: readonly ReleaseEntry[], what = 'archive member'): void {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const links = new Map<string, string>();
  for (const e of entries) if (e.type === 'symlink') links.set(e.path, e.linkTarget!);
  for (const e of entries) {
    for (let dir = posix.dirname(e.path); dir !== '.'; dir = posix.dirname(dir)) {
      const parent = byPath.get(dir);
      if (parent?.type === 'symlink') {
        throw new SourceError('UnsafePath', `${what} ${JSON.stringify(e.path)} is inside the symlink ${JSON.stringify(dir)}`, true);
      }
      if (parent?.type === 'file') {
        throw new SourceError('BadArchive', `${what} ${JSON.stringify(e.path)} is inside the file ${JSON.stringify(dir)}`, true);
      }
    }
    if (e.type === 'symlink' && escapesRoot(e.path, links)) {
      throw new SourceError('UnsafePath', `${what} ${JSON.stringify(e.path)} is a symlink to ${JSON.stringify(e.linkTarget)}, which leaves the release`, true);
    }
  }
}

/** Resolves the link at `path` as the kernel would, following the release's own symlinks. */
function escapesRoot(path: string, links: ReadonlyMap<string, string>): boolean {
  const resolved = posix.dirname(path) === '.' ? [] : posix.dirname(path).split('/');
  const todo = links.get(path)!.split('/');
  let hops = 0;
  while (todo.length > 0) {
    const seg = todo.shift()!;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (resolved.length === 0) return true;
      resolved.pop();
      continue;
    }
    resolved.push(seg);
    const target = links.get(resolved.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_LINK_HOPS || target.startsWith('/')) return true;
    resolved.pop();
    todo.unshift(...target.split('/'));
  }
  return false;
}
