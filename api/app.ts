// The HTTP API as a Fastify app, built from its dependencies; server.ts only listens.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Compile } from 'typebox/compile';
import type { TSchema } from 'typebox';
import { badRequest } from '../resources/index.js';
import type { Store } from '../store/index.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { registerAuth } from './auth.js';
import { clientError, frameworkError, refuseConnect, registerErrorHandling } from './errors.js';
import { coreEventRoutes } from './routes/core-events.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { discoveryRoutes } from './routes/discovery.js';
import { healthRoutes } from './routes/health.js';
import { logRoutes, type LogSource } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { openApiV3Routes } from './routes/openapi-v3.js';
import { resourceRoutes } from './routes/resources.js';
import { tlsInfoRoutes, type TlsInfo } from './routes/tls-info.js';
import { tokenRoutes } from './routes/tokens.js';
import { createWatchRegistry } from './routes/watch.js';
import { SHARED_SCHEMAS } from './shared-schemas.js';

export const BODY_LIMIT = 1024 * 1024;

export interface ApiOptions {
  store: Store;
  version?: string;
  /** How often idle watches get a BOOKMARK (ms). */
  bookmarkMs?: number;
  /** How often the tokens of open watches are re-checked, so a revoked token's watches end (ms; default 2000). */
  tokenRecheckMs?: number;
  logger?: FastifyServerOptions['logger'];
  /** A pino logger to log through (instead of `logger`'s options). */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** How long in-flight requests may take to finish once shutdown starts (ms). */
  shutdownGraceMs?: number;
  /** This process' identity as a lease holder (shown by /api/monitoring/leaders). */
  identity?: string;
  /** Container logs for …/projectservers/{name}/log (absent: that endpoint answers 503). */
  logs?: LogSource;
  /** The HTTPS listener's URL and certificate once it runs (GET /api/tls). */
  tls?: () => TlsInfo | undefined;
  /**
   * Where HTTP requests are counted and GET /metrics renders from (server.ts shares one with
   * the controllers). Absent: the API makes its own, without Node's process metrics.
   */
  metrics?: Metrics;
}

export interface Api {
  app: FastifyInstance;
  /** How many watch streams are open. */
  openWatches(): number;
}

/**
 * Deeper than this, a JSON body is refused: no object of deployer.dev/v1 (nor a patch of one)
 * nests so deep, and the rules' clones and comparisons recurse on the stack.
 */
const MAX_JSON_DEPTH = 100;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * JSON bodies: a syntax error names its position, and a "__proto__" key, or a "constructor"
 * holding "prototype", is refused naming where it is (Fastify's own parser says only "Body is
 * not valid JSON" for both); so is a body nesting deeper than MAX_JSON_DEPTH. Walked without
 * recursion: bodies may nest 100,000 deep.
 */
function parseJsonBody(_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void {
  const text = body.toString();
  if (text.length === 0) return done(badRequest('the request body is empty: send a JSON document'));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return done(badRequest(`malformed JSON in the request body: ${(err as Error).message}`));
  }
  // A lone UTF-16 surrogate ("\ud800" with no pair) is valid JSON but no text Postgres can store.
  const surrogates = /\\u[dD][89a-fA-F]/.test(text);
  const todo: [unknown, string, number][] = [[value, '', 0]];
  while (todo.length > 0) {
    const [v, path, depth] = todo.pop()!;
    if (surrogates && typeof v === 'string' && LONE_SURROGATE.test(v))
      return done(badRequest(`the request body has a string with an unpaired UTF-16 surrogate (an escape like \\ud800 without its pair) at ${path.slice(1, 120) || 'the top level'}: it is not text and cannot be stored`));
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH)
      return done(badRequest(`the request body nests deeper than ${MAX_JSON_DEPTH} levels (at ${path.slice(1, 120) || 'the top level'}…); no object of deployer.dev/v1 does`));
    for (const [k, child] of Object.entries(v)) {
      const at = Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`;
      if (surrogates && LONE_SURROGATE.test(k))
        return done(badRequest(`the request body has a key with an unpaired UTF-16 surrogate (an escape like \\ud800 without its pair) at ${at.slice(1, 120)}: it is not text and cannot be stored`));
      if (k === '__proto__' || (k === 'constructor' && child !== null && typeof child === 'object' && 'prototype' in child))
        return done(badRequest(`the request body has a forbidden "${k}" key at ${at.slice(1) || 'the top level'}`));
      todo.push([child, at, depth + 1]);
    }
  }
  done(null, value);
}

/** The origin-form (`/path?query`) of a request target. */
export function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const absolute = target.match(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i);
  if (absolute) return absolute[1].startsWith('/') ? absolute[1] : `/${absolute[1]}`;
  return `/${target}`;
}

export async function buildApi(opts: ApiOptions): Promise<Api> {
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Watches are closed in preClose; idle keep-alive connections close with the server.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    // Route on the path alone: an absolute-form target (`GET http://host/path`, which HTTP/1.1
    // servers must accept) becomes its path, and `*` (OPTIONS *) a path no route has.
    rewriteUrl: (req) => originForm(req.url ?? '/'),
    // Requests refused before any handler runs (bad percent-encoding, or unparseable HTTP)
    // are answered with a Status too.
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
    // Node would answer a missing Host header with an empty 400; the hook below sends a Status.
    http: { requireHostHeader: false },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are validated by the resource rules (every cause at once, 400 or 422);
  // path and query parameters by their typebox schemas.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart === 'body') return (data: unknown) => ({ value: data });
    const check = Compile(schema as TSchema);
    return (data: unknown) => {
      if (check.Check(data)) return { value: data };
      const first = [...check.Errors(data)][0];
      return { error: badRequest(`invalid ${httpPart} parameter ${first?.instancePath ?? ''}: ${first?.message ?? 'bad value'}`) };
    };
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Only JSON bodies: anything else is 415.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser(['application/json', 'application/merge-patch+json', 'application/json-patch+json'], { parseAs: 'string' }, parseJsonBody);

  for (const [id, schema] of Object.entries(SHARED_SCHEMAS)) app.addSchema({ ...schema, $id: id });
  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'deployer',
        description: 'deployer.dev/v1: ProjectServers, Deployments, Routes and Events, in the Kubernetes API style.',
        version: opts.version ?? '0.1.0',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  let closing = false;
  // Open watches re-check their tokens: a revoked token's streams end (routes/watch.ts).
  const registry = createWatchRegistry({ tokens: opts.store.tokens, recheckMs: opts.tokenRecheckMs, log: (msg, err) => app.log.warn({ err }, msg) });
  app.addHook('preClose', async () => {
    closing = true;
    registry.closeAll();
    // In-flight requests get a grace period; then any connection still open (a client
    // that opened a connection and sent nothing, say) is closed so shutdown cannot hang
    // until the headers timeout.
    const force = setTimeout(() => app.server.closeAllConnections(), opts.shutdownGraceMs ?? 5000);
    force.unref();
    app.server.once('close', () => clearTimeout(force));
  });

  const metrics = opts.metrics ?? createMetrics({ processMetrics: false });
  // Counted by route pattern (bounded), not by URL; requests no route matched share one label.
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observeRequest(req.routeOptions.url, req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  registerErrorHandling(app);
  app.server.on('connect', refuseConnect);
  app.addHook('onRequest', async (req) => {
    if (req.raw.httpVersionMajor === 1 && req.raw.httpVersionMinor >= 1 && !req.headers.host) throw badRequest('an HTTP/1.1 request needs a Host header');
  });
  registerAuth(app, opts.store.tokens);
  healthRoutes(app, opts.store, () => closing);
  discoveryRoutes(app, { gitVersion: `v1.32.0-deployer.${opts.version ?? '0.1.0'}` });
  openApiV3Routes(app, opts.version);
  resourceRoutes(app, { store: opts.store, registry, bookmarkMs: opts.bookmarkMs ?? 10_000 });
  coreEventRoutes(app, opts.store);
  tokenRoutes(app, opts.store);
  monitoringRoutes(app, opts.store, opts.identity ?? 'unknown');
  logRoutes(app, { store: opts.store, logs: opts.logs, registry });
  tlsInfoRoutes(app, opts.tls ?? (() => undefined));
  metricsRoutes(app, { store: opts.store, metrics, openWatches: () => registry.size });
  dashboardRoutes(app);
  // Rendered once: the routes are fixed after ready, and rendering costs ~100 ms of CPU each time.
  let openApiYaml: string | undefined;
  app.get('/openapi.yaml', { schema: { hide: true } }, async (_req, reply) => reply.type('application/yaml').send((openApiYaml ??= app.swagger({ yaml: true }))));

  await app.ready();
  return { app, openWatches: () => registry.size };
}
