// Group commit for writes. Every write needs the revision counter's lock until its commit
// has reached the disk, so one write at a time would cap the store at one disk flush per
// write. The batcher sends the writes that arrive while a batch is committing as the next
// batch: one statement, one transaction, one flush for all of them. A lone write goes out at
// once (no added latency when idle).
//
// Guarantees: each write's outcome is its own (a stale or existing row fails only that
// write). Not guaranteed: the order of writes a caller sends without waiting for each (two
// batches in flight take the counter lock in either order); the store awaits every write. A batch that fails as a whole for a
// reason other than the connection is retried one write at a time, so a bad write fails
// alone. It does not retry connection failures: those reach the caller.
import type pg from 'pg';
import { SQL } from './sql.js';

export interface WriteRequest {
  kind: string;
  namespace: string;
  name: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** The revision the row must still have (MODIFIED, DELETED). */
  expected: number;
  uid: string;
  generation: number;
  metadata: unknown;
  spec: unknown;
  status: unknown;
  deletion: string | null;
  owner_uids: string[];
  /** The object as the events log keeps it. */
  object: unknown;
  /** A controller's write: refused (-3) unless this lease still has this token. */
  fence_lease?: string;
  fence_token?: number;
}

/** The new revision; -1: the row moved on or is gone; -2: an ADDED row exists already; -3: fenced. */
export type WriteOutcome = number;

interface Pending {
  req: WriteRequest;
  resolve: (rev: WriteOutcome) => void;
  reject: (err: unknown) => void;
}

export class WriteBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: { maxBatch?: number; maxInFlight?: number; isConnectionError?: (err: unknown) => boolean } = {},
  ) {}

  write(req: WriteRequest): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    // Two batches in flight: one commits while the next is already waiting on the lock, so
    // the round trip is hidden behind the flush.
    while (this.queue.length > 0 && this.inFlight < (this.opts.maxInFlight ?? 2)) {
      const batch = this.queue.splice(0, this.opts.maxBatch ?? 128);
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Pending[]): Promise<WriteOutcome[]> {
    const res = await this.pool.query<{ revisions: string[] }>({
      name: 'writeBatch',
      text: SQL.writeBatch,
      values: [JSON.stringify(batch.map((p) => p.req))],
    });
    return res.rows[0].revisions.map(Number);
  }

  private async send(batch: Pending[]): Promise<void> {
    try {
      const revs = await this.run(batch);
      batch.forEach((p, i) => p.resolve(revs[i]));
    } catch (err) {
      if (batch.length === 1 || this.opts.isConnectionError?.(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      for (const p of batch) {
        try {
          p.resolve((await this.run([p]))[0]);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
