/**
 * The ledger under many writers (issue #16, part 4): rows carry their id from the moment
 * they are recorded, so a flush retried after a write that did commit lands each row once;
 * and two ledgers (two instances) on one PostgreSQL database write every row once without
 * taking over each other's running operations, and share a dead instance's without doubling.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Db } from '../src/accounts/db/index.js';
import { Ledger, type LedgerEntry, type StartedOperation } from '../src/accounts/ledger.js';
import { writeFlush } from '../src/accounts/ledger-checkpoints.js';
import type { LedgerCheckpointRow, UsageLedgerRow } from '../src/accounts/db/schema.js';
import { createLogger } from '../src/observability/logger.js';
import { postgres, sqlite } from './databases.js';
import { useLedgerHarness } from './ledger-harness.js';
import { startPgProxy, type PgProxy } from './pg-proxy.js';

const cost = (_model: string, prompt: number, completion: number): number => (prompt + 2 * completion) / 1e6;

function operation(requestId = `op-${randomUUID()}`): StartedOperation {
  return { keyId: null, requestId, operation: 'completionStream', modelRequested: 'm', model: 'm', promptTokens: 10, startedAt: Date.now() - 1000, cost };
}

function entry(requestId: string, completionTokens = 5): LedgerEntry {
  const startedAt = Date.now() - 1000;
  return {
    keyId: null,
    requestId,
    operation: 'complete',
    modelRequested: 'm',
    model: 'm',
    promptTokens: 10,
    completionTokens,
    costUsd: cost('m', 10, completionTokens),
    outcome: 'completed',
    timeToFirstChunkMs: null,
    durationMs: 1000,
    startedAt,
    finishedAt: startedAt + 1000,
  };
}

async function rows(db: Db): Promise<UsageLedgerRow[]> {
  return db.db.selectFrom('usage_ledger').selectAll().orderBy('request_id').execute();
}

async function checkpoints(db: Db): Promise<LedgerCheckpointRow[]> {
  return db.db.selectFrom('ledger_checkpoints').selectAll().orderBy('request_id').execute();
}

const { open, database, manualLedger } = useLedgerHarness();

describe('a flush retried after its write committed', () => {
  if (postgres.skip) {
    it.skip(postgres.skip, () => undefined);
    return;
  }

  it('PostgreSQL, the COMMIT’s answer lost: the rows are kept, retried, and each is in the database once; a checkpoint ended before the retry is gone too', async () => {
    const url = await postgres.create();
    let proxy: PgProxy | undefined;
    try {
      proxy = await startPgProxy(url);
      const direct = await database(url);
      const ledger = manualLedger(await database(proxy.url));
      for (const id of ['row-a', 'row-b', 'row-c']) ledger.record(entry(id));
      const endsBeforeRetry = ledger.start(operation('run-ends'));
      endsBeforeRetry.progress({ completionTokens: 3 });
      ledger.start(operation('run-goes-on')).progress({ completionTokens: 4 });

      proxy.loseNextCommitAnswer();
      await ledger.flush();
      await proxy.answerLost;
      // It committed (read on a connection of our own) …
      expect((await rows(direct)).map((r) => r.request_id)).toEqual(['row-a', 'row-b', 'row-c']);
      expect((await checkpoints(direct)).map((c) => c.request_id)).toEqual(['run-ends', 'run-goes-on']);
      // … but the ledger saw a failed write, so it keeps the rows for the next flush.
      expect(ledger.health()).toEqual({ database: 'unwritable', pendingLedgerRows: 3 });

      endsBeforeRetry.finish({ ...entry('run-ends', 9), operation: 'completionStream' });
      await ledger.flush();
      expect(ledger.health()).toEqual({ database: undefined, pendingLedgerRows: 0 });
      const written = await rows(direct);
      expect(written.map((r) => [r.request_id, r.outcome, r.completion_tokens])).toEqual([
        ['row-a', 'completed', 5],
        ['row-b', 'completed', 5],
        ['row-c', 'completed', 5],
        ['run-ends', 'completed', 9],
      ]);
      // The operation that ended keeps the id its checkpoint had, and the checkpoint is gone.
      expect((await checkpoints(direct)).map((c) => [c.request_id, c.completion_tokens])).toEqual([['run-goes-on', 4]]);
    } finally {
      // The ledger is closed first (the harness), then the proxy its pool goes through.
      for (const ledger of open.ledgers.splice(0)) await ledger.close();
      await proxy?.close();
    }
  });
});

describe.each([sqlite, postgres])('the same flush written twice on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  it('leaves each row once with its values, and the checkpoints it dropped stay dropped', async () => {
    const db = await database(await backend.create());
    const source = manualLedger(db);
    const running = source.start(operation('run-1'));
    running.progress({ completionTokens: 2 });
    await source.flush();
    const [checkpoint] = await checkpoints(db);

    if (!checkpoint) throw new Error('no checkpoint written');
    const now = Date.now();
    const row = (over: Partial<UsageLedgerRow>): UsageLedgerRow => ({
      id: randomUUID(),
      key_id: null,
      request_id: 'row',
      operation: 'complete',
      model_requested: 'm',
      model: 'm',
      prompt_tokens: 10,
      completion_tokens: 5,
      cached_prompt_tokens: null,
      reasoning_tokens: null,
      cost_usd: 2e-5,
      outcome: 'completed',
      time_to_first_chunk_ms: null,
      duration_ms: 1000,
      started_at: now - 1000,
      finished_at: now,
      ...over,
    });
    const flush = {
      rows: [
        row({ id: checkpoint.id, request_id: 'run-1', operation: 'completionStream', completion_tokens: 7, time_to_first_chunk_ms: 4 }),
        row({ request_id: 'row-a' }),
        row({ request_id: 'row-b' }),
      ],
      dropCheckpoints: [checkpoint.id],
      checkpoints: [],
      instanceId: randomUUID(),
      heartbeat: false,
      aliveUntil: now,
    };
    await writeFlush(db.db, flush);
    const once = await rows(db);
    await writeFlush(db.db, flush);
    expect(await rows(db)).toEqual(once);
    expect(once.map((r) => [r.request_id, r.completion_tokens])).toEqual([
      ['row-a', 5],
      ['row-b', 5],
      ['run-1', 7],
    ]);
    expect(await checkpoints(db)).toEqual([]);
  });
});

describe('two ledgers on one PostgreSQL database at once', () => {
  if (postgres.skip) {
    it.skip(postgres.skip, () => undefined);
    return;
  }

  it('write every row once, and neither takes over the other’s running operations while both live', async () => {
    const url = await postgres.create();
    // Each flushes every 50 ms and sweeps every 5 flushes: many sweeps while the other runs.
    const ledgers = [0, 1].map(async () => {
      const ledger = new Ledger(await database(url), createLogger('silent'), { flushIntervalMs: 50, maxPendingRows: 10_000 });
      open.ledgers.push(ledger);
      return ledger;
    });
    const [first, second] = await Promise.all(ledgers);
    if (!first || !second) throw new Error('two ledgers');
    const work = async (ledger: Ledger, name: string): Promise<void> => {
      const running = Array.from({ length: 10 }, (_, i) => ledger.start(operation(`${name}-run-${i}`)));
      for (let turn = 1; turn <= 40; turn++) {
        for (const r of running) r.progress({ completionTokens: turn });
        for (let i = 0; i < 15; i++) ledger.record(entry(`${name}-row-${turn}-${i}`));
        // A sweep of its own besides the timer's, at the moment the other may be writing.
        if (turn % 4 === 0) await ledger.recover();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      running.forEach((r, i) => r.finish({ ...entry(`${name}-run-${i}`, 40), operation: 'completionStream' }));
    };
    await Promise.all([work(first, 'one'), work(second, 'two')]);
    await Promise.all([first.close(), second.close()]);

    const db = await database(url);
    const written = await rows(db);
    expect(written).toHaveLength(2 * (40 * 15 + 10));
    expect(new Set(written.map((r) => r.request_id)).size).toBe(written.length);
    expect(written.filter((r) => r.outcome !== 'completed')).toEqual([]);
    expect(written.filter((r) => r.request_id.includes('-run-')).every((r) => r.completion_tokens === 40)).toBe(true);
    expect(await checkpoints(db)).toEqual([]);
    // Both stopped cleanly: no heartbeat left behind.
    expect(await db.db.selectFrom('ledger_instances').selectAll().execute()).toEqual([]);
  });

  it('recover a dead instance’s checkpoints once when both sweep at the same moment, and count them once', async () => {
    const url = await postgres.create();
    const dead = manualLedger(await database(url));
    for (let i = 0; i < 50; i++) dead.start(operation(`dead-${String(i).padStart(2, '0')}`)).progress({ completionTokens: i });
    await dead.flush();
    // The manual ledger counts as dead 300 ms after its last flush.
    await new Promise((resolve) => setTimeout(resolve, 400));

    const sweepers = await Promise.all(
      [0, 1].map(async () => {
        const ledger = manualLedger(await database(url));
        return ledger;
      }),
    );
    const counts = await Promise.all(sweepers.map((ledger) => ledger.recover()));
    const db = await database(url);
    const written = await rows(db);
    expect(written).toHaveLength(50);
    expect(written.every((r) => r.outcome === 'interrupted')).toBe(true);
    expect(written.map((r) => r.completion_tokens)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await checkpoints(db)).toEqual([]);
    // What they report (and log) adds up to what was recovered, not twice as much.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(50);
  });
});
