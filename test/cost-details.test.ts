/**
 * Cost end to end, on SQLite (a file) and PostgreSQL: an upstream that reports
 * `usage.prompt_tokens_details.cached_tokens` and `usage.completion_tokens_details.reasoning_tokens`
 * gets its cached prompt tokens billed at the cached-input price and its reasoning tokens as
 * output, over HTTP (`complete`) and graphql-ws (`completionStream`); the ledger rows carry
 * both counts and `usage(groupBy:)` sums them.
 *
 * The upstream here is a few lines of `node:http` speaking OpenAI's chat-completions JSON and
 * SSE with those usage details (test/fake-upstream.ts does not send them yet).
 *
 * Expected figures are worked out by hand: o4-mini at OpenAI's $1.10 input, $0.275 cached
 * input and $4.40 output per 1M tokens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { postgres, sqlite } from './databases.js';
import { graphql, startGateway, wsClient, type TestGateway } from './helpers.js';

const SERVED_BY = 'o4-mini-2025-04-16';
const WIRE_USAGE = {
  prompt_tokens: 2000,
  completion_tokens: 400,
  total_tokens: 2400,
  prompt_tokens_details: { cached_tokens: 1536, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 320, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
/** 464 uncached × 1.1 + 1,536 cached × 0.275 + 400 completion (320 of them reasoning) × 4.4 = 510.4 + 422.4 + 1,760 µ$. */
const COST = 0.0026928;

interface DetailedUpstream {
  /** Base URL ending in `/v1`. */
  url: string;
  /** Chat requests received (streamed or not). */
  chats: number;
  close(): Promise<void>;
}

/** OpenAI's chat-completions wire, with usage details, for one canned answer. */
async function startDetailedUpstream(): Promise<DetailedUpstream> {
  const created = 1_760_000_000;
  const base = { id: 'chatcmpl-details', created, model: SERVED_BY, system_fingerprint: 'fp_details' };
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    ...base,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    usage: null,
  });
  const upstream: DetailedUpstream = { url: '', chats: 0, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not here', type: 'invalid_request_error' } }));
        return;
      }
      upstream.chats++;
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { stream?: boolean };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            ...base,
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Thought it through.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
            usage: WIRE_USAGE,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const events = [
        chunk({ role: 'assistant', content: '', refusal: null }, null),
        chunk({ content: 'Thought' }, null),
        chunk({ content: ' it through.' }, null),
        chunk({}, 'stop'),
        { ...base, object: 'chat.completion.chunk', choices: [], usage: WIRE_USAGE },
      ];
      for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}

interface UsageShape {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number | null;
  reasoningTokens: number | null;
  cost: number | null;
}

const USAGE_FIELDS = 'usage { promptTokens completionTokens cachedPromptTokens reasoningTokens cost }';
const INPUT = { model: 'o4-mini', messages: [{ role: 'USER', content: 'Think it through.' }] };

const open: { gateways: TestGateway[]; upstreams: DetailedUpstream[]; dbs: Db[] } = { gateways: [], upstreams: [], dbs: [] };
afterEach(async () => {
  for (const gw of open.gateways.splice(0)) await gw.stop();
  for (const upstream of open.upstreams.splice(0)) await upstream.close();
  for (const db of open.dbs.splice(0)) await db.close();
});

function expectBilled(usage: UsageShape | null | undefined): void {
  expect(usage).toMatchObject({ promptTokens: 2000, completionTokens: 400, cachedPromptTokens: 1536, reasoningTokens: 320 });
  expect(usage?.cost).toBeCloseTo(COST, 15);
}

describe.each([sqlite, postgres])('cost of cached and reasoning tokens end to end on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  it('bills them right over HTTP and graphql-ws, records them, and usage sums them', async () => {
    const url = await backend.create();
    const upstream = await startDetailedUpstream();
    open.upstreams.push(upstream);
    const gw = await startGateway({ OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: upstream.url, DATABASE_URL: url });
    open.gateways.push(gw);
    const db = await openDatabase(url);
    open.dbs.push(db);
    const started = Date.now();

    const completeId = `details-complete-${randomUUID()}`;
    const done = await graphql<{ complete: { usage: UsageShape } }, unknown>(
      gw.httpUrl,
      `mutation ($input: CompletionInput!) { complete(input: $input) { ${USAGE_FIELDS} } }`,
      { input: INPUT },
      { headers: { 'x-request-id': completeId } },
    );
    expect(done.errors).toBeUndefined();
    expectBilled(done.data?.complete.usage);

    const client = wsClient(gw.wsUrl);
    const streamed: (UsageShape | null)[] = [];
    try {
      const chunks = client.iterate<{ completionStream: { text: string; usage: UsageShape | null } }>({
        query: `subscription ($input: CompletionInput!) { completionStream(input: $input) { text ${USAGE_FIELDS} } }`,
        variables: { input: INPUT },
      });
      for await (const result of chunks) {
        expect(result.errors).toBeUndefined();
        streamed.push(result.data?.completionStream.usage ?? null);
      }
    } finally {
      await client.dispose();
    }
    expect(upstream.chats).toBe(2);
    // Usage comes once, on the last chunk.
    expect(streamed.slice(0, -1).every((u) => u === null)).toBe(true);
    expectBilled(streamed.at(-1));

    await gw.app.ledger.flush();
    const rows = await db.db.selectFrom('usage_ledger').selectAll().orderBy('operation').execute();
    expect(rows.map((r) => r.operation)).toEqual(['complete', 'completionStream']);
    for (const row of rows) {
      expect(row, row.operation).toMatchObject({ model: SERVED_BY, prompt_tokens: 2000, completion_tokens: 400, cached_prompt_tokens: 1536, reasoning_tokens: 320 });
      expect(row.cost_usd, row.operation).toBeCloseTo(COST, 15);
    }
    expect(rows.find((r) => r.operation === 'complete')?.request_id).toBe(completeId);

    const sums = await graphql<{ usage: Record<string, unknown>[] }, unknown>(
      gw.httpUrl,
      'query ($from: String!, $to: String!) { usage(from: $from, to: $to, groupBy: MODEL) { group requests promptTokens completionTokens cachedPromptTokens reasoningTokens costUsd } }',
      { from: new Date(started - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() },
    );
    expect(sums.errors).toBeUndefined();
    expect(sums.data?.usage).toEqual([
      { group: SERVED_BY, requests: 2, promptTokens: 4000, completionTokens: 800, cachedPromptTokens: 3072, reasoningTokens: 640, costUsd: expect.closeTo(2 * COST, 15) as number },
    ]);
  });
});
