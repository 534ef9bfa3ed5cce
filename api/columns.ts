// The columns `kubectl get` (and deployctl) print per kind: column definitions and the cells
// of one object, as the server-side printers of Kubernetes make them. Pure: the caller passes
// the clock. Every column's cell is always present; columns with priority 1 are the ones
// kubectl shows only with `-o wide`.
import type { ResourceObject } from '../resources/index.js';

export interface ColumnDefinition {
  name: string;
  /** OpenAPI type of the cells: string, integer, number, boolean, date. */
  type: string;
  /** `name` marks the column that holds the object's name. */
  format: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: number;
}

export type Cell = string | number;

export interface KindColumns {
  columns: ColumnDefinition[];
  /** One cell per column, in the order of `columns`. */
  cells(obj: ResourceObject, now: Date): Cell[];
}

const col = (name: string, description: string, opts: { type?: string; format?: string; wide?: boolean } = {}): ColumnDefinition => ({
  name,
  type: opts.type ?? 'string',
  format: opts.format ?? '',
  description,
  priority: opts.wide ? 1 : 0,
});

const NAME = col('Name', 'Name must be unique within a namespace. Cannot be updated.', { format: 'name' });
const AGE = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created. Represented in RFC 3339 form and is in UTC.',
  { type: 'date' },
);

/**
 * A duration as kubectl prints ages (k8s.io/apimachinery/pkg/util/duration.HumanDuration):
 * seconds under 2 minutes, minutes and seconds under 10 minutes, minutes under 3 hours, hours
 * and minutes under 8 hours, hours under 2 days, days and hours under 8 days, days under 2
 * years, years and days under 8 years, then years. A clock up to 1 s behind counts as now.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const d = Math.trunc(hours / 24) % 365;
    const y = Math.trunc(hours / 24 / 365);
    return d === 0 ? `${y}y` : `${y}y${d}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** The age of an RFC 3339 timestamp, or `<unknown>` when it is missing or unreadable (as kubectl). */
export function ageOf(timestamp: unknown, now: Date): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

type Obj = Record<string, unknown>;
const objOf = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The first line of a message, at most `max` characters (an ellipsis marks a cut). */
export function firstLine(message: unknown, max = 60): string {
  const line = str(message).split('\n')[0];
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

const projectServer: KindColumns = {
  columns: [
    NAME,
    col('Type', 'spec.serviceType: static or docker'),
    col('Health', 'status.health: healthy, degraded, unhealthy or unknown'),
    col('Restarts', 'status.restartCount: restarts deployer saw or made', { type: 'integer' }),
    col('Current', 'status.currentDeployment: the Deployment live now'),
    AGE,
    col('Phase', 'status.phase', { wide: true }),
    col('Image', 'The image the container runs (spec.image, else status.image)', { wide: true }),
    col('Port', 'spec.port (static servers: 80 by default)', { type: 'integer', wide: true }),
  ],
  cells(o, now) {
    const spec = objOf(o.spec);
    const status = objOf(o.status);
    const port = typeof spec.port === 'number' ? spec.port : spec.serviceType === 'static' ? 80 : '';
    return [
      o.metadata.name ?? '',
      str(spec.serviceType),
      str(status.health),
      int(status.restartCount),
      str(status.currentDeployment),
      ageOf(o.metadata.creationTimestamp, now),
      str(status.phase),
      str(spec.image ?? status.image),
      port,
    ];
  },
};

const deployment: KindColumns = {
  columns: [
    NAME,
    col('Server', 'spec.projectServer: the ProjectServer deployed to'),
    col('Phase', 'status.phase'),
    col('Progress', 'status.phaseProgress, in percent'),
    AGE,
    col('Service', 'spec.service', { wide: true }),
    col('Attempts', 'status.attempts', { type: 'integer', wide: true }),
    col('Message', 'status.message (its first line)', { wide: true }),
  ],
  cells(o, now) {
    const spec = objOf(o.spec);
    const status = objOf(o.status);
    return [
      o.metadata.name ?? '',
      str(spec.projectServer),
      str(status.phase),
      typeof status.phaseProgress === 'number' ? `${status.phaseProgress}%` : '',
      ageOf(o.metadata.creationTimestamp, now),
      str(spec.service),
      int(status.attempts),
      firstLine(status.message),
    ];
  },
};

const route: KindColumns = {
  columns: [
    NAME,
    col('Host', 'spec.host'),
    col('URL', 'status.url'),
    col('Ready', 'status.ready'),
    AGE,
    col('Server', 'spec.projectServer', { wide: true }),
    col('Conflicts', 'status.conflicts: older Routes that hold the same host and path', { wide: true }),
  ],
  cells(o, now) {
    const spec = objOf(o.spec);
    const status = objOf(o.status);
    const conflicts = Array.isArray(status.conflicts) ? status.conflicts.map(str).join(',') : '';
    return [
      o.metadata.name ?? '',
      str(spec.host),
      str(status.url),
      typeof status.ready === 'boolean' ? (status.ready ? 'True' : 'False') : '',
      ageOf(o.metadata.creationTimestamp, now),
      str(spec.projectServer),
      conflicts,
    ];
  },
};

// As `kubectl get events` prints them on a cluster (the core/v1 Event printer).
const event: KindColumns = {
  columns: [
    col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'Type of this event (Normal, Warning).'),
    col('Reason', 'This should be a short, machine understandable string that gives the reason for this event being generated.'),
    col('Object', 'The object that this event is about.'),
    col('Subobject', 'The field of the object this event is about (involvedObject.fieldPath).', { wide: true }),
    col('Source', 'The component reporting this event.', { wide: true }),
    col('Message', 'A human-readable description of the status of this operation.'),
    col('First Seen', 'The time at which the event was first recorded.', { wide: true }),
    col('Count', 'The number of times this event has occurred.', { type: 'integer', wide: true }),
    col('Name', 'Name must be unique within a namespace.', { format: 'name', wide: true }),
  ],
  cells(o, now) {
    const involved = objOf(o.involvedObject);
    const source = objOf(o.source);
    const first = ageOf(o.firstTimestamp ?? o.metadata.creationTimestamp, now);
    let last = o.lastTimestamp !== undefined ? ageOf(o.lastTimestamp, now) : first;
    const count = int(o.count);
    if (count > 1) last = `${last} (x${count} over ${first})`;
    const sourceText = [str(source.component ?? o.reportingComponent), str(source.host)].filter((s) => s !== '').join(', ');
    return [
      last,
      str(o.type),
      str(o.reason),
      `${str(involved.kind).toLowerCase()}/${str(involved.name)}`,
      str(involved.fieldPath),
      sourceText,
      str(o.message),
      first,
      count,
      o.metadata.name ?? '',
    ];
  },
};

const generic: KindColumns = { columns: [NAME, AGE], cells: (o, now) => [o.metadata.name ?? '', ageOf(o.metadata.creationTimestamp, now)] };

export const COLUMNS: Readonly<Record<string, KindColumns>> = {
  ProjectServer: projectServer,
  Deployment: deployment,
  Route: route,
  Event: event,
};

/** The columns of a kind (Name and Age for a kind without its own). */
export function columnsOf(kind: string): KindColumns {
  return COLUMNS[kind] ?? generic;
}
