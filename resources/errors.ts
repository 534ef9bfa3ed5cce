// Domain errors. The store raises them, the API turns them into Kubernetes Status objects.
import type { Status, StatusCause } from '../schemas/index.js';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Fenced'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface ApiErrorDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** An error a client can act on: it carries the HTTP code, the reason and a plain message. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: ApiErrorDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

export interface ObjectRef {
  kind: string;
  plural?: string;
  namespace?: string;
  name: string;
}

const what = (ref: ObjectRef) => `${ref.plural ?? ref.kind} "${ref.name}"`;
const detailsOf = (ref: ObjectRef): ApiErrorDetails => ({
  name: ref.name,
  group: 'deployer.dev',
  kind: ref.plural ?? ref.kind,
});

export const badRequest = (message: string, causes?: StatusCause[]) =>
  new ApiError(400, 'BadRequest', message, causes ? { causes } : undefined);
export const notFound = (ref: ObjectRef) =>
  new ApiError(404, 'NotFound', `${what(ref)} not found${ref.namespace ? ` in namespace "${ref.namespace}"` : ''}`, detailsOf(ref));
export const alreadyExists = (ref: ObjectRef) =>
  new ApiError(409, 'AlreadyExists', `${what(ref)} already exists`, detailsOf(ref));
export const conflict = (ref: ObjectRef, why: string) =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${what(ref)}: ${why}`, detailsOf(ref));
export const staleResourceVersion = (ref: ObjectRef) =>
  conflict(ref, 'the object has been modified; please apply your changes to the latest version and try again');
/**
 * 422 Invalid. Unlike the other reasons, `details.kind` is the Kind (`Deployment`), not the
 * plural, as Kubernetes sends it: kubectl prints `The Deployment "x" is invalid: <causes>`
 * from `details.kind` and `details.name`.
 */
export const invalid = (ref: ObjectRef, causes: StatusCause[]) =>
  new ApiError(
    422,
    'Invalid',
    `${ref.kind} "${ref.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { ...detailsOf(ref), kind: ref.kind, causes },
  );
export const expired = (message: string) => new ApiError(410, 'Expired', message);
export const forbidden = (message: string) => new ApiError(403, 'Forbidden', message);
export const unauthorized = (message: string) => new ApiError(401, 'Unauthorized', message);
export const unavailable = (message: string, retryAfterSeconds = 1) =>
  new ApiError(503, 'ServiceUnavailable', message, { retryAfterSeconds });
