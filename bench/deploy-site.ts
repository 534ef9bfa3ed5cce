// The site bench/deploy deploys, and where the controller fetches it from.
//
// The site: FILES files holding BYTES bytes in all (1,000 files, 10 MiB), the same for every
// release except index.html, which names the release. About 70% of the bytes are text (words
// from a fixed list: HTML, CSS, JS as a site's would compress) in 800 files, 30% are random
// bytes (images, incompressible) in 199; sizes are log-uniform, 0.5–60 KiB, scaled to the
// total. Deterministic (a seeded PRNG), so two runs deploy the same bytes.
//
// Each release is a .tar.gz (tar-stream, gzip level 6, as `tar czf` writes it), built before
// the measurements start and served from memory by ArchiveServer on 127.0.0.1, which records
// when each request arrived and when its response was finished.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { now } from './health-docker.js';

export const FILES = 1000;
export const BYTES = 10 * 1024 * 1024;
/** index.html's size; the other files hold the rest of BYTES. */
const INDEX_BYTES = 1024;
const TEXT_FILES = 800;
const TEXT_SHARE = 0.7;
const WORDS = 'deployer release static site server volume current symlink proxy route phase health check archive upload rename link status active rollback heal container docker engine postgres store watch lease controller reconcile queue informer kind spec metadata namespace label selector event condition message'.split(' ');

export interface SiteFile {
  path: string;
  data: Buffer;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function text(rand: () => number, size: number, head: string): Buffer {
  const parts: string[] = [head];
  let n = head.length;
  while (n < size) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]!;
    parts.push(w, rand() < 0.1 ? '\n' : ' ');
    n += w.length + 1;
  }
  return Buffer.from(parts.join('').slice(0, size), 'utf8');
}

/** Every file of the site but index.html (FILES − 1 of them, BYTES − INDEX_BYTES bytes). */
export function siteFiles(): SiteFile[] {
  const rand = mulberry32(6);
  const n = FILES - 1;
  const raw = Array.from({ length: n }, () => Math.exp(Math.log(512) + rand() * (Math.log(60 * 1024) - Math.log(512))));
  const budget = BYTES - INDEX_BYTES;
  // text and binary shares scaled apart, so the bytes split TEXT_SHARE : 1 − TEXT_SHARE
  const textSum = raw.slice(0, TEXT_FILES).reduce((a, b) => a + b, 0);
  const binSum = raw.slice(TEXT_FILES).reduce((a, b) => a + b, 0);
  const sizes = raw.map((s, i) => Math.max(1, Math.floor(i < TEXT_FILES ? (s * budget * TEXT_SHARE) / textSum : (s * budget * (1 - TEXT_SHARE)) / binSum)));
  sizes[n - 1]! += budget - sizes.reduce((a, b) => a + b, 0);
  const ext = ['html', 'css', 'js', 'json'];
  return sizes.map((size, i) => {
    if (i < TEXT_FILES) {
      const path = `pages/${String(i % 40).padStart(2, '0')}/f${String(i).padStart(4, '0')}.${ext[i % ext.length]}`;
      return { path, data: text(rand, size, `/* ${path} */\n`) };
    }
    const path = `img/${String(i % 10).padStart(2, '0')}/i${String(i).padStart(4, '0')}.bin`;
    return { path, data: randomBytes(size) };
  });
}

/** index.html of `release`: 1,024 bytes that name it. */
export function indexHtml(release: string): Buffer {
  const head = `<!doctype html><title>bench/deploy</title><p>release ${release}</p>\n`;
  return Buffer.from(head + '<!--' + '.'.repeat(INDEX_BYTES - head.length - 8) + '-->\n', 'utf8');
}
export const releaseText = (release: string) => `<p>release ${release}</p>`;

/** A .tar.gz of the files (in the given order), with mode 0644 and a fixed mtime. */
export async function tarGz(files: SiteFile[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
  const mtime = new Date('2026-12-01T00:00:00Z');
  for (const f of files) p.entry({ name: f.path, size: f.data.length, mode: 0o644, mtime }, f.data);
  p.finalize();
  // async: a blocked event loop would cost the in-process controllers their leases
  return promisify(gzip)(await done, { level: 6 });
}

export interface ServedArchive {
  url: string;
  sha256: string;
  bytes: number;
}

export interface ArchiveRequest {
  path: string;
  /** The request arrived / the response was written out. */
  t0: number;
  t1: number;
}

/** Serves archives from memory on 127.0.0.1 (GET /<name>.tar.gz), recording each request. */
export class ArchiveServer {
  readonly requests: ArchiveRequest[] = [];
  private readonly byPath = new Map<string, Buffer>();
  private readonly server = http.createServer((req, res) => {
    const r: ArchiveRequest = { path: req.url ?? '', t0: now(), t1: NaN };
    this.requests.push(r);
    const body = this.byPath.get(req.url ?? '');
    res.on('finish', () => (r.t1 = now()));
    if (!body || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length });
    res.end(body);
  });
  private base = '';

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  add(name: string, body: Buffer): ServedArchive {
    this.byPath.set(`/${name}.tar.gz`, body);
    return { url: `${this.base}/${name}.tar.gz`, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  }

  /** The first request for `url` that arrived at or after `after`. */
  first(url: string, after: number): ArchiveRequest | undefined {
    const path = new URL(url).pathname;
    return this.requests.find((r) => r.path === path && r.t0 >= after);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
