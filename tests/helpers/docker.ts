// Docker for integration tests: the real engine, a fresh installation id per test, and a
// teardown that removes everything labelled with it — and fails the test when something was
// left behind, since controllers must clean up after themselves.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { DockerRuntime, LABELS } from '../../docker/index.js';
import { staticImage } from '../../images/index.js';

export interface DockerForTest {
  docker: DockerRuntime;
  /** Random, 12 hex characters (containerName uses the first 6, so those are random too). */
  installation: string;
  /**
   * Removes every container, volume and network of the installation now and returns what it
   * removed (`container x`, `volume y`…). A test that leaves things on purpose calls it first;
   * the teardown then finds nothing.
   */
  cleanup(): Promise<string[]>;
}

/**
 * Pings Docker (throws, never skips, when it does not answer) and returns a runtime and a new
 * installation id. At teardown everything labelled with the installation is removed; with
 * `failOnLeak` (the default) the test fails when there was anything to remove.
 */
export async function dockerForTest(t: Test, opts: { failOnLeak?: boolean } = {}): Promise<DockerForTest> {
  const docker = new DockerRuntime();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(
      `These tests need a Docker engine (DOCKER_HOST or /var/run/docker.sock) and it does not answer: ${(err as Error).message}`,
    );
  }
  const installation = randomBytes(6).toString('hex');
  const cleanup = () => removeInstallation(docker, installation);
  t.teardown(async () => {
    const leaked = await cleanup();
    // t.fail is refused once the test has ended; an error thrown here fails it with this message.
    if (leaked.length > 0 && (opts.failOnLeak ?? true)) {
      throw new Error(`Docker objects of installation ${installation} were left behind: ${leaked.join(', ')}`);
    }
  });
  return { docker, installation, cleanup };
}

async function removeInstallation(docker: DockerRuntime, installation: string): Promise<string[]> {
  const filter = [`${LABELS.installation}=${installation}`];
  const removed: string[] = [];
  // Containers first: volumes and networks in use cannot be removed.
  for (const c of await docker.listContainers(filter)) {
    await docker.remove(c.id);
    removed.push(`container ${c.name}`);
  }
  for (const v of await docker.listVolumes(filter)) {
    await docker.removeVolume(v.name);
    removed.push(`volume ${v.name}`);
  }
  for (const n of await docker.listNetworks(filter)) {
    await docker.removeNetwork(n.name);
    removed.push(`network ${n.name}`);
  }
  return removed;
}

/** The deployer/static image (built on first use, then cached by its content hash). */
export async function busyboxImage(docker: DockerRuntime): Promise<string> {
  return docker.ensureImage(staticImage());
}
