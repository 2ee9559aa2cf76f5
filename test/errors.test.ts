import type { ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  CompleteDocument,
  CompletionStreamDocument,
  ModelsDocument,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { startFakeUpstream } from './fake-upstream.js';
import { collectSse, collectWs, graphql, startGateway, useGatewayWithFake, wsClient, subscribeOverWs } from './helpers.js';

const KEY = 'sk-proj-GatewaySecretKey-0123456789abcdef';

const ctx = useGatewayWithFake({
  OPENAI_API_KEY: KEY,
  UPSTREAM_TIMEOUT_MS: '400',
  UPSTREAM_IDLE_TIMEOUT_MS: '400',
  LOG_LEVEL: 'debug',
});

function streamWs(prompt = 'Hi'): Promise<ExecutionResult<CompletionStreamSubscription>[]> {
  return subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, { input: { prompt } });
}

function lastErrorCode(results: ExecutionResult<CompletionStreamSubscription>[]): unknown {
  return results.at(-1)?.errors?.[0]?.extensions?.['code'];
}

describe('upstream failures become typed errors', () => {
  it('maps a 429 to RATE_LIMITED with the upstream’s retry-after', async () => {
    ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 3 } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 3000, upstreamStatus: 429 });
    expect(lastErrorCode(await streamWs())).toBe('RATE_LIMITED');
  });

  it('maps the upstream’s context_length_exceeded to CONTEXT_LENGTH_EXCEEDED', async () => {
    ctx.fake.script({ fault: { kind: 'contextOverflow' } });
    // An unknown model: the gateway cannot check the window itself, the upstream does.
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'my-finetune', prompt: 'Hi' } });
    expect(errors?.[0]?.extensions?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(errors?.[0]?.message).toMatch(/maximum context length is 4097/);
  });

  it('maps a 500 to UPSTREAM_ERROR', async () => {
    ctx.fake.script({ fault: { kind: 'serverError' } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstreamStatus: 500 });
    expect(lastErrorCode(await streamWs())).toBe('UPSTREAM_ERROR');
  });

  it('maps an upstream that cannot be reached to UPSTREAM_ERROR', async () => {
    const closed = await startFakeUpstream();
    const url = closed.url;
    await closed.close();
    const other = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: url });
    try {
      const { errors } = await graphql(other.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
      expect(errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
      const models = await graphql(other.httpUrl, ModelsDocument, {});
      expect(models.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    } finally {
      await other.stop();
    }
  });

  it('maps other 4xx answers to UPSTREAM_REJECTED with the upstream’s reason', async () => {
    ctx.fake.script({ fault: { kind: 'status', status: 404 } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'gpt-9', prompt: 'Hi' } });
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_REJECTED', upstreamStatus: 404 });
  });

  it('ends a stream whose upstream dies mid-way with UPSTREAM_ERROR after the chunks it had, over both transports', async () => {
    ctx.fake.script({ fault: { kind: 'dieAfter', chunks: 2 } });
    for (const results of [await streamWs(), await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input: { prompt: 'Hi' } })]) {
      expect(results.slice(0, 2).map((r) => r.data?.completionStream.text)).toEqual(['Hello', ' from']);
      expect(results).toHaveLength(3);
      expect(results[2]?.data).toBeNull();
      expect(lastErrorCode(results)).toBe('UPSTREAM_ERROR');
    }
  });

  it('hides internal details of a malformed upstream answer', async () => {
    ctx.fake.script({ fault: { kind: 'status', status: 200, body: { unexpected: true } } });
    const response = await fetch(ctx.gw.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { complete(input: { prompt: "Hi" }) { text } }' }),
    });
    const body = await response.text();
    expect(body).toContain('UPSTREAM_ERROR');
    expect(body).not.toMatch(/Cannot read|TypeError|undefined|stack/);
  });
});

describe('timeouts', () => {
  it('gives UPSTREAM_TIMEOUT when the upstream never answers a mutation, and aborts it', async () => {
    ctx.fake.script({ fault: { kind: 'hang' } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    await ctx.fake.waitForAbort();
  });

  it('gives UPSTREAM_TIMEOUT when the upstream sends headers but no body', async () => {
    ctx.fake.script({ fault: { kind: 'hangAfterHeaders' } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    await ctx.fake.waitForAbort();
  });

  it('gives UPSTREAM_TIMEOUT when a stream’s first chunk never comes', async () => {
    ctx.fake.script({ fault: { kind: 'hangAfterHeaders' } });
    const results = await streamWs();
    expect(results).toHaveLength(1);
    expect(lastErrorCode(results)).toBe('UPSTREAM_TIMEOUT');
    expect(results[0]?.errors?.[0]?.message).toMatch(/first chunk/);
    await ctx.fake.waitForAbort();
  });

  it('gives UPSTREAM_TIMEOUT when a stream goes silent between chunks, after the chunks it had', async () => {
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 2 } });
    const results = await streamWs();
    expect(results.map((r) => r.data?.completionStream.text ?? null)).toEqual(['Hello', ' from', null]);
    expect(lastErrorCode(results)).toBe('UPSTREAM_TIMEOUT');
    expect(results[2]?.errors?.[0]?.message).toMatch(/next chunk/);
    await ctx.fake.waitForAbort();
  });

  it('does not time out a slow stream whose chunks keep coming', async () => {
    // 5 chunks 150 ms apart: 600 ms in all, longer than both timeouts, never 400 ms silent.
    ctx.fake.script({ choices: [['a', 'b', 'c', 'd', 'e']], chunkDelayMs: 150 });
    const results = await streamWs();
    expect(results.every((r) => r.errors === undefined)).toBe(true);
    expect(results.at(-1)?.data?.completionStream.accumulatedText).toBe('abcde');
  });
});

describe('retries', () => {
  it('retries a 429 UPSTREAM_MAX_RETRIES times before giving up', async () => {
    const retrying = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: ctx.fake.url, UPSTREAM_MAX_RETRIES: '2' });
    try {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, faultTimes: 2 });
      const ok = await graphql(retrying.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
      expect(ok.data?.complete.text).toBe('Hello from the fake upstream.');
      expect(ctx.fake.requests).toHaveLength(3);

      ctx.fake.reset();
      ctx.fake.script({ fault: { kind: 'serverError' } });
      const failed = await graphql(retrying.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
      expect(failed.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
      expect(ctx.fake.requests).toHaveLength(3);
    } finally {
      await retrying.stop();
    }
  });

  it('never retries a stream that has started', async () => {
    const retrying = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: ctx.fake.url, UPSTREAM_MAX_RETRIES: '2' });
    const client = wsClient(retrying.wsUrl);
    try {
      ctx.fake.script({ fault: { kind: 'dieAfter', chunks: 1 } });
      const results = await collectWs(client, CompletionStreamDocument, { input: { prompt: 'Hi' } });
      expect(lastErrorCode(results)).toBe('UPSTREAM_ERROR');
      expect(ctx.fake.requests).toHaveLength(1);
    } finally {
      await client.dispose();
      await retrying.stop();
    }
  });
});

describe('the upstream key', () => {
  it('is never echoed when the upstream refuses it (401), over HTTP, graphql-ws and SSE', async () => {
    ctx.fake.script({ fault: { kind: 'unauthorized' } });
    const response = await fetch(ctx.gw.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { complete(input: { prompt: "Hi" }) { text } }' }),
    });
    const raw = await response.text();
    const ws = await streamWs();
    const sse = await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input: { prompt: 'Hi' } });
    // The fake did echo it: the test would catch a pass-through.
    expect(ctx.fake.requests[0]?.headers['authorization']).toBe(`Bearer ${KEY}`);
    for (const text of [raw, JSON.stringify(ws), JSON.stringify(sse)]) {
      expect(text).toContain('UPSTREAM_AUTH_FAILED');
      expect(text).toContain("refused the gateway's credentials");
      expect(text).not.toContain(KEY);
      expect(text).not.toContain('sk-proj');
    }
  });

  it('maps a 403 to UPSTREAM_AUTH_FAILED as well', async () => {
    ctx.fake.script({ fault: { kind: 'forbidden' } });
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_AUTH_FAILED', upstreamStatus: 403 });
  });

  it('appears in no log line, even at debug level after every kind of failure', () => {
    // Runs last in this file: by now the gateway has logged start-up, 401s, 429s, timeouts.
    expect(ctx.gw.logs.length).toBeGreaterThan(5);
    for (const line of ctx.gw.logs) {
      expect(line).not.toContain(KEY);
      expect(line).not.toContain('GatewaySecretKey');
    }
  });
});
