/** Reads of the usage ledger: a key's spend (budgets) and grouped usage (the `usage` query). */
import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from './db/schema.js';

export type UsageGroupBy = 'MODEL' | 'DAY' | 'KEY';

export interface UsageBucket {
  /** The model, the day (YYYY-MM-DD, UTC) or the key id, by `groupBy`. */
  group: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens the upstreams reported served from their cache (rows where they did not say count 0). */
  cachedPromptTokens: number;
  /** Completion tokens the upstreams reported spent reasoning (rows where they did not say count 0). */
  reasoningTokens: number;
  costUsd: number;
}

export interface UsageQuery {
  from: number;
  to: number;
  groupBy: UsageGroupBy;
  /** One key only; undefined = every key. */
  keyId?: string;
}

const DAY_MS = 86_400_000;

/** USD recorded for a key since a time. */
export async function spentSince(db: Kysely<DatabaseSchema>, keyId: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('usage_ledger')
    .select((eb) => eb.fn.sum<number | null>('cost_usd').as('total'))
    .where('key_id', '=', keyId)
    .where('started_at', '>=', since)
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

/** Usage between two times, grouped. */
export async function usage(db: Kysely<DatabaseSchema>, options: UsageQuery): Promise<UsageBucket[]> {
  const group =
    options.groupBy === 'MODEL'
      ? sql<string>`model`
      : options.groupBy === 'KEY'
        ? sql<string>`coalesce(key_id, '')`
        : sql<string>`cast(started_at / ${DAY_MS} as bigint)`;
  let query = db
    .selectFrom('usage_ledger')
    .select((eb) => [
      group.as('grp'),
      eb.fn.countAll<number>().as('requests'),
      eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
      eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
      eb.fn.sum<number | null>('cached_prompt_tokens').as('cached_prompt_tokens'),
      eb.fn.sum<number | null>('reasoning_tokens').as('reasoning_tokens'),
      eb.fn.sum<number | null>('cost_usd').as('cost_usd'),
    ])
    .where('started_at', '>=', options.from)
    .where('started_at', '<', options.to)
    .groupBy('grp')
    .orderBy('grp');
  if (options.keyId !== undefined) query = query.where('key_id', '=', options.keyId);
  const rows = await query.execute();
  return rows.map((row) => ({
    group: options.groupBy === 'DAY' ? new Date(Number(row.grp) * DAY_MS).toISOString().slice(0, 10) : String(row.grp),
    requests: Number(row.requests),
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    cachedPromptTokens: Number(row.cached_prompt_tokens ?? 0),
    reasoningTokens: Number(row.reasoning_tokens ?? 0),
    costUsd: Number(row.cost_usd ?? 0),
  }));
}
