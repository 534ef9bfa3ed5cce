// Object metadata, conditions, lists, watch events and Status: the Kubernetes shapes
// every deployer object shares. Pure data; imports nothing of ours.
import Type, { type Static, type TSchema } from 'typebox';

export const API_GROUP = 'deployer.dev';
export const API_VERSION = 'v1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/** RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DnsLabelSchema = Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL_PATTERN });

export const OwnerReferenceSchema = Type.Object(
  {
    apiVersion: Type.String({ minLength: 1 }),
    kind: Type.String({ minLength: 1 }),
    name: DnsLabelSchema,
    uid: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
    controller: Type.Optional(Type.Boolean()),
    blockOwnerDeletion: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type OwnerReference = Static<typeof OwnerReferenceSchema>;

const StringMap = Type.Record(Type.String(), Type.String());

/**
 * ObjectMeta. Clients set name, namespace, labels, annotations, finalizers and
 * ownerReferences; the store owns uid, resourceVersion, generation,
 * creationTimestamp and deletionTimestamp (values sent for them are checked or ignored,
 * never trusted).
 */
export const ObjectMetaSchema = Type.Object(
  {
    name: Type.Optional(DnsLabelSchema),
    generateName: Type.Optional(Type.String({ maxLength: 58 })),
    namespace: Type.Optional(DnsLabelSchema),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    creationTimestamp: Type.Optional(Type.String()),
    deletionTimestamp: Type.Optional(Type.String()),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
    finalizers: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 64 })),
    ownerReferences: Type.Optional(Type.Array(OwnerReferenceSchema, { maxItems: 64 })),
    managedFields: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: false },
);
export type ObjectMeta = Static<typeof ObjectMetaSchema>;

export const ConditionSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 316 }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    message: Type.Optional(Type.String({ maxLength: 32768 })),
    lastTransitionTime: Type.Optional(Type.String()),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof ConditionSchema>;

/** Fields every status carries; kinds extend it. */
export const StatusCommonFields = {
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  conditions: Type.Optional(Type.Array(ConditionSchema, { maxItems: 64 })),
};

export const ListMetaSchema = Type.Object(
  {
    resourceVersion: Type.Optional(Type.String()),
    continue: Type.Optional(Type.String()),
    remainingItemCount: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);
export type ListMeta = Static<typeof ListMetaSchema>;

export function ListSchema<T extends TSchema>(kind: string, item: T) {
  return Type.Object(
    {
      apiVersion: Type.String(),
      kind: Type.Literal(`${kind}List`),
      metadata: ListMetaSchema,
      items: Type.Array(item),
    },
    {},
  );
}

export const StatusCauseSchema = Type.Object({
  field: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});
export type StatusCause = Static<typeof StatusCauseSchema>;

/** The Kubernetes Status object: every error leaves the API as one. */
export const StatusSchema = Type.Object(
  {
    kind: Type.Literal('Status'),
    apiVersion: Type.Literal('v1'),
    metadata: Type.Object({}),
    status: Type.Union([Type.Literal('Success'), Type.Literal('Failure')]),
    message: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    code: Type.Integer(),
    details: Type.Optional(
      Type.Object({
        name: Type.Optional(Type.String()),
        group: Type.Optional(Type.String()),
        kind: Type.Optional(Type.String()),
        uid: Type.Optional(Type.String()),
        causes: Type.Optional(Type.Array(StatusCauseSchema)),
        retryAfterSeconds: Type.Optional(Type.Integer()),
      }),
    ),
  },
  {},
);
export type Status = Static<typeof StatusSchema>;

export const WatchEventTypeSchema = Type.Union([
  Type.Literal('ADDED'),
  Type.Literal('MODIFIED'),
  Type.Literal('DELETED'),
  Type.Literal('BOOKMARK'),
  Type.Literal('ERROR'),
]);
export type WatchEventType = Static<typeof WatchEventTypeSchema>;

export const WatchEventSchema = Type.Object(
  { type: WatchEventTypeSchema, object: Type.Unknown() },
  {},
);
