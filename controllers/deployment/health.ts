// The deployment health check: plain HTTP GETs from this process, to the server's container
// (its address on the shared network) and through the proxy (its published port on this
// host, with the Route's Host header). Each release carries a marker file naming its
// Deployment, so the check proves that the new release is what answers, not just that
// something does.
import http from 'node:http';

export interface ProbeTarget {
  /** For messages: "the server" or "Route x (through the proxy)". */
  label: string;
  /** http://address:port/<base path>; paths are appended to it. */
  base: string;
  /** The Host header to send (through the proxy); default the URL's host. */
  host?: string;
}

export interface ProbeExpectation {
  /** Static releases: the marker file's path under the base, and what its first line must be. */
  marker?: { path: string; content: string };
  /** The Deployment's own check (spec.healthCheck). */
  check?: { path: string; expectStatus: number; contains?: string };
}

const REQUEST_TIMEOUT_MS = 3000;
const MAX_BODY = 256 * 1024;

export function get(url: string, host: string | undefined, signal: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: host ? { host } : {}, timeout: REQUEST_TIMEOUT_MS, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_BODY) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

/** Checks one target; resolves to undefined when it passes, else to what is wrong. */
export async function probe(target: ProbeTarget, expect: ProbeExpectation, signal: AbortSignal): Promise<string | undefined> {
  const at = (path: string) => `${target.base.replace(/\/+$/, '')}${path}`;
  try {
    if (expect.marker) {
      const m = await get(at(expect.marker.path), target.host, signal);
      const line = m.body.split('\n')[0]!.trim();
      if (m.status !== 200) return `${target.label}: GET ${expect.marker.path} answered ${m.status}, not the release's marker`;
      if (line !== expect.marker.content) return `${target.label}: another release answers (marker "${line.slice(0, 100)}", expected "${expect.marker.content}")`;
    }
    if (expect.check) {
      const r = await get(at(expect.check.path), target.host, signal);
      if (r.status !== expect.check.expectStatus) return `${target.label}: GET ${expect.check.path} answered ${r.status}, expected ${expect.check.expectStatus}`;
      if (expect.check.contains !== undefined && !r.body.includes(expect.check.contains))
        return `${target.label}: GET ${expect.check.path} answered without the text ${JSON.stringify(expect.check.contains.slice(0, 200))}`;
    }
    return undefined;
  } catch (err) {
    if (signal.aborted) throw err;
    return `${target.label}: ${(err as Error).message}`;
  }
}
