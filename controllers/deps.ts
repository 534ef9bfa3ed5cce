// What controllers get from the process that runs them. Passed explicitly (no locator).
import type { ContainerEvent, ContainerRuntime } from '../docker/index.js';
import type { Store } from '../store/index.js';
import type { Clock } from './runtime/clock.js';
import type { LogFn } from './runtime/log.js';

/** Docker events as controllers consume them (DockerEventStream, or a fake in unit tests). */
export interface DockerEventSource {
  onEvent(h: (e: ContainerEvent) => void): () => void;
  /** After the stream reconnected (and caught up): consumers resync, as events may be lost. */
  onReconnect(h: () => void): () => void;
  /** When an open stream is lost (the engine went away): consumers look at their objects, to report the outage at once. Optional for fakes. */
  onDisconnect?(h: () => void): () => void;
}

export interface DockerDeps {
  runtime: ContainerRuntime;
  events: DockerEventSource;
  /** This installation's id (store.records.installation()); labels every Docker object. */
  installation: string;
  /** The image static servers run unless their spec names one. */
  staticImage: string;
  /** The network servers and the proxy share (docker/labels networkName). */
  network: string;
  proxy: ProxySettings;
}

export interface ProxySettings {
  /** The proxy's image (deployer/caddy built from the host's caddy, or a setting). */
  image: string;
  /** Host ports: HTTP (default 8081), HTTPS (8443); 0 lets Docker pick (tests). */
  httpPort: number;
  httpsPort: number;
  /** Host port of the admin API on 127.0.0.1; 0 lets Docker pick. */
  adminPort: number;
  /**
   * How often the route controller compares the proxy's config with the Routes when nothing
   * happened (a config edited by hand); default controllers/route DRIFT_CHECK_MS.
   */
  driftCheckMs?: number;
}

export interface ControllerDeps {
  store: Store;
  /** This process' identity (lease holder, Event reportingInstance). */
  identity: string;
  log: LogFn;
  /** Controllers that manage containers need it; server.ts connects it when Docker answers. */
  docker?: DockerDeps;
  clock?: Clock;
}
