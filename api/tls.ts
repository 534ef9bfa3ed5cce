// The API over HTTPS, beside plain HTTP: kubectl (client-go) sends a bearer token only over
// TLS, so deployer serves the same routes on a TLS port with a certificate it makes for
// itself (self-signed, kept in the data dir) unless it is given one.
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';

const run = promisify(execFile);

export interface TlsMaterial {
  /** PEM. A self-signed certificate is also its own CA (kubeconfig certificate-authority-data). */
  cert: string;
  key: string;
}

async function readPair(certFile: string, keyFile: string): Promise<TlsMaterial | undefined> {
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The names a self-signed certificate covers: loopback, this host, and `host` when given. */
export function subjectAltNames(host?: string): string[] {
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', `DNS:${hostname()}`]);
  if (host && host !== '0.0.0.0' && host !== '::') names.add(/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`);
  return [...names];
}

/**
 * The certificate and key in `dir` (cert.pem, key.pem); made with openssl (an EC P-256 key,
 * ten years) the first time. Concurrent starts are safe: each writes to its own temporary
 * names and renames; the last rename wins and every process then reads the same pair.
 */
export async function loadOrCreateCertificate(dir: string, host?: string): Promise<TlsMaterial> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const existing = await readPair(certFile, keyFile);
  if (existing) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `.${process.pid}-${Date.now()}`;
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', '/CN=deployer', '-addext', `subjectAltName=${subjectAltNames(host).join(',')}`,
      '-keyout', keyFile + tmp, '-out', certFile + tmp,
    ]);
  } catch (err) {
    await rm(keyFile + tmp, { force: true });
    await rm(certFile + tmp, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(
      e.code === 'ENOENT'
        ? 'openssl is not installed: install it (apt-get install openssl), or give DEPLOYER_TLS_CERT and DEPLOYER_TLS_KEY, or set DEPLOYER_TLS_PORT=off'
        : `openssl could not make a certificate: ${(e.stderr ?? e.message).trim()}`,
    );
  }
  await chmod(keyFile + tmp, 0o600);
  await rename(keyFile + tmp, keyFile);
  await rename(certFile + tmp, certFile);
  return (await readPair(certFile, keyFile))!;
}

/**
 * Serves `app`'s routes over TLS on host:port (port 0: any free port). The caller closes it
 * after the app: the app's preClose ends every watch (these too), then `close()` stops the
 * listener and ends its connections.
 */
export async function serveTls(
  app: FastifyInstance,
  tls: TlsMaterial,
  host: string,
  port: number,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => app.routing(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
