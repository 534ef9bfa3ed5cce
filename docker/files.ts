// Files into containers and out of volumes: a tar extracted inside a container (Docker's
// PUT /containers/{id}/archive), and the host path of a volume when this process can read it
// directly (to watch or read a volume without a helper container).
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import { isAbortError, toDockerError } from './connection.js';
import { DockerError } from './types.js';

/**
 * Docker answers some caller errors of the archive endpoint with 500 (20.10: "extraction point
 * is not a directory", "mounted volume is marked read-only", "Error processing tar file…" for a
 * corrupt tar or an entry outside the target), later versions with 400 or 403. All of them are
 * a bad request: retrying the same call cannot succeed.
 */
const CALLER_ERROR = /extraction point is not a directory|marked read-only|Error processing tar file|is outside of/i;

/** See ContainerRuntime.putArchive. */
export async function putArchive(
  docker: Dockerode,
  address: string,
  id: string,
  path: string,
  tar: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const what = `put archive at ${path} in container ${id}`;
  signal?.throwIfAborted();
  try {
    // Dialled directly: dockerode's putArchive would put an abortSignal into the query string.
    await new Promise<void>((resolve, reject) => {
      docker.modem.dial(
        {
          path: `/containers/${encodeURIComponent(id)}/archive?`,
          method: 'PUT',
          file: tar,
          abortSignal: signal,
          statusCodes: { 200: true, 400: 'bad parameter', 403: 'permission denied', 404: 'no such container or path', 500: 'server error' },
          options: { path },
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  } catch (err) {
    if (isAbortError(err)) throw err;
    const e = toDockerError(err, address, what);
    if (e.kind === 'unavailable' || e.kind === 'not_found') throw e;
    if (e.statusCode === 400 || e.statusCode === 403 || CALLER_ERROR.test(e.message)) throw new DockerError('bad_request', e.message, e.statusCode);
    throw e;
  }
}

/** See ContainerRuntime.volumeMountpoint. */
export async function volumeMountpoint(docker: Dockerode, address: string, name: string): Promise<string | null> {
  let mountpoint: string | undefined;
  try {
    mountpoint = (await docker.getVolume(name).inspect()).Mountpoint;
  } catch (err) {
    const e = toDockerError(err, address, `inspect volume ${name}`);
    if (e.kind === 'not_found') return null;
    throw e;
  }
  if (!mountpoint) return null;
  try {
    await access(mountpoint, constants.R_OK | constants.X_OK);
    return mountpoint;
  } catch {
    return null;
  }
}
