// The ProjectServer kind: one long-running container per project.
import Type, { type Static } from 'typebox';
import { DnsLabelSchema, ObjectMetaSchema, StatusCommonFields } from './meta.js';

export const EnvVarSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
    value: Type.String({ maxLength: 65536 }),
  },
  { additionalProperties: false },
);

export const HealthCheckSchema = Type.Object(
  {
    httpGet: Type.Optional(
      Type.Object(
        {
          path: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/' }),
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        },
        { additionalProperties: false },
      ),
    ),
    exec: Type.Optional(
      Type.Object(
        { command: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 64 }) },
        { additionalProperties: false },
      ),
    ),
    intervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    retries: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    startPeriodSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const RestartPolicySchema = Type.Object(
  {
    name: Type.Union([Type.Literal('unless-stopped'), Type.Literal('on-failure')]),
    /** Only with `on-failure`: Docker rejects a retry count with any other policy. */
    maximumRetryCount: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  },
  { additionalProperties: false },
);

const HostPathSchema = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/[^\\x00]*$' });

/**
 * What a container may do on the host beyond deployer's defaults. Every field here widens
 * the container's reach into the host, so asking for any of them (true, or a non-empty list)
 * needs an admin token; a later write by another token may keep or remove what an admin
 * granted, never add or widen (resources/security.ts).
 */
export const SecurityContextSchema = Type.Object(
  {
    /** Docker's --privileged: every capability and every device of the host. */
    privileged: Type.Optional(Type.Boolean()),
    /** The host's network namespace (--network host); the server is then on no Docker network, so Routes cannot reach it by name. */
    hostNetwork: Type.Optional(Type.Boolean()),
    /** The host's PID namespace (--pid host): the container sees and may signal the host's processes. */
    hostPID: Type.Optional(Type.Boolean()),
    /** Capabilities added to Docker's default set, e.g. NET_ADMIN (with or without the CAP_ prefix). */
    capAdd: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^(CAP_)?[A-Z][A-Z_]*$' }), { maxItems: 64, uniqueItems: true })),
    /** Host devices passed in (--device). */
    devices: Type.Optional(
      Type.Array(
        Type.Object(
          {
            hostPath: HostPathSchema,
            /** Defaults to hostPath. */
            containerPath: Type.Optional(HostPathSchema),
            /** cgroup permissions: r, w and m (mknod); default rwm. */
            permissions: Type.Optional(Type.String({ pattern: '^[rwm]{1,3}$' })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 64 },
      ),
    ),
    /** Bind mounts of host directories or files (Docker's `--mount type=bind`). */
    hostPaths: Type.Optional(
      Type.Array(
        Type.Object(
          {
            hostPath: HostPathSchema,
            containerPath: HostPathSchema,
            readOnly: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        { maxItems: 64 },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SecurityContext = Static<typeof SecurityContextSchema>;

export const ProjectServerSpecSchema = Type.Object(
  {
    serviceType: Type.Union([Type.Literal('static'), Type.Literal('docker')]),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    command: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    env: Type.Optional(Type.Array(EnvVarSchema, { maxItems: 512 })),
    healthCheck: Type.Optional(HealthCheckSchema),
    restartPolicy: Type.Optional(RestartPolicySchema),
    resources: Type.Optional(
      Type.Object(
        {
          memory: Type.Optional(Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?([kKmMgG]i?)?$' })),
          cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1024 })),
          /** The most processes and threads the container may run at once (default 512). */
          pids: Type.Optional(Type.Integer({ minimum: 16, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    securityContext: Type.Optional(SecurityContextSchema),
    /** Stop the container on purpose: deployer never restarts a stopped server. */
    stopped: Type.Optional(Type.Boolean()),
    /** Keep the volume (the site's files) when the server is deleted. Fixed at creation. */
    retainVolumeOnDelete: Type.Optional(Type.Boolean()),
    revisionHistoryLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type ProjectServerSpec = Static<typeof ProjectServerSpecSchema>;

/** One restart deployer saw or made (newest last; at most 20 are kept). */
export const RestartRecordSchema = Type.Object(
  {
    at: Type.String(),
    reason: Type.String({ maxLength: 1024 }),
    /** Who restarted it: Docker's restart policy, or deployer. */
    by: Type.Union([Type.Literal('docker'), Type.Literal('deployer')]),
  },
  { additionalProperties: false },
);

export const ProjectServerPhaseSchema = Type.Union([
  Type.Literal('Pending'),
  Type.Literal('Running'),
  Type.Literal('Degraded'),
  Type.Literal('Stopped'),
  Type.Literal('Failed'),
  Type.Literal('Terminating'),
]);

export const ProjectServerStatusSchema = Type.Object(
  {
    ...StatusCommonFields,
    phase: Type.Optional(ProjectServerPhaseSchema),
    health: Type.Optional(
      Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy'), Type.Literal('unknown')]),
    ),
    containerId: Type.Optional(Type.String()),
    restartCount: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The Deployment live now (of the service switched most recently; see `services`). */
    currentDeployment: Type.Optional(DnsLabelSchema),
    /**
     * Per service (static servers: `/srv/static/<service>/current`), the Deployment whose files
     * `current` must point at; for docker servers (service `site`), the image and slot that run. Written by the deployment controller just before it switches the
     * link, and by the projectserver controller when it falls back to an older release; the
     * projectserver controller puts the link back whenever it differs.
     */
    services: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            deployment: DnsLabelSchema,
            /** The release dir `current` points at (`deployment-<name>`; a rollback reuses an older one's). */
            dir: Type.Optional(Type.String({ pattern: '^deployment-[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 80 })),
            /** Docker servers: the image the Deployment put live, and the slot (container) it runs in. */
            image: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            slot: Type.Optional(Type.Union([Type.Literal('a'), Type.Literal('b')])),
            /** Set when the projectserver controller fell back to this release because the live one's files vanished. */
            fallbackFrom: Type.Optional(Type.String({ maxLength: 80 })),
            /** When the link was (last) switched to it. */
            since: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    lastHealthIssue: Type.Optional(Type.String({ maxLength: 4096 })),
    /** The image the container runs (resolved: the local static image's content tag). */
    image: Type.Optional(Type.String()),
    /** When the current container last started (Docker's State.StartedAt). */
    startedAt: Type.Optional(Type.String()),
    /** Docker's own restart count of the current container when deployer last looked. */
    dockerRestartCount: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The latest restarts (at most 20), the memory of restart storms across deployer restarts. */
    restartHistory: Type.Optional(Type.Array(RestartRecordSchema, { maxItems: 20 })),
  },
  { additionalProperties: false },
);

export const ProjectServerSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('ProjectServer'),
    metadata: ObjectMetaSchema,
    spec: ProjectServerSpecSchema,
    status: Type.Optional(ProjectServerStatusSchema),
  },
  { additionalProperties: false },
);
export type ProjectServer = Static<typeof ProjectServerSchema>;
