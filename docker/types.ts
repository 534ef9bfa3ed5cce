// The Docker side as controllers see it. Implemented over dockerode by DockerRuntime
// (runtime.ts); unit tests may use a fake. Every method that waits takes an AbortSignal where
// a caller may need to give up; every Docker failure surfaces as a DockerError.

/** Everything needed to create one container. Times in milliseconds. */
export interface ContainerSpec {
  name: string;
  image: string;
  /** Replaces the image's CMD (argv; never a shell string). */
  cmd?: string[];
  /** Replaces the image's ENTRYPOINT. */
  entrypoint?: string[];
  env?: Record<string, string>;
  labels: Record<string, string>;
  mounts?: { volume: string; target: string; readOnly?: boolean }[];
  /** Docker's HEALTHCHECK: `test` is the exec form argv (without the "CMD" marker). */
  healthCheck?: { test: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number };
  restartPolicy: { name: 'no' | 'unless-stopped' | 'on-failure'; maximumRetryCount?: number };
  memoryBytes?: number;
  nanoCpus?: number;
  /** The most processes and threads at once (Docker's PidsLimit). */
  pidsLimit?: number;
  /**
   * Host access (only ever from a spec an admin token wrote; see resources/security.ts).
   * Absent: none. Every container deployer makes also gets `no-new-privileges` (unless
   * privileged) and Docker's default capability set plus `capAdd`, nothing more.
   */
  host?: HostAccessSpec;
  /** Ports the process listens on inside the container (documentation for Docker; not published). */
  exposedPorts?: number[];
  /** Ports published on the host; `host` 0 or absent: a free port Docker picks; `hostIp` e.g. 127.0.0.1. */
  publishedPorts?: { container: number; host?: number; hostIp?: string }[];
  /** Networks to attach at create time (the first one is the primary). */
  networks?: string[];
  /** Run Docker's init as PID 1 (so a stop takes ~0.1 s, not 10 s). Default true. */
  init?: boolean;
}

export interface HostAccessSpec {
  privileged?: boolean;
  /** Docker's --network host: then `networks` must be empty (Docker refuses both). */
  network?: boolean;
  /** Docker's --pid host. */
  pid?: boolean;
  /** Capability names without the CAP_ prefix. */
  capAdd?: string[];
  devices?: { hostPath: string; containerPath: string; permissions: string }[];
  /** Bind mounts of host paths. */
  binds?: { hostPath: string; target: string; readOnly: boolean }[];
}

/** A container as Docker reports it (inspect). */
export interface ContainerState {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** Docker's State.Status: created, running, paused, restarting, removing, exited, dead. */
  status: string;
  running: boolean;
  /** Docker is about to restart it itself (restart policy). */
  restarting: boolean;
  exitCode: number;
  oomKilled: boolean;
  /** ISO timestamps; Docker's zero time ("0001-01-01…") becomes undefined. */
  startedAt?: string;
  finishedAt?: string;
  createdAt: string;
  /** Docker's own restart count (restarts by its restart policy since the container was created). */
  restartCount: number;
  /** Published ports as bound now (empty while the container is stopped). */
  ports: { container: number; hostIp: string; hostPort: number }[];
  /** The networks it is attached to. */
  networks: string[];
  /**
   * Network name → the container's IPv4 address on it, for the networks where it has one (none
   * while it is stopped). Reachable from the Docker host on bridge networks; not from another
   * machine, and not from this process when the engine is remote. Always set by DockerRuntime;
   * optional only until hand-made states (tests/unit/projectserver-logic.test.ts) list it.
   */
  addresses?: Record<string, string>;
  /** Only when the container has a health check. */
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; failingStreak: number; lastOutput?: string };
}

/** One line of `docker ps -a` for the containers matching label filters. */
export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** created, running, exited, … */
  state: string;
  /** Unix seconds. */
  created: number;
}

export interface VolumeSummary {
  name: string;
  labels: Record<string, string>;
}

export interface HelperRun {
  image: string;
  /** argv, never a shell string built from user data. */
  argv: string[];
  entrypoint?: string[];
  /** `deployer.dev/role=helper` is always added (the cleanup controller's TTL applies to it). */
  labels: Record<string, string>;
  mounts?: { volume: string; target: string; readOnly?: boolean }[];
  env?: Record<string, string>;
  workingDir?: string;
  /** Limits; absent ones get HELPER_LIMITS' values (docker/mapping.ts). */
  memoryBytes?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  /** Killed and removed after this long (default 60 s); the result then has timedOut. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A Docker event about a container (`docker events --filter type=container`). */
export interface ContainerEvent {
  /** die, start, health_status, destroy, oom, stop, create, kill, restart… For health
   * events Docker's action is `health_status: healthy`; it is split into action and health. */
  action: string;
  health?: 'healthy' | 'unhealthy' | 'starting';
  id: string;
  /** The container's labels (Docker sends them as the actor's attributes). */
  labels: Record<string, string>;
  /** Exit code for die. */
  exitCode?: number;
  /** Nanoseconds since the epoch. */
  timeNano: bigint;
}

export interface ImageDefinition {
  /** Repository, e.g. `deployer/static`; the tag is the content hash. */
  repository: string;
  /** Files of the image: path inside the image → host file to copy, a symlink target, or an
   * (empty) directory with its mode (e.g. `/tmp` with 0o1777). Parent directories are made 0755. */
  files: Record<string, { hostPath: string; mode?: number } | { content: string; mode?: number } | { symlink: string } | { dir: true; mode?: number }>;
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
}

/** What controllers use of Docker. */
export interface ContainerRuntime {
  /** Resolves when the engine answers; throws DockerError(unavailable) otherwise. */
  ping(signal?: AbortSignal): Promise<void>;

  /** Builds `repository:<content hash>` FROM scratch unless it exists; returns the full tag. */
  ensureImage(def: ImageDefinition): Promise<string>;

  /** Creates the volume unless it exists (labels are only set at creation). */
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Removes the volume; a missing one is fine. Throws DockerError(conflict) while it is in use. */
  removeVolume(name: string): Promise<void>;
  listVolumes(labelFilters: string[]): Promise<VolumeSummary[]>;

  /** Creates the network unless it exists. */
  ensureNetwork(name: string, labels: Record<string, string>): Promise<void>;

  listContainers(labelFilters: string[]): Promise<ContainerSummary[]>;
  /** null when there is no such container. */
  inspect(idOrName: string): Promise<ContainerState | null>;
  /** Creates (does not start) the container; returns its id. Throws DockerError(conflict) when the name is taken. */
  create(spec: ContainerSpec): Promise<string>;
  /** Starting a running container is fine. */
  start(id: string): Promise<void>;
  /** Stopping a stopped container is fine. `timeoutS` before SIGKILL (default 5). */
  stop(id: string, timeoutS?: number): Promise<void>;
  restart(id: string, timeoutS?: number): Promise<void>;
  /** Force-removes (with its anonymous volumes); a missing container is fine. */
  remove(id: string): Promise<void>;

  /** Runs a helper container to completion, collects its output, and removes it. */
  run(helper: HelperRun): Promise<RunResult>;
  /**
   * Uploads `tar` (an uncompressed tar archive) and extracts it at `path` inside the container,
   * which may be running or created but not started (its volumes are mounted for the upload).
   * Caveats: `path` must be an existing directory (DockerError not_found when it is missing,
   * bad_request when it is not a directory or is on a read-only mount); an entry replaces what
   * is at its path — a file, a symlink and even a directory with all its contents — while a
   * directory entry over an existing directory merges into it (stale files stay); owners and
   * modes come from the tar headers; entries that would land outside `path` fail the call
   * (bad_request), possibly after others were extracted — extraction is not atomic, so write
   * into a new directory and switch to it with a rename. The whole tar is held in memory.
   * Throws DockerError(not_found) when the container does not exist.
   */
  putArchive(id: string, path: string, tar: Buffer, opts?: { signal?: AbortSignal }): Promise<void>;
  /**
   * The volume's directory on this host (Docker's Mountpoint) when this process can read it,
   * else null: the volume does not exist, the engine is remote or in a VM (Docker Desktop), or
   * this process lacks the rights (deployer runs as root beside the engine). Caveat: only
   * readability is checked, so a remote engine's path that happens to exist here is returned.
   */
  volumeMountpoint(name: string): Promise<string | null>;

  /** Runs argv inside a running container. */
  exec(id: string, argv: string[], opts?: { timeoutMs?: number; user?: string }): Promise<RunResult>;
  /** The last `tail` lines of stdout and stderr, interleaved as Docker stored them. */
  logs(id: string, opts: { tail: number }): Promise<string>;
  /** Follows the log until `signal` aborts or the container stops; calls onLine per line. */
  followLogs(id: string, opts: { tail: number; signal: AbortSignal }, onLine: (line: string) => void): Promise<void>;
}

export type DockerErrorKind = 'unavailable' | 'not_found' | 'conflict' | 'bad_request' | 'timeout' | 'other';

/** A Docker failure, classified so controllers can decide (retry, report, give up). */
export class DockerError extends Error {
  constructor(
    readonly kind: DockerErrorKind,
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'DockerError';
  }
}
