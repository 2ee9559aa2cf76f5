/**
 * Gateway API keys: random, prefixed `gk_`, stored only as SHA-256 hashes (a key has 256
 * bits of entropy, so a fast hash is enough and lookups stay cheap). Lookups are cached
 * briefly: revocation by another process (the CLI, another instance) takes effect within
 * KEY_CACHE_TTL_MS, revocation through this process at once — and, with REDIS_URL, every
 * change is announced (`changed`) so that every instance drops its cache at once.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './db/index.js';
import type { ApiKeysTable } from './db/schema.js';

export interface KeyLimits {
  /** Requests per minute. */
  rpm: number | null;
  /** Tokens per minute (prompt + completion, reserved at admission). */
  tpm: number | null;
  /** Streams open at once. */
  maxStreams: number | null;
  dailyBudgetUsd: number | null;
  monthlyBudgetUsd: number | null;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  admin: boolean;
  createdAt: number;
  revokedAt: number | null;
  limits: KeyLimits;
}

export const NO_LIMITS: KeyLimits = { rpm: null, tpm: null, maxStreams: null, dailyBudgetUsd: null, monthlyBudgetUsd: null };

const PREFIX = 'gk_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function toApiKey(row: ApiKeysTable): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    admin: Boolean(row.is_admin),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    limits: {
      rpm: row.rpm,
      tpm: row.tpm,
      maxStreams: row.max_streams,
      dailyBudgetUsd: row.daily_budget_usd,
      monthlyBudgetUsd: row.monthly_budget_usd,
    },
  };
}

function limitColumns(limits: Partial<KeyLimits>): Partial<ApiKeysTable> {
  const columns: Partial<ApiKeysTable> = {};
  if (limits.rpm !== undefined) columns.rpm = limits.rpm;
  if (limits.tpm !== undefined) columns.tpm = limits.tpm;
  if (limits.maxStreams !== undefined) columns.max_streams = limits.maxStreams;
  if (limits.dailyBudgetUsd !== undefined) columns.daily_budget_usd = limits.dailyBudgetUsd;
  if (limits.monthlyBudgetUsd !== undefined) columns.monthly_budget_usd = limits.monthlyBudgetUsd;
  return columns;
}

export class KeyStore {
  private readonly byHash = new Map<string, { key: ApiKey | null; until: number }>();
  private activeCount: { count: number; until: number } | undefined;
  /**
   * The most keys this process has known of (counted, created, or used): a database file
   * replaced by an empty one while running (and reopened) must not open the gateway either.
   */
  private seen = 0;
  /**
   * Counts invalidations: a lookup that started before one is not cached, since it may
   * have read the key as it was before the change.
   */
  private generation = 0;

  constructor(
    private readonly database: Db,
    /** How long a lookup is trusted before the database is asked again. */
    private readonly cacheTtlMs = 2000,
    /** Told after a key was created, revoked or given new limits (and awaited). */
    private readonly changed: (keyId: string) => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Creates a key; the plaintext is returned here and nowhere else, ever. */
  async create(input: { name: string; admin?: boolean; limits?: Partial<KeyLimits> }): Promise<{ key: string; apiKey: ApiKey }> {
    const key = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = {
      id: randomUUID(),
      name: input.name,
      prefix: key.slice(0, PREFIX.length + 6),
      hash: hashKey(key),
      is_admin: input.admin ? 1 : 0,
      created_at: Date.now(),
      revoked_at: null,
      ...NO_LIMITS_COLUMNS,
      ...limitColumns(input.limits ?? {}),
    };
    await this.database.db.insertInto('api_keys').values(row).execute();
    this.seen = Math.max(this.seen, 1);
    this.invalidate();
    await this.changed(row.id);
    return { key, apiKey: toApiKey(row) };
  }

  async list(): Promise<ApiKey[]> {
    const rows = await this.database.db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
    return rows.map(toApiKey);
  }

  async get(id: string): Promise<ApiKey | null> {
    const row = await this.database.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toApiKey(row) : null;
  }

  /** By id or by the displayed prefix (when unambiguous). */
  async find(idOrPrefix: string): Promise<ApiKey | null> {
    const byId = await this.get(idOrPrefix);
    if (byId) return byId;
    const rows = await this.database.db.selectFrom('api_keys').selectAll().where('prefix', '=', idOrPrefix).execute();
    return rows.length === 1 && rows[0] ? toApiKey(rows[0]) : null;
  }

  /** Revokes a live key; null when there is no such key or it was revoked already. */
  async revoke(id: string): Promise<ApiKey | null> {
    const result = await this.database.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.invalidate();
    if (result.numUpdatedRows === 0n) return null;
    await this.changed(id);
    return this.get(id);
  }

  async setLimits(id: string, limits: Partial<KeyLimits>): Promise<ApiKey | null> {
    const columns = limitColumns(limits);
    if (Object.keys(columns).length > 0) {
      await this.database.db.updateTable('api_keys').set(columns).where('id', '=', id).execute();
    }
    this.invalidate();
    await this.changed(id);
    return this.get(id);
  }

  /** The live (not revoked) key for a plaintext key, or null. */
  async authenticate(key: string): Promise<ApiKey | null> {
    if (!key.startsWith(PREFIX)) return null;
    const hash = hashKey(key);
    const cached = this.byHash.get(hash);
    if (cached && cached.until > Date.now()) return cached.key;
    const generation = this.generation;
    const row = await this.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    const found = row ? toApiKey(row) : null;
    if (found) this.seen = Math.max(this.seen, 1);
    if (this.byHash.size > 10_000) this.byHash.clear();
    if (generation === this.generation) this.byHash.set(hash, { key: found, until: Date.now() + this.cacheTtlMs });
    return found;
  }

  /**
   * How many keys were ever created, revoked ones included: auth is required as soon as
   * there is one, and revoking the last key must not open the gateway. Never less than
   * this process has known of (see `seen`).
   */
  async keyCount(): Promise<number> {
    if (this.activeCount && this.activeCount.until > Date.now()) return this.activeCount.count;
    const row = await this.database.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    this.seen = Math.max(this.seen, Number(row.count));
    this.activeCount = { count: this.seen, until: Date.now() + this.cacheTtlMs };
    return this.activeCount.count;
  }

  invalidate(): void {
    this.generation++;
    this.byHash.clear();
    this.activeCount = undefined;
  }
}

const NO_LIMITS_COLUMNS = {
  rpm: null,
  tpm: null,
  max_streams: null,
  daily_budget_usd: null,
  monthly_budget_usd: null,
};
