/**
 * The usage ledger: one row per operation that reached the upstream. Rows are buffered and
 * written in batches, off the path of any chunk; `close()` (the graceful shutdown) writes
 * what is left. Running operations are checkpointed at each flush (ledger-checkpoints.ts),
 * so a crash loses at most the last LEDGER_FLUSH_MS of their progress, never the operation.
 *
 * Rows are kept in memory, up to LEDGER_MAX_PENDING_ROWS, whenever they cannot be written:
 * a failing write, or a SQLite file deleted or replaced under the running process (checked
 * at each flush by its device and inode: ledger-health.ts). Writing into a deleted file would
 * lose them with it, and creating a new empty file would hide the loss; so nothing is written
 * until a file is back at the path, which is then reopened (and migrated) and gets the rows.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from './db/index.js';
import type { UsageLedgerRow } from './db/schema.js';
import {
  CheckpointTracker,
  forgetInstance,
  recoverCheckpoints,
  Running,
  STALE_INTERVALS,
  writeFlush,
} from './ledger-checkpoints.js';
import { DatabaseWatch, type LedgerHealth } from './ledger-health.js';
import { spentSince, usage, type UsageBucket, type UsageQuery } from './ledger-queries.js';
import type { LedgerEntry, RunningOperation, StartedOperation } from './ledger-types.js';
import type { Metrics } from '../observability/metrics.js';

export type { DatabaseProblem, LedgerHealth } from './ledger-health.js';
export type { LedgerEntry, LedgerOutcome, Progress, RunningOperation, StartedOperation } from './ledger-types.js';
export type { UsageBucket, UsageGroupBy, UsageQuery } from './ledger-queries.js';

const BATCH_ROWS = 500;

function toRow(entry: LedgerEntry, id: string = randomUUID()): UsageLedgerRow {
  return {
    id,
    key_id: entry.keyId,
    request_id: entry.requestId,
    operation: entry.operation,
    model_requested: entry.modelRequested,
    model: entry.model,
    prompt_tokens: entry.promptTokens,
    completion_tokens: entry.completionTokens,
    cached_prompt_tokens: entry.cachedPromptTokens ?? null,
    reasoning_tokens: entry.reasoningTokens ?? null,
    cost_usd: entry.costUsd,
    outcome: entry.outcome,
    time_to_first_chunk_ms: entry.timeToFirstChunkMs,
    duration_ms: entry.durationMs,
    started_at: entry.startedAt,
    finished_at: entry.finishedAt,
  };
}

export interface LedgerOptions {
  /** LEDGER_FLUSH_MS: how often buffered rows are written. */
  flushIntervalMs: number;
  /** LEDGER_MAX_PENDING_ROWS: rows kept in memory at most; later ones are dropped. */
  maxPendingRows: number;
  /**
   * How long after its last heartbeat other instances may take over this one's running
   * operations; default STALE_INTERVALS flush intervals. (Tests shorten it.)
   */
  staleAfterMs?: number;
  metrics?: Metrics;
}

interface Pending {
  row: UsageLedgerRow;
  /** The running operation it ends, whose checkpoint goes in the same transaction. */
  running?: Running;
}

export class Ledger {
  private buffer: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly checkpoints = new CheckpointTracker();
  private readonly watch: DatabaseWatch;
  /** Rows dropped since the last log line about it. */
  private dropped = 0;
  private ticks = 0;
  private readonly staleMs: number;

  constructor(
    private readonly database: Db,
    private readonly logger: Logger,
    private readonly options: LedgerOptions,
  ) {
    this.watch = new DatabaseWatch(database, logger, () => this.buffer.length);
    this.staleMs = options.staleAfterMs ?? STALE_INTERVALS * options.flushIntervalMs;
    this.timer = setInterval(() => this.tick(), options.flushIntervalMs);
    this.timer.unref();
    options.metrics?.observeLedger(() => this.health());
  }

  get pending(): number {
    return this.buffer.length;
  }

  health(): LedgerHealth {
    return { database: this.watch.problem, pendingLedgerRows: this.buffer.length };
  }

  record(entry: LedgerEntry): void {
    this.push({ row: toRow(entry) });
  }

  /** Registers an operation that reached the upstream; it is checkpointed until `finish`. */
  start(op: StartedOperation): RunningOperation {
    return new Running(op, this.checkpoints, (running, entry) => this.push({ row: toRow(entry, running.id), running }));
  }

  private push(pending: Pending): void {
    if (this.buffer.length >= this.options.maxPendingRows) {
      this.dropped++;
      this.options.metrics?.ledgerRowsDropped.inc();
      return;
    }
    this.buffer.push(pending);
    // While the database is unusable, a full batch waits for the timer like the rest.
    if (this.buffer.length % BATCH_ROWS === 0 && this.watch.problem === undefined) void this.flush();
  }

  private tick(): void {
    if (this.dropped > 0) {
      this.logger.error(
        { dropped: this.dropped, maxPendingRows: this.options.maxPendingRows },
        'ledger rows dropped: LEDGER_MAX_PENDING_ROWS rows are waiting to be written already',
      );
      this.dropped = 0;
    }
    this.ticks++;
    void this.flush().then(() => (this.ticks % STALE_INTERVALS === 0 ? this.recover() : undefined));
  }

  /**
   * Writes every row recorded before the call, and the checkpoints of running operations.
   * One write at a time: a caller arriving during a write waits for it, then writes
   * whatever that write did not take.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.write().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /**
   * Moves the checkpoints of dead instances (a previous process, or another instance with
   * no heartbeat for a few flush intervals) into the ledger as `interrupted`. Called before
   * serving and every few flushes; failures are logged and retried then.
   */
  async recover(): Promise<number> {
    if (this.watch.problem === 'missing' || this.watch.problem === 'replaced') return 0;
    try {
      const count = await recoverCheckpoints(this.database.db, this.checkpoints.instanceId, Date.now());
      if (count > 0) this.logger.warn({ rows: count }, 'recovered operations left running by a stopped gateway: recorded as interrupted');
      return count;
    } catch (error) {
      // While writes fail too, that state has been logged once already.
      if (this.watch.problem === undefined) this.logger.error({ err: error }, 'could not recover the checkpoints of stopped gateways; retrying later');
      return 0;
    }
  }

  private async write(): Promise<void> {
    if (!(await this.watch.usable())) return;
    let first = true;
    while (this.buffer.length > 0 || (first && this.checkpoints.hasWork)) {
      const now = Date.now();
      const batch = this.buffer.splice(0, BATCH_ROWS);
      // Running operations' checkpoints go with the first batch; a later batch only carries
      // the deletion of the checkpoints its final rows replace.
      const taken = first ? this.checkpoints.take(now) : { running: [], rows: [] };
      for (const r of taken.running) r.attempted = true;
      const dropCheckpoints = batch.flatMap((p) => (p.running?.attempted ? [p.running.id] : []));
      first = false;
      try {
        await writeFlush(this.database.db, {
          rows: batch.map((p) => p.row),
          dropCheckpoints,
          checkpoints: taken.rows,
          instanceId: this.checkpoints.instanceId,
          heartbeat: taken.rows.length > 0 || this.checkpoints.persisted > 0,
          aliveUntil: now + this.staleMs,
        });
      } catch (error) {
        this.buffer.unshift(...batch);
        this.checkpoints.retake(taken.running);
        this.watch.setProblem('unwritable', error);
        return;
      }
      for (const p of batch) {
        if (p.running?.persisted) {
          p.running.persisted = false;
          this.checkpoints.persisted--;
        }
      }
      for (const r of taken.running) {
        if (!r.persisted) {
          r.persisted = true;
          this.checkpoints.persisted++;
        }
      }
      this.watch.setProblem(undefined);
    }
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.buffer.length > 0) {
      this.logger.error({ rows: this.buffer.length, database: this.watch.problem }, 'stopping with ledger rows that could not be written: they are lost');
    }
    if (this.checkpoints.persisted === 0 && this.watch.problem === undefined) {
      await forgetInstance(this.database.db, this.checkpoints.instanceId).catch(() => undefined);
    }
  }

  /** USD recorded for a key since a time (flushed rows; the caller adds what it tracks in memory). */
  spentSince(keyId: string, since: number): Promise<number> {
    return spentSince(this.database.db, keyId, since);
  }

  /** Usage between two times, grouped; `keyId` limits it to one key (undefined = every key). */
  async usage(options: UsageQuery): Promise<UsageBucket[]> {
    await this.flush();
    return usage(this.database.db, options);
  }
}
