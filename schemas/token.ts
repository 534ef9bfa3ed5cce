// API tokens: what admins create and list over /api/tokens.
import Type, { type Static } from 'typebox';
import { DnsLabelSchema } from './meta.js';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** A namespace name, or "*" for every namespace. */
export const NamespaceScopeSchema = Type.Union([DnsLabelSchema, Type.Literal('*')]);

export const TokenRequestSchema = Type.Object(
  {
    name: DnsLabelSchema,
    role: Type.Union([Type.Literal('admin'), Type.Literal('editor'), Type.Literal('viewer')]),
    namespaces: Type.Optional(Type.Array(NamespaceScopeSchema, { maxItems: 256 })),
  },
  { additionalProperties: false },
);
export type TokenRequest = Static<typeof TokenRequestSchema>;

export const TokenInfoSchema = Type.Object(
  {
    name: Type.String(),
    role: Type.String(),
    namespaces: Type.Array(Type.String()),
    createdAt: Type.String(),
  },
  {},
);
export type TokenInfo = Static<typeof TokenInfoSchema>;

export const TokenCreatedSchema = Type.Object(
  { ...TokenInfoSchema.properties, token: Type.String() },
  {},
);

export const TokenListSchema = Type.Object({ items: Type.Array(TokenInfoSchema) });
