/** The README's table under "Keys, limits, budgets and the usage ledger". */
import type { DefaultContext, Variable } from './variable.js';

/** The embedded default: a SQLite file, created on first start. */
export const DEFAULT_DATABASE_URL = 'file:./data/gateway.db';

export const KEYS = [
  {
    env: 'DATABASE_URL',
    group: 'keys',
    field: 'databaseUrl',
    type: 'string',
    default: DEFAULT_DATABASE_URL,
    pattern: /^(file:|postgres(ql)?:\/\/)/,
    expected: 'file:<path> or postgres://…',
    doc: 'SQLite file or `postgres://…` URL for keys and the ledger.',
  },
  {
    env: 'GATEWAY_REQUIRE_AUTH',
    group: 'keys',
    field: 'requireAuth',
    type: 'boolean',
    // A lost database means no keys: in production that must not mean an open gateway.
    default: (context: DefaultContext) => context.production,
    shown: '`true` when `NODE_ENV=production`, else `false`',
    doc: 'Require a key even while none exists (`false`: open until the first key exists).',
  },
  {
    env: 'KEY_CACHE_TTL_MS',
    group: 'keys',
    field: 'keyCacheTtlMs',
    type: 'integer',
    min: 0,
    max: 600_000,
    default: 2_000,
    doc: 'How long a key lookup is trusted (revocation by the CLI or another instance takes effect within it; through the graph, or anywhere with `REDIS_URL`, at once).',
  },
  {
    env: 'LEDGER_FLUSH_MS',
    group: 'keys',
    field: 'ledgerFlushMs',
    type: 'integer',
    min: 10,
    max: 600_000,
    default: 1_000,
    doc: 'How often ledger rows and running operations\' checkpoints are written (what a crash can lose), and the SQLite file is checked.',
  },
  {
    env: 'MODEL_PRICES',
    group: 'keys',
    field: 'modelPrices',
    type: 'prices',
    shown: 'built-in list',
    doc: 'JSON `{"model": {"input": 0.15, "output": 0.6, "cachedInput": 0.075}}`, USD per 1M tokens; an entry replaces the built-in one. `cachedInput` (prompt tokens served from the upstream\'s cache) is optional: without it they cost `input`. Reasoning tokens are completion tokens, billed at `output`.',
  },
  {
    env: 'RESERVE_COMPLETION_TOKENS',
    group: 'keys',
    field: 'reserveCompletionTokens',
    type: 'integer',
    min: 1,
    max: 10_000_000,
    default: 1_024,
    doc: 'Completion tokens reserved per choice when a request sets no `maxTokens`.',
  },
  {
    env: 'UNPRICED_MODELS',
    group: 'keys',
    field: 'unpricedModels',
    type: 'enum',
    values: ['refuse', 'allow'],
    default: 'refuse',
    ignoreCase: true,
    doc: '`refuse`: a key with a budget may not use a model without a price. `allow`: serve it, counted in tokens only.',
  },
] as const satisfies readonly Variable[];
