/** The README's table under "Many instances: shared limits over Redis". */
import type { Variable } from './variable.js';

/** Shared with the keys CLI, which announces key changes without loading the whole configuration. */
export const DEFAULT_REDIS_KEY_PREFIX = 'llmgw:';

export const SHARED_STATE = [
  {
    env: 'REDIS_URL',
    group: 'shared-state',
    field: 'redisUrl',
    type: 'string',
    pattern: /^rediss?:\/\/\S+$/,
    expected: 'a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0',
    // It may carry a password: a config error goes to the logs, the URL must not.
    secret: true,
    shown: '— (limits in this process)',
    doc: 'Keep per-key limits, budgets, stream slots and the upstream concurrency cap in Redis, exact across every instance, and tell every instance at once when a key changes (the keys CLI too). Unset: each process keeps its own.',
  },
  {
    env: 'REDIS_FAILURE_MODE',
    group: 'shared-state',
    field: 'redisFailureMode',
    type: 'enum',
    values: ['open', 'closed'],
    default: 'open',
    ignoreCase: true,
    doc: 'While Redis cannot be reached: `open` falls back to each instance\'s own limits (spend seeded from the ledger) until it is back; `closed` refuses admission with `SERVICE_UNAVAILABLE`.',
  },
  {
    env: 'REDIS_KEY_PREFIX',
    group: 'shared-state',
    field: 'redisKeyPrefix',
    type: 'string',
    default: DEFAULT_REDIS_KEY_PREFIX,
    pattern: /^[\x21-\x7e]{1,64}$/,
    expected: '1 to 64 printable ASCII characters without spaces',
    doc: 'Prefix of every Redis key and channel the gateway uses, so several gateways (or tests) can share one Redis.',
  },
  {
    env: 'REDIS_LEASE_MS',
    group: 'shared-state',
    field: 'redisLeaseMs',
    type: 'integer',
    min: 100,
    max: 3_600_000,
    default: 30_000,
    doc: 'Lease on a stream slot, a budget reservation and an upstream slot in Redis, renewed every third of it while the operation runs: what a crashed instance holds is freed after at most this long.',
  },
  {
    env: 'REDIS_COMMAND_TIMEOUT_MS',
    group: 'shared-state',
    field: 'redisCommandTimeoutMs',
    type: 'integer',
    min: 10,
    max: 60_000,
    default: 1_000,
    doc: 'Longest wait for a Redis answer; past it Redis counts as unreachable (see `REDIS_FAILURE_MODE`), so a dead Redis never holds a request up.',
  },
] as const satisfies readonly Variable[];
