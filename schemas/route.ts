// The Route kind: a hostname (and path prefix) that reaches a ProjectServer.
import Type, { type Static } from 'typebox';
import { DnsLabelSchema, ObjectMetaSchema, StatusCommonFields } from './meta.js';

/** A DNS name (RFC 1123 subdomain), optionally with one leading wildcard label. */
export const HOSTNAME_PATTERN = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export const RouteSpecSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: HOSTNAME_PATTERN }),
    pathPrefix: Type.Optional(Type.String({ maxLength: 1024, pattern: '^/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*$' })),
    projectServer: DnsLabelSchema,
    service: Type.Optional(DnsLabelSchema),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    tls: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type RouteSpec = Static<typeof RouteSpecSchema>;

export const RouteStatusSchema = Type.Object(
  {
    ...StatusCommonFields,
    url: Type.Optional(Type.String()),
    ready: Type.Optional(Type.Boolean()),
    conflicts: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('Route'),
    metadata: ObjectMetaSchema,
    spec: RouteSpecSchema,
    status: Type.Optional(RouteStatusSchema),
  },
  { additionalProperties: false },
);
export type Route = Static<typeof RouteSchema>;
