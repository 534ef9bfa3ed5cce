// One error handler: every error leaves the API as a Kubernetes Status object with the
// right code. Messages of 5xx are logged, not returned.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
  // A NUL (or a byte sequence UTF-8 cannot hold) that reached the database in a value the
  // request carried — in a continue token, a selector or a string in the body: the value is
  // the client's mistake, not ours.
  if (e.code === '22021' || e.code === '22P05')
    return badRequest(`${nulSource(req)} holds a NUL character (\\u0000) or bytes that are not UTF-8, which deployer cannot store or look up: remove it`);
  if (isConnectionError(err)) return new ApiError(503, 'ServiceUnavailable', 'the database is unavailable; retry shortly', { retryAfterSeconds: 2 });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return new ApiError(e.statusCode, e.statusCode === 404 ? 'NotFound' : 'BadRequest', e.message);
  return new ApiError(500, 'InternalError', 'an internal error occurred; it has been logged');
}

/** Which part of the request holds a NUL: a query parameter (a continue token decoded), or a body field by its path. */
function nulSource(req: FastifyRequest): string {
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string') continue;
    if (v.includes('\0')) return `the query parameter ${k}`;
    if (k === 'continue' && /\0|\\u0000/.test(Buffer.from(v, 'base64url').toString('utf8'))) return 'the continue token';
  }
  const find = (v: unknown, path: string): string | undefined => {
    if (typeof v === 'string') return v.includes('\0') ? path : undefined;
    if (v === null || typeof v !== 'object') return undefined;
    for (const [k, child] of Object.entries(v)) {
      const hit = (k.includes('\0') ? `${path}.${JSON.stringify(k)}` : undefined) ?? find(child, Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`);
      if (hit) return hit;
    }
    return undefined;
  };
  const field = find(req.body, '');
  return field ? `the field ${field.slice(1) || '(the body)'}` : 'a value in the request';
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

/**
 * Fastify's frameworkErrors: a URL the router cannot decode (a malformed percent-encoding)
 * or a path segment over maxParamLength answers a 400 Status like any other bad request.
 */
export function frameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.raw.url?.split('?')[0] ?? '';
  const shown = JSON.stringify(path.length > 120 ? `${path.slice(0, 117)}...` : path);
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return void sendError(reply, badRequest(`a segment of the path ${shown} is longer than 512 characters (names are at most 63)`));
  if (err.code === 'FST_ERR_BAD_URL')
    return void sendError(reply, badRequest(`the path ${shown} is not a valid URL path: a "%" must start a percent-encoded UTF-8 byte (%2F, %C3%BC)`));
  req.log.error({ err }, 'request failed before routing');
  sendError(reply, new ApiError(500, 'InternalError', 'an internal error occurred; it has been logged'));
}

/** Why Node's HTTP parser refused a request, by its error code (llhttp's HPE_*). */
const PARSE_ERRORS: Record<string, string> = {
  HPE_INVALID_URL: 'the request target is not a valid URL: spaces, NUL and other control characters must be percent-encoded',
  HPE_INVALID_METHOD: 'the HTTP method is not one this server knows',
  HPE_INVALID_VERSION: 'the HTTP version is not HTTP/1.0 or HTTP/1.1',
  HPE_INVALID_HEADER_TOKEN: 'a header name or value holds characters HTTP does not allow (control characters)',
  HPE_INVALID_CONTENT_LENGTH: 'the Content-Length header is invalid',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'the request has both Content-Length and Transfer-Encoding, or Content-Length twice',
  HPE_INVALID_CHUNK_SIZE: 'the chunked body is malformed (a chunk size is not hexadecimal)',
  HPE_INVALID_TRANSFER_ENCODING: 'the Transfer-Encoding header is invalid',
  HPE_INVALID_CONSTANT: 'the request line or a header is not valid HTTP/1.1',
  HPE_LF_EXPECTED: 'a line of the request does not end in CRLF',
  HPE_CR_EXPECTED: 'a line of the request does not end in CRLF',
};

/**
 * Node's clientError: a request its HTTP parser refused never reaches Fastify's handlers, so
 * it is answered here, still as a Status (the connection is then closed).
 */
export function clientError(err: Error & { code?: string; reason?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already under way on this connection (the error came after it began): just close.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (current?.headersSent) return void socket.destroy(err);
  let status: ApiError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = new ApiError(408, 'Timeout', 'the request was not received in time: send the headers and body without pausing');
  else if (err.code === 'HPE_HEADER_OVERFLOW') status = new ApiError(431, 'BadRequest', 'the request headers are larger than the limit of 16 KiB');
  else status = badRequest(`malformed HTTP request: ${PARSE_ERRORS[err.code ?? ''] ?? err.reason ?? 'the request is not valid HTTP/1.1'}`);
  writeStatus(socket, status);
  socket.destroy(err);
}

/** Node's connect event: deployer is no proxy, so CONNECT gets a 405 Status (Node would drop the connection). */
export function refuseConnect(_req: unknown, socket: Socket): void {
  writeStatus(socket, new ApiError(405, 'MethodNotAllowed', 'CONNECT is not supported: deployer is not a proxy'));
  socket.destroySoon();
}

function writeStatus(socket: Socket, status: ApiError): void {
  if (!socket.writable) return;
  const body = JSON.stringify(status.toStatus());
  socket.write(
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
