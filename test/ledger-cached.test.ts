/**
 * Cached and reasoning tokens in the usage ledger, on SQLite (a file) and PostgreSQL:
 * migration 0003 on a database made before it, final rows, crash checkpoints and their
 * recovery, the takeover of an interrupted row, and `usage(groupBy:)` sums, through the
 * Ledger API and through a gateway's graph. "Not reported" (null) stays apart from 0 in the
 * rows and counts 0 in the sums.
 *
 * Expected figures are worked out by hand (prices: OpenAI's, USD per 1M tokens).
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl, type Db } from '../src/accounts/db/index.js';
import { migrationProvider } from '../src/accounts/db/migrations.js';
import type { DatabaseSchema, UsageLedgerRow } from '../src/accounts/db/schema.js';
import type { LedgerEntry, StartedOperation, UsageBucket } from '../src/accounts/ledger.js';
import { Pricing } from '../src/accounts/pricing.js';
import { postgres, sqlite } from './databases.js';
import { useLedgerHarness } from './ledger-harness.js';
import { startFakeUpstream } from './fake-upstream.js';
import { graphql, startGateway } from './helpers.js';

const DAY_MS = 86_400_000;
const PRICING = new Pricing();

const { open, database, manualLedger } = useLedgerHarness();

/** The database at `url` migrated only up to `target`, as an older gateway left it. */
async function migratedUpTo(url: string, target: string): Promise<Kysely<DatabaseSchema>> {
  const { dialect, target: where } = parseDatabaseUrl(url);
  const db = new Kysely<DatabaseSchema>({
    dialect: dialect === 'postgres' ? new PostgresDialect({ pool: new pg.Pool({ connectionString: where }) }) : new SqliteDialect({ database: new Database(where) }),
  });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo(target);
  if (error) throw error instanceof Error ? error : new Error(`migrating to ${target} failed`);
  return db;
}

function entry(over: Partial<LedgerEntry> & Pick<LedgerEntry, 'model' | 'promptTokens' | 'completionTokens'>): LedgerEntry {
  const startedAt = over.startedAt ?? Date.now();
  return {
    keyId: null,
    requestId: `cached-${randomUUID()}`,
    operation: 'complete',
    modelRequested: over.model,
    costUsd: null,
    outcome: 'completed',
    timeToFirstChunkMs: null,
    durationMs: 10,
    startedAt,
    finishedAt: startedAt + 10,
    ...over,
  };
}

function operation(over: Partial<StartedOperation> = {}): StartedOperation {
  return {
    keyId: null,
    requestId: `running-${randomUUID()}`,
    operation: 'completionStream',
    modelRequested: 'gpt-4o',
    model: 'gpt-4o',
    promptTokens: 1000,
    startedAt: Date.now() - 1000,
    cost: (model, prompt, completion, cached) => PRICING.cost(model, prompt, completion, cached),
    ...over,
  };
}

async function rowOf(db: Db, requestId: string): Promise<UsageLedgerRow> {
  const rows = await db.db.selectFrom('usage_ledger').selectAll().where('request_id', '=', requestId).execute();
  expect(rows, requestId).toHaveLength(1);
  const [row] = rows;
  if (!row) throw new Error(`no ledger row for ${requestId}`);
  return row;
}

/** The token counts of buckets, costs left out (they are the rows' own, summed as before). */
function counts(buckets: UsageBucket[]): Omit<UsageBucket, 'costUsd'>[] {
  return buckets.map(({ group, requests, promptTokens, completionTokens, cachedPromptTokens, reasoningTokens }) => ({
    group,
    requests,
    promptTokens,
    completionTokens,
    cachedPromptTokens,
    reasoningTokens,
  }));
}

describe.each([sqlite, postgres])('cached and reasoning tokens in the ledger on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  it('migration 0003 adds the columns to a database made before it: older rows and checkpoints read as not reported', async () => {
    const url = await backend.create();
    const old = await migratedUpTo(url, '0002_ledger_checkpoints');
    const startedAt = Date.now() - 5000;
    await old
      .insertInto('usage_ledger')
      .values({ id: randomUUID(), key_id: null, request_id: 'before-0003', operation: 'complete', model_requested: 'gpt-4o', model: 'gpt-4o', prompt_tokens: 100, completion_tokens: 10, cost_usd: 0.00035, outcome: 'completed', time_to_first_chunk_ms: null, duration_ms: 5, started_at: startedAt, finished_at: startedAt + 5 })
      .execute();
    // A checkpoint left by a gateway that crashed before the upgrade.
    await old
      .insertInto('ledger_checkpoints')
      .values({ id: randomUUID(), instance_id: 'gone', key_id: null, request_id: 'crashed-before-0003', operation: 'completionStream', model_requested: 'gpt-4o', model: 'gpt-4o', prompt_tokens: 40, completion_tokens: 4, cost_usd: 0.00014, started_at: startedAt, checkpoint_at: startedAt + 100 })
      .execute();
    await old.destroy();

    const db = await database(url);
    expect(await rowOf(db, 'before-0003')).toMatchObject({ prompt_tokens: 100, cached_prompt_tokens: null, reasoning_tokens: null });
    const ledger = manualLedger(db);
    expect(await ledger.recover()).toBe(1);
    expect(await rowOf(db, 'crashed-before-0003')).toMatchObject({ outcome: 'interrupted', prompt_tokens: 40, cached_prompt_tokens: null, reasoning_tokens: null });

    ledger.record(entry({ requestId: 'after-0003', model: 'gpt-4o', promptTokens: 1000, cachedPromptTokens: 600, completionTokens: 20, reasoningTokens: 0 }));
    const sums = await ledger.usage({ from: startedAt - 1, to: Date.now() + 1000, groupBy: 'MODEL' });
    expect(counts(sums)).toEqual([{ group: 'gpt-4o', requests: 3, promptTokens: 1140, completionTokens: 34, cachedPromptTokens: 600, reasoningTokens: 0 }]);
  });

  it('final rows keep what the upstream reported, 0 apart from null, and usage sums them by MODEL, DAY and KEY', async () => {
    const db = await database(await backend.create());
    const ledger = manualLedger(db);
    const now = Date.now();
    const twoDaysAgo = now - 2 * DAY_MS;
    const rows = [
      entry({ keyId: 'key-a', model: 'gpt-4o', promptTokens: 1000, cachedPromptTokens: 600, completionTokens: 200, reasoningTokens: 0, startedAt: now }),
      entry({ keyId: 'key-a', model: 'o4-mini', promptTokens: 500, completionTokens: 300, reasoningTokens: 250, startedAt: now }),
      entry({ keyId: 'key-b', model: 'gpt-4o', promptTokens: 2000, cachedPromptTokens: 1500, completionTokens: 100, reasoningTokens: null, startedAt: twoDaysAgo }),
      entry({ keyId: null, model: 'gpt-4o', promptTokens: 50, completionTokens: 5, startedAt: now }),
    ];
    for (const row of rows) ledger.record(row);
    await ledger.flush();

    const written = await Promise.all(rows.map((row) => rowOf(db, row.requestId)));
    expect(written.map((r) => [r.cached_prompt_tokens, r.reasoning_tokens])).toEqual([
      [600, 0],
      [null, 250],
      [1500, null],
      [null, null],
    ]);

    const window = { from: twoDaysAgo - 1000, to: now + 1000 };
    expect(counts(await ledger.usage({ ...window, groupBy: 'MODEL' }))).toEqual([
      { group: 'gpt-4o', requests: 3, promptTokens: 3050, completionTokens: 305, cachedPromptTokens: 2100, reasoningTokens: 0 },
      { group: 'o4-mini', requests: 1, promptTokens: 500, completionTokens: 300, cachedPromptTokens: 0, reasoningTokens: 250 },
    ]);
    expect(counts(await ledger.usage({ ...window, groupBy: 'KEY' }))).toEqual([
      { group: '', requests: 1, promptTokens: 50, completionTokens: 5, cachedPromptTokens: 0, reasoningTokens: 0 },
      { group: 'key-a', requests: 2, promptTokens: 1500, completionTokens: 500, cachedPromptTokens: 600, reasoningTokens: 250 },
      { group: 'key-b', requests: 1, promptTokens: 2000, completionTokens: 100, cachedPromptTokens: 1500, reasoningTokens: 0 },
    ]);
    const day = (time: number) => new Date(time).toISOString().slice(0, 10);
    expect(counts(await ledger.usage({ ...window, groupBy: 'DAY' }))).toEqual([
      { group: day(twoDaysAgo), requests: 1, promptTokens: 2000, completionTokens: 100, cachedPromptTokens: 1500, reasoningTokens: 0 },
      { group: day(now), requests: 3, promptTokens: 1550, completionTokens: 505, cachedPromptTokens: 600, reasoningTokens: 250 },
    ]);
    expect(counts(await ledger.usage({ ...window, groupBy: 'MODEL', keyId: 'key-a' }))).toEqual([
      { group: 'gpt-4o', requests: 1, promptTokens: 1000, completionTokens: 200, cachedPromptTokens: 600, reasoningTokens: 0 },
      { group: 'o4-mini', requests: 1, promptTokens: 500, completionTokens: 300, cachedPromptTokens: 0, reasoningTokens: 250 },
    ]);
  });

  it('a checkpoint carries the counts it was told and is priced with them; recovery keeps them; a later final row replaces them', async () => {
    const db = await database(await backend.create());
    const slow = manualLedger(db);
    const op = operation();
    const running = slow.start(op);
    running.progress({ completionTokens: 50 });
    await slow.flush();
    // Not told yet: every prompt token uncached, 1,000 × 2.5 + 50 × 10 = 3,000 µ$.
    let [checkpoint] = await db.db.selectFrom('ledger_checkpoints').selectAll().execute();
    expect(checkpoint).toMatchObject({ cached_prompt_tokens: null, reasoning_tokens: null });
    expect(checkpoint?.cost_usd).toBeCloseTo(0.003, 15);

    running.progress({ completionTokens: 60, cachedPromptTokens: 800, reasoningTokens: 20 });
    running.progress({ completionTokens: 60 });
    await slow.flush();
    [checkpoint] = await db.db.selectFrom('ledger_checkpoints').selectAll().execute();
    expect(checkpoint).toMatchObject({ completion_tokens: 60, cached_prompt_tokens: 800, reasoning_tokens: 20 });
    // 200 × 2.5 + 800 × 1.25 + 60 × 10 = 2,100 µ$.
    expect(checkpoint?.cost_usd).toBeCloseTo(0.0021, 15);

    // The slow instance stops heartbeating; another one takes its operation over.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await manualLedger(db).recover()).toBe(1);
    const interrupted = await rowOf(db, op.requestId);
    expect(interrupted).toMatchObject({ outcome: 'interrupted', completion_tokens: 60, cached_prompt_tokens: 800, reasoning_tokens: 20 });
    expect(interrupted.cost_usd).toBeCloseTo(0.0021, 15);

    running.finish(entry({ requestId: op.requestId, model: 'gpt-4o', promptTokens: 1000, cachedPromptTokens: 900, completionTokens: 70, reasoningTokens: 30, costUsd: 0.002075 }));
    await slow.flush();
    expect(await rowOf(db, op.requestId)).toMatchObject({ id: interrupted.id, outcome: 'completed', cached_prompt_tokens: 900, reasoning_tokens: 30, cost_usd: 0.002075 });
  });

  it('through a gateway: an upstream that reports no details is billed all uncached, recorded as null, and summed in the graph', async () => {
    const url = await backend.create();
    const db = await database(url);
    const fake = await startFakeUpstream();
    open.fakes.push(fake);
    const gw = await startGateway({ OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: fake.url, DATABASE_URL: url });
    open.gateways.push(gw);

    fake.script({ usage: { prompt_tokens: 1200, completion_tokens: 30 } });
    const requestId = `plain-${randomUUID()}`;
    const done = await graphql<{ complete: { usage: { cachedPromptTokens: number | null; reasoningTokens: number | null; cost: number } } }, unknown>(
      gw.httpUrl,
      'mutation ($input: CompletionInput!) { complete(input: $input) { usage { cachedPromptTokens reasoningTokens cost } } }',
      { input: { model: 'gpt-4o-mini', messages: [{ role: 'USER', content: 'Hello' }] } },
      { headers: { 'x-request-id': requestId } },
    );
    expect(done.errors).toBeUndefined();
    // 1,200 × 0.15 + 30 × 0.6 = 198 µ$.
    expect(done.data?.complete.usage).toMatchObject({ cachedPromptTokens: null, reasoningTokens: null });
    expect(done.data?.complete.usage.cost).toBeCloseTo(0.000198, 15);
    await gw.app.ledger.flush();
    const row = await rowOf(db, requestId);
    expect(row).toMatchObject({ prompt_tokens: 1200, completion_tokens: 30, cached_prompt_tokens: null, reasoning_tokens: null });
    expect(row.cost_usd).toBeCloseTo(0.000198, 15);

    // A row of an upstream that did report them, written by another gateway.
    const other = manualLedger(db);
    other.record(entry({ model: 'gpt-4o-mini', promptTokens: 1000, cachedPromptTokens: 700, completionTokens: 50, reasoningTokens: 40 }));
    await other.flush();
    const now = Date.now();
    const sums = await graphql<{ usage: Omit<UsageBucket, 'costUsd'>[] }, unknown>(
      gw.httpUrl,
      'query ($from: String!, $to: String!) { usage(from: $from, to: $to, groupBy: MODEL) { group requests promptTokens completionTokens cachedPromptTokens reasoningTokens } }',
      { from: new Date(now - 60_000).toISOString(), to: new Date(now + 60_000).toISOString() },
    );
    expect(sums.errors).toBeUndefined();
    expect(sums.data?.usage).toEqual([{ group: 'gpt-4o-mini', requests: 2, promptTokens: 2200, completionTokens: 80, cachedPromptTokens: 700, reasoningTokens: 40 }]);
  });
});
