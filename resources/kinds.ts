// The kind registry: every kind deployer serves, with its names and schemas.
import type { TSchema } from 'typebox';
import {
  DeploymentSchema,
  DeploymentStatusSchema,
  EventSchema,
  ProjectServerSchema,
  ProjectServerStatusSchema,
  RouteSchema,
  RouteStatusSchema,
} from '../schemas/index.js';

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  /**
   * `spec-status`: the body is `spec`, and a `/status` subresource exists.
   * `flat`: the body is every top-level field but apiVersion, kind and metadata (Event).
   */
  layout: 'spec-status' | 'flat';
  schema: TSchema;
  statusSchema?: TSchema;
}

export const KINDS: readonly KindInfo[] = [
  {
    kind: 'ProjectServer',
    plural: 'projectservers',
    singular: 'projectserver',
    shortNames: ['ps'],
    categories: ['all', 'deployer'],
    layout: 'spec-status',
    schema: ProjectServerSchema,
    statusSchema: ProjectServerStatusSchema,
  },
  {
    kind: 'Deployment',
    plural: 'deployments',
    singular: 'deployment',
    shortNames: ['deploy'],
    categories: ['all', 'deployer'],
    layout: 'spec-status',
    schema: DeploymentSchema,
    statusSchema: DeploymentStatusSchema,
  },
  {
    kind: 'Route',
    plural: 'routes',
    singular: 'route',
    shortNames: ['rt'],
    categories: ['all', 'deployer'],
    layout: 'spec-status',
    schema: RouteSchema,
    statusSchema: RouteStatusSchema,
  },
  {
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    shortNames: ['ev'],
    categories: ['deployer'],
    layout: 'flat',
    schema: EventSchema,
  },
];

const byPlural = new Map(KINDS.map((k) => [k.plural, k]));
const byKind = new Map(KINDS.map((k) => [k.kind, k]));

/** Finds a kind by plural, singular, short name or kind name (case-insensitive for the kind name). */
export function lookupKind(name: string): KindInfo | undefined {
  const lower = name.toLowerCase();
  return (
    byPlural.get(lower) ??
    byKind.get(name) ??
    KINDS.find((k) => k.singular === lower || k.shortNames.includes(lower) || k.kind.toLowerCase() === lower)
  );
}

export function kindByName(kind: string): KindInfo | undefined {
  return byKind.get(kind);
}

export function kindByPlural(plural: string): KindInfo | undefined {
  return byPlural.get(plural);
}
