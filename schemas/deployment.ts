// The Deployment kind: one release into a ProjectServer.
import Type, { type Static } from 'typebox';
import { DnsLabelSchema, ObjectMetaSchema, StatusCommonFields } from './meta.js';

export const DEPLOYMENT_PHASES = [
  'queued',
  'pulling_source',
  'building',
  'copying_files',
  'creating_symlinks',
  'updating_routes',
  'health_check',
  'active',
  'superseded',
  'failed',
] as const;
export type DeploymentPhase = (typeof DEPLOYMENT_PHASES)[number];

export const DeploymentSourceSchema = Type.Object(
  {
    inline: Type.Optional(
      Type.Object({ files: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false }),
    ),
    archive: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, maxLength: 4096 }),
          sha256: Type.Optional(Type.String({ pattern: '^[a-f0-9]{64}$' })),
        },
        { additionalProperties: false },
      ),
    ),
    git: Type.Optional(
      Type.Object(
        { url: Type.String({ minLength: 1, maxLength: 4096 }), ref: Type.Optional(Type.String({ maxLength: 256 })) },
        { additionalProperties: false },
      ),
    ),
    fromDeployment: Type.Optional(Type.Object({ name: DnsLabelSchema }, { additionalProperties: false })),
    image: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const DeploymentSpecSchema = Type.Object(
  {
    projectServer: DnsLabelSchema,
    service: Type.Optional(DnsLabelSchema),
    source: DeploymentSourceSchema,
    build: Type.Optional(
      Type.Object(
        {
          image: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
          command: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256 }),
          outputDir: Type.Optional(Type.String({ maxLength: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
    healthCheck: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ maxLength: 2048, pattern: '^/' })),
          expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
          contains: Type.Optional(Type.String({ maxLength: 4096 })),
        },
        { additionalProperties: false },
      ),
    ),
    progressDeadlineSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  },
  { additionalProperties: false },
);
export type DeploymentSpec = Static<typeof DeploymentSpecSchema>;

export const DeploymentStatusSchema = Type.Object(
  {
    ...StatusCommonFields,
    phase: Type.Optional(Type.Unsafe<DeploymentPhase>(Type.Union(DEPLOYMENT_PHASES.map((p) => Type.Literal(p))))),
    phaseProgress: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    phaseMetadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    phaseUpdatedAt: Type.Optional(Type.String()),
    startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
    attempts: Type.Optional(Type.Integer({ minimum: 0 })),
    message: Type.Optional(Type.String({ maxLength: 32768 })),
  },
  { additionalProperties: false },
);

export const DeploymentSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('Deployment'),
    metadata: ObjectMetaSchema,
    spec: DeploymentSpecSchema,
    status: Type.Optional(DeploymentStatusSchema),
  },
  { additionalProperties: false },
);
export type Deployment = Static<typeof DeploymentSchema>;
