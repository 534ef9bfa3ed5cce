// Errors deployctl prints: a local problem (a bad flag, an unreadable manifest) or the
// server's Status, both as one readable message on stderr and exit code 1.

/** An error the user can act on; `main` prints its message (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The fields of a Kubernetes Status deployctl reads. */
export interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string }[] };
}

/** An HTTP error answer from deployer, printed like kubectl: `Error from server (Reason): message`. */
export class ServerError extends CliError {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly serverMessage: string,
  ) {
    super(`Error from server (${reason}): ${serverMessage}`);
    this.name = 'ServerError';
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** The error for a non-2xx answer: the Status' reason and message when the body is one. */
export function serverError(code: number, body: unknown): ServerError {
  const s = (body && typeof body === 'object' ? body : {}) as StatusBody;
  const reason = s.reason || REASONS[code] || `HTTP ${code}`;
  let message = typeof s.message === 'string' && s.message !== '' ? s.message : typeof body === 'string' && body.trim() !== '' ? body.trim() : `the server answered ${code}`;
  // every cause is named, even when the message does not list them
  for (const c of s.details?.causes ?? []) {
    const line = c.field ? `${c.field}: ${c.message ?? ''}` : (c.message ?? '');
    if (line && !message.includes(c.message ?? line)) message += `\n  ${line}`;
  }
  return new ServerError(code, reason, message);
}
