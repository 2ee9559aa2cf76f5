/**
 * The cases of per-key limits and budgets, run by quotas.test.ts (limits in the gateway's
 * memory) and quotas-redis.test.ts (in Redis: the same answers, to the same shapes).
 * Through the public API: GraphQL over HTTP with
 * `Authorization: Bearer gk_…`, and graphql-ws with `connectionParams.authorization` where
 * streams matter. Requests per minute, tokens per minute (prompt + maxTokens × n reserved at
 * admission, settled to the real usage), streams open at once, and daily / monthly USD
 * budgets (reserved + spent). Every refusal is proven to have cost no upstream request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { encodeChat } from 'gpt-tokenizer/model/gpt-4o-mini';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CompleteDocument,
  CompletionStreamDocument,
  MeDocument,
  type CompleteMutation,
  type CompletionInput,
  type CompletionStreamSubscription,
  type MeQuery,
} from '../src/generated/operations.js';
import type { KeyLimits } from '../src/accounts/keys.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { graphql, startGateway, useGatewayWithFake, type GraphQLErrorShape, type HttpResult, type TestGateway } from './helpers.js';

const CONTENT = 'Write a limerick about rate limits and token buckets.';
const MESSAGES = [{ role: 'USER' as const, content: CONTENT }];
/** The prompt's tokens by OpenAI's chat accounting, counted independently of the gateway. */
export const PROMPT_TOKENS = encodeChat([{ role: 'user', content: CONTENT }]).length;

export function input(extra: Partial<CompletionInput> = {}): CompletionInput {
  return { messages: MESSAGES, ...extra };
}

export function bearer(key: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${key}` } };
}

export async function createKey(gw: TestGateway, limits: Partial<KeyLimits>): Promise<{ key: string; id: string }> {
  const { key, apiKey } = await gw.app.keys.create({ name: `test-${Math.random().toString(36).slice(2, 8)}`, limits });
  return { key, id: apiKey.id };
}

/** Completion requests the fake received (its `/v1/models` traffic aside). */
export function generations(fake: FakeUpstream): number {
  return fake.requests.filter((r) => r.method === 'POST').length;
}

export async function me(gw: TestGateway, key: string): Promise<NonNullable<MeQuery['me']>> {
  const result = await graphql(gw.httpUrl, MeDocument, {}, bearer(key));
  expect(result.errors).toBeUndefined();
  if (!result.data?.me) throw new Error('me is null for a keyed request');
  return result.data.me;
}

/** Polls an async predicate until it holds. */
export async function until(predicate: () => Promise<boolean>, message: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A graphql-ws client authenticated as `key`, connected at once. */
export function keyedWs(url: string, key: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: { authorization: `Bearer ${key}` } });
}

/**
 * Opens `count` subscriptions together on one graphql-ws socket (they arrive in one read,
 * so their admissions run in the same turn of the gateway's event loop: a gap between
 * check and reservation would let them all pass) and runs each to its end: the final
 * text, or the first error's extensions.
 */
export async function wsBurst(client: Client, count: number, extra: Partial<CompletionInput> = {}): Promise<({ text: string } | { error: Record<string, unknown> | undefined })[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      let text = '';
      const stream = client.iterate<CompletionStreamSubscription>({
        query: print(CompletionStreamDocument),
        variables: { input: input(extra) },
      });
      for await (const result of stream) {
        if (result.errors) return { error: result.errors[0]?.extensions };
        text = result.data?.completionStream.accumulatedText ?? text;
      }
      return { text };
    }),
  );
}

/** A promise the fake holds requests on (`holdUntil`), and the function that lets them go. */
export function holdOpen(): { hold: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const hold = new Promise<void>((resolve) => (release = resolve));
  return { hold, release };
}

export function onlyError(result: HttpResult<unknown>): GraphQLErrorShape {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  const [error] = result.errors ?? [];
  if (!error) throw new Error('no error');
  return error;
}

export function expectRateLimited(result: HttpResult<unknown>, limit: string): GraphQLErrorShape {
  const error = onlyError(result);
  expect(error.extensions?.code).toBe('RATE_LIMITED');
  expect(error.extensions?.limit).toBe(limit);
  return error;
}

/** Every case, on gateways started with `shared` added to their environment (REDIS_URL…). */
export function quotaCases(shared: Record<string, string> = {}): void {
  describe('per-key limits', () => {
    const ctx = useGatewayWithFake({ UPSTREAM_IDLE_TIMEOUT_MS: '60000', ...shared });

    describe('requests per minute', () => {
      it('admits exactly rpm of a parallel burst, refuses the rest with RATE_LIMITED before the upstream, and leaves other keys alone', async () => {
        const limited = await createKey(ctx.gw, { rpm: 10 });
        const other = await createKey(ctx.gw, { rpm: 10 });

        // Admitted requests are held at the upstream until every refusal is in, so the burst
        // is decided while all ten stand (as in the tpm test), then they are let finish.
        const { hold, release } = holdOpen();
        ctx.fake.script({ holdUntil: hold });
        let answered = 0;
        const pending = Array.from({ length: 50 }, () =>
          graphql(ctx.gw.httpUrl, CompleteDocument, { input: input() }, bearer(limited.key)).finally(() => answered++),
        );
        try {
          await until(() => Promise.resolve(answered === 40), 'the 40 refusals while the admitted ten are held');
          await ctx.fake.waitForRequests(10);
          expect(answered).toBe(40);
        } finally {
          release();
        }
        const results = await Promise.all(pending);

        const admitted = results.filter((r) => r.errors === undefined);
        const refused = results.filter((r) => r.errors !== undefined);
        expect(admitted).toHaveLength(10);
        for (const r of admitted) expect(r.data?.complete.text).toBe('Hello from the fake upstream.');
        expect(refused).toHaveLength(40);
        for (const r of refused) {
          const error = expectRateLimited(r, 'rpm');
          const retryAfterMs = error.extensions?.['retryAfterMs'];
          expect(typeof retryAfterMs).toBe('number');
          expect(retryAfterMs).toBeGreaterThan(0);
          expect(retryAfterMs).toBeLessThanOrEqual(60_000);
        }
        // The fake heard exactly the admitted ones.
        expect(generations(ctx.fake)).toBe(10);
        expect((await me(ctx.gw, limited.key)).requestsLastMinute).toBe(10);

        // The 51st is refused too; another key still has its whole minute.
        expectRateLimited(await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input() }, bearer(limited.key)), 'rpm');
        const fine = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input() }, bearer(other.key));
        expect(fine.errors).toBeUndefined();
        expect(generations(ctx.fake)).toBe(11);
        expect((await me(ctx.gw, other.key)).requestsLastMinute).toBe(1);
      });
    });

    it('admits exactly rpm of subscriptions arriving together on one graphql-ws socket', async () => {
      const { key } = await createKey(ctx.gw, { rpm: 5 });
      const { hold, release } = holdOpen();
      ctx.fake.script({ holdUntil: hold });
      const client = keyedWs(ctx.gw.wsUrl, key);
      try {
        const burst = wsBurst(client, 20, { maxTokens: 50 });
        await ctx.fake.waitForRequests(5);
        release();
        const outcomes = await burst;
        expect(outcomes.filter((o) => 'text' in o && o.text === 'Hello from the fake upstream.')).toHaveLength(5);
        const refused = outcomes.filter((o) => 'error' in o);
        expect(refused).toHaveLength(15);
        for (const o of refused) expect(o).toMatchObject({ error: { code: 'RATE_LIMITED', limit: 'rpm' } });
        expect(generations(ctx.fake)).toBe(5);
      } finally {
        release();
        await client.dispose();
      }
    });

    it('checks requests per minute before it counts the prompt: a key over its rate costs no tokenizer time', async () => {
      const { key } = await createKey(ctx.gw, { rpm: 1 });
      expect((await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input() }, bearer(key))).errors).toBeUndefined();
      // Counting this prompt would refuse it as too long for gpt-4 (8,192 tokens); the rate
      // answers first, so it was never counted.
      const long = input({ model: 'gpt-4', messages: [{ role: 'USER', content: 'word '.repeat(20_000) }] });
      expectRateLimited(await graphql(ctx.gw.httpUrl, CompleteDocument, { input: long }, bearer(key)), 'rpm');
      const { key: fresh } = await createKey(ctx.gw, { rpm: 1 });
      const counted = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: long }, bearer(fresh));
      expect(counted.errors?.[0]?.extensions?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    });

    describe('tokens per minute', () => {
      const MAX_TOKENS = 200;
      const RESERVATION = PROMPT_TOKENS + MAX_TOKENS;
      const FITS = Math.floor(1000 / RESERVATION);

      it('admits exactly floor(tpm / (prompt + maxTokens)) of a parallel burst', async () => {
        expect(FITS).toBeGreaterThanOrEqual(2);
        expect(1000 % RESERVATION).not.toBe(0); // the floor matters
        const { key } = await createKey(ctx.gw, { tpm: 1000 });
        // Admitted requests hang, so none settles (and frees its reservation) during the burst.
        ctx.fake.script({ fault: { kind: 'hang' } });
        const controller = new AbortController();
        const settled: HttpResult<unknown>[] = [];
        const burst = Array.from({ length: 10 }, () =>
          graphql(ctx.gw.httpUrl, CompleteDocument, { input: input({ maxTokens: MAX_TOKENS }) }, { ...bearer(key), signal: controller.signal }).then(
            (r) => void settled.push(r),
            () => undefined,
          ),
        );
        try {
          await ctx.fake.waitForRequests(FITS);
          await until(() => Promise.resolve(settled.length === 10 - FITS), `${10 - FITS} refusals`);
          // Nothing else gets through while the reservations stand.
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(generations(ctx.fake)).toBe(FITS);
          expect(settled).toHaveLength(10 - FITS);
          for (const r of settled) {
            const error = expectRateLimited(r, 'tpm');
            const retryAfterMs = error.extensions?.['retryAfterMs'];
            expect(retryAfterMs).toBeGreaterThan(0);
            expect(retryAfterMs).toBeLessThanOrEqual(60_000);
          }
          // Running requests count with their whole reservation.
          expect((await me(ctx.gw, key)).tokensLastMinute).toBe(FITS * RESERVATION);
        } finally {
          controller.abort();
          await Promise.all(burst);
        }
        // Cancelled before the upstream answered: they consumed nothing.
        await until(async () => (await me(ctx.gw, key)).tokensLastMinute === 0, 'reservations released');
      });

      it('refuses a request whose reservation alone exceeds tpm, with no retryAfterMs (maxTokens × n, or RESERVE_COMPLETION_TOKENS)', async () => {
        const { key } = await createKey(ctx.gw, { tpm: 1000 });
        const refusals = [
          input({ maxTokens: 1000 - PROMPT_TOKENS + 1 }),
          // 3 choices of 400 tokens each, plus the prompt (one choice of 400 would fit).
          input({ maxTokens: 400, n: 3 }),
          // No maxTokens: RESERVE_COMPLETION_TOKENS (1024 by default) is reserved.
          input(),
          // maxCompletionTokens (what reasoning models take) is reserved like maxTokens, and wins.
          input({ maxCompletionTokens: 1000 - PROMPT_TOKENS + 1 }),
          input({ maxTokens: 10, maxCompletionTokens: 1000 - PROMPT_TOKENS + 1 }),
        ];
        for (const request of refusals) {
          const error = expectRateLimited(await graphql(ctx.gw.httpUrl, CompleteDocument, { input: request }, bearer(key)), 'tpm');
          expect(error.extensions?.['retryAfterMs']).toBeNull();
          expect(error.message).toMatch(/lower maxTokens/);
        }
        expect(generations(ctx.fake)).toBe(0);
        // The exact fit is admitted.
        const fit = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 1000 - PROMPT_TOKENS }) }, bearer(key));
        expect(fit.errors).toBeUndefined();
        expect(generations(ctx.fake)).toBe(1);
      });

      it('settles reservations to the real usage, so more requests fit than reservations alone would allow', async () => {
        const { key } = await createKey(ctx.gw, { tpm: 1000 });
        ctx.fake.script({ usage: { prompt_tokens: 10, completion_tokens: 5 } });
        const runs = FITS + 2;
        for (let i = 0; i < runs; i++) {
          const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input({ maxTokens: MAX_TOKENS }) }, bearer(key));
          expect(result.errors, `request ${i}`).toBeUndefined();
          expect(result.data?.complete.usage.totalTokens).toBe(15);
        }
        expect(generations(ctx.fake)).toBe(runs);
        const after = await me(ctx.gw, key);
        expect(after.tokensLastMinute).toBe(runs * 15);
        expect(after.requestsLastMinute).toBe(runs);

        // A running request counts with its reservation until it settles.
        ctx.fake.script({ fault: { kind: 'hang' } });
        const controller = new AbortController();
        const pending = graphql(ctx.gw.httpUrl, CompleteDocument, { input: input({ maxTokens: MAX_TOKENS }) }, { ...bearer(key), signal: controller.signal });
        await ctx.fake.waitForRequests(runs + 1);
        expect((await me(ctx.gw, key)).tokensLastMinute).toBe(runs * 15 + RESERVATION);
        controller.abort();
        await pending.catch(() => undefined);
        await until(async () => (await me(ctx.gw, key)).tokensLastMinute === runs * 15, 'the hung request settled to nothing');
      });
    });

    describe('streams open at once', () => {
      function keyedClient(key: string): Client {
        return createClient({
          url: ctx.gw.wsUrl,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: true,
          connectionParams: { authorization: `Bearer ${key}` },
        });
      }

      type StreamResult = ExecutionResult<CompletionStreamSubscription>;

      function open(client: Client): AsyncIterableIterator<StreamResult> {
        return client.iterate<CompletionStreamSubscription>({
          query: print(CompletionStreamDocument),
          variables: { input: input({ maxTokens: 50 }) },
        }) as AsyncIterableIterator<StreamResult>;
      }

      /** The text of the stream's next chunk. */
      async function nextText(stream: AsyncIterableIterator<StreamResult>): Promise<string | undefined> {
        const next: IteratorResult<StreamResult, unknown> = await stream.next();
        return next.done ? undefined : next.value.data?.completionStream.text;
      }

      it('refuses a third stream with RATE_LIMITED (limit streams) while two stall, and admits a new one after one ends', async () => {
        const { key } = await createKey(ctx.gw, { maxStreams: 2 });
        ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
        const client = keyedClient(key);
        try {
          const first = open(client);
          const second = open(client);
          expect(await nextText(first)).toBe('Hello');
          expect(await nextText(second)).toBe('Hello');
          expect(generations(ctx.fake)).toBe(2);
          expect((await me(ctx.gw, key)).openStreams).toBe(2);

          const third: StreamResult[] = [];
          for await (const result of open(client)) third.push(result);
          expect(third).toHaveLength(1);
          const [error] = third[0]?.errors ?? [];
          expect(error?.extensions?.['code']).toBe('RATE_LIMITED');
          expect(error?.extensions?.['limit']).toBe('streams');
          expect(error?.extensions?.['retryAfterMs']).toBeNull();
          expect(generations(ctx.fake)).toBe(2);

          // Mutations are not streams: they still pass.
          ctx.fake.script({});
          const mutation = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 50 }) }, bearer(key));
          expect(mutation.errors).toBeUndefined();
          expect(generations(ctx.fake)).toBe(3);
          ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });

          // One ends: its slot comes back.
          await first.return?.(undefined);
          await ctx.fake.waitForAbort();
          await until(async () => (await me(ctx.gw, key)).openStreams === 1, 'the left stream to release its slot');
          const fourth = open(client);
          expect(await nextText(fourth)).toBe('Hello');
          expect((await me(ctx.gw, key)).openStreams).toBe(2);
          await fourth.return?.(undefined);
          await second.return?.(undefined);
          await until(async () => (await me(ctx.gw, key)).openStreams === 0, 'every slot released');
        } finally {
          await client.dispose();
        }
      });
    });
  });

  describe('budgets', () => {
    // $1 per token, in and out, so costs are whole dollars.
    const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 1_000_000, output: 1_000_000 } });
    const MAX_TOKENS = 5;
    /** What one request reserves and, with the fake's scripted usage, spends. */
    const COST = PROMPT_TOKENS + MAX_TOKENS;
    const dir = mkdtempSync(join(tmpdir(), 'gw-quotas-'));
    const databaseUrl = `file:${join(dir, 'gw.db')}`;
    let fake: FakeUpstream;
    let gw: TestGateway;

    const env = (): Record<string, string> => ({
      OPENAI_API_KEY: 'sk-test-gateway-key',
      OPENAI_BASE_URL: fake.url,
      MODEL_PRICES: PRICES,
      DATABASE_URL: databaseUrl,
      LEDGER_FLUSH_MS: '60000',
      // Only used when a request fails upstream (never the case unless a test scripts it).
      FALLBACK_MODELS: 'gpt-4o-mini',
      ...shared,
    });

    beforeAll(async () => {
      fake = await startFakeUpstream();
      gw = await startGateway(env());
    });
    afterAll(async () => {
      await gw?.stop();
      await fake?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    function run(key: string, extra: Partial<CompletionInput> = {}, signal?: AbortSignal): Promise<HttpResult<CompleteMutation>> {
      return graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: MAX_TOKENS, ...extra }) }, { ...bearer(key), signal });
    }

    function expectQuotaExceeded(result: HttpResult<unknown>, budget: string, budgetUsd: number, spentUsd: number): void {
      const error = onlyError(result);
      expect(error.extensions?.code).toBe('QUOTA_EXCEEDED');
      expect(error.extensions?.['budget']).toBe(budget);
      expect(error.extensions?.['budgetUsd']).toBe(budgetUsd);
      expect(error.extensions?.['spentUsd']).toBe(spentUsd);
    }

    it('admits a parallel burst until the daily budget is spent, then QUOTA_EXCEEDED before any upstream call', async () => {
      fake.reset();
      const budget = 3.5 * COST;
      const { key } = await createKey(gw, { dailyBudgetUsd: budget });
      const before = await me(gw, key);
      expect(before.dailyBudgetLeftUsd).toBe(budget);
      expect(before.monthlyBudgetLeftUsd).toBeNull();

      // Admitted requests are held at the upstream until every refusal is in (see the rpm test).
      const { hold, release } = holdOpen();
      fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS }, holdUntil: hold });
      let answered = 0;
      const pending = Array.from({ length: 8 }, () => run(key).finally(() => answered++));
      try {
        await until(() => Promise.resolve(answered === 5), 'the 5 refusals while the admitted three are held');
        await fake.waitForRequests(3);
        expect(answered).toBe(5);
      } finally {
        release();
      }
      const results = await Promise.all(pending);
      const admitted = results.filter((r) => r.errors === undefined);
      expect(admitted).toHaveLength(3);
      for (const r of admitted) expect(r.data?.complete.usage.cost).toBe(COST);
      const refused = results.filter((r) => r.errors !== undefined);
      expect(refused).toHaveLength(5);
      for (const r of refused) {
        const error = onlyError(r);
        expect(error.extensions?.code).toBe('QUOTA_EXCEEDED');
        expect(error.extensions?.['budget']).toBe('daily');
        expect(error.extensions?.['budgetUsd']).toBe(budget);
      }
      expect(generations(fake)).toBe(3);

      const after = await me(gw, key);
      expect(after.spentTodayUsd).toBe(3 * COST);
      expect(after.spentThisMonthUsd).toBe(3 * COST);
      expect(after.dailyBudgetLeftUsd).toBe(budget - 3 * COST);
      // Once everything has settled, the refusal reports what was spent.
      expectQuotaExceeded(await run(key), 'daily', budget, 3 * COST);
      expect(generations(fake)).toBe(3);
    });

    it('admits exactly what fits the daily budget of subscriptions arriving together on one graphql-ws socket', async () => {
      fake.reset();
      const budget = 3.5 * COST;
      const { key } = await createKey(gw, { dailyBudgetUsd: budget });
      const { hold, release } = holdOpen();
      fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS }, holdUntil: hold });
      const client = keyedWs(gw.wsUrl, key);
      try {
        const burst = wsBurst(client, 8, { maxTokens: MAX_TOKENS });
        await fake.waitForRequests(3);
        release();
        const outcomes = await burst;
        expect(outcomes.filter((o) => 'text' in o)).toHaveLength(3);
        const refused = outcomes.filter((o) => 'error' in o);
        expect(refused).toHaveLength(5);
        for (const o of refused) expect(o).toMatchObject({ error: { code: 'QUOTA_EXCEEDED', budget: 'daily', budgetUsd: budget } });
        expect(generations(fake)).toBe(3);
        expect((await me(gw, key)).spentTodayUsd).toBe(3 * COST);
      } finally {
        release();
        await client.dispose();
      }
    });

    it('counts what running requests reserved: a request is refused while another holds the budget, admitted once it ends having consumed nothing', async () => {
      fake.reset();
      const budget = 1.5 * COST;
      const { key } = await createKey(gw, { dailyBudgetUsd: budget });
      fake.script({ fault: { kind: 'hang' } });
      const controller = new AbortController();
      const hung = run(key, {}, controller.signal).catch(() => undefined);
      await fake.waitForRequests(1);
      // Nothing spent yet, but the running request's reservation leaves too little.
      expectQuotaExceeded(await run(key), 'daily', budget, 0);
      expect(generations(fake)).toBe(1);
      controller.abort();
      await hung;
      fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS } });
      let admitted: HttpResult<CompleteMutation> | undefined;
      await until(async () => {
        admitted = await run(key);
        return admitted.errors === undefined;
      }, 'the cancelled reservation to be released');
      expect(generations(fake)).toBe(2);
      expect((await me(gw, key)).spentTodayUsd).toBe(COST);
    });

    it('applies the monthly budget likewise', async () => {
      fake.reset();
      fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS } });
      const budget = 2.5 * COST;
      const { key } = await createKey(gw, { monthlyBudgetUsd: budget });
      expect((await run(key)).errors).toBeUndefined();
      expect((await run(key)).errors).toBeUndefined();
      expectQuotaExceeded(await run(key), 'monthly', budget, 2 * COST);
      expect(generations(fake)).toBe(2);
      const after = await me(gw, key);
      expect(after.spentThisMonthUsd).toBe(2 * COST);
      expect(after.monthlyBudgetLeftUsd).toBe(budget - 2 * COST);
      expect(after.dailyBudgetLeftUsd).toBeNull();
    });

    it('refuses a model it cannot price to a key with a budget, before any upstream call (FORBIDDEN, UNPRICED_MODEL)', async () => {
      fake.reset();
      const { key } = await createKey(gw, { dailyBudgetUsd: 0 });
      const { key: monthly } = await createKey(gw, { monthlyBudgetUsd: 100 });
      // Models missing from the price table that a $0 budget was once served (issue #12).
      for (const model of ['o1-pro', 'gpt-4.5-preview', 'gpt-4-32k', 'my-model']) {
        for (const k of [key, monthly]) {
          const error = onlyError(await run(k, { model }));
          expect(error.extensions?.code).toBe('FORBIDDEN');
          expect(error.extensions?.['reason']).toBe('UNPRICED_MODEL');
          expect(error.extensions?.['model']).toBe(model);
          expect(error.message).toContain(model);
        }
      }
      expect(generations(fake)).toBe(0);
      // A key without a budget is served, counted in tokens only.
      fake.script({ usage: { prompt_tokens: 9, completion_tokens: 3 } });
      const { key: unbudgeted } = await createKey(gw, { rpm: 100 });
      const served = await run(unbudgeted, { model: 'my-model' });
      expect(served.errors).toBeUndefined();
      expect(served.data?.complete.usage.cost).toBeNull();
      expect(generations(fake)).toBe(1);
    });

    describe('with UNPRICED_MODELS=allow', () => {
      beforeAll(async () => {
        await gw.stop();
        gw = await startGateway({ ...env(), UNPRICED_MODELS: 'allow' });
      });

      it('counts an unpriced model in tokens only: the budget never refuses it', async () => {
        fake.reset();
        fake.script({ usage: { prompt_tokens: 9, completion_tokens: 3 } });
        const { key } = await createKey(gw, { dailyBudgetUsd: 0, monthlyBudgetUsd: 0 });
        // A priced model does not fit a zero budget.
        expectQuotaExceeded(await run(key), 'daily', 0, 0);
        expect(generations(fake)).toBe(0);

        for (let i = 0; i < 2; i++) {
          const result = await run(key, { model: 'my-model' });
          expect(result.errors).toBeUndefined();
          expect(result.data?.complete.usage).toEqual({
            promptTokens: 9,
            completionTokens: 3,
            totalTokens: 12,
            cost: null,
          });
        }
        expect(generations(fake)).toBe(2);
        const after = await me(gw, key);
        expect(after.tokensLastMinute).toBe(24);
        expect(after.spentTodayUsd).toBe(0);
        expect(after.dailyBudgetLeftUsd).toBe(0);
      });

      it('counts what a priced fallback cost for an unpriced request, even when that is the key’s first request', async () => {
        fake.reset();
        // my-model (no price) fails; the priced gpt-4o-mini serves it: 10 + 10 tokens at $1 = $20.
        fake.script({ fault: { kind: 'serverError' }, faultTimes: 1, usage: { prompt_tokens: 10, completion_tokens: 10 } });
        const budget = 20 + COST - 1;
        const { key } = await createKey(gw, { dailyBudgetUsd: budget });
        const served = await run(key, { model: 'my-model' });
        expect(served.errors).toBeUndefined();
        expect(served.data?.complete.model).toBe('gpt-4o-mini');
        expect(served.data?.complete.usage.cost).toBe(20);
        expect((await me(gw, key)).spentTodayUsd).toBe(20);
        // $20 spent + a $COST reservation is over the budget.
        fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS } });
        expectQuotaExceeded(await run(key), 'daily', budget, 20);
        expect(generations(fake)).toBe(2);
      });
    });

    it('remembers spending across a restart: a new gateway seeds it from the ledger', async () => {
      fake.reset();
      fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: MAX_TOKENS } });
      const budget = 1.5 * COST;
      const { key } = await createKey(gw, { dailyBudgetUsd: budget });
      expect((await run(key)).errors).toBeUndefined();
      await gw.stop(); // flushes the ledger
      gw = await startGateway(env());
      expect((await me(gw, key)).spentTodayUsd).toBe(COST);
      expectQuotaExceeded(await run(key), 'daily', budget, COST);
      expect(generations(fake)).toBe(1);
    });
  });
}
