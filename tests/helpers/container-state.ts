// A ContainerState as the runtime's inspect returns it, for unit tests of status logic: a
// running container started a second after its creation; `over` changes any field.
import type { ContainerState } from '../../docker/index.js';

export const containerState = (over: Partial<ContainerState> = {}): ContainerState => ({
  id: 'c1',
  name: 'x',
  image: 'img',
  labels: {},
  status: 'running',
  running: true,
  restarting: false,
  exitCode: 0,
  oomKilled: false,
  createdAt: '2026-01-01T00:00:00Z',
  startedAt: '2026-01-01T00:00:01Z',
  restartCount: 0,
  ports: [],
  networks: [],
  ...over,
});
