/**
 * The usage ledger: one row per operation that reached the upstream. Rows are buffered and
 * written in batches, off the path of any chunk; `close()` (the graceful shutdown) writes
 * what is left, and a crash loses at most the last LEDGER_FLUSH_MS. A failed write keeps
 * its rows for the next attempt.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from './db/index.js';
import type { UsageLedgerTable } from './db/schema.js';

export type LedgerOutcome = 'completed' | 'length' | 'cancelled' | 'upstream_error' | 'timeout' | 'shutdown' | 'client_too_slow';

export interface LedgerEntry {
  keyId: string | null;
  requestId: string;
  operation: 'complete' | 'completionStream';
  modelRequested: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number | null;
  outcome: LedgerOutcome;
  timeToFirstChunkMs: number | null;
  durationMs: number;
  startedAt: number;
  finishedAt: number;
}

export type UsageGroupBy = 'MODEL' | 'DAY' | 'KEY';

export interface UsageBucket {
  /** The model, the day (YYYY-MM-DD, UTC) or the key id, by `groupBy`. */
  group: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

const DAY_MS = 86_400_000;
const BATCH_ROWS = 500;

function toRow(entry: LedgerEntry): UsageLedgerTable {
  return {
    id: randomUUID(),
    key_id: entry.keyId,
    request_id: entry.requestId,
    operation: entry.operation,
    model_requested: entry.modelRequested,
    model: entry.model,
    prompt_tokens: entry.promptTokens,
    completion_tokens: entry.completionTokens,
    cost_usd: entry.costUsd,
    outcome: entry.outcome,
    time_to_first_chunk_ms: entry.timeToFirstChunkMs,
    duration_ms: entry.durationMs,
    started_at: entry.startedAt,
    finished_at: entry.finishedAt,
  };
}

export class Ledger {
  private buffer: UsageLedgerTable[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly database: Db,
    private readonly logger: Logger,
    /** How often buffered rows are written. */
    flushIntervalMs: number,
  ) {
    this.timer = setInterval(() => void this.flush(), flushIntervalMs);
    this.timer.unref();
  }

  get pending(): number {
    return this.buffer.length;
  }

  record(entry: LedgerEntry): void {
    this.buffer.push(toRow(entry));
    if (this.buffer.length >= BATCH_ROWS) void this.flush();
  }

  /**
   * Writes every row recorded before the call. One write at a time: a caller arriving during
   * a write waits for it, then writes whatever that write did not take.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    this.flushing = this.write().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async write(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, BATCH_ROWS);
      try {
        await this.database.db.insertInto('usage_ledger').values(batch).execute();
      } catch (error) {
        this.buffer.unshift(...batch);
        this.logger.error({ err: error, rows: this.buffer.length }, 'ledger write failed; rows kept for the next flush');
        return;
      }
    }
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** USD recorded for a key since a time (flushed rows; the caller adds what it tracks in memory). */
  async spentSince(keyId: string, since: number): Promise<number> {
    const row = await this.database.db
      .selectFrom('usage_ledger')
      .select((eb) => eb.fn.sum<number | null>('cost_usd').as('total'))
      .where('key_id', '=', keyId)
      .where('started_at', '>=', since)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }

  /** Usage between two times, grouped; `keyId` limits it to one key (undefined = every key). */
  async usage(options: { from: number; to: number; groupBy: UsageGroupBy; keyId?: string }): Promise<UsageBucket[]> {
    await this.flush();
    const group =
      options.groupBy === 'MODEL'
        ? sql<string>`model`
        : options.groupBy === 'KEY'
          ? sql<string>`coalesce(key_id, '')`
          : sql<string>`cast(started_at / ${DAY_MS} as bigint)`;
    let query = this.database.db
      .selectFrom('usage_ledger')
      .select((eb) => [
        group.as('grp'),
        eb.fn.countAll<number>().as('requests'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        eb.fn.sum<number | null>('cost_usd').as('cost_usd'),
      ])
      .where('started_at', '>=', options.from)
      .where('started_at', '<', options.to)
      .groupBy('grp')
      .orderBy('grp');
    if (options.keyId !== undefined) query = query.where('key_id', '=', options.keyId);
    const rows = await query.execute();
    return rows.map((row) => ({
      group:
        options.groupBy === 'DAY' ? new Date(Number(row.grp) * DAY_MS).toISOString().slice(0, 10) : String(row.grp),
      requests: Number(row.requests),
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      costUsd: Number(row.cost_usd ?? 0),
    }));
  }
}
