/**
 * What an operator sees: Prometheus metrics at /metrics (asserted as before/after deltas),
 * one JSON log line per operation with its request id and counts (and no key or prompt
 * text unless LOG_PROMPTS=true), and OpenTelemetry spans exported over OTLP/HTTP.
 *
 * Tracing installs a global tracer provider: its tests come last, each starts its own
 * gateway and stops it (which shuts the provider down) before the test ends. The exporter
 * (@opentelemetry/exporter-trace-otlp-http 0.223) posts `application/json`, ids as hex.
 */
import { randomUUID } from 'node:crypto';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { print, type ExecutionResult } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { collectWs, eventually, graphql, startGateway, useGatewayWithFake, wsClient, type TestGateway, subscribeOverWs } from './helpers.js';

const SECRET = 'sk-observability-DISTINCTIVE-7c1e9a';
const PHRASE = 'periwinkle walrus plays the oboe at midnight';
const ANSWER_WORD = 'zanzibarquux';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ctx = useGatewayWithFake({
  OPENAI_API_KEY: SECRET,
  UPSTREAM_TIMEOUT_MS: '60000',
  UPSTREAM_IDLE_TIMEOUT_MS: '60000',
});

const ask = (content: string, extra: Partial<CompletionInput> = {}): { input: CompletionInput } => ({
  input: { messages: [{ role: 'USER', content }], ...extra },
});

// ---------------------------------------------------------------------------
// A tiny Prometheus text-format reader
// ---------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const [, name = '', rawLabels = '', rawValue = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key = '', value = ''] of rawLabels.matchAll(LABEL)) {
      labels[key] = value.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The sum of every series of `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(): Promise<Sample[]> {
  const response = await fetch(`${ctx.gw.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseMetrics(await response.text());
}

async function eventuallyAsync(predicate: () => Promise<boolean>, message: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---------------------------------------------------------------------------
// Log lines
// ---------------------------------------------------------------------------

type LogLine = Record<string, unknown>;

function parsedLogs(gw: TestGateway): LogLine[] {
  return gw.logs.map((line) => JSON.parse(line) as LogLine);
}

function finishedLines(gw: TestGateway): LogLine[] {
  return parsedLogs(gw).filter((l) => l['msg'] === 'completion finished');
}

/** A mutation over HTTP, with the response headers. */
async function completeOverHttp(
  gw: TestGateway,
  content: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; requestId: string | null; body: ExecutionResult }> {
  const response = await fetch(gw.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: print(CompleteDocument), variables: ask(content), operationName: 'Complete' }),
  });
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id'),
    body: (await response.json()) as ExecutionResult,
  };
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

describe('GET /metrics', () => {
  it('counts operations, errors, upstream calls, chunks, tokens, sockets and client aborts', async () => {
    const before = await scrape();
    const delta = (after: Sample[], name: string, labels: Record<string, string> = {}): number =>
      total(after, name, labels) - total(before, name, labels);

    // Two successful mutations with known usage.
    ctx.fake.script({ usage: { prompt_tokens: 17, completion_tokens: 4 } });
    for (let i = 0; i < 2; i++) {
      const { errors, data } = await graphql(ctx.gw.httpUrl, CompleteDocument, ask('Count me'));
      expect(errors).toBeUndefined();
      expect(data?.complete.usage).toMatchObject({ promptTokens: 17, completionTokens: 4, totalTokens: 21 });
    }

    // One streamed subscription of three pieces.
    ctx.fake.script({ choices: [['a', 'b', 'c']], usage: { prompt_tokens: 11, completion_tokens: 3 } });
    const streamed = await subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, ask('Stream me'));
    expect(streamed.every((r) => r.errors === undefined)).toBe(true);
    expect(streamed.at(-1)?.data?.completionStream.usage).toMatchObject({ promptTokens: 11, completionTokens: 3, totalTokens: 14 });

    // One upstream 429 (no SDK retries in tests) and one BAD_USER_INPUT.
    ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 } });
    const limited = await graphql(ctx.gw.httpUrl, CompleteDocument, ask('Rate limit me'));
    expect(limited.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const bad = await graphql(ctx.gw.httpUrl, CompleteDocument, ask('Refuse me', { maxTokens: 0 }));
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(ctx.fake.requests).toHaveLength(4); // the bad input never reached the upstream

    // One stream the client leaves after its first chunk, on a socket watched while open.
    await eventuallyAsync(
      async () => total(await scrape(), 'gateway_active_websockets') === total(before, 'gateway_active_websockets'),
      'the stream socket to be closed',
    );
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const cancelClient = createClient({ url: ctx.gw.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const subscription = cancelClient.iterate<CompletionStreamSubscription>({
        query: print(CompletionStreamDocument).replace('subscription CompletionStream', 'subscription CancelledStream'),
        operationName: 'CancelledStream',
        variables: ask('Leave me'),
      });
      const first = await subscription.next();
      expect(first.done).toBe(false);
      const open = await scrape();
      expect(delta(open, 'gateway_active_websockets')).toBe(1);
      expect(delta(open, 'gateway_active_subscriptions')).toBe(1);
      await subscription.return?.(undefined);
      await ctx.fake.waitForAbort();
    } finally {
      await cancelClient.dispose();
    }
    await eventuallyAsync(async () => {
      const now = await scrape();
      return delta(now, 'gateway_active_websockets') === 0 && delta(now, 'gateway_client_aborts_total') >= 1;
    }, 'the socket to close and the abort to be counted');

    const after = await scrape();
    const ops = (operation: string, outcome: string): number => delta(after, 'gateway_operations_total', { operation, outcome });
    expect(ops('Complete', 'ok')).toBe(2);
    expect(delta(after, 'gateway_operations_total', { operation: 'Complete', type: 'mutation', outcome: 'ok' })).toBe(2);
    expect(ops('Complete', 'RATE_LIMITED')).toBe(1);
    expect(ops('Complete', 'BAD_USER_INPUT')).toBe(1);
    expect(delta(after, 'gateway_operations_total', { operation: 'CompletionStream', type: 'subscription', outcome: 'ok' })).toBe(1);
    expect(delta(after, 'gateway_operations_total', { operation: 'CancelledStream', type: 'subscription' })).toBe(1);

    expect(delta(after, 'gateway_errors_total', { code: 'RATE_LIMITED' })).toBe(1);
    expect(delta(after, 'gateway_errors_total', { code: 'BAD_USER_INPUT' })).toBe(1);
    expect(delta(after, 'gateway_errors_total')).toBe(2);

    // Five upstream calls: two mutations and the stream succeeded; the 429 and the cancelled stream did not.
    expect(delta(after, 'gateway_upstream_duration_seconds_count')).toBe(5);
    expect(delta(after, 'gateway_upstream_duration_seconds_count', { outcome: 'ok' })).toBe(3);
    expect(delta(after, 'gateway_upstream_duration_seconds_count', { outcome: 'error' })).toBe(2);
    expect(delta(after, 'gateway_upstream_duration_seconds_sum')).toBeGreaterThan(0);

    expect(delta(after, 'gateway_time_to_first_chunk_seconds_count')).toBeGreaterThanOrEqual(1);
    // Every payload the clients got: the whole stream, and the cancelled stream's one chunk.
    expect(delta(after, 'gateway_stream_chunks_total')).toBe(streamed.length + 1);
    // The scripted usage of the three answers, plus what the cancelled stream consumed before
    // the client left: its prompt by OpenAI's chat accounting and its one chunk ("Hello"),
    // counted by the gateway since no usage chunk came.
    const cancelledPrompt = 3 + 3 + encode('user').length + encode('Leave me').length;
    const cancelledCompletion = encode('Hello').length;
    expect(delta(after, 'gateway_tokens_total', { kind: 'prompt' })).toBe(2 * 17 + 11 + cancelledPrompt);
    expect(delta(after, 'gateway_tokens_total', { kind: 'completion' })).toBe(2 * 4 + 3 + cancelledCompletion);
    expect(delta(after, 'gateway_tokens_total', { model: 'gpt-4o-mini', kind: 'prompt' })).toBe(2 * 17 + 11 + cancelledPrompt);

    expect(delta(after, 'gateway_active_subscriptions')).toBe(0);
    expect(delta(after, 'gateway_active_websockets')).toBe(0);
    expect(delta(after, 'gateway_client_aborts_total', { type: 'subscription' })).toBeGreaterThanOrEqual(1);
    // Default process metrics come along too.
    expect(after.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  });

  it('counts a stream that fails midway under its error code, once', async () => {
    const before = await scrape();
    ctx.fake.script({ choices: [['a', 'b', 'c']], fault: { kind: 'errorAfter', chunks: 1 } });
    const results = await subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, ask('Fail midway'));
    expect(results.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_ERROR');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}): number => total(after, name, labels) - total(before, name, labels);
    expect(delta('gateway_operations_total', { operation: 'CompletionStream', type: 'subscription', outcome: 'UPSTREAM_ERROR' })).toBe(1);
    expect(delta('gateway_operations_total')).toBe(1);
    expect(delta('gateway_errors_total', { code: 'UPSTREAM_ERROR' })).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

describe('logs', () => {
  it('echoes a sane client x-request-id and puts it in the operation’s log line', async () => {
    const { status, requestId } = await completeOverHttp(ctx.gw, 'Trace me', { 'x-request-id': 'my-trace-123' });
    expect(status).toBe(200);
    expect(requestId).toBe('my-trace-123');
    const line = finishedLines(ctx.gw).find((l) => l['requestId'] === 'my-trace-123');
    expect(line).toMatchObject({ operation: 'Complete', type: 'mutation', outcome: 'ok' });
  });

  it.each([
    ['300 characters', 'x'.repeat(300)],
    ['spaces', 'my trace id'],
  ])('replaces an x-request-id with %s by a UUID', async (_what, offered) => {
    const { status, requestId } = await completeOverHttp(ctx.gw, 'Trace me', { 'x-request-id': offered });
    expect(status).toBe(200);
    expect(requestId).toMatch(UUID);
    const line = finishedLines(ctx.gw).find((l) => l['requestId'] === requestId);
    expect(line).toMatchObject({ operation: 'Complete', outcome: 'ok' });
    expect(ctx.gw.logs.some((l) => l.includes(offered))).toBe(false);
  });

  it('gives a new UUID to a request without x-request-id', async () => {
    const first = await completeOverHttp(ctx.gw, 'Trace me');
    const second = await completeOverHttp(ctx.gw, 'Trace me');
    expect(first.requestId).toMatch(UUID);
    expect(second.requestId).toMatch(UUID);
    expect(first.requestId).not.toBe(second.requestId);
  });

  it('derives graphql-ws request ids from the upgrade’s x-request-id and the operation id', async () => {
    class TracedWebSocket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols, { headers: { 'x-request-id': 'ws-trace-42' } });
      }
    }
    const client = createClient({ url: ctx.gw.wsUrl, webSocketImpl: TracedWebSocket, retryAttempts: 0, generateID: () => 'op-1' });
    try {
      await collectWs(client, CompletionStreamDocument, ask('Trace my stream'));
    } finally {
      await client.dispose();
    }
    const line = finishedLines(ctx.gw).find((l) => l['requestId'] === 'ws-trace-42:op-1');
    expect(line).toMatchObject({ type: 'subscription', outcome: 'ok' });
    expect(typeof line?.['timeToFirstChunkMs']).toBe('number');
  });

  it('names the operation in its log line, as the metrics do, when the client sends no operationName', async () => {
    // Neither helper sends `operationName` (nor do curl users, or graphql-ws clients by default):
    // the name is in the document, and gateway_operations_total{operation="Complete"} finds it there.
    const before = finishedLines(ctx.gw).length;
    expect((await graphql(ctx.gw.httpUrl, CompleteDocument, ask('Name me'))).errors).toBeUndefined();
    await subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, ask('Name my stream'));
    const lines = finishedLines(ctx.gw).slice(before);
    expect(lines.map((l) => [l['type'], l['operation']])).toEqual([
      ['mutation', 'Complete'],
      ['subscription', 'CompletionStream'],
    ]);
  });

  it('never logs the key, the prompt or the answer by default, even when the upstream echoes the key', async () => {
    ctx.fake.script({ choices: [[ANSWER_WORD, ' indeed']] });
    expect((await completeOverHttp(ctx.gw, PHRASE)).body.errors).toBeUndefined();
    const streamClient = wsClient(ctx.gw.wsUrl);
    try {
      await collectWs(streamClient, CompletionStreamDocument, ask(PHRASE));
    } finally {
      await streamClient.dispose();
    }
    // A 401 whose message quotes the whole key: it is logged as a failed call, redacted.
    ctx.fake.script({ fault: { kind: 'unauthorized' } });
    const refused = await completeOverHttp(ctx.gw, PHRASE);
    expect(refused.body.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_AUTH_FAILED');
    expect(ctx.fake.requests.every((r) => r.headers['authorization'] === `Bearer ${SECRET}`)).toBe(true);

    const lines = parsedLogs(ctx.gw);
    expect(lines.some((l) => l['msg'] === 'upstream call failed' && l['code'] === 'UPSTREAM_AUTH_FAILED')).toBe(true);
    for (const raw of ctx.gw.logs) {
      expect(raw).not.toContain(SECRET);
      expect(raw).not.toContain(PHRASE);
      expect(raw).not.toContain(ANSWER_WORD);
    }
    for (const line of finishedLines(ctx.gw)) {
      expect(line).not.toHaveProperty('prompt');
      expect(line).not.toHaveProperty('text');
    }
  });

  it('writes only JSON lines, with the operation’s fields on each "completion finished" line', () => {
    // Every line of every test so far in this file (gw.logs holds them all).
    expect(ctx.gw.logs.length).toBeGreaterThan(0);
    for (const raw of ctx.gw.logs) expect(() => JSON.parse(raw) as unknown, raw).not.toThrow();
    const finished = finishedLines(ctx.gw);
    expect(finished.length).toBeGreaterThanOrEqual(10);
    for (const line of finished) {
      const types = (keys: string[]): Record<string, string> => Object.fromEntries(keys.map((k) => [k, typeof line[k]]));
      const context = JSON.stringify(line);
      expect(types(['requestId', 'type', 'model', 'outcome', 'durationMs']), context).toEqual({
        requestId: 'string',
        type: 'string',
        model: 'string',
        outcome: 'string',
        durationMs: 'number',
      });
      expect(['mutation', 'subscription'], context).toContain(line['type']);
      expect(line['durationMs']).toBeGreaterThanOrEqual(0);
      // Counts come with every answer; failures and cancellations have none to give.
      if (line['outcome'] === 'ok') {
        expect(types(['promptTokens', 'completionTokens']), context).toEqual({ promptTokens: 'number', completionTokens: 'number' });
      }
    }
    const outcomes = new Set(finished.map((l) => l['outcome']));
    for (const outcome of ['ok', 'RATE_LIMITED', 'cancelled', 'UPSTREAM_AUTH_FAILED']) expect(outcomes).toContain(outcome);
    const counted = finished.find((l) => l['outcome'] === 'ok' && l['promptTokens'] === 17);
    expect(counted).toMatchObject({ type: 'mutation', model: 'gpt-4o-mini', completionTokens: 4 });
  });

  it('logs the prompt and the answer with LOG_PROMPTS=true (and still not the key)', async () => {
    const gw = await startGateway({ OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: ctx.fake.url, LOG_PROMPTS: 'true' });
    try {
      ctx.fake.script({ choices: [[ANSWER_WORD, ' indeed']] });
      const { body, requestId } = await completeOverHttp(gw, PHRASE);
      expect(body.errors).toBeUndefined();
      const line = finishedLines(gw).find((l) => l['requestId'] === requestId);
      expect(JSON.stringify(line?.['prompt'])).toContain(PHRASE);
      expect(line?.['text']).toBe(`${ANSWER_WORD} indeed`);
      expect(gw.logs.some((l) => l.includes(SECRET))).toBe(false);
    } finally {
      await gw.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// Tracing
// ---------------------------------------------------------------------------

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

interface CollectedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: OtlpExport | null;
}

/** A stand-in OTLP/HTTP collector that records what it is sent and answers 200. */
class Collector {
  readonly requests: CollectedRequest[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.record(req).then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async record(req: IncomingMessage): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
    const contentType = req.headers['content-type'];
    let body: OtlpExport | null = null;
    if (contentType?.startsWith('application/json')) body = JSON.parse(raw.toString('utf8')) as OtlpExport;
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', contentType, body });
  }

  spans(): (OtlpSpan & { service: string | undefined })[] {
    return this.requests.flatMap((r) =>
      (r.body?.resourceSpans ?? []).flatMap((rs) => {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
        return (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((span) => ({ ...span, service })));
      }),
    );
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('tracing', () => {
  const collector = new Collector();
  beforeAll(() => collector.start());
  afterAll(() => collector.close());

  it('sends nothing anywhere when no OTLP endpoint is configured', async () => {
    const gw = await startGateway({ OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: ctx.fake.url });
    try {
      expect((await graphql(gw.httpUrl, CompleteDocument, ask('Untraced'))).errors).toBeUndefined();
    } finally {
      await gw.stop();
    }
    // Longer than the batch processor's 500 ms delay, had one been running.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(collector.requests).toEqual([]);
  });

  it('exports gateway.complete with its upstream.request child over OTLP/HTTP JSON, flushed on stop', async () => {
    const gw = await startGateway({
      OPENAI_API_KEY: SECRET,
      OPENAI_BASE_URL: ctx.fake.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
    });
    const requestId = `trace-${randomUUID()}`;
    try {
      const { status, body } = await completeOverHttp(gw, 'Trace this', { 'x-request-id': requestId });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
    } finally {
      await gw.stop(); // shuts the tracer provider down, which flushes its batch
    }
    await eventually(() => collector.spans().length >= 2, 'the spans to reach the collector');

    expect(collector.requests.every((r) => r.method === 'POST' && r.path === '/v1/traces')).toBe(true);
    expect(collector.requests.map((r) => r.contentType)).toEqual(collector.requests.map(() => 'application/json'));
    const spans = collector.spans();
    const operation = spans.find((s) => s.name === 'gateway.complete');
    const upstream = spans.find((s) => s.name === 'upstream.request');
    expect(operation, JSON.stringify(spans)).toBeDefined();
    expect(upstream, JSON.stringify(spans)).toBeDefined();
    if (!operation || !upstream) return;
    expect(operation.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(operation.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(upstream.parentSpanId).toBe(operation.spanId);
    expect(upstream.traceId).toBe(operation.traceId);
    expect(operation.service).toBe('llm-graphql-gateway');
    expect(upstream.service).toBe('llm-graphql-gateway');
    const attribute = (span: OtlpSpan, key: string): unknown => {
      const value = span.attributes?.find((a) => a.key === key)?.value;
      return value ? Object.values(value)[0] : undefined;
    };
    expect(attribute(operation, 'gateway.request_id')).toBe(requestId);
    expect(attribute(operation, 'gateway.outcome')).toBe('ok');
    expect(attribute(upstream, 'gen_ai.request.model')).toBe('gpt-4o-mini');
  });

  it('exports the spans of a second tracing gateway started in the same process', async () => {
    collector.requests.length = 0;
    const gw = await startGateway({
      OPENAI_API_KEY: SECRET,
      OPENAI_BASE_URL: ctx.fake.url,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
    });
    try {
      expect((await graphql(gw.httpUrl, CompleteDocument, ask('Trace me again'))).errors).toBeUndefined();
    } finally {
      await gw.stop();
    }
    await eventually(() => collector.spans().some((s) => s.name === 'gateway.complete'), 'the second gateway’s spans', 1000);
  });
});
