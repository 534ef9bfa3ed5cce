// deployer's Prometheus metrics: the one place prom-client is imported. A Metrics object
// holds a registry and the instruments the API and the controllers update as they work;
// figures that live in the store (ProjectServers, Deployments, the cleanup record, the watch
// hub) are handed in at scrape time as a ScrapeSnapshot, so every process answers them the
// same and a token sees only its namespaces.
//
// Contract:
// - createMetrics() returns an independent registry: tests make their own, server.ts makes one
//   and passes it to buildApi and the ControllerManager. Every user takes it as optional.
// - Names are stable (README "### Metrics" lists them); label values are bounded: HTTP routes
//   are route patterns (unmatched requests share one label), methods a fixed set, controllers
//   and phases come from the code.
// - scrape() runs the onScrape hooks (process-local gauges: queue depth, leadership), then
//   renders the registry and the snapshot's series in the text format.
// Not guaranteed: counters and histograms are this process' own since it started; with several
// processes, sum them in Prometheus. The snapshot's series are the same in every process.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { renderSnapshot, type ScrapeSnapshot } from './snapshot.js';

export type { ScrapeSnapshot, ServerFigures } from './snapshot.js';

/** How often the event-loop lag is sampled (prom-client's eventLoopMonitoringPrecision). */
export const EVENT_LOOP_SAMPLE_MS = 1000;
export { SERVER_HEALTH_STATES } from './snapshot.js';

export const PREFIX = 'deployer_';
/** The route label of requests no route matched (404s of unknown paths). */
export const UNMATCHED_ROUTE = '<unmatched>';

/** Results of one reconcile, as the controller runtime tells them apart. */
export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'terminal';

/** What the controller runtime updates. */
export interface ControllerMetrics {
  /** deployer_controller_reconciles_total{controller,result} */
  reconciles: Counter<'controller' | 'result'>;
  /** deployer_controller_reconcile_duration_seconds{controller} */
  reconcileDuration: Histogram<'controller'>;
  /** deployer_controller_retries_total{controller}: keys put back with backoff after an error. */
  retries: Counter<'controller'>;
  /** deployer_controller_queue_depth{controller}: keys waiting (set at scrape time). */
  queueDepth: Gauge<'controller'>;
  /** deployer_controller_leader{controller}: 1 while this process leads it (set at scrape time). */
  leader: Gauge<'controller'>;
  /** deployer_deployment_phase_duration_seconds{phase}: observed when a Deployment leaves a phase. */
  phaseDuration: Histogram<'phase'>;
  /** Runs `fn` before every scrape (to set gauges); returns the unsubscribe. */
  onScrape(fn: () => void): () => void;
}

export interface Metrics extends ControllerMetrics {
  readonly registry: Registry;
  /** deployer_http_requests_total{route,method,code} */
  httpRequests: Counter<'route' | 'method' | 'code'>;
  /** deployer_http_request_duration_seconds{route,method,code} */
  httpDuration: Histogram<'route' | 'method' | 'code'>;
  /** Counts one finished HTTP request; `route` is the route pattern, or undefined when none matched. */
  observeRequest(route: string | undefined, method: string, code: number, seconds: number): void;
  /** The text exposition: this process' instruments plus the snapshot's series. */
  scrape(snapshot: ScrapeSnapshot): Promise<{ contentType: string; text: string }>;
}

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop, GC) with the deployer_ prefix; default true. */
  processMetrics?: boolean;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  // The event-loop lag histogram samples once a second, not prom-client's default every 10 ms:
  // those 100 wake-ups a second were a third of an idle deployer's CPU. Each sample still
  // measures a lag to the millisecond; only fewer of them are taken.
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];

  const httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'code'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Time to answer an HTTP request (a watch counts until it ends), by route pattern, method and status code',
    labelNames: ['route', 'method', 'code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const reconciles = new Counter({
    name: `${PREFIX}controller_reconciles_total`,
    help: 'Reconciles finished by this process, by controller and result (success, requeue, error, terminal)',
    labelNames: ['controller', 'result'] as const,
    registers,
  });
  const reconcileDuration = new Histogram({
    name: `${PREFIX}controller_reconcile_duration_seconds`,
    help: 'Time one reconcile took, by controller',
    labelNames: ['controller'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const retries = new Counter({
    name: `${PREFIX}controller_retries_total`,
    help: 'Keys put back on the work queue with backoff after a failed reconcile, by controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const queueDepth = new Gauge({
    name: `${PREFIX}controller_queue_depth`,
    help: 'Keys waiting in the work queue of a controller this process runs',
    labelNames: ['controller'] as const,
    registers,
  });
  const leader = new Gauge({
    name: `${PREFIX}controller_leader`,
    help: "1 while this process holds the controller's lease, else 0",
    labelNames: ['controller'] as const,
    registers,
  });
  const phaseDuration = new Histogram({
    name: `${PREFIX}deployment_phase_duration_seconds`,
    help: 'Time Deployments spent in a phase, observed when they leave it (from status.phaseUpdatedAt, kept to the millisecond)',
    labelNames: ['phase'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600], // most phases take under a second (bench/deploy)
    registers,
  });

  // Children by "method code route": prom-client hashes a label object on every inc/observe;
  // a finished request only concatenates one string and looks it up.
  const children = new Map<string, { count: Counter.Internal; time: Histogram.Internal<'route' | 'method' | 'code'> }>();
  const observeRequest: Metrics['observeRequest'] = (route, method, code, seconds) => {
    const m = METHODS.has(method) ? method : 'other';
    const r = route ?? UNMATCHED_ROUTE;
    const key = `${m} ${code} ${r}`;
    let c = children.get(key);
    if (!c) {
      const labels = [r, m, String(code)];
      c = { count: httpRequests.labels(...labels), time: httpDuration.labels(...labels) };
      children.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  };

  const hooks = new Set<() => void>();
  const onScrape = (fn: () => void) => {
    hooks.add(fn);
    return () => void hooks.delete(fn);
  };

  const scrape: Metrics['scrape'] = async (snapshot) => {
    for (const fn of hooks) fn();
    const text = (await registry.metrics()) + (await renderSnapshot(snapshot));
    return { contentType: registry.contentType, text };
  };

  return {
    registry,
    httpRequests,
    httpDuration,
    reconciles,
    reconcileDuration,
    retries,
    queueDepth,
    leader,
    phaseDuration,
    onScrape,
    observeRequest,
    scrape,
  };
}

export { parseMetrics, type Sample, type Scrape } from './parse.js';
