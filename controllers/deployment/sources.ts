// A Deployment's source — inline files, an archive URL or a git repository — fetched into
// release entries (release-tar.ts checks them), with a digest of the content.
//
// Failures are SourceErrors: `terminal` ones (404, checksum, unsafe path, unknown ref) are
// reported and not retried; the others (connection refused, 5xx) are retried by the caller
// until the deployment's deadline. An abort of `signal` rejects with the signal's reason.
//
// Caveats: a git fetch is shallow (--depth 1) but not size-capped while it runs — the cap
// applies to the tree `git archive` writes; submodules and LFS content are not fetched (LFS
// files arrive as pointer files). A relative git path is refused: it would name a path in
// the temp dir git runs in.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { checkTree, normalizeReleasePath, parseTar, SOURCE_LIMITS, SourceError, sortedByPath, tarOverhead, type ReleaseEntry } from './release-tar.js';

export { SOURCE_LIMITS, SourceError, type SourceFailureReason } from './release-tar.js';

export interface SourceContent {
  /** Sorted by path; parent dirs are implied (packTar emits them), explicit dirs kept. */
  entries: ReleaseEntry[];
  /**
   * sha256 hex over the sorted (path, type, mode, content or link target) list, leaving out
   * dirs that have something under them: equal content gives an equal digest whatever the
   * tar order, compression or explicit parent dirs.
   */
  digest: string;
  files: number;
  /** Bytes of file content. */
  bytes: number;
  /** git only: the commit the ref resolved to. */
  commit?: string;
}

type Limits = typeof SOURCE_LIMITS;
export interface SourceSpec {
  inline?: { files: Record<string, string> };
  archive?: { url: string; sha256?: string };
  git?: { url: string; ref?: string };
}

/** Fetches an inline, archive or git source. A plain Error for any other (fromDeployment, image: the caller's). */
export async function fetchSource(source: SourceSpec, opts: { signal?: AbortSignal; limits?: Partial<Limits> }): Promise<SourceContent> {
  const given = Object.entries(opts.limits ?? {}).filter(([, v]) => v !== undefined);
  const limits = { ...SOURCE_LIMITS, ...Object.fromEntries(given) } as Limits;
  const kinds = Object.entries(source).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (kinds.length !== 1) throw new Error(`a source has exactly one of inline, archive, git, fromDeployment, image; got ${kinds.join(', ') || 'none'}`);
  if (source.inline) return summarize(inlineEntries(source.inline.files, limits));
  if (source.archive) return summarize(await fetchArchive(source.archive, limits, opts.signal));
  if (source.git) {
    const { entries, commit } = await fetchGit(source.git, limits, opts.signal);
    return { ...summarize(entries), commit };
  }
  throw new Error(`fetchSource handles inline, archive and git sources, not ${kinds[0]}`);
}

function summarize(entries: readonly ReleaseEntry[]): SourceContent {
  const sorted = sortedByPath(entries);
  const parents = new Set<string>();
  for (const e of sorted) for (let d = posix.dirname(e.path); d !== '.' && !parents.has(d); d = posix.dirname(d)) parents.add(d);
  const hash = createHash('sha256').update('deployer-release v1\n');
  let files = 0;
  let bytes = 0;
  for (const e of sorted) {
    if (e.type === 'dir' && parents.has(e.path)) continue;
    const content = e.type === 'file' ? createHash('sha256').update(e.data!).digest('hex') : e.type === 'symlink' ? JSON.stringify(e.linkTarget) : '';
    hash.update(`${e.type} ${JSON.stringify(e.path)} ${e.mode.toString(8)} ${content}\n`);
    if (e.type === 'file') {
      files++;
      bytes += e.data!.length;
    }
  }
  return { entries: sorted, digest: hash.digest('hex'), files, bytes };
}

function inlineEntries(files: Record<string, string>, limits: Limits): ReleaseEntry[] {
  const byPath = new Map<string, string>();
  const entries: ReleaseEntry[] = [];
  let bytes = 0;
  for (const [raw, content] of Object.entries(files)) {
    const path = normalizeReleasePath(raw);
    if (path === undefined) throw new SourceError('UnsafePath', `inline file ${JSON.stringify(raw)} has an unsafe path (absolute, "..", control characters or empty)`, true);
    const other = byPath.get(path);
    if (other !== undefined) throw new SourceError('UnsafePath', `inline files ${JSON.stringify(other)} and ${JSON.stringify(raw)} name the same path`, true);
    byPath.set(path, raw);
    const data = Buffer.from(content, 'utf8');
    bytes += data.length;
    entries.push({ path, type: 'file', mode: 0o644, data });
  }
  if (bytes > limits.inlineMaxBytes) throw new SourceError('TooLarge', `inline files hold ${bytes} bytes, over the limit of ${limits.inlineMaxBytes}; use an archive or git source`, true);
  if (entries.length > limits.maxEntries) throw new SourceError('TooLarge', `inline source has ${entries.length} files, over the limit of ${limits.maxEntries}`, true);
  checkTree(entries, 'inline file');
  return entries;
}

/** A URL for messages: credentials in it are not repeated. */
const shown = (url: string) => url.replace(/\/\/[^/@]*@/, '//***@');
const causeOf = (err: unknown): string => {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
};

async function fetchArchive(a: { url: string; sha256?: string }, limits: Limits, signal: AbortSignal | undefined): Promise<ReleaseEntry[]> {
  const where = shown(a.url);
  let url: URL;
  try {
    url = new URL(a.url);
  } catch {
    throw new SourceError('SourceNotFound', `archive url ${JSON.stringify(where)} is not a valid URL`, true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SourceError('SourceNotFound', `archive url ${where} must be http: or https:, not ${url.protocol}`, true);
  }
  let res: Response;
  try {
    // identity: the checksum is of the bytes as published, not of a transfer decoding.
    res = await fetch(url, { signal, redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    signal?.throwIfAborted();
    throw new SourceError('SourceUnavailable', `GET ${where} failed (${causeOf(err)}); will retry`, false);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    // 408 and 429 say "later"; other 4xx say the request itself is wrong.
    const retry = res.status >= 500 || res.status === 408 || res.status === 429 || res.status < 400;
    const answer = `GET ${where} answered ${res.status} ${res.statusText}`.trim();
    throw new SourceError(retry ? 'SourceUnavailable' : 'SourceNotFound', retry ? `${answer}; will retry` : answer, !retry);
  }
  const tooLarge = () => new SourceError('TooLarge', `${where} is larger than the limit of ${limits.maxBytes} bytes`, true);
  if (Number(res.headers.get('content-length') ?? 0) > limits.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > limits.maxBytes) throw tooLarge(); // leaving the loop cancels the body
      hash.update(chunk);
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } catch (err) {
    if (err instanceof SourceError) throw err;
    signal?.throwIfAborted();
    throw new SourceError('SourceUnavailable', `GET ${where} broke off after ${size} bytes (${causeOf(err)}); will retry`, false);
  }
  const got = hash.digest('hex');
  if (a.sha256 !== undefined && a.sha256.toLowerCase() !== got) {
    throw new SourceError('ChecksumMismatch', `${where}: expected sha256 ${a.sha256.toLowerCase()}, got ${got}`, true);
  }
  try {
    return await parseTar(Buffer.concat(chunks, size), limits);
  } catch (err) {
    throw err instanceof SourceError ? new SourceError(err.reason, `${where}: ${err.message}`, err.terminal) : err;
  }
}

/** What a ref may not hold: option-like, "..", whitespace, or refspec/revision syntax. */
const BAD_REF = /^[-+]|\.\.|[\s~^:?*[\\\x00-\x1f\x7f]/;
async function fetchGit(g: { url: string; ref?: string }, limits: Limits, signal: AbortSignal | undefined): Promise<{ entries: ReleaseEntry[]; commit: string }> {
  const where = shown(g.url);
  const ref = g.ref || 'HEAD';
  if (g.url.startsWith('-') || /[\x00-\x1f\x7f]/.test(g.url)) throw new SourceError('GitFailed', `git url ${JSON.stringify(where)} is not a repository location`, true);
  // scp-like (host:path) has a ":" before any "/"; anything else without "/" first or "://" is relative.
  const colon = g.url.indexOf(':');
  const remote = g.url.includes('://') || (colon > 0 && !g.url.slice(0, colon).includes('/'));
  if (!remote && !g.url.startsWith('/')) throw new SourceError('GitFailed', `git url ${JSON.stringify(where)} must be an absolute path or a URL`, true);
  if (BAD_REF.test(ref) || ref.length > 256) throw new SourceError('GitRefNotFound', `git ref ${JSON.stringify(ref)} is not a valid branch, tag or commit name`, true);

  const dir = await mkdtemp(join(tmpdir(), 'deployer-git-'));
  try {
    const git = (args: string[], step: string, maxBuffer?: number) =>
      runGit(args, dir, signal, maxBuffer).catch((err: GitRunError) => {
        throw gitFailure(err, step, where, ref, signal);
      });
    await git(['init', '-q'], 'init');
    // GIT_PROTOCOL_FROM_USER=0 refuses remote helpers of the "user" class (fd::, …), and
    // since git 2.38.1 that class holds file; local repositories are a source we support.
    await git(['-c', 'protocol.ext.allow=never', '-c', 'protocol.file.allow=always', 'fetch', '-q', '--no-tags', '--depth', '1', '--', g.url, ref], 'fetch');
    const commit = (
      await runGit(['rev-parse', '--verify', '-q', 'FETCH_HEAD^{commit}'], dir, signal).catch(() => {
        signal?.throwIfAborted();
        throw new SourceError('GitRefNotFound', `git ref "${ref}" of ${where} does not name a commit`, true);
      })
    )
      .toString('utf8')
      .trim();
    const tar = await git(['archive', '--format=tar', commit], 'archive', limits.maxBytes + tarOverhead(limits.maxEntries));
    try {
      return { entries: await parseTar(tar, limits), commit };
    } catch (err) {
      throw err instanceof SourceError ? new SourceError(err.reason, `${where} at ${commit}: ${err.message}`, err.terminal) : err;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type GitRunError = Error & { code?: string | number; stderrText: string };

/** Runs git without a shell, prompts or the caller's repository environment. */
function runGit(args: string[], cwd: string, signal: AbortSignal | undefined, maxBuffer = 16 * 1024 * 1024): Promise<Buffer> {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_PROTOCOL_FROM_USER: '0', LC_ALL: 'C' };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_NAMESPACE']) delete env[k];
  // ssh must fail rather than ask about an unknown host key or a passphrase.
  env.GIT_SSH_COMMAND ??= 'ssh -o BatchMode=yes';
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, signal, maxBuffer, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderrText: stderr.toString('utf8') }));
      else resolve(stdout);
    });
  });
}

function gitFailure(err: GitRunError, step: string, where: string, ref: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (err.code === 'ENOENT') return new SourceError('GitFailed', 'git is not installed on this host (or not on PATH)', false);
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return new SourceError('TooLarge', `the tree of ${where} at "${ref}" is larger than the limit`, true);
  const stderr = err.stderrText;
  const last = stderr.trim().split('\n').filter((l) => l.trim()).pop()?.trim() ?? err.message;
  if (/couldn't find remote ref|not our ref|invalid refspec|unknown revision/i.test(stderr)) {
    return new SourceError('GitRefNotFound', `git ref "${ref}" was not found in ${where}`, true);
  }
  if (/does not appear to be a git repository|repository '.*' not found|repository not found|could not read username|authentication failed|terminal prompts disabled/i.test(stderr)) {
    return new SourceError('SourceNotFound', `git repository ${where} was not found, or needs credentials this host does not have (${last})`, true);
  }
  if (/dubious ownership/i.test(stderr)) {
    return new SourceError('GitFailed', `git repository ${where} is owned by another user; add it to safe.directory in the git config of the user running deployer`, true);
  }
  return new SourceError('GitFailed', `git ${step} of ${where} failed: ${last}`, false);
}
