/**
 * Upstreams that send what no model server should (issue #12), through the public surface:
 * a real gateway on port 0 against the fake upstream, real clients. An event with no end, a
 * body over the cap, an HTML page where an event stream was due, an empty stream, a reset
 * connection and a huge error body all end the call with an error, and the gateway stops
 * reading instead of holding what it was sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { collectSse, graphql, subscribeOverWs, useGatewayWithFake } from './helpers.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'gw-hostile-'));
const DATABASE_URL = `file:${join(dir, 'gw.db')}`;

const ctx = useGatewayWithFake({
  UPSTREAM_MAX_EVENT_BYTES: String(MiB),
  UPSTREAM_MAX_BODY_BYTES: String(2 * MiB),
  // Bounds the old behaviour (reading an endless event until the first-chunk timer) in time.
  UPSTREAM_TIMEOUT_MS: '10000',
  DATABASE_URL,
});

let db: Db;
beforeAll(async () => {
  db = await openDatabase(DATABASE_URL);
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const CHAT: CompletionInput = { messages: [{ role: 'USER', content: 'Go' }] };
type Results = ExecutionResult<CompletionStreamSubscription>[];

const streamWs = (input = CHAT): Promise<Results> => subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, { input });
const streamSse = (input = CHAT): Promise<Results> => collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input });
const transports: [string, (input?: CompletionInput) => Promise<Results>][] = [
  ['graphql-ws', streamWs],
  ['SSE', streamSse],
];

/** The stream delivered no chunk and ended with one error with `code`; returns its message. */
function onlyError(results: Results, code = 'UPSTREAM_ERROR'): string {
  expect(results.map((r) => r.data?.completionStream ?? null)).toEqual([null]);
  const error = results[0]?.errors?.[0];
  expect(error?.extensions?.['code']).toBe(code);
  return error?.message ?? '';
}

function memory(): number {
  const m = process.memoryUsage();
  return Math.max(m.rss, m.heapUsed + m.external);
}

async function ledgerOutcomes(): Promise<string[]> {
  await ctx.gw.app.ledger.flush();
  const rows = await db.db.selectFrom('usage_ledger').select(['outcome', 'started_at']).orderBy('started_at').execute();
  return rows.map((r) => r.outcome);
}

describe('an upstream that sends too much', () => {
  it('an event with no end: the stream ends with UPSTREAM_ERROR after the cap, the body is dropped, memory stays flat', async () => {
    ctx.fake.script({ fault: { kind: 'endlessEvent' } });
    const before = memory();
    const started = Date.now();
    const message = onlyError(await streamWs());
    expect(message).toBe('The upstream sent an event over UPSTREAM_MAX_EVENT_BYTES (1048576 bytes)');
    expect(Date.now() - started).toBeLessThan(5000);
    // The gateway destroyed the body: the fake saw its client go while it was still writing.
    expect((await ctx.fake.waitForAbort()).body).toMatchObject({ stream: true });
    // Generous: the cap is 1 MiB; without it the gateway held everything sent until its timer.
    expect(memory() - before).toBeLessThan(48 * MiB);
  });

  it('a non-streamed body over UPSTREAM_MAX_BODY_BYTES: UPSTREAM_ERROR, the upstream connection dropped', async () => {
    ctx.fake.script({ fault: { kind: 'hugeBody', bytes: 16 * MiB } });
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_ERROR');
    expect(result.errors?.[0]?.message).toBe('The upstream sent a body over UPSTREAM_MAX_BODY_BYTES (2097152 bytes)');
    await ctx.fake.waitForAbort();
  });

  it('a non-streamed body under the cap still works', async () => {
    ctx.fake.script({ fault: { kind: 'hugeBody', bytes: MiB } });
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
    expect(result.errors).toBeUndefined();
    expect(result.data?.complete.text).toMatch(/^x{1000000,}$/);
  });

  it('a huge error body: the right code, and only the first 64 KiB of it read', async () => {
    ctx.fake.script({ fault: { kind: 'status', status: 400, body: 'x'.repeat(10 * MiB) } });
    const started = Date.now();
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
    expect(Date.now() - started).toBeLessThan(5000);
    const error = result.errors?.[0];
    expect(error?.extensions?.['code']).toBe('UPSTREAM_REJECTED');
    // Upstream text reaches the client cut to 1,000 characters.
    expect(error?.message.length).toBeGreaterThan(1000);
    expect(error?.message.length).toBeLessThan(1100);
    expect(error?.message).toMatch(/… \(cut\)$/);
  });

  it.each(transports)('endless valid events over %s: UPSTREAM_ERROR once the text passes UPSTREAM_MAX_BODY_BYTES, the upstream aborted', async (_name, subscribe) => {
    ctx.fake.script({ fault: { kind: 'endlessEvents', chunkText: 'y'.repeat(65_536) } });
    const results = await subscribe();
    const last = results.at(-1);
    expect(last?.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_ERROR');
    expect(last?.errors?.[0]?.message).toBe('The upstream sent over UPSTREAM_MAX_BODY_BYTES (2097152) of text in one stream');
    // Everything before the cut was delivered as ordinary chunks.
    expect(results.slice(0, -1).every((r) => r.data?.completionStream.text.startsWith('y'))).toBe(true);
    await ctx.fake.waitForAbort();
  });
});

describe('an upstream that answers a stream with something else', () => {
  it.each(transports)('an HTML page with status 200 over %s: UPSTREAM_ERROR, no chunk, and the ledger row is not completed', async (_name, subscribe) => {
    ctx.fake.script({ fault: { kind: 'html' } });
    const before = (await ledgerOutcomes()).length;
    const message = onlyError(await subscribe());
    expect(message).toBe('The upstream answered a stream request with text/html, not an event stream');
    let outcomes: string[] = [];
    for (let i = 0; i < 50 && outcomes.length <= before; i++) {
      outcomes = await ledgerOutcomes();
      if (outcomes.length <= before) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(outcomes.slice(before)).toEqual(['upstream_error']);
  });

  it.each(transports)('an HTML page labelled text/event-stream over %s: UPSTREAM_ERROR', async (_name, subscribe) => {
    ctx.fake.script({ fault: { kind: 'htmlAsEventStream' } });
    expect(onlyError(await subscribe())).toBe('The upstream ended the stream without sending a single event');
  });

  it.each([
    ['empty', ''],
    ['only a comment', ': keep-alive\n\n'],
  ])('a 200 event stream that is %s: UPSTREAM_ERROR', async (_name, body) => {
    ctx.fake.script({ fault: { kind: 'status', status: 200, body, headers: { 'content-type': 'text/event-stream' } } });
    expect(onlyError(await streamWs())).toBe('The upstream ended the stream without sending a single event');
    expect(onlyError(await streamSse({ prompt: 'Go' }))).toBe('The upstream ended the stream without sending a single event');
  });

  it('still reads a stream whose content-type has parameters', async () => {
    const chunk = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'ab' }, finish_reason: 'stop' }] };
    const body = `data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
    ctx.fake.script({ fault: { kind: 'status', status: 200, body, headers: { 'content-type': 'Text/Event-Stream; charset=utf-8' } } });
    const results = await streamWs();
    expect(results.map((r) => r.errors)).toEqual(results.map(() => undefined));
    expect(results.at(-1)?.data?.completionStream.accumulatedText).toBe('ab');
  });

  it('an HTML page with status 200 on the mutation: UPSTREAM_ERROR', async () => {
    ctx.fake.script({ fault: { kind: 'html' } });
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_ERROR');
  });

  it.each(transports)('a connection reset mid-stream over %s: the chunks sent, then UPSTREAM_ERROR', async (_name, subscribe) => {
    ctx.fake.script({ choices: [['a', 'b', 'c', 'd']], fault: { kind: 'reset', chunks: 2 } });
    const results = await subscribe();
    expect(results.slice(0, -1).map((r) => r.data?.completionStream.text)).toEqual(['a', 'b']);
    expect(results.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_ERROR');
  });
});
