// The proxy container (controllers/route/proxy-container.ts) is bounded like a server
// container — memory, CPU and processes from DEFAULT_LIMITS — and gets no-new-privileges, as
// Docker will be told (docker/mapping.ts createOptions).
import t from 'tap';
import { ensureProxy } from '../../controllers/route/proxy-container.js';
import { DEFAULT_LIMITS, parseMemory } from '../../controllers/projectserver/container-spec.js';
import type { ContainerRuntime, ContainerSpec } from '../../docker/index.js';
import { createOptions } from '../../docker/mapping.js';

t.test('the proxy container gets memory, CPU and pids limits and no-new-privileges', async (t) => {
  const created: ContainerSpec[] = [];
  let state: unknown = null;
  const rt = {
    ensureNetwork: async () => undefined,
    ensureVolume: async () => undefined,
    inspect: async () => state,
    create: async (spec: ContainerSpec) => {
      created.push(spec);
      return 'proxy-id';
    },
    start: async () => {
      state = { id: 'proxy-id', labels: created[0]!.labels, running: true, restarting: false, ports: [{ container: 2019, hostIp: '127.0.0.1', hostPort: 40000 }] };
    },
  } as unknown as ContainerRuntime;
  const endpoint = await ensureProxy(rt, 'abcdef0123456789', { image: 'deployer/caddy:test', httpPort: 8081, httpsPort: 8443, adminPort: 0 });
  t.equal(endpoint.action, 'created');
  const spec = created[0]!;
  t.equal(spec.memoryBytes, parseMemory(DEFAULT_LIMITS.memory));
  t.equal(spec.nanoCpus, DEFAULT_LIMITS.cpus * 1e9);
  t.equal(spec.pidsLimit, DEFAULT_LIMITS.pids);
  t.ok(spec.memoryBytes! > 0 && spec.nanoCpus! > 0 && spec.pidsLimit! > 0);
  const host = createOptions(spec).HostConfig!;
  t.match(host, { Memory: spec.memoryBytes, NanoCpus: spec.nanoCpus, PidsLimit: spec.pidsLimit, Privileged: false, SecurityOpt: ['no-new-privileges:true'] });
});
