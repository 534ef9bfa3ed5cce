// The route controller while the Docker engine does not answer: the proxy runs in a container
// of that engine, so nothing can be said about what it serves. Each Route's status says so
// (ready false, Ready Unknown with reason DockerUnavailable) with one Warning Event per Route
// when the outage starts; the sync is retried within DOCKER_RETRY_MAX_MS, and the first sync
// that reaches Docker again writes every Route's real status over it.
import { ApiError, jsonEqual, kindByName, setCondition } from '../../resources/index.js';
import type { Route } from '../../schemas/index.js';
import type { Store } from '../../store/index.js';
import type { Clock } from '../runtime/clock.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/event-recorder.js';
import { DOCKER_UNAVAILABLE, DockerRetry, dockerOutageMessage, isDockerUnavailable } from '../docker-outage.js';

const ROUTE = kindByName('Route')!;

export class RouteDockerOutage {
  private readonly retry = new DockerRetry();

  constructor(private readonly o: { store: Store; events: EventRecorder; clock: Clock; key: string }) {}

  /** After a sync that reached Docker: the next outage starts with short retries again. */
  recovered(): void {
    this.retry.forget(this.o.key);
  }

  /**
   * After a failed sync: rethrows anything but Docker not answering (the controller's backoff
   * applies); for an outage, reports it on every Route and says when to sync again.
   */
  async report(err: unknown, ctx: ReconcileContext): Promise<ReconcileResult> {
    if (!isDockerUnavailable(err)) throw err;
    const message = dockerOutageMessage(err, 'the proxy runs on it, so what this Route serves is unknown until then');
    const now = new Date(this.o.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const { items } = await this.o.store.resources.list(ROUTE);
    for (const r of items as unknown as Route[]) {
      if (r.metadata.deletionTimestamp) continue;
      const was = r.status?.conditions?.find((c) => c.type === 'Ready')?.reason === DOCKER_UNAVAILABLE;
      const conditions = setCondition(r.status?.conditions, { type: 'Ready', status: 'Unknown', reason: DOCKER_UNAVAILABLE, message: message.slice(0, 4000), observedGeneration: r.metadata.generation }, now);
      const status = { ...(r.status ?? {}), ready: false, conditions };
      if (jsonEqual(status, r.status ?? {})) continue;
      try {
        await this.o.store.resources.patch(ROUTE, r.metadata.namespace!, r.metadata.name!, 'merge', { metadata: { resourceVersion: r.metadata.resourceVersion }, status }, { subresource: 'status', fence: ctx.fence });
      } catch (e) {
        if (e instanceof ApiError && (e.code === 409 || e.code === 404)) continue; // changed meanwhile: the next retry writes it
        throw e;
      }
      if (!was) void this.o.events.record({ kind: 'Route', namespace: r.metadata.namespace!, name: r.metadata.name!, uid: r.metadata.uid }, 'Warning', DOCKER_UNAVAILABLE, message, { fence: ctx.fence });
    }
    return { requeueAfterMs: this.retry.next(this.o.key) };
  }
}
