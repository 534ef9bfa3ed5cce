// Where the Docker engine is, and how its failures become DockerErrors. Shared by the runtime
// and the event stream so both reach the same engine and report failures the same way.
import Dockerode from 'dockerode';
import { DockerError } from './types.js';

/** How to reach the engine. `host` is a DOCKER_HOST-style URL: `unix:///path` or `tcp://host:port`. */
export interface DockerConnectionOptions {
  socketPath?: string;
  host?: string;
}

export interface DockerConnection {
  docker: Dockerode;
  /** For messages: the socket path or `tcp://host:port`. */
  address: string;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * A dockerode client for `opts`, else DOCKER_HOST, else /var/run/docker.sock. Nothing is
 * dialled here; the first request finds out whether the engine is there.
 */
export function dockerConnection(opts: DockerConnectionOptions = {}): DockerConnection {
  if (opts.socketPath) return unix(opts.socketPath);
  const host = opts.host ?? process.env.DOCKER_HOST;
  if (!host) return unix(DEFAULT_SOCKET);
  if (host.startsWith('unix://')) return unix(host.slice('unix://'.length));
  if (host.startsWith('tcp://') || host.startsWith('http://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    return {
      docker: new Dockerode({ host: u.hostname, port: u.port || 2375, protocol: 'http' }),
      address: `tcp://${u.hostname}:${u.port || 2375}`,
    };
  }
  throw new DockerError('bad_request', `Unsupported Docker host "${host}": use unix:///path or tcp://host:port`);
}

function unix(socketPath: string): DockerConnection {
  return { docker: new Dockerode({ socketPath }), address: socketPath };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND']);

interface ModemError {
  code?: string;
  syscall?: string;
  statusCode?: number;
  json?: unknown;
  message?: string;
}

/** Where an `unavailable` DockerError made by toDockerError tried to reach, and how it failed. */
const unreachable = new WeakMap<DockerError, { address: string; cause: string }>();

/**
 * What a person reading a status or an Event needs about an `unavailable` DockerError: the
 * engine's address and the socket error (`connect ENOENT`). For an `unavailable` error not made
 * by toDockerError (an event stream's, a fake's) the address is unknown and `cause` is its
 * message; undefined for any other error.
 */
export function unavailableDetail(err: unknown): { address?: string; cause: string } | undefined {
  if (!(err instanceof DockerError) || err.kind !== 'unavailable') return undefined;
  return unreachable.get(err) ?? { cause: err.message };
}

/** True for the error an aborted AbortSignal produces; such errors are passed through unchanged. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as ModemError).code === 'ABORT_ERR');
}

/**
 * `err` as a DockerError: socket failures are `unavailable`, HTTP 404/409/400 are
 * `not_found`/`conflict`/`bad_request`, the rest `other`. `what` names the operation
 * ("create container x") and starts the message; Docker's own message follows.
 */
export function toDockerError(err: unknown, address: string, what: string): DockerError {
  if (err instanceof DockerError) return err;
  const e = (err ?? {}) as ModemError;
  if (e.code && UNREACHABLE.has(e.code) && e.statusCode === undefined) {
    const cause = `${e.syscall ?? 'connect'} ${e.code}`;
    const out = new DockerError('unavailable', `Docker is not reachable at ${address}: ${cause}`);
    unreachable.set(out, { address, cause });
    return out;
  }
  const status = e.statusCode;
  const message = `${what}: ${dockerMessage(e)}`;
  switch (status) {
    case 404:
      return new DockerError('not_found', message, status);
    case 409:
      return new DockerError('conflict', message, status);
    case 400:
      return new DockerError('bad_request', message, status);
    default:
      return new DockerError('other', message, status);
  }
}

function dockerMessage(e: ModemError): string {
  const json = e.json as { message?: unknown } | string | null | undefined;
  if (json && typeof json === 'object' && typeof json.message === 'string') return json.message.trim();
  if (typeof json === 'string' && json.trim()) return json.trim();
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString('utf8').trim();
  return (e.message ?? String(e)).trim();
}
