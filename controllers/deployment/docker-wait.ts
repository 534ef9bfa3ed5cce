// A Deployment while the Docker engine does not answer (the policy is controllers/docker-outage.ts):
// it keeps its phase; `message` and the Progressing condition (reason DockerUnavailable) say it
// waits for Docker, with a Warning Event when that starts; no attempt is counted; the key comes
// back within DOCKER_RETRY_MAX_MS (at once when the event stream reconnects). The first pass
// that reaches the engine again says so (Progressing reason DockerAvailable, a Normal Event) and
// goes on in the recorded phase.
import type { ContainerRuntime } from '../../docker/index.js';
import type { ResourceObject } from '../../resources/index.js';
import type { Condition, Deployment } from '../../schemas/index.js';
import { DOCKER_AVAILABLE, DOCKER_UNAVAILABLE, DockerRetry, dockerBackMessage, dockerOutageMessage, isDockerUnavailable } from '../docker-outage.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { involvedObjectOf, type EventRecorder } from '../runtime/event-recorder.js';
import { parseKey } from '../runtime/informer.js';
import { isTerminal } from './logic.js';

export interface DockerWaitOptions {
  docker: ContainerRuntime;
  events: EventRecorder;
  /** The Deployment from the store; undefined when it is gone. */
  get(namespace: string, name: string): Promise<Deployment | undefined>;
  /** A status write (merge patch of status, fenced); resolves to the written object. */
  write(d: Deployment, ctx: ReconcileContext, status: { message: string; conditions: Condition[] }): Promise<Deployment>;
  /** d's conditions with Progressing set to status True and `reason`/`message`. */
  progressing(d: Deployment, reason: string, message: string): Condition[];
}

/** True when the deployment's last pass found Docker not answering. */
export function waitsForDocker(d: Deployment): boolean {
  return d.status?.conditions?.some((c) => c.type === 'Progressing' && c.reason === DOCKER_UNAVAILABLE) ?? false;
}

export class DeploymentDockerWait {
  /** Retry delays of the keys whose last pass found Docker not answering. */
  private readonly retry = new DockerRetry();

  constructor(private readonly o: DockerWaitOptions) {}

  /**
   * Runs one reconcile pass; when it ends in DockerError(unavailable) (and the signal did not
   * abort), records the wait and returns when to look again instead of throwing.
   */
  async guard(key: string, signal: AbortSignal, ctx: ReconcileContext, pass: () => Promise<ReconcileResult | void>): Promise<ReconcileResult | void> {
    let result: ReconcileResult | void;
    try {
      result = await pass();
    } catch (err) {
      if (signal.aborted || !isDockerUnavailable(err)) throw err;
      return this.down(key, err, ctx);
    }
    this.retry.forget(key);
    return result;
  }

  /**
   * Call at the start of a pass: when `d` waits for Docker, asks the engine (throwing
   * DockerError(unavailable) while it is still down) and records that it answers again.
   */
  async resume(d: Deployment, ctx: ReconcileContext, signal: AbortSignal): Promise<Deployment> {
    if (!waitsForDocker(d)) return d;
    await this.o.docker.ping(signal);
    const message = dockerBackMessage(`resuming ${d.status?.phase ?? 'queued'}`);
    const written = await this.o.write(d, ctx, { message, conditions: this.o.progressing(d, DOCKER_AVAILABLE, message) });
    void this.o.events.record(involvedObjectOf(d as unknown as ResourceObject), 'Normal', DOCKER_AVAILABLE, message, { fence: ctx.fence });
    return written;
  }

  private async down(key: string, err: unknown, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { namespace, name } = parseKey(key);
    const d = await this.o.get(namespace, name);
    if (!d || isTerminal(d.status?.phase)) {
      this.retry.forget(key);
      return;
    }
    const phase = d.status?.phase ?? 'queued';
    if (!waitsForDocker(d)) {
      const message = `waiting for Docker in ${phase}: ${dockerOutageMessage(err, `the deployment resumes in ${phase}`)}`;
      await this.o.write(d, ctx, { message, conditions: this.o.progressing(d, DOCKER_UNAVAILABLE, message) });
      void this.o.events.record(involvedObjectOf(d as unknown as ResourceObject), 'Warning', DOCKER_UNAVAILABLE, message, { fence: ctx.fence });
    }
    return { requeueAfterMs: this.retry.next(key) };
  }
}
