// Builds deployer/static unless it exists and prints its tag:
//   node --import tsx images/build.ts [--busybox /path/to/busybox]
import { DockerRuntime } from '../docker/index.js';
import { staticImage } from './static.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--busybox');
  const busybox = at >= 0 ? args[at + 1] : undefined;
  const docker = new DockerRuntime();
  await docker.ping();
  console.log(await docker.ensureImage(staticImage({ busybox })));
}

main().catch((err: unknown) => {
  process.stderr.write(`images/build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
