// The Event kind: what a controller did or saw. Shaped like Kubernetes' core/v1 Event
// (fields at the top level, no spec or status) so kubectl's habits carry over.
import Type, { type Static } from 'typebox';
import { ObjectMetaSchema } from './meta.js';

export const ObjectReferenceSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String()),
    name: Type.String({ minLength: 1 }),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    fieldPath: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** The Event fields other than apiVersion, kind and metadata (the store keeps them as the body). */
export const EventBodyFields = {
  involvedObject: ObjectReferenceSchema,
  reason: Type.Optional(Type.String({ maxLength: 128 })),
  message: Type.Optional(Type.String({ maxLength: 32768 })),
  type: Type.Optional(Type.Union([Type.Literal('Normal'), Type.Literal('Warning')])),
  count: Type.Optional(Type.Integer({ minimum: 0 })),
  firstTimestamp: Type.Optional(Type.String()),
  lastTimestamp: Type.Optional(Type.String()),
  source: Type.Optional(
    Type.Object(
      { component: Type.Optional(Type.String()), host: Type.Optional(Type.String()) },
      { additionalProperties: false },
    ),
  ),
  reportingComponent: Type.Optional(Type.String()),
  reportingInstance: Type.Optional(Type.String()),
  action: Type.Optional(Type.String()),
};

export const EventSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('Event'),
    metadata: ObjectMetaSchema,
    ...EventBodyFields,
  },
  { additionalProperties: false },
);
export type Event = Static<typeof EventSchema>;
