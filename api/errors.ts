// One error handler: every error leaves the API as a Kubernetes Status object with the
// right code. Messages of 5xx are logged, not returned.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, badRequest } from '../resources/index.js';
import { isConnectionError } from '../store/index.js';

export function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.code === 503) reply.header('Retry-After', String(err.details?.retryAfterSeconds ?? 1));
  return reply.code(err.code).type('application/json').send(err.toStatus());
}

/** Maps anything thrown in a request to an ApiError. */
export function toApiError(err: unknown, req: FastifyRequest): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as FastifyError & { validation?: unknown[]; validationContext?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'UnsupportedMediaType', `unsupported content type "${req.headers['content-type'] ?? ''}": send application/json${req.method === 'PATCH' ? ', application/merge-patch+json, application/json-patch+json or application/apply-patch+yaml' : ''}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'RequestEntityTooLarge', 'the request body is larger than 1 MiB');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('the request body is empty: send a JSON document');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('the Content-Length header does not match the body');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (e.statusCode === 400 && /JSON|prototype|constructor/i.test(e.message)))
    return badRequest(`malformed JSON in the request body: ${e.message}`);
  if (e.validation) return badRequest(`invalid ${e.validationContext ?? 'request'}: ${e.message}`);
  if (isConnectionError(err)) return new ApiError(503, 'ServiceUnavailable', 'the database is unavailable; retry shortly', { retryAfterSeconds: 2 });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return new ApiError(e.statusCode, e.statusCode === 404 ? 'NotFound' : 'BadRequest', e.message);
  return new ApiError(500, 'InternalError', 'an internal error occurred; it has been logged');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const api = toApiError(err, req);
    if (api.code >= 500 && api.code !== 503) req.log.error({ err }, 'request failed');
    return sendError(reply, api);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new ApiError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${req.url.split('?')[0]})`)),
  );
}
