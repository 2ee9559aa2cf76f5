/**
 * Checkpoints of running operations, so a crash does not lose them from the ledger.
 *
 * An operation's `progress` only assigns in memory (it runs per streamed delta); the first
 * change after a flush also queues it, so each flush writes only the operations that
 * changed. A flush writes, in one transaction: this process's heartbeat in
 * `ledger_instances`, final rows (replacing an `interrupted` row of the same id, see
 * below), the deletion of their checkpoints, and the changed running operations'
 * checkpoints. A row is therefore never both final and checkpointed.
 *
 * Recovery turns the checkpoints of instances whose heartbeat is stale (a few of their own
 * flush intervals) into `interrupted` rows with the same id. Staleness, not "any other instance",
 * keeps an instance from taking over the checkpoints of another live one sharing a
 * PostgreSQL database; and if a live but stalled instance is taken over anyway, its final
 * row later replaces the interrupted one (same id), so nothing is billed twice.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DatabaseSchema, LedgerCheckpointRow, UsageLedgerRow } from './db/schema.js';
import type { LedgerEntry, Progress, RunningOperation, StartedOperation } from './ledger-types.js';

/** Flush intervals without a heartbeat after which an instance counts as dead (and between sweeps). */
export const STALE_INTERVALS = 5;
const CHUNK = 500;

export class Running implements RunningOperation {
  /** The id of its checkpoint and of its ledger row. */
  readonly id = randomUUID();
  model: string;
  completionTokens = 0;
  /** Known once the upstream reported them (its usage), else null. */
  cachedPromptTokens: number | null = null;
  reasoningTokens: number | null = null;
  /** In the tracker's list of changes since the last flush took it. */
  queued = false;
  /** A checkpoint of it is in the database. */
  persisted = false;
  /**
   * A write carried its checkpoint: it may be in the database even when that write reported
   * a failure (a COMMIT whose answer was lost), so the flush of its final row deletes it.
   */
  attempted = false;
  finished = false;

  constructor(
    readonly op: StartedOperation,
    private readonly tracker: CheckpointTracker,
    private readonly onFinish: (running: Running, entry: LedgerEntry) => void,
  ) {
    this.model = op.model;
    tracker.changed(this);
  }

  progress(update: Progress): void {
    if (update.model !== undefined) this.model = update.model;
    this.completionTokens = update.completionTokens;
    if (update.cachedPromptTokens !== undefined) this.cachedPromptTokens = update.cachedPromptTokens;
    if (update.reasoningTokens !== undefined) this.reasoningTokens = update.reasoningTokens;
    if (!this.queued) this.tracker.changed(this);
  }

  finish(entry: LedgerEntry): void {
    // A second call is a caller's bug: the first one's row stands.
    if (this.finished) return;
    this.finished = true;
    this.onFinish(this, entry);
  }
}

/** The running operations that changed since the last flush, and what that flush wrote. */
export class CheckpointTracker {
  readonly instanceId = randomUUID();
  private changes: Running[] = [];
  /** Checkpoints of this instance in the database: while any, each flush is a heartbeat. */
  persisted = 0;

  changed(running: Running): void {
    running.queued = true;
    this.changes.push(running);
  }

  get hasWork(): boolean {
    return this.changes.length > 0 || this.persisted > 0;
  }

  /** Takes the changes: the checkpoint rows of those still running. */
  take(now: number): { running: Running[]; rows: LedgerCheckpointRow[] } {
    const taken = this.changes;
    this.changes = [];
    const running: Running[] = [];
    const rows: LedgerCheckpointRow[] = [];
    for (const r of taken) {
      r.queued = false;
      if (r.finished) continue;
      running.push(r);
      rows.push({
        id: r.id,
        instance_id: this.instanceId,
        key_id: r.op.keyId,
        request_id: r.op.requestId,
        operation: r.op.operation,
        model_requested: r.op.modelRequested,
        model: r.model,
        prompt_tokens: r.op.promptTokens,
        completion_tokens: r.completionTokens,
        cached_prompt_tokens: r.cachedPromptTokens,
        reasoning_tokens: r.reasoningTokens,
        cost_usd: r.op.cost(r.model, r.op.promptTokens, r.completionTokens, r.cachedPromptTokens ?? undefined),
        started_at: r.op.startedAt,
        checkpoint_at: now,
      });
    }
    return { running, rows };
  }

  /** After a failed write: the taken operations are changes again. */
  retake(running: Running[]): void {
    for (const r of running) if (!r.queued && !r.finished) this.changed(r);
  }
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * One flush's transaction. Final rows replace a row of the same id: an `interrupted` one
 * recovered by another instance that thought this one dead.
 */
export async function writeFlush(
  db: Kysely<DatabaseSchema>,
  write: { rows: UsageLedgerRow[]; dropCheckpoints: string[]; checkpoints: LedgerCheckpointRow[]; instanceId: string; heartbeat: boolean; aliveUntil: number },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // The heartbeat first: a sweep (recoverCheckpoints) also starts on `ledger_instances`,
    // so on PostgreSQL the two lock in the same order and wait for each other instead of
    // deadlocking, and a sweep that waited sees this instance alive.
    if (write.heartbeat) await heartbeat(trx, write.instanceId, write.aliveUntil);
    if (write.rows.length > 0) {
      await trx
        .insertInto('usage_ledger')
        .values(write.rows)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            model: eb.ref('excluded.model'),
            prompt_tokens: eb.ref('excluded.prompt_tokens'),
            completion_tokens: eb.ref('excluded.completion_tokens'),
            cached_prompt_tokens: eb.ref('excluded.cached_prompt_tokens'),
            reasoning_tokens: eb.ref('excluded.reasoning_tokens'),
            cost_usd: eb.ref('excluded.cost_usd'),
            outcome: eb.ref('excluded.outcome'),
            time_to_first_chunk_ms: eb.ref('excluded.time_to_first_chunk_ms'),
            duration_ms: eb.ref('excluded.duration_ms'),
            finished_at: eb.ref('excluded.finished_at'),
          })),
        )
        .execute();
    }
    for (const ids of chunks(write.dropCheckpoints)) await trx.deleteFrom('ledger_checkpoints').where('id', 'in', ids).execute();
    for (const rows of chunks(write.checkpoints)) {
      await trx
        .insertInto('ledger_checkpoints')
        .values(rows)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            instance_id: eb.ref('excluded.instance_id'),
            model: eb.ref('excluded.model'),
            completion_tokens: eb.ref('excluded.completion_tokens'),
            cached_prompt_tokens: eb.ref('excluded.cached_prompt_tokens'),
            reasoning_tokens: eb.ref('excluded.reasoning_tokens'),
            cost_usd: eb.ref('excluded.cost_usd'),
            checkpoint_at: eb.ref('excluded.checkpoint_at'),
          })),
        )
        .execute();
    }
  });
}

async function heartbeat(trx: Transaction<DatabaseSchema>, id: string, aliveUntil: number): Promise<void> {
  await trx
    .insertInto('ledger_instances')
    .values({ id, alive_until: aliveUntil })
    .onConflict((oc) => oc.column('id').doUpdateSet({ alive_until: aliveUntil }))
    .execute();
}

/** Removes this instance's heartbeat (a clean stop, with no checkpoint left). */
export async function forgetInstance(db: Kysely<DatabaseSchema>, id: string): Promise<void> {
  await db.deleteFrom('ledger_instances').where('id', '=', id).execute();
}

function interruptedRow(c: LedgerCheckpointRow): UsageLedgerRow {
  return {
    id: c.id,
    key_id: c.key_id,
    request_id: c.request_id,
    operation: c.operation,
    model_requested: c.model_requested,
    model: c.model,
    prompt_tokens: c.prompt_tokens,
    completion_tokens: c.completion_tokens,
    cached_prompt_tokens: c.cached_prompt_tokens,
    reasoning_tokens: c.reasoning_tokens,
    cost_usd: c.cost_usd,
    outcome: 'interrupted',
    time_to_first_chunk_ms: null,
    duration_ms: Math.max(0, c.checkpoint_at - c.started_at),
    started_at: c.started_at,
    finished_at: c.checkpoint_at,
  };
}

/**
 * Moves the checkpoints of dead instances (no row in `ledger_instances`, or one whose
 * `alive_until` is before `now`) into the
 * ledger as `interrupted` rows; returns how many it inserted. Two instances recovering at
 * once insert the same ids, so the second insert does nothing (and counts nothing).
 */
export async function recoverCheckpoints(db: Kysely<DatabaseSchema>, selfId: string, now: number): Promise<number> {
  let recovered = 0;
  for (;;) {
    const { seen, inserted } = await db.transaction().execute(async (trx) => {
      // A write first: on SQLite, a transaction that reads and then writes fails at once
      // ("database is locked", no busy wait) when another process wrote in between, which
      // several workers on one file do; one that starts with a write waits its turn.
      await trx.deleteFrom('ledger_instances').where('alive_until', '<', now).execute();
      const stale = await trx
        .selectFrom('ledger_checkpoints')
        .selectAll()
        .where('instance_id', '<>', selfId)
        .where('instance_id', 'not in', (eb) =>
          eb.selectFrom('ledger_instances').select('id').where('alive_until', '>=', now),
        )
        .limit(CHUNK)
        .execute();
      if (stale.length === 0) return { seen: 0, inserted: 0 };
      const result = await trx
        .insertInto('usage_ledger')
        .values(stale.map(interruptedRow))
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      await trx.deleteFrom('ledger_checkpoints').where('id', 'in', stale.map((c) => c.id)).execute();
      // Only the rows this sweep inserted: another instance sweeping at the same moment
      // counts (and logs) the rest.
      return { seen: stale.length, inserted: Number(result.numInsertedOrUpdatedRows ?? 0n) };
    });
    recovered += inserted;
    if (seen < CHUNK) break;
  }
  return recovered;
}
