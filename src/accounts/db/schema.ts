/**
 * Table types for Kysely. Timestamps are Unix milliseconds in both dialects (BIGINT in
 * PostgreSQL, parsed back to numbers), so range queries and arithmetic are the same SQL.
 */

export interface ApiKeysTable {
  id: string;
  name: string;
  /** The first characters of the key, shown in lists so people can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
  is_admin: number;
  created_at: number;
  revoked_at: number | null;
  rpm: number | null;
  tpm: number | null;
  max_streams: number | null;
  daily_budget_usd: number | null;
  monthly_budget_usd: number | null;
}

export interface UsageLedgerTable {
  id: string;
  /** Null when the gateway runs open (no keys). */
  key_id: string | null;
  request_id: string;
  /** `complete` or `completionStream`. */
  operation: string;
  model_requested: string;
  /** The model that actually served (after fallbacks), as the upstream reported it. */
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  /** USD; null when the model has no price. */
  cost_usd: number | null;
  /** completed | length | cancelled | upstream_error | timeout | shutdown | client_too_slow | interrupted | cached (plain text: no CHECK constraint to migrate) */
  outcome: string;
  time_to_first_chunk_ms: number | null;
  duration_ms: number;
  started_at: number;
  finished_at: number;
}

/**
 * A running operation as of its last checkpoint (see migration 0002): the columns its ledger
 * row will have (`id` is that row's id; `cost_usd` priced from the tokens when written),
 * less the ones only an ending knows, plus who runs it and when it was written.
 */
export interface LedgerCheckpointsTable
  extends Pick<
    UsageLedgerTable,
    'id' | 'key_id' | 'request_id' | 'operation' | 'model_requested' | 'model' | 'prompt_tokens' | 'completion_tokens' | 'cost_usd' | 'started_at'
  > {
  /** The gateway process that runs it (`ledger_instances.id`). */
  instance_id: string;
  checkpoint_at: number;
}

/**
 * Migration 0003's columns, on both `usage_ledger` and `ledger_checkpoints`. Kept apart from
 * the tables' first shapes so rows typed before it (nullable columns may be left out of an
 * insert) stay valid; what the database returns always has them.
 */
export interface TokenDetailColumns {
  /** Of the prompt tokens, those served from the upstream's prompt cache; null when it did not say. */
  cached_prompt_tokens: number | null;
  /** Of the completion tokens, those spent reasoning (billed as output); null when the upstream did not say. */
  reasoning_tokens: number | null;
}

/** A `usage_ledger` row with every column. */
export type UsageLedgerRow = UsageLedgerTable & TokenDetailColumns;

/** A `ledger_checkpoints` row with every column. */
export type LedgerCheckpointRow = LedgerCheckpointsTable & TokenDetailColumns;

export interface LedgerInstancesTable {
  id: string;
  /** Unix ms: its last heartbeat plus a few of its flush intervals. */
  alive_until: number;
}

export interface DatabaseSchema {
  api_keys: ApiKeysTable;
  usage_ledger: UsageLedgerRow;
  ledger_checkpoints: LedgerCheckpointRow;
  ledger_instances: LedgerInstancesTable;
}
