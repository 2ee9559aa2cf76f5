/**
 * Per-key limits across instances (issue #16): three gateways on one Redis and one ledger,
 * each request of a burst sent to the next instance in turn, as a load balancer would.
 * Whatever instance a request lands on, the key's limits hold exactly as on one gateway.
 */
import { print, type ExecutionResult } from 'graphql';
import type { Client } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { CompleteDocument, CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { graphql, type HttpResult } from './helpers.js';
import { useInstances } from './instances.js';
import { bearer, createKey, expectRateLimited, generations, holdOpen, input, keyedWs, me, onlyError, PROMPT_TOKENS, until } from './quota-cases.js';
import { redisSkip } from './redis.js';

// $1 per token, in and out, so costs are whole dollars.
const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 1_000_000, output: 1_000_000 } });

describe.skipIf(redisSkip !== undefined)('limits shared by three instances', () => {
  const ctx = useInstances(3, { MODEL_PRICES: PRICES, UPSTREAM_IDLE_TIMEOUT_MS: '60000' });

  it('admits exactly 10 of a burst of 50 against rpm 10 spread over the three, refusing the rest with RATE_LIMITED before the upstream', async () => {
    const { key } = await createKey(ctx.at(0), { rpm: 10 });
    const { hold, release } = holdOpen();
    ctx.fake.script({ holdUntil: hold });
    let answered = 0;
    const pending = Array.from({ length: 50 }, (_, i) =>
      graphql(ctx.at(i).httpUrl, CompleteDocument, { input: input() }, bearer(key)).finally(() => answered++),
    );
    try {
      // Decided while the admitted ten are held at the upstream, none finished yet.
      await until(() => Promise.resolve(answered === 40), 'the 40 refusals while the admitted ten are held', 20_000);
      await ctx.fake.waitForRequests(10);
    } finally {
      release();
    }
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(10);
    const refused = results.filter((r) => r.errors !== undefined);
    expect(refused).toHaveLength(40);
    for (const r of refused) {
      const retryAfterMs = expectRateLimited(r, 'rpm').extensions?.['retryAfterMs'];
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    expect(generations(ctx.fake)).toBe(10);
    // Every instance sees the one shared window.
    for (const gw of ctx.gateways) expect((await me(gw, key)).requestsLastMinute).toBe(10);
  });

  it('holds tokens per minute across the three: reservations count everywhere, and a settled smaller use frees room', async () => {
    const RESERVATION = PROMPT_TOKENS + 200;
    const FITS = Math.floor(1000 / RESERVATION);
    const { key } = await createKey(ctx.at(0), { tpm: 1000 });
    ctx.fake.script({ fault: { kind: 'hang' } });
    const controller = new AbortController();
    const refused: HttpResult<unknown>[] = [];
    const burst = Array.from({ length: 9 }, (_, i) =>
      graphql(ctx.at(i).httpUrl, CompleteDocument, { input: input({ maxTokens: 200 }) }, { ...bearer(key), signal: controller.signal }).then(
        (r) => void refused.push(r),
        () => undefined,
      ),
    );
    try {
      await ctx.fake.waitForRequests(FITS);
      await until(() => Promise.resolve(refused.length === 9 - FITS), `${9 - FITS} refusals`, 20_000);
      for (const r of refused) expectRateLimited(r, 'tpm');
      expect(generations(ctx.fake)).toBe(FITS);
      expect((await me(ctx.at(2), key)).tokensLastMinute).toBe(FITS * RESERVATION);
    } finally {
      controller.abort();
      await Promise.all(burst);
    }
    // Cancelled before the upstream answered: they consumed nothing, on whichever instance.
    await until(async () => (await me(ctx.at(1), key)).tokensLastMinute === 0, 'the reservations released');

    ctx.fake.script({ usage: { prompt_tokens: 10, completion_tokens: 5 } });
    for (let i = 0; i < FITS + 2; i++) {
      const result = await graphql(ctx.at(i).httpUrl, CompleteDocument, { input: input({ maxTokens: 200 }) }, bearer(key));
      expect(result.errors, `request ${i}`).toBeUndefined();
    }
    expect((await me(ctx.at(0), key)).tokensLastMinute).toBe((FITS + 2) * 15);
  });

  it('holds exactly 3 streams at once across the three, and a slot freed on one instance is taken on another', async () => {
    const { key } = await createKey(ctx.at(0), { maxStreams: 3 });
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const clients = ctx.gateways.map((gw) => keyedWs(gw.wsUrl, key));
    type Stream = AsyncIterableIterator<ExecutionResult<CompletionStreamSubscription>>;
    const open = (client: Client): Stream =>
      client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: { input: input({ maxTokens: 50 }) } }) as Stream;
    try {
      const streams = Array.from({ length: 6 }, (_, i) => open(clients[i % 3] as Client));
      const firsts = await Promise.all(streams.map(async (stream) => (await stream.next()).value as ExecutionResult<CompletionStreamSubscription>));
      const running = streams.filter((_, i) => firsts[i]?.errors === undefined);
      expect(running).toHaveLength(3);
      for (const first of firsts.filter((f) => f.errors !== undefined)) {
        expect(first.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'streams', retryAfterMs: null });
      }
      expect(generations(ctx.fake)).toBe(3);
      expect((await me(ctx.at(1), key)).openStreams).toBe(3);

      await running[0]?.return?.(undefined);
      await until(async () => (await me(ctx.at(2), key)).openStreams === 2, 'the ended stream to free its slot');
      // Whichever instance it ran on, the slot is free on every one.
      for (const client of clients) {
        const next = open(client);
        const first = (await next.next()).value as ExecutionResult<CompletionStreamSubscription>;
        if (first.errors === undefined) {
          running.push(next);
          break;
        }
      }
      expect((await me(ctx.at(0), key)).openStreams).toBe(3);
      expect(generations(ctx.fake)).toBe(4);
      for (const stream of running) await stream.return?.(undefined);
      await until(async () => (await me(ctx.at(0), key)).openStreams === 0, 'every slot freed');
    } finally {
      for (const client of clients) await client.dispose();
    }
  });

  it('holds a daily budget across the three: what fits of a parallel burst, then QUOTA_EXCEEDED everywhere', async () => {
    const COST = PROMPT_TOKENS + 5;
    const budget = 3.5 * COST;
    const { key } = await createKey(ctx.at(0), { dailyBudgetUsd: budget });
    const { hold, release } = holdOpen();
    ctx.fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: 5 }, holdUntil: hold });
    let answered = 0;
    const pending = Array.from({ length: 8 }, (_, i) =>
      graphql(ctx.at(i).httpUrl, CompleteDocument, { input: input({ maxTokens: 5 }) }, bearer(key)).finally(() => answered++),
    );
    try {
      await until(() => Promise.resolve(answered === 5), 'the 5 refusals while the admitted three are held', 20_000);
      await ctx.fake.waitForRequests(3);
    } finally {
      release();
    }
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(3);
    for (const r of results.filter((r) => r.errors !== undefined)) {
      expect(onlyError(r).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', budget: 'daily', budgetUsd: budget });
    }
    for (const gw of ctx.gateways) {
      expect((await me(gw, key)).spentTodayUsd).toBe(3 * COST);
      const refusal = onlyError(await graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 5 }) }, bearer(key)));
      expect(refusal.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', budget: 'daily', spentUsd: 3 * COST });
    }
    expect(generations(ctx.fake)).toBe(3);
  });
});

describe.skipIf(redisSkip !== undefined)('the upstream concurrency cap shared by two instances', () => {
  const ctx = useInstances(2, { UPSTREAM_MAX_CONCURRENCY: '2' });

  it('lets 2 upstream requests run at once across both, the others waiting their turn and all served', async () => {
    const { key } = await createKey(ctx.at(0), {});
    const { hold, release } = holdOpen();
    ctx.fake.script({ holdUntil: hold });
    const pending = Array.from({ length: 6 }, (_, i) => graphql(ctx.at(i).httpUrl, CompleteDocument, { input: input() }, bearer(key)));
    try {
      await ctx.fake.waitForRequests(2);
      // Nothing else gets through while the two are held.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(generations(ctx.fake)).toBe(2);
    } finally {
      release();
    }
    const results = await Promise.all(pending);
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(generations(ctx.fake)).toBe(6);
  });
});
