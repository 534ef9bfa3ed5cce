// API tokens: created with a random secret shown once, stored as its SHA-256, looked up
// through a per-process cache that every change anywhere clears (NOTIFY deployer_tokens),
// so a revoke takes effect at once in this process and within a notification elsewhere.
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { alreadyExists, notFound } from '../resources/index.js';
import type { TokenInfo, TokenRequest } from '../schemas/index.js';
import { mapPgError } from './pg-errors.js';

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newSecret(): string {
  return `dpl_${randomBytes(32).toString('base64url')}`;
}

type Row = { name: string; role: TokenInfo['role']; namespaces: string[]; created_at: Date };
const toInfo = (r: Row): TokenInfo => ({ name: r.name, role: r.role, namespaces: r.namespaces, createdAt: r.created_at.toISOString() });

export class TokenStore {
  private cache = new Map<string, TokenInfo | null>();
  /** Lookups under way, by hash: many requests (or open watches re-checking) share one query. */
  private inflight = new Map<string, Promise<TokenInfo | null>>();
  /**
   * Bumped by every invalidate(). A lookup caches its answer only when no invalidate came
   * while it ran: a query that started before a revoke committed may still see the token, and
   * caching that would keep the revoked token valid here until the next token change.
   */
  private generation = 0;

  constructor(private readonly pool: pg.Pool) {}

  /** Forget every cached lookup (called on every token change, here or in another process). */
  invalidate(): void {
    this.generation++;
    this.cache.clear();
    this.inflight.clear();
  }

  /**
   * Returns the token's identity, or null for an unknown or revoked secret. Answered from the
   * cache when it can (no query): cheap enough to call every few seconds for each open watch.
   * Throws (a 503 ApiError) when the database cannot answer.
   */
  async authenticate(secret: string): Promise<TokenInfo | null> {
    const hash = hashToken(secret);
    const hit = this.cache.get(hash);
    if (hit !== undefined) return hit;
    const running = this.inflight.get(hash);
    if (running) return running;
    const lookup: Promise<TokenInfo | null> = this.lookup(hash).finally(() => {
      if (this.inflight.get(hash) === lookup) this.inflight.delete(hash);
    });
    this.inflight.set(hash, lookup);
    return lookup;
  }

  private async lookup(hash: string): Promise<TokenInfo | null> {
    const generation = this.generation;
    try {
      const res = await this.pool.query<Row>({
        name: 'tokenByHash',
        text: 'SELECT name, role, namespaces, created_at FROM api_tokens WHERE token_hash = $1',
        values: [hash],
      });
      const info = res.rows[0] ? toInfo(res.rows[0]) : null;
      if (generation === this.generation) {
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.set(hash, info);
      }
      return info;
    } catch (err) {
      throw mapPgError(err);
    }
  }

  /** Creates a token; returns it with its secret, which is not stored and not shown again. */
  async create(req: TokenRequest, secret = newSecret()): Promise<TokenInfo & { token: string }> {
    try {
      const res = await this.pool.query<Row>(
        'INSERT INTO api_tokens (name, role, namespaces, token_hash) VALUES ($1, $2, $3, $4) RETURNING name, role, namespaces, created_at',
        [req.name, req.role, req.namespaces ?? [], hashToken(secret)],
      );
      this.invalidate();
      return { ...toInfo(res.rows[0]), token: secret };
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw alreadyExists({ kind: 'token', plural: 'tokens', name: req.name });
      throw mapPgError(err);
    }
  }

  /** Sets the named token's secret (used for the bootstrap admin token), creating it if needed. */
  async upsert(req: TokenRequest, secret: string): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO api_tokens (name, role, namespaces, token_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, namespaces = EXCLUDED.namespaces, token_hash = EXCLUDED.token_hash
         WHERE api_tokens.token_hash <> EXCLUDED.token_hash OR api_tokens.role <> EXCLUDED.role`,
        [req.name, req.role, req.namespaces ?? [], hashToken(secret)],
      );
      this.invalidate();
    } catch (err) {
      throw mapPgError(err);
    }
  }

  async exists(name: string): Promise<boolean> {
    const res = await this.pool.query('SELECT 1 FROM api_tokens WHERE name = $1', [name]);
    return res.rowCount === 1;
  }

  async list(): Promise<TokenInfo[]> {
    try {
      const res = await this.pool.query<Row>('SELECT name, role, namespaces, created_at FROM api_tokens ORDER BY name');
      return res.rows.map(toInfo);
    } catch (err) {
      throw mapPgError(err);
    }
  }

  async delete(name: string): Promise<void> {
    let count: number | null;
    try {
      count = (await this.pool.query('DELETE FROM api_tokens WHERE name = $1', [name])).rowCount;
    } catch (err) {
      throw mapPgError(err);
    }
    this.invalidate();
    if (count === 0) throw notFound({ kind: 'token', plural: 'tokens', name });
  }
}
