// ContainerRuntime over dockerode: the one place deployer talks to the Docker engine.
//
// Caveats first: calls carry no timeout of their own (a hung engine hangs the caller until its
// signal, where there is one, aborts); exec cannot kill what it started when it times out
// (Docker has no API for that); ensureImage shares builds only within one process — two
// processes may build the same tag at once, which is harmless (same content, same tag).
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerConnection, isAbortError, toDockerError } from './connection.js';
import type { DockerConnectionOptions } from './connection.js';
import { FrameDemuxer, LineSplitter } from './demux.js';
import type { OutputStream } from './demux.js';
import { putArchive, volumeMountpoint } from './files.js';
import { buildContext, imageContent } from './image-build.js';
import type { ImageContent } from './image-build.js';
import { LABELS } from './labels.js';
import { createOptions, helperCreateOptions, stateOf } from './mapping.js';
import { DockerError } from './types.js';
import type {
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerSummary,
  HelperRun,
  ImageDefinition,
  RunResult,
  VolumeSummary,
} from './types.js';

const DEFAULT_STOP_TIMEOUT_S = 5;
const DEFAULT_RUN_TIMEOUT_MS = 60_000;

export class DockerRuntime implements ContainerRuntime {
  private readonly docker: Dockerode;
  /** Where the engine is, for messages. */
  readonly address: string;
  /** Builds in flight, by tag: concurrent ensureImage calls for one definition share one build. Entries leave when the build settles. */
  private readonly builds = new Map<string, Promise<string>>();

  /** `host` is a DOCKER_HOST-style URL (unix:///path, tcp://host:port); the default is DOCKER_HOST, else /var/run/docker.sock. */
  constructor(opts: DockerConnectionOptions = {}) {
    const c = dockerConnection(opts);
    this.docker = c.docker;
    this.address = c.address;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    // dockerode's ping takes an abortSignal; its types do not say so.
    const ping = this.docker.ping.bind(this.docker) as unknown as (opts: { abortSignal?: AbortSignal }) => Promise<unknown>;
    await this.call('ping', () => ping({ abortSignal: signal }));
  }

  async ensureImage(def: ImageDefinition): Promise<string> {
    const content = await imageContent(def);
    const inFlight = this.builds.get(content.tag);
    if (inFlight) return inFlight;
    const build = this.buildUnlessPresent(content).finally(() => this.builds.delete(content.tag));
    this.builds.set(content.tag, build);
    return build;
  }

  private async buildUnlessPresent(content: ImageContent): Promise<string> {
    const { tag } = content;
    if (await this.imageExists(tag)) return tag;
    const context = await buildContext(content);
    const stream = await this.call(`build image ${tag}`, () =>
      this.docker.buildImage(Readable.from([context]), { t: tag, rm: true, forcerm: true, labels: { [LABELS.managed]: 'true' } }),
    );
    // The progress is JSON lines; a line with `error` is a failed build (the HTTP status is still 200).
    const failure = await new Promise<string | undefined>((resolve, reject) => {
      let error: string | undefined;
      const lines = new LineSplitter((line) => {
        if (!line.trim() || error) return;
        try {
          const item = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
          if (item.error || item.errorDetail) error = item.error ?? item.errorDetail?.message ?? line;
        } catch {
          error = `unexpected build output: ${line}`;
        }
      });
      stream.on('data', (c: Buffer) => lines.push(c));
      stream.on('end', () => {
        lines.end();
        resolve(error);
      });
      stream.on('error', (err) => reject(toDockerError(err, this.address, `build image ${tag}`)));
    });
    if (failure) throw new DockerError('other', `build image ${tag}: ${failure.trim()}`);
    if (!(await this.imageExists(tag))) throw new DockerError('other', `build image ${tag}: the build reported success but the image is missing`);
    return tag;
  }

  private async imageExists(tag: string): Promise<boolean> {
    try {
      await this.docker.getImage(tag).inspect();
      return true;
    } catch (err) {
      const e = toDockerError(err, this.address, `inspect image ${tag}`);
      if (e.kind === 'not_found') return false;
      throw e;
    }
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getVolume(name).inspect();
      return;
    } catch (err) {
      const e = toDockerError(err, this.address, `inspect volume ${name}`);
      if (e.kind !== 'not_found') throw e;
    }
    // Creating a volume that exists (a concurrent creator) returns the existing one.
    await this.call(`create volume ${name}`, () => this.docker.createVolume({ Name: name, Labels: labels }));
  }

  async removeVolume(name: string): Promise<void> {
    await this.ignoring([404], `remove volume ${name}`, () => this.docker.getVolume(name).remove());
  }

  async listVolumes(labelFilters: string[]): Promise<VolumeSummary[]> {
    const res = await this.call('list volumes', () => this.docker.listVolumes({ filters: { label: labelFilters } }));
    return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  private readonly networkCreates = new Map<string, Promise<void>>();

  /**
   * Docker 20.10's CheckDuplicate is best effort: two creators at once can make two networks
   * of one name, and every later use of the name then fails as "ambiguous". So creates of one
   * name are serialised in this process, and duplicates (from another process) are reduced to
   * the oldest one, which is the one containers attach to first.
   */
  async ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    const running = this.networkCreates.get(name);
    if (running) return running;
    const p = this.ensureNetworkOnce(name, labels).finally(() => this.networkCreates.delete(name));
    this.networkCreates.set(name, p);
    return p;
  }

  private async ensureNetworkOnce(name: string, labels: Record<string, string>): Promise<void> {
    const same = async () =>
      (await this.call('list networks', () => this.docker.listNetworks({ filters: { name: [name] } }))).filter((n) => n.Name === name);
    let found = await same();
    if (found.length === 0) {
      await this.ignoring([409], `create network ${name}`, () =>
        this.docker.createNetwork({ Name: name, Labels: labels, Driver: 'bridge', CheckDuplicate: true }),
      );
      found = await same();
    }
    if (found.length > 1) {
      found.sort((a, b) => (a.Created < b.Created ? -1 : a.Created > b.Created ? 1 : a.Id < b.Id ? -1 : 1));
      for (const extra of found.slice(1))
        await this.ignoring([404, 409], `remove duplicate network ${name}`, () => this.docker.getNetwork(extra.Id).remove());
    }
  }

  /** Not part of ContainerRuntime (controllers never delete networks yet); used by test cleanup. */
  async listNetworks(labelFilters: string[]): Promise<{ name: string; labels: Record<string, string> }[]> {
    const res = await this.call('list networks', () => this.docker.listNetworks({ filters: { label: labelFilters } }));
    return res.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
  }

  /** Removes the network; a missing one is fine. DockerError(conflict) while containers use it. */
  async removeNetwork(name: string): Promise<void> {
    await this.ignoring([404], `remove network ${name}`, () => this.docker.getNetwork(name).remove());
  }

  async listContainers(labelFilters: string[]): Promise<ContainerSummary[]> {
    const res = await this.call('list containers', () => this.docker.listContainers({ all: true, filters: { label: labelFilters } }));
    return res.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      labels: c.Labels ?? {},
      state: c.State,
      created: c.Created,
    }));
  }

  async inspect(idOrName: string): Promise<ContainerState | null> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(idOrName).inspect();
    } catch (err) {
      const e = toDockerError(err, this.address, `inspect container ${idOrName}`);
      if (e.kind === 'not_found') return null;
      throw e;
    }
    return stateOf(info);
  }

  async create(spec: ContainerSpec): Promise<string> {
    const others = (spec.networks ?? []).slice(1);
    const options = createOptions(spec);
    const container = await this.call(`create container ${spec.name}`, () => this.docker.createContainer(options));
    try {
      for (const network of others) {
        await this.call(`connect container ${spec.name} to network ${network}`, () =>
          this.docker.getNetwork(network).connect({ Container: container.id }),
        );
      }
    } catch (err) {
      // Half-made containers are not left behind: the caller retries create from scratch.
      await this.remove(container.id).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  async start(id: string): Promise<void> {
    await this.ignoring([304], `start container ${id}`, () => this.docker.getContainer(id).start());
  }

  async stop(id: string, timeoutS = DEFAULT_STOP_TIMEOUT_S): Promise<void> {
    await this.ignoring([304], `stop container ${id}`, () => this.docker.getContainer(id).stop({ t: timeoutS }));
  }

  async restart(id: string, timeoutS = DEFAULT_STOP_TIMEOUT_S): Promise<void> {
    await this.call(`restart container ${id}`, () => this.docker.getContainer(id).restart({ t: timeoutS }));
  }

  async remove(id: string): Promise<void> {
    await this.ignoring([404], `remove container ${id}`, () => this.docker.getContainer(id).remove({ force: true, v: true }));
  }

  putArchive(id: string, path: string, tar: Buffer, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return putArchive(this.docker, this.address, id, path, tar, opts.signal);
  }

  volumeMountpoint(name: string): Promise<string | null> {
    return volumeMountpoint(this.docker, this.address, name);
  }

  async run(helper: HelperRun): Promise<RunResult> {
    helper.signal?.throwIfAborted();
    const container = await this.call(`create helper container from ${helper.image}`, () =>
      // always a helper, whatever the caller passed
      this.docker.createContainer(helperCreateOptions(helper, { ...helper.labels, [LABELS.role]: 'helper' })),
    );
    let failed = true;
    try {
      await this.start(container.id);
      const { statusCode, timedOut } = await this.waitForExit(container, helper.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS, helper.signal);
      // Docker has copied all output to the log before wait returns, so the log is complete.
      const output = collector();
      await this.readLogs(container.id, 'all', output.push);
      failed = false;
      return { exitCode: statusCode, ...output.text(), timedOut };
    } finally {
      try {
        await this.remove(container.id);
      } catch (err) {
        // The run's own error matters more than a failed cleanup; a failed cleanup after a good run is reported.
        if (!failed) throw err;
      }
    }
  }

  /** Waits for the container to exit; on timeout kills it and waits for that. Throws signal's reason when signal aborts. */
  private async waitForExit(
    container: Dockerode.Container,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ statusCode: number; timedOut: boolean }> {
    signal?.throwIfAborted();
    const wait = new AbortController();
    const timer = setTimeout(() => wait.abort(), timeoutMs);
    const onAbort = (): void => wait.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = (await container.wait({ abortSignal: wait.signal })) as { StatusCode: number };
      return { statusCode: res.StatusCode, timedOut: false };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!wait.signal.aborted) throw toDockerError(err, this.address, `wait for container ${container.id}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    await this.ignoring([409], `kill container ${container.id}`, () => container.kill());
    const res = (await this.call(`wait for container ${container.id}`, () => container.wait())) as { StatusCode: number };
    return { statusCode: res.StatusCode, timedOut: true };
  }

  async exec(id: string, argv: string[], opts: { timeoutMs?: number; user?: string } = {}): Promise<RunResult> {
    const what = `exec in container ${id}`;
    const exec = await this.call(what, () =>
      this.docker.getContainer(id).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, User: opts.user }),
    );
    const stream = (await this.call(what, () => exec.start({ hijack: true, stdin: false }))) as NodeJS.ReadableStream & {
      destroy(): void;
    };
    const out = collector();
    const timedOut = await new Promise<boolean>((resolve, reject) => {
      const demux = new FrameDemuxer(out.push);
      const timer = setTimeout(() => {
        stream.destroy();
        resolve(true);
      }, opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      stream.on('data', (c: Buffer) => demux.push(c));
      stream.on('end', done);
      stream.on('close', done);
      stream.on('error', (err) => {
        clearTimeout(timer);
        reject(toDockerError(err, this.address, what));
      });
    });
    if (timedOut) return { exitCode: -1, ...out.text(), timedOut: true };
    // The stream can end a moment before Docker records the exit code.
    for (let i = 0; ; i++) {
      const info = await this.call(what, () => exec.inspect());
      if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, ...out.text(), timedOut: false };
      if (i >= 100) throw new DockerError('timeout', `${what}: output ended but Docker did not report an exit code`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async logs(id: string, opts: { tail: number }): Promise<string> {
    const chunks: Buffer[] = [];
    await this.readLogs(id, opts.tail, (_, data) => chunks.push(data));
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Docker 20.10 does not send followers a last line that has no newline (logs() has it). */
  async followLogs(id: string, opts: { tail: number; signal: AbortSignal }, onLine: (line: string) => void): Promise<void> {
    const { signal } = opts;
    if (signal.aborted) return;
    let stream: Readable;
    try {
      stream = await this.logStream(id, { tail: opts.tail, follow: true, signal });
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    await new Promise<void>((resolve, reject) => {
      const split = { stdout: new LineSplitter(onLine), stderr: new LineSplitter(onLine) };
      const demux = new FrameDemuxer((s, data) => split[s].push(data));
      const finish = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        if (err) {
          stream.destroy();
          reject(err);
          return;
        }
        resolve();
      };
      const onAbort = (): void => {
        stream.destroy();
        finish();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (c: Buffer) => {
        try {
          demux.push(c);
        } catch (err) {
          finish(err);
        }
      });
      stream.on('end', () => {
        try {
          split.stdout.end();
          split.stderr.end();
          finish();
        } catch (err) {
          finish(err);
        }
      });
      stream.on('error', (err) => finish(signal.aborted ? undefined : toDockerError(err, this.address, `logs of container ${id}`)));
      stream.on('close', () => finish());
    });
  }

  /** Reads the log (not following) frame by frame. */
  private async readLogs(id: string, tail: number | 'all', onFrame: (s: OutputStream, data: Buffer) => void): Promise<void> {
    const stream = await this.logStream(id, { tail, follow: false });
    const demux = new FrameDemuxer(onFrame);
    try {
      for await (const chunk of stream) demux.push(chunk as Buffer);
    } catch (err) {
      throw toDockerError(err, this.address, `logs of container ${id}`);
    }
  }

  /** The raw (multiplexed) log stream. dockerode's logs() buffers and JSON-parses unfollowed logs, so this dials directly. */
  private logStream(id: string, opts: { tail: number | 'all'; follow: boolean; signal?: AbortSignal }): Promise<Readable> {
    return this.call(
      `logs of container ${id}`,
      () =>
        new Promise<Readable>((resolve, reject) => {
          this.docker.modem.dial(
            {
              path: `/containers/${encodeURIComponent(id)}/logs?`,
              method: 'GET',
              isStream: true,
              abortSignal: opts.signal,
              statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
              options: { stdout: true, stderr: true, tail: String(opts.tail), follow: opts.follow },
            },
            (err, data) => (err ? reject(err) : resolve(data as Readable)),
          );
        }),
    );
  }

  /** Runs a dockerode call, turning its failures into DockerErrors (aborts pass through). */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isAbortError(err)) throw err;
      throw toDockerError(err, this.address, what);
    }
  }

  /** Like call, but the HTTP statuses in `ok` (304 already started/stopped, 404 already gone…) count as success. */
  private async ignoring(ok: number[], what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const status = (err as { statusCode?: number } | null)?.statusCode;
      if (status !== undefined && ok.includes(status)) return;
      if (isAbortError(err)) throw err;
      throw toDockerError(err, this.address, what);
    }
  }
}

function collector(): { push: (s: OutputStream, data: Buffer) => void; text: () => { stdout: string; stderr: string } } {
  const chunks: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  return {
    push: (s, data) => void chunks[s].push(data),
    text: () => ({ stdout: Buffer.concat(chunks.stdout).toString('utf8'), stderr: Buffer.concat(chunks.stderr).toString('utf8') }),
  };
}
