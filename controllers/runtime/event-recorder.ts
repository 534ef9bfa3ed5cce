// The event recorder: what a controller did or saw, written as Kubernetes-style Event
// resources next to the object they are about, so `deployctl get events` and
// `kubectl get events --field-selector involvedObject.name=blog` show it.
//
// Caveats first: Events are best-effort. record() never throws and never rejects — a write
// that fails (database down, validation, a fenced write after leadership was lost) is
// logged and dropped. Counts are exact only for the writes that succeed.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiError, kindByName, redactText, type KindInfo, type ResourceObject } from '../../resources/index.js';
import { EventBodyFields, GROUP_VERSION, type Event } from '../../schemas/index.js';
import type { Fence, ResourceStore } from '../../store/index.js';
import { systemClock, type Clock } from './clock.js';

export type EventType = 'Normal' | 'Warning';

/** The object an Event is about. The Event is written in its namespace. */
export interface InvolvedObject {
  kind: string;
  namespace: string;
  name: string;
  /** When given, the Event is keyed by it (a recreated object gets new Events) and is deleted with the object. */
  uid?: string;
  /** Defaults to deployer.dev/v1 for deployer's own kinds. */
  apiVersion?: string;
}

/** The involved-object reference of a stored resource. */
export function involvedObjectOf(obj: ResourceObject): InvolvedObject {
  return {
    kind: obj.kind,
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name ?? '',
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
    apiVersion: obj.apiVersion,
  };
}

export interface EventRecorderOptions {
  resources: ResourceStore;
  /** Who reports, e.g. `projectserver-controller` (source.component, reportingComponent). */
  component: string;
  /** This process' identity (reportingInstance); defaults to hostname-pid. */
  instance?: string;
  /** Stamps firstTimestamp and lastTimestamp. */
  clock?: Clock;
  /** Where dropped Events are reported. */
  log?: (msg: string, err?: unknown) => void;
}

export interface RecordOptions {
  /** The controller's lease: the write is refused (and the Event dropped) once it has passed on. */
  fence?: Fence;
  /**
   * Values that must not appear in the message (a ProjectServer's env values: resources/secrets.ts
   * secretValues); each occurrence becomes `***`. Pass them whenever the message holds text
   * deployer did not write itself (a container's log lines, a health check's output, a Docker error).
   */
  secrets?: readonly string[];
}

const EVENT_KIND: KindInfo = kindByName('Event')!;
const MAX_NAME = 63;
const HASH_CHARS = 10;
const MAX_MESSAGE = (EventBodyFields.message as { maxLength?: number }).maxLength ?? 32768;
const MAX_REASON = (EventBodyFields.reason as { maxLength?: number }).maxLength ?? 128;
const TRUNCATED = ' [truncated]';
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/**
 * Tries per write. Every round of read-then-write lets at least one contender through, and
 * each recorder has at most one write in flight per Event, so this covers that many
 * processes racing on the same Event.
 */
const MAX_ATTEMPTS = 25;

/**
 * The Event's name: `<involved name>-<hash>`, a DNS-1123 label of at most 63 characters.
 * The name part is only for people (lowercased, cleaned, cut to fit); the hash of kind,
 * namespace, uid-or-name, type and reason keeps it unique and makes every repeat land on the
 * same object.
 */
export function eventName(involved: InvolvedObject, type: EventType, reason: string): string {
  const key = JSON.stringify([involved.kind, involved.namespace, involved.uid ?? involved.name, type, reason]);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, HASH_CHARS);
  const prefix =
    involved.name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, MAX_NAME - HASH_CHARS - 1)
      .replace(/^-+|-+$/g, '') || 'event';
  return `${prefix}-${hash}`;
}

/** RFC 3339 with seconds, as Kubernetes stamps Events. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Cuts `s` to at most `max` UTF-16 units with a marker, never splitting a surrogate pair. */
function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - TRUNCATED.length;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return s.slice(0, end) + TRUNCATED;
}

/** Occurrences of one Event not yet written; one write adds them all. */
interface Batch {
  involved: InvolvedObject;
  type: EventType;
  reason: string;
  fence?: Fence;
  count: number;
  message: string;
  firstTimestamp: string;
  lastTimestamp: string;
  done: Promise<void>;
  resolve: () => void;
}

/** The Event writes of one (Event, fence): one in flight, the next collecting meanwhile. */
interface Slot {
  namespace: string;
  name: string;
  /** Occurrences recorded while a write is in flight; taken by the drain loop. */
  next: Batch | null;
}

const isApiError = (err: unknown, reason: string): boolean => err instanceof ApiError && err.reason === reason;

/**
 * Writes Events. Repeats of the same (involved object, type, reason) aggregate into one
 * Event: count grows, lastTimestamp and message are the latest, firstTimestamp stays.
 *
 * Guarantees: record() resolves once its occurrence was written or dropped, and never
 * rejects. Concurrent records — in this process or in others against the same database —
 * never lose a count: within a process, occurrences that arrive while a write of the same
 * Event is in flight are written together by the next write; across processes each write is
 * a read-modify-write pinned to the read resourceVersion, retried on conflict.
 *
 * Not guaranteed: that an Event is written at all (best-effort, see the file comment), or
 * that occurrences are written in the order of the record() calls of different processes.
 * Events about deployer's own kinds that carry a uid are owned by that object (an
 * ownerReference), so they go when it goes; others stay until deleted.
 */
export class EventRecorder {
  private readonly resources: ResourceStore;
  private readonly component: string;
  private readonly instance: string;
  private readonly host: string;
  private readonly clock: Clock;
  private readonly log: (msg: string, err?: unknown) => void;
  /** Keyed by namespace/name/fence; present exactly while its drain loop runs. */
  private readonly slots = new Map<string, Slot>();

  constructor(opts: EventRecorderOptions) {
    if (!opts.component) throw new RangeError('EventRecorder: component must not be empty');
    this.resources = opts.resources;
    this.component = opts.component;
    this.host = hostname();
    this.instance = opts.instance ?? `${this.host}-${process.pid}`;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? (() => undefined);
  }

  async record(involved: InvolvedObject, type: EventType, reason: string, message: string, opts: RecordOptions = {}): Promise<void> {
    try {
      reason = truncate(reason, MAX_REASON);
      const name = eventName(involved, type, reason);
      const fence = opts.fence;
      const key = `${involved.namespace}/${name}/${fence ? `${fence.lease}:${fence.token}` : ''}`;
      const now = rfc3339(this.clock.now());
      let slot = this.slots.get(key);
      const start = !slot;
      if (!slot) {
        slot = { namespace: involved.namespace, name, next: null };
        this.slots.set(key, slot);
      }
      if (!slot.next) {
        let resolve!: () => void;
        const done = new Promise<void>((r) => (resolve = r));
        slot.next = { involved, type, reason, fence, count: 0, message: '', firstTimestamp: now, lastTimestamp: now, done, resolve };
      }
      const batch = slot.next;
      batch.count++;
      batch.message = truncate(opts.secrets?.length ? redactText(message, opts.secrets) : message, MAX_MESSAGE);
      batch.lastTimestamp = now;
      if (start) void this.drain(key, slot);
      await batch.done;
    } catch (err) {
      this.log(`event ${reason} on ${involved?.kind} ${involved?.namespace}/${involved?.name} was not recorded`, err);
    }
  }

  /** Writes the slot's batches one after another until none is left, then retires the slot. */
  private async drain(key: string, slot: Slot): Promise<void> {
    while (slot.next) {
      const batch = slot.next;
      slot.next = null;
      try {
        await this.write(slot.namespace, slot.name, batch);
      } catch (err) {
        const why = isApiError(err, 'Fenced') ? ' (fenced: this process no longer holds the lease)' : '';
        this.log(
          `event ${slot.namespace}/${slot.name} (${batch.type} ${batch.reason} on ${batch.involved.kind} ${batch.involved.name}, ${batch.count} occurrence(s)) was not recorded${why}`,
          err,
        );
      }
      batch.resolve();
    }
    // No await between the loop's last check and here: a record() arriving now finds no slot and starts a new one.
    this.slots.delete(key);
  }

  private async write(namespace: string, name: string, b: Batch): Promise<void> {
    const writeOpts = b.fence ? { fence: b.fence } : {};
    let exists = false;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!exists) {
          await this.resources.create(EVENT_KIND, namespace, this.newEvent(name, b), writeOpts);
          return;
        }
        const current = (await this.resources.get(EVENT_KIND, namespace, name)) as unknown as Event;
        const count = typeof current.count === 'number' && current.count > 0 ? current.count : 1;
        await this.resources.patch(
          EVENT_KIND,
          namespace,
          name,
          'merge',
          {
            metadata: { resourceVersion: current.metadata.resourceVersion },
            count: count + b.count,
            message: b.message,
            lastTimestamp: b.lastTimestamp,
            ...(current.firstTimestamp ? {} : { firstTimestamp: b.firstTimestamp }),
            source: this.source(),
            reportingComponent: this.component,
            reportingInstance: this.instance,
          },
          writeOpts,
        );
        return;
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS) throw err;
        if (isApiError(err, 'AlreadyExists')) exists = true;
        else if (isApiError(err, 'NotFound')) exists = false; // deleted between our read and write
        else if (!isApiError(err, 'Conflict')) throw err; // Fenced, Invalid, database errors: not ours to retry
      }
    }
  }

  private source(): { component: string; host: string } {
    return { component: this.component, host: this.host };
  }

  private newEvent(name: string, b: Batch): Event {
    const inv = b.involved;
    const known = kindByName(inv.kind);
    const apiVersion = inv.apiVersion ?? (known ? GROUP_VERSION : undefined);
    // Owned by the object it is about, so garbage collection removes it with the object;
    // only for our own kinds, where the uid is one the store knows.
    const owned = known !== undefined && inv.uid !== undefined && UUID.test(inv.uid);
    return {
      apiVersion: GROUP_VERSION,
      kind: 'Event',
      metadata: {
        name,
        namespace: inv.namespace,
        ...(owned ? { ownerReferences: [{ apiVersion: GROUP_VERSION, kind: inv.kind, name: inv.name, uid: inv.uid! }] } : {}),
      },
      involvedObject: {
        ...(apiVersion ? { apiVersion } : {}),
        kind: inv.kind,
        namespace: inv.namespace,
        name: inv.name,
        ...(inv.uid ? { uid: inv.uid } : {}),
      },
      type: b.type,
      reason: b.reason,
      message: b.message,
      count: b.count,
      firstTimestamp: b.firstTimestamp,
      lastTimestamp: b.lastTimestamp,
      source: this.source(),
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
  }
}
