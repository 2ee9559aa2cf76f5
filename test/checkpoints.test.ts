/**
 * Checkpoints of running operations (Ledger.start → progress → finish), on SQLite and
 * PostgreSQL: written at each flush only when they changed, dropped with the final row in
 * one flush; left by a stopped process, they become `interrupted` rows (before the next
 * gateway serves, or by the periodic sweep), but never while their instance is alive; and a
 * final row written after a takeover replaces the interrupted one. Also a real process
 * killed with SIGKILL while operations run.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Db } from '../src/accounts/db/index.js';
import type { LedgerCheckpointsTable, UsageLedgerTable } from '../src/accounts/db/schema.js';
import { CompletionStreamDocument } from '../src/generated/operations.js';
import { Ledger, type LedgerEntry, type StartedOperation } from '../src/accounts/ledger.js';
import { createLogger } from '../src/observability/logger.js';
import { Pricing } from '../src/accounts/pricing.js';
import { postgres, sqlite } from './databases.js';
import { useLedgerHarness } from './ledger-harness.js';
import { eventually, sse, startGateway } from './helpers.js';
import { freePort, jsonLines, startMain } from './process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PRICING = new Pricing();

const cost = (model: string, prompt: number, completion: number): number | null => PRICING.cost(model, prompt, completion);

function operation(over: Partial<StartedOperation> = {}): StartedOperation {
  return {
    keyId: null,
    requestId: `op-${randomUUID()}`,
    operation: 'completionStream',
    modelRequested: 'gpt-4o-mini',
    model: 'gpt-4o-mini',
    promptTokens: 12,
    startedAt: Date.now() - 1000,
    cost,
    ...over,
  };
}

function finalEntry(op: StartedOperation, completionTokens: number): LedgerEntry {
  return {
    keyId: op.keyId,
    requestId: op.requestId,
    operation: op.operation,
    modelRequested: op.modelRequested,
    model: op.model,
    promptTokens: op.promptTokens,
    completionTokens,
    costUsd: cost(op.model, op.promptTokens, completionTokens),
    outcome: 'completed',
    timeToFirstChunkMs: 5,
    durationMs: 1000,
    startedAt: op.startedAt,
    finishedAt: op.startedAt + 1000,
  };
}

const { open, database, manualLedger } = useLedgerHarness();

async function checkpoints(db: Db): Promise<LedgerCheckpointsTable[]> {
  return db.db.selectFrom('ledger_checkpoints').selectAll().execute();
}

async function ledgerRows(db: Db, requestId: string): Promise<UsageLedgerTable[]> {
  return db.db.selectFrom('usage_ledger').selectAll().where('request_id', '=', requestId).execute();
}

describe.each([sqlite, postgres])('checkpoints on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  it('writes a running operation at a flush, again only when it changed, and drops it with its final row', async () => {
    const db = await database(await backend.create());
    const ledger = manualLedger(db);
    const op = operation();
    const running = ledger.start(op);
    await ledger.flush();
    expect(await checkpoints(db)).toMatchObject([{ request_id: op.requestId, prompt_tokens: 12, completion_tokens: 0, model: 'gpt-4o-mini' }]);

    running.progress({ completionTokens: 3, model: 'gpt-4o-mini-2024-07-18' });
    running.progress({ completionTokens: 7 });
    await ledger.flush();
    const [written] = await checkpoints(db);
    expect(written).toMatchObject({ completion_tokens: 7, model: 'gpt-4o-mini-2024-07-18' });
    expect(written?.cost_usd).toBeCloseTo(cost('gpt-4o-mini', 12, 7) ?? NaN, 15);

    // Nothing changed: the next flush leaves the checkpoint as it was.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await ledger.flush();
    expect((await checkpoints(db))[0]?.checkpoint_at).toBe(written?.checkpoint_at);

    running.finish(finalEntry(op, 9));
    await ledger.flush();
    expect(await checkpoints(db)).toEqual([]);
    expect(await ledgerRows(db, op.requestId)).toMatchObject([{ outcome: 'completed', completion_tokens: 9, id: written?.id }]);
  });

  it('turns the checkpoints of a stopped instance into interrupted rows before the next gateway serves', async () => {
    const url = await backend.create();
    const db = await database(url);
    const crashed = manualLedger(db);
    const op = operation({ keyId: 'key-1' });
    const running = crashed.start(op);
    running.progress({ completionTokens: 40 });
    await crashed.flush();
    const [checkpoint] = await checkpoints(db);
    // The crashed instance stops heartbeating: 300 ms later it counts as dead.
    await new Promise((resolve) => setTimeout(resolve, 600));

    const gw = await startGateway({ DATABASE_URL: url, LEDGER_FLUSH_MS: '100' });
    open.gateways.push(gw);
    const rows = await ledgerRows(db, op.requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: checkpoint?.id,
      key_id: 'key-1',
      operation: 'completionStream',
      model: 'gpt-4o-mini',
      prompt_tokens: 12,
      completion_tokens: 40,
      outcome: 'interrupted',
      started_at: op.startedAt,
      finished_at: checkpoint?.checkpoint_at,
      duration_ms: (checkpoint?.checkpoint_at ?? NaN) - op.startedAt,
    });
    expect(rows[0]?.cost_usd).toBeCloseTo(cost('gpt-4o-mini', 12, 40) ?? NaN, 15);
    expect(await checkpoints(db)).toEqual([]);
  });

  it('leaves a live instance’s checkpoints alone (even with a longer LEDGER_FLUSH_MS), and takes them over once it stops heartbeating', async () => {
    const url = await backend.create();
    const liveDb = await database(url);
    // It flushes every 400 ms, the new gateway every 100: staleness is the live one's own (2 s).
    const live = new Ledger(liveDb, createLogger('silent'), { flushIntervalMs: 400, maxPendingRows: 1000 });
    open.ledgers.push(live);
    const op = operation();
    live.start(op).progress({ completionTokens: 5 });
    await live.flush();

    const gw = await startGateway({ DATABASE_URL: url, LEDGER_FLUSH_MS: '100' });
    open.gateways.push(gw);
    const db = await database(url);
    // Several of the new gateway's sweeps (every 5 flushes) while the first instance lives.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await ledgerRows(db, op.requestId)).toEqual([]);
    expect(await checkpoints(db)).toMatchObject([{ request_id: op.requestId, completion_tokens: 5 }]);

    // The first instance loses its database (as if it had died): no more heartbeats, and
    // the sweep recovers its operation.
    await liveDb.close();
    const deadline = Date.now() + 8000;
    let rows: UsageLedgerTable[] = [];
    while (rows.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await ledgerRows(db, op.requestId);
    }
    expect(rows).toMatchObject([{ outcome: 'interrupted', prompt_tokens: 12, completion_tokens: 5 }]);
    expect(await checkpoints(db)).toEqual([]);
  });

  it('a final row written after a takeover replaces the interrupted row (no double count)', async () => {
    const url = await backend.create();
    const db = await database(url);
    const slow = manualLedger(db);
    const op = operation();
    const running = slow.start(op);
    running.progress({ completionTokens: 2 });
    await slow.flush();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const gw = await startGateway({ DATABASE_URL: url, LEDGER_FLUSH_MS: '100' });
    open.gateways.push(gw);
    expect(await ledgerRows(db, op.requestId)).toMatchObject([{ outcome: 'interrupted', completion_tokens: 2 }]);

    running.finish(finalEntry(op, 30));
    await slow.flush();
    expect(await ledgerRows(db, op.requestId)).toMatchObject([{ outcome: 'completed', completion_tokens: 30, prompt_tokens: 12 }]);
  });
});

describe('a real process killed with SIGKILL', () => {
  it('leaves its running operations as interrupted rows, recorded by the next process on the same SQLite file', async () => {
    const url = await sqlite.create();
    // A process that runs two operations through the ledger, reports once they are
    // checkpointed, then waits to be killed.
    const script = `
      import { openDatabase } from './src/accounts/db/index.js';
      import { Ledger } from './src/accounts/ledger.js';
      import { createLogger } from './src/observability/logger.js';
      const db = await openDatabase(${JSON.stringify(url)});
      const ledger = new Ledger(db, createLogger('silent'), { flushIntervalMs: 50, maxPendingRows: 100 });
      const cost = (model, prompt, completion) => (prompt + completion) / 1e6;
      for (const [id, tokens] of [['killed-a', 17], ['killed-b', 4]]) {
        const running = ledger.start({ keyId: null, requestId: id, operation: 'completionStream', modelRequested: 'm', model: 'm', promptTokens: 9, startedAt: Date.now(), cost });
        running.progress({ completionTokens: tokens });
      }
      await ledger.flush();
      console.log('checkpointed');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await eventually(() => out.includes('checkpointed') || child.exitCode !== null, 'the child to checkpoint', 20_000);
    expect(out).toContain('checkpointed');
    child.kill('SIGKILL');
    await exited;

    const port = await freePort();
    const run = startMain({ PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: url, LEDGER_FLUSH_MS: '100' });
    try {
      const db = await database(url);
      const deadline = Date.now() + 20_000;
      let rows: UsageLedgerTable[] = [];
      while (rows.length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        rows = await db.db.selectFrom('usage_ledger').selectAll().where('request_id', 'like', 'killed-%').orderBy('request_id').execute();
      }
      expect(rows, run.stdout).toMatchObject([
        { request_id: 'killed-a', outcome: 'interrupted', prompt_tokens: 9, completion_tokens: 17, cost_usd: 26 / 1e6 },
        { request_id: 'killed-b', outcome: 'interrupted', prompt_tokens: 9, completion_tokens: 4, cost_usd: 13 / 1e6 },
      ]);
      // Logged just after the rows are committed: it may still be on its way.
      await eventually(() => jsonLines(run.stdout).some((l) => String(l['msg']).includes('recorded as interrupted')), 'the recovery log line', 5000);
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  }, 60_000);

  it('a stream running at the kill is recorded as interrupted with its prompt and the completion tokens so far', async () => {
    const url = await sqlite.create();
    const env = { HOST: '127.0.0.1', DATABASE_URL: url, LEDGER_FLUSH_MS: '100', SIMULATOR_TOKEN_DELAY_MS: '20' };
    const port = await freePort();
    const first = startMain({ ...env, PORT: String(port) });
    await eventually(() => first.stdout.includes('gateway listening') || first.child.exitCode !== null, 'the process to listen', 40_000);
    const controller = new AbortController();
    let chunks = 0;
    const streaming = (async () => {
      for await (const event of sse(`http://127.0.0.1:${port}/graphql`, CompletionStreamDocument, { input: { messages: [{ role: 'USER', content: 'Tell me a long story' }], maxTokens: 2000 } }, controller.signal)) {
        if (event.event === 'next') chunks++;
      }
    })().catch(() => undefined);
    await eventually(() => chunks >= 10, 'ten chunks', 20_000);
    // Two flush intervals: the checkpoint holds some of them.
    await new Promise((resolve) => setTimeout(resolve, 250));
    first.child.kill('SIGKILL');
    await first.exit;
    controller.abort();
    await streaming;

    const second = startMain({ ...env, PORT: String(await freePort()) });
    try {
      const db = await database(url);
      const deadline = Date.now() + 20_000;
      let rows: UsageLedgerTable[] = [];
      while (rows.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        rows = await db.db.selectFrom('usage_ledger').selectAll().execute();
      }
      expect(rows).toMatchObject([{ outcome: 'interrupted', operation: 'completionStream' }]);
      expect(rows[0]?.prompt_tokens).toBeGreaterThan(0);
      expect(rows[0]?.completion_tokens).toBeGreaterThan(0);
    } finally {
      second.child.kill('SIGTERM');
      await second.exit;
    }
  }, 90_000);
});
