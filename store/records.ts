// The installation's identity, controllers' monitoring records, and resync requests.
//
// Records are small JSON documents a controller's leader writes (fenced by its lease, so a
// deposed leader cannot overwrite its successor's figures) and any API process reads.
// Resync requests travel as NOTIFY deployer_resync: every process hears them and the
// controllers it leads resync; a process that leads nothing ignores them.
import type pg from 'pg';
import type { Fence } from './resource-store.js';
import { ApiError } from '../resources/index.js';

const SQL = {
  installation: 'SELECT id FROM installation',
  put: `INSERT INTO controller_records (name, data, updated_at)
        SELECT $1, $2::jsonb, now()
        WHERE $3::text IS NULL OR EXISTS (
          SELECT 1 FROM leases WHERE name = $3 AND token = $4 AND expires_at > clock_timestamp())
        ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated_at = now()`,
  get: 'SELECT data, updated_at FROM controller_records WHERE name = $1',
  resync: "SELECT pg_notify('deployer_resync', $1)",
};

/** The cleanup controller's totals (written by controllers/cleanup, read by the monitoring API). */
export const CLEANUP_RECORD = 'cleanup';

export interface ControllerRecord<T> {
  data: T;
  updatedAt: string;
}

export class RecordStore {
  private installationId: string | null = null;

  constructor(private readonly pool: pg.Pool) {}

  /** This installation's id (random, made by the first migration run; never changes). */
  async installation(): Promise<string> {
    if (this.installationId) return this.installationId;
    const res = await this.pool.query<{ id: string }>(SQL.installation);
    this.installationId = res.rows[0].id;
    return this.installationId;
  }

  /** Writes a record; with a fence, only while that lease is still held with that token (else 409). */
  async put(name: string, data: unknown, fence?: Fence): Promise<void> {
    const res = await this.pool.query(SQL.put, [name, JSON.stringify(data), fence?.lease ?? null, fence?.token ?? null]);
    if (res.rowCount === 0)
      throw new ApiError(409, 'Conflict', `the lease "${fence?.lease}" has passed to another process; record "${name}" not written`);
  }

  async get<T>(name: string): Promise<ControllerRecord<T> | null> {
    const res = await this.pool.query<{ data: T; updated_at: Date }>(SQL.get, [name]);
    const row = res.rows[0];
    return row ? { data: row.data, updatedAt: row.updated_at.toISOString() } : null;
  }

  /** Asks every process' controllers to resync now (the leaders act on it). */
  async requestResync(controller = '*'): Promise<void> {
    await this.pool.query(SQL.resync, [controller]);
  }
}
