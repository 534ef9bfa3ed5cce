// Schemas that many routes answer with, registered once so the OpenAPI document names them
// (components/schemas) instead of repeating them on every route.
import Type, { type TSchema } from 'typebox';
import { DeploymentSchema, EventSchema, ProjectServerSchema, RouteSchema, StatusSchema } from '../schemas/index.js';

export const SHARED_SCHEMAS: Record<string, TSchema> = {
  Status: StatusSchema,
  ProjectServer: ProjectServerSchema,
  Deployment: DeploymentSchema,
  Route: RouteSchema,
  Event: EventSchema,
  Object: Type.Union(
    ['ProjectServer', 'Deployment', 'Route', 'Event'].map((k) => ({ $ref: `${k}#` }) as unknown as TSchema),
    { description: 'a ProjectServer, Deployment, Route or Event, as the path names' },
  ),
  List: Type.Object(
    {
      apiVersion: Type.String(),
      kind: Type.String(),
      metadata: Type.Object({ resourceVersion: Type.Optional(Type.String()), continue: Type.Optional(Type.String()) }),
      items: Type.Array({ $ref: 'Object#' } as unknown as TSchema),
    },
    { description: 'a list; with watch=true, a stream of {"type","object"} events (NDJSON, or SSE for Accept: text/event-stream)' },
  ),
};

/** A reference to a shared schema, by name. */
export function ref(name: keyof typeof SHARED_SCHEMAS & string): TSchema {
  return { $ref: `${name}#` } as unknown as TSchema;
}
