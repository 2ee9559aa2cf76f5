/**
 * The usage ledger, on both databases it supports: SQLite (a temp file) and PostgreSQL
 * (a database created for the run and dropped after it). One row per operation that
 * reached the upstream, with the right fields for every outcome; nothing for refused
 * requests; rows batched in memory and flushed on shutdown (also by a real process on
 * SIGTERM) and before `usage` reads them; `usage` sums that match the rows.
 */
import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { encode, encodeChat } from 'gpt-tokenizer/model/gpt-4o-mini';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import type { UsageLedgerTable } from '../src/accounts/db/schema.js';
import {
  CompleteDocument,
  CompletionStreamDocument,
  UsageDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
  type UsageGroupBy,
} from '../src/generated/operations.js';
import { KeyStore } from '../src/accounts/keys.js';
import { Pricing } from '../src/accounts/pricing.js';
import { postgres, sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually, graphql, startGateway, takeSseEvents, type GraphQLErrorShape, type TestGateway } from './helpers.js';
import { freePort, startMain } from './process.js';

const DAY_MS = 86_400_000;
/** The main gateway's UPSTREAM_IDLE_TIMEOUT_MS: long enough for a client to leave first, short enough to wait for. */
const IDLE_TIMEOUT_MS = 800;
const PRICING = new Pricing();

const CONTENT = 'Tell me a story about a lighthouse keeper.';
const MESSAGES = [{ role: 'USER' as const, content: CONTENT }];
/** The gateway's own prompt count (OpenAI's chat accounting), computed independently. */
const PROMPT_TOKENS = encodeChat([{ role: 'user', content: CONTENT }]).length;
const PIECES = ['Once', ' upon', ' a', ' time', ' there', ' was', ' a', ' lighthouse', '.'];
/** What the gateway counts for a stream cut after its first two chunks (no usage chunk came). */
const TWO_CHUNK_TOKENS = encode('Once upon').length;

function input(extra: Partial<CompletionInput> = {}): CompletionInput {
  return { messages: MESSAGES, maxTokens: 100, ...extra };
}

function cost(model: string, prompt: number, completion: number): number {
  const usd = PRICING.cost(model, prompt, completion);
  if (usd === null) throw new Error(`no price for ${model}`);
  return usd;
}

// ---------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------

// Fresh databases, removed after the file (test/databases.ts).
const BACKENDS = [sqlite, postgres];

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

interface StreamOutcome {
  texts: string[];
  errors: GraphQLErrorShape[];
}

type ChunkResult = { data?: CompletionStreamSubscription | null; errors?: GraphQLErrorShape[] };

/** A subscription over SSE with our own headers; stops (closing the connection) after `stopAfter` chunks if given. */
async function sseStream(url: string, variables: { input: CompletionInput }, headers: Record<string, string>, stopAfter?: number): Promise<StreamOutcome> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query: print(CompletionStreamDocument), variables }),
    signal: controller.signal,
  });
  if (!response.ok || !response.body) throw new Error(`SSE request failed with ${response.status}`);
  const outcome: StreamOutcome = { texts: [], errors: [] };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return outcome;
      buffer += decoder.decode(value, { stream: true });
      const taken = takeSseEvents(buffer);
      buffer = taken.rest;
      for (const { event, data } of taken.events) {
        if (event === 'complete') return outcome;
        if (event !== 'next' || !data) continue;
        const result = JSON.parse(data) as ChunkResult;
        if (result.errors) outcome.errors.push(...result.errors);
        const chunk = result.data?.completionStream;
        if (chunk) outcome.texts.push(chunk.text);
        if (stopAfter !== undefined && outcome.texts.length >= stopAfter) return outcome;
      }
    }
  } finally {
    controller.abort();
  }
}

/** A WebSocket implementation whose upgrade request carries `headers`. */
function webSocketWith(headers: Record<string, string>) {
  return class extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  };
}

// ---------------------------------------------------------------------------
// The real process
// ---------------------------------------------------------------------------


// ---------------------------------------------------------------------------
// Expected usage from the rows
// ---------------------------------------------------------------------------

interface Bucket {
  group: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

function groupOf(row: UsageLedgerTable, groupBy: UsageGroupBy): string {
  if (groupBy === 'MODEL') return row.model;
  if (groupBy === 'KEY') return row.key_id ?? '';
  return new Date(Math.floor(row.started_at / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

function bucketsFrom(rows: UsageLedgerTable[], groupBy: UsageGroupBy, from: number, to: number, keyId?: string): Bucket[] {
  const buckets = new Map<string, Bucket>();
  for (const row of rows) {
    if (row.started_at < from || row.started_at >= to) continue;
    if (keyId !== undefined && row.key_id !== keyId) continue;
    const group = groupOf(row, groupBy);
    const bucket = buckets.get(group) ?? { group, requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
    bucket.requests++;
    bucket.promptTokens += row.prompt_tokens;
    bucket.completionTokens += row.completion_tokens;
    bucket.costUsd += row.cost_usd ?? 0;
    buckets.set(group, bucket);
  }
  return sortBuckets([...buckets.values()]);
}

function sortBuckets(buckets: Bucket[]): Bucket[] {
  return [...buckets].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
}

function expectSameBuckets(actual: Bucket[], expected: Bucket[]): void {
  const sorted = sortBuckets(actual);
  const counts = (b: Bucket) => [b.group, b.requests, b.promptTokens, b.completionTokens];
  expect(sorted.map(counts)).toEqual(expected.map(counts));
  sorted.forEach((bucket, i) => expect(bucket.costUsd).toBeCloseTo(expected[i]?.costUsd ?? NaN, 12));
}

// ---------------------------------------------------------------------------
// The suite, once per database
// ---------------------------------------------------------------------------

describe.each(BACKENDS)('usage ledger on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  let databaseUrl: string;
  let db: Db;
  let fake: FakeUpstream;
  let gw: TestGateway;
  let key: { key: string; id: string };
  let startedAt: number;

  beforeAll(async () => {
    startedAt = Date.now();
    databaseUrl = await backend.create();
    db = await openDatabase(databaseUrl);
    fake = await startFakeUpstream();
    gw = await startGateway({
      OPENAI_API_KEY: 'sk-test-gateway-key',
      OPENAI_BASE_URL: fake.url,
      DATABASE_URL: databaseUrl,
      FALLBACK_MODELS: 'gpt-4o',
      UPSTREAM_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
    });
    const created = await gw.app.keys.create({ name: 'ledger-test' });
    key = { key: created.key, id: created.apiKey.id };
  });

  afterAll(async () => {
    await gw?.stop();
    await fake?.close();
    await db?.close();
  });

  beforeEach(() => fake.reset());

  function auth(requestId: string, k = key.key): Record<string, string> {
    return { authorization: `Bearer ${k}`, 'x-request-id': requestId };
  }

  function newId(label: string): string {
    return `${label}-${randomUUID()}`;
  }

  async function rows(where: { requestId?: string; requestIdPrefix?: string; keyId?: string }): Promise<UsageLedgerTable[]> {
    let query = db.db.selectFrom('usage_ledger').selectAll();
    if (where.requestId !== undefined) query = query.where('request_id', '=', where.requestId);
    if (where.requestIdPrefix !== undefined) query = query.where('request_id', 'like', `${where.requestIdPrefix}%`);
    if (where.keyId !== undefined) query = query.where('key_id', '=', where.keyId);
    return query.execute();
  }

  /** Flushes the gateway's buffer and returns the one row of `requestId`, waiting for the operation to end. */
  async function oneRow(requestId: string, prefix = false): Promise<UsageLedgerTable> {
    let found: UsageLedgerTable[] = [];
    const deadline = Date.now() + 3000;
    for (;;) {
      await gw.app.ledger.flush();
      found = await rows(prefix ? { requestIdPrefix: requestId } : { requestId });
      if (found.length > 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(found, `rows for ${requestId}`).toHaveLength(1);
    const [row] = found;
    if (!row) throw new Error('unreachable');
    return row;
  }

  function expectTimes(row: UsageLedgerTable, before: number, after: number): void {
    expect(row.started_at).toBeGreaterThanOrEqual(before);
    expect(row.started_at).toBeLessThanOrEqual(row.finished_at);
    expect(row.finished_at).toBeLessThanOrEqual(after);
    expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    // duration is measured on the monotonic clock, the two times on the wall clock.
    expect(Math.abs(row.duration_ms - (row.finished_at - row.started_at))).toBeLessThanOrEqual(20);
  }

  describe('one row per operation that reached the upstream', () => {
    it('completed mutation: key, request id, operation, models, the upstream’s usage, cost, times', async () => {
      fake.script({ usage: { prompt_tokens: 11, completion_tokens: 22 } });
      const id = newId('mutation');
      const before = Date.now();
      const result = await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(id) });
      const after = Date.now();
      expect(result.errors).toBeUndefined();
      const row = await oneRow(id);
      expect(row).toMatchObject({
        key_id: key.id,
        request_id: id,
        operation: 'complete',
        model_requested: 'gpt-4o-mini',
        model: 'gpt-4o-mini',
        prompt_tokens: 11,
        completion_tokens: 22,
        outcome: 'completed',
        time_to_first_chunk_ms: null,
      });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', 11, 22), 15);
      expect(row.cost_usd).toBeCloseTo(result.data?.complete.usage.cost ?? NaN, 15);
      expectTimes(row, before, after);
    });

    it('completed stream: the same, plus the time to the first chunk', async () => {
      fake.script({ choices: [PIECES], usage: { prompt_tokens: 13, completion_tokens: 9 }, chunkDelayMs: 10 });
      const id = newId('stream');
      const before = Date.now();
      const outcome = await sseStream(gw.httpUrl, { input: input() }, auth(id));
      const after = Date.now();
      expect(outcome.errors).toEqual([]);
      expect(outcome.texts.join('')).toBe(PIECES.join(''));
      const row = await oneRow(id);
      expect(row).toMatchObject({
        key_id: key.id,
        request_id: id,
        operation: 'completionStream',
        model_requested: 'gpt-4o-mini',
        model: 'gpt-4o-mini',
        prompt_tokens: 13,
        completion_tokens: 9,
        outcome: 'completed',
      });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', 13, 9), 15);
      expect(row.time_to_first_chunk_ms).not.toBeNull();
      expect(row.time_to_first_chunk_ms).toBeGreaterThanOrEqual(0);
      // The rest of the chunks came at least 10 ms apart after the first one.
      expect(row.time_to_first_chunk_ms).toBeLessThanOrEqual(row.duration_ms - 50);
      expectTimes(row, before, after);
    });

    it('after a fallback: the model that served, priced at its own price, in one row', async () => {
      fake.script({ fault: { kind: 'serverError' }, faultTimes: 1, usage: { prompt_tokens: 5, completion_tokens: 6 } });
      const id = newId('fallback');
      const result = await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(id) });
      expect(result.errors).toBeUndefined();
      expect(fake.requests.map((r) => r.body?.['model'])).toEqual(['gpt-4o-mini', 'gpt-4o']);
      const row = await oneRow(id);
      expect(row).toMatchObject({ model_requested: 'gpt-4o-mini', model: 'gpt-4o', prompt_tokens: 5, completion_tokens: 6, outcome: 'completed' });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o', 5, 6), 15);
    });

    it('length: a completion cut by maxTokens, mutation and stream', async () => {
      fake.script({ finishReason: 'length', usage: { prompt_tokens: 8, completion_tokens: 3 } });
      const mutationId = newId('length-mutation');
      const result = await graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 3 }) }, { headers: auth(mutationId) });
      expect(result.data?.complete.choices[0]?.finishReason).toBe('LENGTH');
      expect(await oneRow(mutationId)).toMatchObject({ outcome: 'length', prompt_tokens: 8, completion_tokens: 3 });

      const streamId = newId('length-stream');
      const outcome = await sseStream(gw.httpUrl, { input: input({ maxTokens: 3 }) }, auth(streamId));
      expect(outcome.errors).toEqual([]);
      expect(await oneRow(streamId)).toMatchObject({ outcome: 'length', operation: 'completionStream', prompt_tokens: 8, completion_tokens: 3 });
    });

    it('cancelled: a graphql-ws client leaving after 2 chunks is billed for the prompt and those 2 chunks, as the gateway counts them', async () => {
      fake.script({ choices: [PIECES], fault: { kind: 'stallAfter', chunks: 2 } });
      const id = newId('cancelled');
      const client = createClient({
        url: gw.wsUrl,
        webSocketImpl: webSocketWith({ 'x-request-id': id }),
        retryAttempts: 0,
        lazy: true,
        connectionParams: { authorization: `Bearer ${key.key}` },
      });
      const before = Date.now();
      try {
        const subscription = client.iterate<CompletionStreamSubscription>({
          query: print(CompletionStreamDocument),
          variables: { input: input() },
        });
        const texts: string[] = [];
        for (let i = 0; i < 2; i++) {
          const next = await subscription.next();
          if (next.done) throw new Error('the stream ended early');
          texts.push(next.value.data?.completionStream.text ?? '');
        }
        expect(texts).toEqual(['Once', ' upon']);
        await subscription.return?.(undefined);
        await fake.waitForAbort();
      } finally {
        await client.dispose();
      }
      // Over graphql-ws, operations share the upgrade's x-request-id, told apart by operation id.
      const row = await oneRow(`${id}:`, true);
      expect(row.request_id).toMatch(new RegExp(`^${id}:.+`));
      expect(row).toMatchObject({
        key_id: key.id,
        operation: 'completionStream',
        model: 'gpt-4o-mini',
        outcome: 'cancelled',
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: TWO_CHUNK_TOKENS,
      });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', PROMPT_TOKENS, TWO_CHUNK_TOKENS), 15);
      expect(row.time_to_first_chunk_ms).not.toBeNull();
      expectTimes(row, before, Date.now());
    });

    it('upstream_error: a stream whose upstream dies after 2 chunks is billed for what it produced', async () => {
      fake.script({ choices: [PIECES], fault: { kind: 'dieAfter', chunks: 2 } });
      const id = newId('died');
      const outcome = await sseStream(gw.httpUrl, { input: input() }, auth(id));
      expect(outcome.texts).toEqual(['Once', ' upon']);
      expect(outcome.errors.map((e) => e.extensions?.code)).toEqual(['UPSTREAM_ERROR']);
      const row = await oneRow(id);
      expect(row).toMatchObject({
        outcome: 'upstream_error',
        operation: 'completionStream',
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: TWO_CHUNK_TOKENS,
      });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', PROMPT_TOKENS, TWO_CHUNK_TOKENS), 15);
      expect(row.time_to_first_chunk_ms).not.toBeNull();
    });

    it('timeout: a stream whose upstream goes silent after 2 chunks (UPSTREAM_IDLE_TIMEOUT_MS) is billed for what it produced', async () => {
      fake.script({ choices: [PIECES], fault: { kind: 'stallAfter', chunks: 2 } });
      const id = newId('timeout');
      const outcome = await sseStream(gw.httpUrl, { input: input() }, auth(id));
      expect(outcome.texts).toEqual(['Once', ' upon']);
      expect(outcome.errors.map((e) => e.extensions?.code)).toEqual(['UPSTREAM_TIMEOUT']);
      const row = await oneRow(id);
      expect(row).toMatchObject({
        outcome: 'timeout',
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: TWO_CHUNK_TOKENS,
      });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', PROMPT_TOKENS, TWO_CHUNK_TOKENS), 15);
      expect(row.duration_ms).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS);
    });

    it('cancelled mutation: billed for the prompt once the upstream had answered, for nothing before', async () => {
      for (const fault of [{ kind: 'hangAfterHeaders' }, { kind: 'hang' }] as const) {
        fake.reset();
        fake.script({ fault });
        const id = newId(`cancelled-${fault.kind}`);
        const controller = new AbortController();
        const pending = graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(id), signal: controller.signal });
        await fake.waitForRequests(1);
        // Give the SDK a moment to see the headers.
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.abort();
        await expect(pending).rejects.toThrow();
        await fake.waitForAbort();
        const row = await oneRow(id);
        const prompt = fault.kind === 'hang' ? 0 : PROMPT_TOKENS;
        expect(row, fault.kind).toMatchObject({ outcome: 'cancelled', operation: 'complete', prompt_tokens: prompt, completion_tokens: 0 });
        if (prompt > 0) expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', prompt, 0), 15);
      }
    });

    it('records the model as the upstream reported it (a dated snapshot), priced as its family', async () => {
      fake.script({ model: 'gpt-4o-mini-2024-07-18', usage: { prompt_tokens: 10, completion_tokens: 10 } });
      const id = newId('snapshot');
      expect((await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(id) })).errors).toBeUndefined();
      const row = await oneRow(id);
      expect(row).toMatchObject({ model_requested: 'gpt-4o-mini', model: 'gpt-4o-mini-2024-07-18' });
      expect(row.cost_usd).toBeCloseTo(cost('gpt-4o-mini', 10, 10), 15);
    });

    it('upstream_error with no tokens: a request the upstream refused before answering', async () => {
      fake.script({ fault: { kind: 'forbidden' } });
      const id = newId('refused-upstream');
      const result = await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(id) });
      expect(result.errors?.[0]?.extensions?.code).toBe('UPSTREAM_AUTH_FAILED');
      const row = await oneRow(id);
      expect(row).toMatchObject({ outcome: 'upstream_error', prompt_tokens: 0, completion_tokens: 0 });
      expect(row.cost_usd ?? 0).toBe(0);
    });

    it('no row for requests refused before the upstream: BAD_USER_INPUT, RATE_LIMITED, QUOTA_EXCEEDED', async () => {
      const tight = await gw.app.keys.create({ name: 'tight', limits: { tpm: 10 } });
      const broke = await gw.app.keys.create({ name: 'broke', limits: { dailyBudgetUsd: 0 } });
      const cases = [
        { id: newId('bad-input'), key: key.key, request: input({ temperature: 5 }), code: 'BAD_USER_INPUT' },
        { id: newId('rate-limited'), key: tight.key, request: input(), code: 'RATE_LIMITED' },
        { id: newId('quota'), key: broke.key, request: input(), code: 'QUOTA_EXCEEDED' },
      ];
      for (const c of cases) {
        const result = await graphql(gw.httpUrl, CompleteDocument, { input: c.request }, { headers: auth(c.id, c.key) });
        expect(result.errors?.[0]?.extensions?.code).toBe(c.code);
      }
      // A stream refused by its key's limits leaves no row either.
      const streamId = newId('rate-limited-stream');
      const outcome = await sseStream(gw.httpUrl, { input: input() }, auth(streamId, tight.key));
      expect(outcome.errors.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);

      expect(fake.requests).toHaveLength(0);
      await gw.app.ledger.flush();
      for (const id of [...cases.map((c) => c.id), streamId]) expect(await rows({ requestId: id }), id).toEqual([]);
      expect(await rows({ keyId: tight.apiKey.id })).toEqual([]);
      expect(await rows({ keyId: broke.apiKey.id })).toEqual([]);
    });
  });

  describe('batching', () => {
    it('keeps rows in memory between flushes, writes them before `usage` reads and on shutdown', async () => {
      const batched = await startGateway({
        OPENAI_API_KEY: 'sk-test-gateway-key',
        OPENAI_BASE_URL: fake.url,
        DATABASE_URL: databaseUrl,
        LEDGER_FLUSH_MS: '60000',
        SHUTDOWN_GRACE_MS: '100',
      });
      try {
        const own = await batched.app.keys.create({ name: 'batched' });
        fake.script({ usage: { prompt_tokens: 4, completion_tokens: 2 } });
        const first = newId('batched-1');
        expect((await graphql(batched.httpUrl, CompleteDocument, { input: input() }, { headers: auth(first, own.key) })).errors).toBeUndefined();
        expect(batched.app.ledger.pending).toBe(1);
        expect(await rows({ requestId: first })).toEqual([]);

        // `usage` flushes first, so it sees the row that was only in memory.
        const usage = await graphql(
          batched.httpUrl,
          UsageDocument,
          { from: new Date(Date.now() - DAY_MS).toISOString(), to: new Date(Date.now() + DAY_MS).toISOString(), groupBy: 'KEY' },
          { headers: { authorization: `Bearer ${own.key}` } },
        );
        expect(usage.errors).toBeUndefined();
        expect(usage.data?.usage).toEqual([{ group: own.apiKey.id, requests: 1, promptTokens: 4, completionTokens: 2, costUsd: expect.closeTo(cost('gpt-4o-mini', 4, 2), 15) as number }]);
        expect(await rows({ requestId: first })).toHaveLength(1);

        const second = newId('batched-2');
        expect((await graphql(batched.httpUrl, CompleteDocument, { input: input() }, { headers: auth(second, own.key) })).errors).toBeUndefined();
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await rows({ requestId: second })).toEqual([]);
        // A stream still running when the gateway stops is cut (outcome shutdown), billed, and written.
        fake.script({ choices: [PIECES], fault: { kind: 'stallAfter', chunks: 2 } });
        const third = newId('batched-shutdown');
        const stream = sseStream(batched.httpUrl, { input: input() }, auth(third, own.key));
        await fake.waitForRequests(3);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await batched.stop();
        const cut = await stream;
        expect(cut.texts).toEqual(['Once', ' upon']);
        expect(cut.errors.map((e) => e.extensions?.code)).toEqual(['SHUTTING_DOWN']);
        expect(await rows({ requestId: second })).toHaveLength(1);
        expect(await rows({ requestId: third })).toMatchObject([
          { outcome: 'shutdown', prompt_tokens: PROMPT_TOKENS, completion_tokens: TWO_CHUNK_TOKENS },
        ]);
        expect(await rows({ keyId: own.apiKey.id })).toHaveLength(3);
      } finally {
        await batched.stop();
      }
    });

    it('loses no row when a real process gets SIGTERM', async () => {
      const N = 6;
      const keys = new KeyStore(db);
      const created = await keys.create({ name: 'sigterm' });
      const port = await freePort();
      const run = startMain({
        PORT: String(port),
        HOST: '127.0.0.1',
        OPENAI_API_KEY: 'sk-test-gateway-key',
        OPENAI_BASE_URL: fake.url,
        UPSTREAM_MAX_RETRIES: '0',
        DATABASE_URL: databaseUrl,
        LEDGER_FLUSH_MS: '60000',
      });
      await eventually(
        () => run.stdout.includes('gateway listening') || run.child.exitCode !== null,
        'the process to listen',
        40_000,
      );
      expect(run.child.exitCode, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBeNull();

      fake.script({ usage: { prompt_tokens: 3, completion_tokens: 4 } });
      const url = `http://127.0.0.1:${port}/graphql`;
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          graphql(url, CompleteDocument, { input: input() }, { headers: auth(`sigterm-${i}-${created.apiKey.id}`, created.key) }),
        ),
      );
      for (const result of results) expect(result.errors).toBeUndefined();
      // Batched: nothing written yet.
      expect(await rows({ keyId: created.apiKey.id })).toEqual([]);

      run.child.kill('SIGTERM');
      expect(await run.exit, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
      const written = await rows({ keyId: created.apiKey.id });
      expect(written).toHaveLength(N);
      for (const row of written) expect(row).toMatchObject({ outcome: 'completed', prompt_tokens: 3, completion_tokens: 4 });
      expect(new Set(written.map((r) => r.request_id))).toEqual(new Set(Array.from({ length: N }, (_, i) => `sigterm-${i}-${created.apiKey.id}`)));
    }, 60_000);
  });

  describe('budgets read the ledger', () => {
    it('seeds a key’s spend today from its rows (not older days), so a fresh gateway enforces the daily budget', async () => {
      const spent = await gw.app.keys.create({ name: 'spent', limits: { dailyBudgetUsd: 5 } });
      const fresh = await gw.app.keys.create({ name: 'fresh', limits: { dailyBudgetUsd: 5 } });
      const now = Date.now();
      const row = (keyId: string, startedAt: number, usd: number): UsageLedgerTable => ({
        id: randomUUID(),
        key_id: keyId,
        request_id: newId('seed'),
        operation: 'complete',
        model_requested: 'gpt-4o-mini',
        model: 'gpt-4o-mini',
        prompt_tokens: 1,
        completion_tokens: 1,
        cost_usd: usd,
        outcome: 'completed',
        time_to_first_chunk_ms: null,
        duration_ms: 1,
        started_at: startedAt,
        finished_at: startedAt + 1,
      });
      await db.db
        .insertInto('usage_ledger')
        .values([row(spent.apiKey.id, now, 4.99999), row(fresh.apiKey.id, now - 2 * DAY_MS, 100)])
        .execute();

      // $4.99999 already spent today + this request's reservation (~$0.00006 at gpt-4o-mini's price) > $5.
      const refused = await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(newId('seeded'), spent.key) });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', budget: 'daily', budgetUsd: 5 });
      expect(refused.errors?.[0]?.extensions?.['spentUsd']).toBeCloseTo(4.99999, 10);
      const admitted = await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(newId('seeded'), fresh.key) });
      expect(admitted.errors).toBeUndefined();
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe('usage', () => {
    it('sums by MODEL, DAY and KEY match the rows, for an admin (every key) and a key (its own)', async () => {
      // Rows the tests above did not make: another day, another model, no key, no price.
      const now = Date.now();
      const synthetic = (offsetDays: number, over: Partial<UsageLedgerTable>): UsageLedgerTable => ({
        id: randomUUID(),
        key_id: null,
        request_id: newId('synthetic'),
        operation: 'complete',
        model_requested: 'my-model',
        model: 'my-model',
        prompt_tokens: 100,
        completion_tokens: 50,
        cost_usd: null,
        outcome: 'completed',
        time_to_first_chunk_ms: null,
        duration_ms: 10,
        started_at: now - offsetDays * DAY_MS,
        finished_at: now - offsetDays * DAY_MS + 10,
        ...over,
      });
      await db.db
        .insertInto('usage_ledger')
        .values([
          synthetic(3, {}),
          synthetic(1, { key_id: key.id, model_requested: 'gpt-4o', model: 'gpt-4o', prompt_tokens: 1000, completion_tokens: 2000, cost_usd: cost('gpt-4o', 1000, 2000) }),
          synthetic(40, { key_id: key.id, model: 'gpt-4o-mini', cost_usd: 1 }),
        ])
        .execute();
      // Some rows of this very gateway only in memory: usage must see them too.
      fake.script({ usage: { prompt_tokens: 2, completion_tokens: 1 } });
      expect((await graphql(gw.httpUrl, CompleteDocument, { input: input() }, { headers: auth(newId('usage')) })).errors).toBeUndefined();

      const admin = await gw.app.keys.create({ name: 'admin', admin: true });
      const ranges = [
        { from: now - 10 * DAY_MS, to: now + DAY_MS },
        { from: now - 2 * DAY_MS, to: now + DAY_MS },
        { from: startedAt - 1000, to: now + DAY_MS },
      ];
      for (const range of ranges) {
        for (const groupBy of ['MODEL', 'DAY', 'KEY'] as const) {
          const variables = { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), groupBy };
          const asAdmin = await graphql(gw.httpUrl, UsageDocument, variables, { headers: { authorization: `Bearer ${admin.key}` } });
          const asKey = await graphql(gw.httpUrl, UsageDocument, variables, { headers: { authorization: `Bearer ${key.key}` } });
          expect(asAdmin.errors).toBeUndefined();
          expect(asKey.errors).toBeUndefined();
          // Read after the queries: they flushed the gateway's buffer.
          const all = await rows({});
          const label = `${groupBy} from ${variables.from}`;
          const expectedAll = bucketsFrom(all, groupBy, range.from, range.to);
          expect(expectedAll.length, label).toBeGreaterThan(0);
          expectSameBuckets(asAdmin.data?.usage ?? [], expectedAll);
          expectSameBuckets(asKey.data?.usage ?? [], bucketsFrom(all, groupBy, range.from, range.to, key.id));
        }
      }
      // The widest range sees several days, models and keys (the keyless row as '').
      const wide = { from: new Date(now - 10 * DAY_MS).toISOString(), to: new Date(now + DAY_MS).toISOString() };
      const byDay = await graphql(gw.httpUrl, UsageDocument, { ...wide, groupBy: 'DAY' }, { headers: { authorization: `Bearer ${admin.key}` } });
      expect(byDay.data?.usage.length).toBeGreaterThanOrEqual(3);
      const byKey = await graphql(gw.httpUrl, UsageDocument, { ...wide, groupBy: 'KEY' }, { headers: { authorization: `Bearer ${admin.key}` } });
      expect(byKey.data?.usage.map((b) => b.group)).toContain('');
      // An admin can ask for one key.
      const oneKey = await graphql(gw.httpUrl, UsageDocument, { ...wide, groupBy: 'MODEL', keyId: key.id }, { headers: { authorization: `Bearer ${admin.key}` } });
      expectSameBuckets(oneKey.data?.usage ?? [], bucketsFrom(await rows({}), 'MODEL', now - 10 * DAY_MS, now + DAY_MS, key.id));
    });
  });
});
