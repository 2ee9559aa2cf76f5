/**
 * The response cache (issue #16) through the public API, on an open gateway (one scope)
 * with the in-memory store: GraphQL over HTTP and graphql-ws against the fake upstream,
 * whose request count proves what a hit costs. Which requests it serves, what a hit looks
 * like (whole, and replayed as a stream), what it keys on, how long it keeps, and what it
 * never keeps.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CachedChatStreamDocument, type CachedChatStreamSubscription, type CompletionInput } from '../src/generated/operations.js';
import { ask, complete, generations, metric, stream, tryComplete, type Chunk } from './cache-clients.js';
import { useGatewayWithFake } from './helpers.js';

const FAKE_TEXT = 'Hello from the fake upstream.';

const WEATHER_TOOL: NonNullable<CompletionInput['tools']>[number] = {
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('the response cache', () => {
  const ctx = useGatewayWithFake({ RESPONSE_CACHE_TTL_SECONDS: '60' });

  it('answers a repeated temperature-0 request from the cache: no upstream call, the same answer, cost 0', async () => {
    const input = ask('What is the capital of France?');
    const live = await complete(ctx.gw, input);
    const hit = await complete(ctx.gw, input);

    expect(generations(ctx.fake)).toBe(1);
    expect(live.cached).toBe(false);
    expect(hit.cached).toBe(true);
    expect(live.text).toBe(FAKE_TEXT);
    expect(hit.text).toBe(live.text);
    expect(hit.choices).toEqual(live.choices);
    expect(hit.model).toBe(live.model);
    const { cost: liveCost, ...liveTokens } = live.usage;
    const { cost: hitCost, ...hitTokens } = hit.usage;
    expect(liveCost).toBeGreaterThan(0);
    expect(hitCost).toBe(0);
    expect(hitTokens).toEqual(liveTokens);
    // Its own id, so a normalising client cache keeps the two apart.
    expect(hit.id).not.toBe(live.id);
    expect(hit.id.startsWith(`${live.id}-cached-`)).toBe(true);
  });

  it('replays a streamed hit as chunks shaped like a live stream: text deltas, seq without gaps, finishReason and usage last', async () => {
    const input = ask('Tell me something.');
    const live = await stream(ctx.gw, input);
    const replay = await stream(ctx.gw, input);

    expect(generations(ctx.fake)).toBe(1);
    expect(live.every((c) => !c.cached)).toBe(true);
    expect(replay.every((c) => c.cached)).toBe(true);
    expect(replay.filter((c) => c.text !== '').length).toBeGreaterThan(1);
    expect(replay.map((c) => c.seq)).toEqual(replay.map((_, i) => i + 1));
    const [first] = replay;
    if (!first) throw new Error('no chunks');
    expect(first.completionId).not.toBe(live[0]?.completionId);
    expect(replay.every((c) => c.completionId === first.completionId && c.id === `${c.completionId}:${c.seq}`)).toBe(true);
    let text = '';
    for (const chunk of replay) {
      text += chunk.text;
      expect(chunk.accumulatedText).toBe(text);
    }
    expect(text).toBe(FAKE_TEXT);
    const last = replay.at(-1);
    const liveLast = live.at(-1);
    expect(last?.finishReason).toBe('STOP');
    expect(liveLast?.finishReason).toBe('STOP');
    expect(replay.slice(0, -1).every((c) => c.usage === null && c.finishReason === null)).toBe(true);
    expect(last?.usage).toEqual({ ...liveLast?.usage, cost: 0 });
    expect(liveLast?.usage?.cost).toBeGreaterThan(0);
  });

  it('serves a mutation’s answer to a stream, and a stream’s answer to a mutation', async () => {
    const first = ask('Stored by complete');
    const completed = await complete(ctx.gw, first);
    const streamed = await stream(ctx.gw, first);
    expect(streamed.every((c) => c.cached)).toBe(true);
    expect(streamed.at(-1)?.accumulatedText).toBe(completed.text);

    const second = ask('Stored by a stream');
    const live = await stream(ctx.gw, second);
    const hit = await complete(ctx.gw, second);
    expect(hit.cached).toBe(true);
    expect(hit.text).toBe(live.at(-1)?.accumulatedText);
    expect(hit.choices[0]?.finishReason).toBe('STOP');
    expect(generations(ctx.fake)).toBe(2);
  });

  it('caches a request at temperature > 0, or without a temperature, only when it asks with `cache`', async () => {
    const warm = ask('Be creative', { temperature: 0.7 });
    expect((await complete(ctx.gw, warm)).cached).toBe(false);
    expect((await complete(ctx.gw, warm)).cached).toBe(false);
    const unset: CompletionInput = { messages: ask('No temperature').messages };
    expect((await complete(ctx.gw, unset)).cached).toBe(false);
    expect((await complete(ctx.gw, unset)).cached).toBe(false);
    expect(generations(ctx.fake)).toBe(4);

    const asked = ask('Be creative, once', { temperature: 0.7, cache: { ttlSeconds: 60 } });
    expect((await complete(ctx.gw, asked)).cached).toBe(false);
    expect((await complete(ctx.gw, asked)).cached).toBe(true);
    expect(generations(ctx.fake)).toBe(5);
  });

  it('caches n > 1 only when asked, all its choices', async () => {
    const several = ask('Two answers', { n: 2 });
    await complete(ctx.gw, several);
    expect((await complete(ctx.gw, several)).cached).toBe(false);
    expect(generations(ctx.fake)).toBe(2);

    const asked = ask('Two answers, kept', { n: 2, cache: { ttlSeconds: 60 } });
    const live = await complete(ctx.gw, asked);
    const hit = await complete(ctx.gw, asked);
    expect(hit.cached).toBe(true);
    expect(hit.choices).toHaveLength(2);
    expect(hit.choices).toEqual(live.choices);
    const replay = await stream(ctx.gw, asked);
    expect(new Set(replay.map((c) => c.index))).toEqual(new Set([0, 1]));
    expect(replay.filter((c) => c.finishReason !== null).map((c) => c.index)).toEqual([0, 1]);
    expect(generations(ctx.fake)).toBe(3);
  });

  it('misses when anything that shapes the answer differs, and hits when only `user` or `safetyIdentifier` does', async () => {
    const base = ask('Which parameters matter?');
    await complete(ctx.gw, base);
    const variants: Partial<CompletionInput>[] = [
      { model: 'gpt-4o' },
      { messages: ask('Another question').messages },
      { maxTokens: 50 },
      { stop: ['\n'] },
      { seed: 7 },
      { topP: 0.5 },
      { presencePenalty: 0.5 },
      { frequencyPenalty: 0.5 },
      { tools: [WEATHER_TOOL] },
      { tools: [WEATHER_TOOL], toolChoice: { mode: 'REQUIRED' } },
      { responseFormat: { type: 'JSON_OBJECT' } },
      { logitBias: [{ token: 42, bias: 5 }] },
    ];
    for (const variant of variants) {
      expect((await complete(ctx.gw, { ...base, ...variant })).cached, JSON.stringify(variant)).toBe(false);
    }
    expect(generations(ctx.fake)).toBe(1 + variants.length);
    expect((await complete(ctx.gw, { ...base, user: 'someone-else', safetyIdentifier: 'another-user' })).cached).toBe(true);
    expect(generations(ctx.fake)).toBe(1 + variants.length);
  });

  it('forgets an answer once its ttlSeconds have passed', async () => {
    const input = ask('Short-lived', { cache: { ttlSeconds: 1 } });
    await complete(ctx.gw, input);
    expect((await complete(ctx.gw, input)).cached).toBe(true);
    await sleep(1_100);
    expect((await complete(ctx.gw, input)).cached).toBe(false);
    expect(generations(ctx.fake)).toBe(2);
  });

  it('refuses a ttlSeconds outside 1…86400 with BAD_USER_INPUT on cache.ttlSeconds, before any upstream call', async () => {
    for (const ttlSeconds of [0, -5, 86_401]) {
      const result = await tryComplete(ctx.gw, ask('Bad TTL', { cache: { ttlSeconds } }));
      expect(result.errors?.map((e) => [e.extensions?.code, e.extensions?.['field']])).toEqual([['BAD_USER_INPUT', 'cache.ttlSeconds']]);
    }
    expect(generations(ctx.fake)).toBe(0);
  });

  it('caches tool calls: served whole to complete, and replayed as call pieces, then the complete calls, to a stream', async () => {
    ctx.fake.script({ toolCalls: [[{ id: 'call_1', name: 'get_weather', arguments: ['{"city":', '"Paris"}'] }]] });
    const input = ask('Weather in Paris?', { tools: [WEATHER_TOOL] });
    const live = await complete(ctx.gw, input);
    const hit = await complete(ctx.gw, input);
    const call = { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', argumentsJson: { city: 'Paris' } };
    expect(live.toolCalls).toEqual([call]);
    expect(hit.cached).toBe(true);
    expect(hit.toolCalls).toEqual([call]);
    expect(hit.choices[0]?.finishReason).toBe('TOOL_CALLS');

    const replay = await stream(ctx.gw, input);
    const pieces = replay.flatMap((c) => c.toolCallDeltas ?? []);
    expect(pieces.find((p) => p.id !== null)).toMatchObject({ index: 0, id: 'call_1', name: 'get_weather' });
    expect(pieces.map((p) => p.argumentsDelta).join('')).toBe('{"city":"Paris"}');
    expect(replay.at(-1)).toMatchObject({ finishReason: 'TOOL_CALLS', toolCalls: [call], cached: true });
    expect(generations(ctx.fake)).toBe(1);
  });

  it('caches JSON answers, parsed on the hit as on the live answer', async () => {
    ctx.fake.script({ choices: [['{"capital":', ' "Paris"}']] });
    const input = ask('Answer in JSON: the capital of France', { responseFormat: { type: 'JSON_OBJECT' } });
    const live = await complete(ctx.gw, input);
    const hit = await complete(ctx.gw, input);
    expect(live.json).toEqual({ capital: 'Paris' });
    expect(hit).toMatchObject({ cached: true, json: { capital: 'Paris' } });
    expect(generations(ctx.fake)).toBe(1);
  });

  it('does not store a stream that failed midway, nor one whose client left', async () => {
    ctx.fake.script({ fault: { kind: 'errorAfter', chunks: 2 } });
    const failing = ask('Fails midway');
    const client = createClient({ url: ctx.gw.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    try {
      const codes: unknown[] = [];
      for await (const result of client.iterate<CachedChatStreamSubscription>({ query: print(CachedChatStreamDocument), variables: { input: failing } })) {
        codes.push(...(result.errors ?? []).map((e) => e.extensions?.['code']));
      }
      expect(codes).toEqual(['UPSTREAM_ERROR']);

      ctx.fake.script({ chunkDelayMs: 50 });
      const left = ask('Left early');
      for await (const result of client.iterate<CachedChatStreamSubscription>({ query: print(CachedChatStreamDocument), variables: { input: left } })) {
        expect(result.data?.completionStream.cached).toBe(false);
        break;
      }
      await ctx.fake.waitForAbort();

      ctx.fake.script({});
      expect((await stream(ctx.gw, failing)).every((c: Chunk) => !c.cached)).toBe(true);
      expect((await stream(ctx.gw, left)).every((c: Chunk) => !c.cached)).toBe(true);
      expect(generations(ctx.fake)).toBe(4);
    } finally {
      await client.dispose();
    }
  });

  it('counts hits and misses in /metrics', async () => {
    const hits = await metric(ctx.gw, 'gateway_response_cache_lookups_total', 'result="hit"');
    const misses = await metric(ctx.gw, 'gateway_response_cache_lookups_total', 'result="miss"');
    const input = ask('Counted');
    await complete(ctx.gw, input);
    await complete(ctx.gw, input);
    await complete(ctx.gw, input);
    expect(await metric(ctx.gw, 'gateway_response_cache_lookups_total', 'result="hit"')).toBe(hits + 2);
    expect(await metric(ctx.gw, 'gateway_response_cache_lookups_total', 'result="miss"')).toBe(misses + 1);
  });
});

describe('the in-memory cache’s bounds', () => {
  const ctx = useGatewayWithFake({ RESPONSE_CACHE_TTL_SECONDS: '60', RESPONSE_CACHE_MAX_BYTES: '4096', RESPONSE_CACHE_MAX_ENTRY_BYTES: '2048' });

  it('evicts the least recently used answers once RESPONSE_CACHE_MAX_BYTES is reached', async () => {
    // About 1.7 KB stored each: two fit in 4 KiB, a third pushes the oldest out.
    ctx.fake.script({ choices: [['x'.repeat(1_500)]] });
    const [a, b, c] = [ask('A'), ask('B'), ask('C')];
    for (const input of [a, b, c]) await complete(ctx.gw, input);
    expect((await complete(ctx.gw, c)).cached).toBe(true);
    expect((await complete(ctx.gw, b)).cached).toBe(true);
    expect((await complete(ctx.gw, a)).cached).toBe(false);
    expect(generations(ctx.fake)).toBe(4);
  });

  it('serves an answer over RESPONSE_CACHE_MAX_ENTRY_BYTES without keeping it', async () => {
    const tooLarge = await metric(ctx.gw, 'gateway_response_cache_stores_total', 'result="too_large"');
    ctx.fake.script({ choices: [['y'.repeat(3_000)]] });
    const input = ask('Too large to keep');
    expect((await complete(ctx.gw, input)).text).toHaveLength(3_000);
    expect((await complete(ctx.gw, input)).cached).toBe(false);
    expect(generations(ctx.fake)).toBe(2);
    expect(await metric(ctx.gw, 'gateway_response_cache_stores_total', 'result="too_large"')).toBe(tooLarge + 2);
  });
});
