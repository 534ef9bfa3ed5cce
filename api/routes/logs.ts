// GET …/namespaces/{ns}/projectservers/{name}/log — a server's container log, like Kubernetes'
// pods/log: `tailLines` (default 100, at most 10,000), `follow=true` streams new lines until
// the client goes away, the container stops, or the caller's token is revoked (or expired):
// a followed log is registered with the watch registry, which re-checks its token every
// recheckMs as it does a watch's, and then gets a last line saying so. Plain text, one line
// per line.
//
// The API reads Docker only here (DESIGN §2), through a LogSource that server.ts builds from the
// Docker runtime: api/ imports no dockerode and no controller.
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { ApiError, kindByName } from '../../resources/index.js';
import type { Store } from '../../store/index.js';
import { authorize, bearerSecret, identity } from '../auth.js';
import type { createWatchRegistry } from './watch.js';

/**
 * The ProjectServer whose log is asked for. `uid` is the stored object's: only a container
 * labelled with it is that server's (not one of a deleted server of the same name, nor one of
 * another installation that happens to have the name).
 */
export interface LogServer {
  namespace: string;
  name: string;
  uid: string;
}

/** Where logs come from (a server's container, found by its ProjectServer). */
export interface LogSource {
  /** The last `tail` lines; null when the server has no container. */
  tail(server: LogServer, tail: number): Promise<string | null>;
  /**
   * Calls `opened` once the container's log is open, then onLine per line from the last `tail`
   * on, until `signal` aborts or the container stops. Resolves false (without `opened`) when
   * the server has no container.
   */
  follow(server: LogServer, opts: { tail: number; signal: AbortSignal; opened: () => void }, onLine: (line: string) => void): Promise<boolean>;
}

const PS = kindByName('ProjectServer')!;
const MAX_TAIL = 10_000;
const ref = (id: string) => Type.Unsafe({ $ref: `${id}#` });
/** The last line of a followed log whose token was revoked: plain text, as the rest of the stream. */
export const REVOKED_LINE = 'deployer: the token was revoked; the stream ends';

/**
 * `registry` is the app's watch registry: a followed log is ended by its closeAll (shutdown)
 * and by its token re-check (revoked: a last REVOKED_LINE; authorisation changed: just ended).
 */
export function logRoutes(app: FastifyInstance, deps: { store: Store; logs: LogSource | undefined; registry: ReturnType<typeof createWatchRegistry> }): void {
  const { store, logs, registry } = deps;
  app.get(
    `/apis/deployer.dev/v1/namespaces/:namespace/projectservers/:name/log`,
    {
      schema: {
        tags: ['projectservers'],
        summary: "The server's container log (text); follow=true streams it",
        params: Type.Object({ namespace: Type.String(), name: Type.String() }),
        querystring: Type.Object(
          {
            follow: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0')])),
            tailLines: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
          },
          { additionalProperties: true },
        ),
        response: { 200: Type.String(), 401: ref('Status'), 403: ref('Status'), 404: ref('Status'), 503: ref('Status') },
      },
    },
    async (req, reply) => {
      const { namespace, name } = req.params as { namespace: string; name: string };
      const q = req.query as { follow?: string; tailLines?: string };
      authorize(identity(req), 'read', PS.plural, namespace);
      const ps = await store.resources.get(PS, namespace, name); // 404 Status when there is no such server
      const server: LogServer = { namespace, name, uid: ps.metadata.uid ?? '' };
      if (!logs) throw new ApiError(503, 'ServiceUnavailable', 'this deployer process has no Docker engine connected, so it cannot read container logs');
      const tail = Math.min(Number(q.tailLines ?? 100), MAX_TAIL);
      const dockerDown = (err: unknown) => {
        if ((err as { kind?: string }).kind === 'unavailable') throw new ApiError(503, 'ServiceUnavailable', `Docker does not answer: ${(err as Error).message}`);
        throw err;
      };
      const noContainer = () => new ApiError(404, 'NotFound', `ProjectServer "${name}" has no container yet (see its status)`);
      if (q.follow !== 'true' && q.follow !== '1') {
        const text = await logs.tail(server, tail).catch(dockerDown);
        if (text === null) throw noContainer();
        return reply.type('text/plain; charset=utf-8').send(text);
      }
      const abort = new AbortController();
      const end = () => abort.abort(); // follow() then resolves and the stream is ended below
      req.raw.on('close', end);
      let started = false;
      let unregister: () => unknown = () => undefined;
      const start = () => {
        if (started) return;
        started = true;
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
        reply.raw.flushHeaders();
        // Registered only once the stream is ours to end; a revoke since the request was
        // authenticated is still seen, at the registry's next re-check.
        const secret = bearerSecret(req);
        const revoked = () => {
          if (abort.signal.aborted) return;
          reply.raw.write(`${REVOKED_LINE}\n`);
          end();
        };
        unregister = registry.add(end, secret ? { secret, who: identity(req), revoked } : undefined, 'log');
      };
      // the headers go out as soon as the log is open: a client sees the stream before the first line
      const found = await logs
        .follow(server, { tail, signal: abort.signal, opened: start }, (line) => {
          if (!abort.signal.aborted) reply.raw.write(`${line}\n`); // nothing after the last line of a revoke
        })
        .catch((err: unknown) => {
          if (!started) return dockerDown(err);
          return true; // the stream broke after it began: end it
        })
        .finally(() => unregister());
      if (!found) throw noContainer();
      reply.raw.end();
    },
  );
}
