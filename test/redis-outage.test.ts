/**
 * Redis lost and found again (issue #16). Each gateway under test reaches Redis through a
 * TCP proxy this file controls (cut: connections closed and refused; mute: accepted but
 * never answered), while a witness gateway on the same database and Redis, connected
 * directly, reads the shared counts. The machine's Redis itself is never touched.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CompleteDocument } from '../src/generated/operations.js';
import { sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually, graphql, startGateway, type TestGateway } from './helpers.js';
import { createKey, expectRateLimited, input, me, onlyError, PROMPT_TOKENS, until } from './quota-cases.js';
import { complete, ledgerRows, logged, redisUp } from './redis-gateways.js';
import { keysUnder, REDIS_URL_TEST, redisSkip, testPrefix } from './redis.js';
import { Redis } from 'ioredis';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

// $1 per token, so costs are whole dollars.
const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 1_000_000, output: 1_000_000 } });
const COST = PROMPT_TOKENS + 5;

let fake: FakeUpstream;
let witness: TestGateway;
const started: TestGateway[] = [];
let env: Record<string, string> = {};

beforeAll(async () => {
  if (redisSkip) return;
  fake = await startFakeUpstream();
  env = {
    OPENAI_API_KEY: 'sk-test-gateway-key',
    OPENAI_BASE_URL: fake.url,
    MODEL_PRICES: PRICES,
    DATABASE_URL: await sqlite.create(),
    REDIS_KEY_PREFIX: testPrefix(),
    REDIS_COMMAND_TIMEOUT_MS: '300',
  };
  witness = await startGateway({ ...env, REDIS_URL: REDIS_URL_TEST });
});
afterAll(async () => {
  for (const gw of started) await gw.stop();
  await witness?.stop();
  await fake?.close();
});
beforeEach(() => fake?.reset());

/** A gateway reaching Redis through a proxy of its own. */
async function behindProxy(extra: Record<string, string> = {}, before?: (proxy: TcpProxy) => Promise<void>): Promise<{ gw: TestGateway; proxy: TcpProxy }> {
  const proxy = await startTcpProxy(REDIS_URL_TEST);
  await before?.(proxy);
  const gw = await startGateway({ ...env, REDIS_URL: proxy.url, ...extra });
  started.push(gw);
  return { gw, proxy };
}

const UNREACHABLE = 'Redis is unreachable';
const BACK = 'Redis is reachable again';

describe.skipIf(redisSkip !== undefined)('REDIS_FAILURE_MODE=open', () => {
  it('falls back to its own limits when Redis is cut (logging once, gateway_redis_up 0), then returns to the shared ones, every ledger row written', async () => {
    const { gw, proxy } = await behindProxy();
    const { key, id } = await createKey(witness, { rpm: 3 });
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect((await me(witness, key)).requestsLastMinute).toBe(1);
    expect(await redisUp(gw)).toBe(1);

    await proxy.cut();
    // Its own minute, seeded fresh: 3 more fit, the fourth does not; nothing waits on Redis.
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await complete(gw, key));
    expect(during.filter((r) => r.errors === undefined)).toHaveLength(3);
    for (const r of during.filter((r) => r.errors !== undefined)) expectRateLimited(r, 'rpm');
    expect(await redisUp(gw)).toBe(0);
    expect(logged(gw, UNREACHABLE)).toBe(1);
    // The shared minute never heard of them.
    expect((await me(witness, key)).requestsLastMinute).toBe(1);

    await proxy.restore();
    await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up back to 1', 10_000);
    expect(logged(gw, BACK)).toBe(1);
    // Shared again: the minute holds the first request, so two more fit, across both instances.
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect((await complete(witness, key)).errors).toBeUndefined();
    expectRateLimited(await complete(gw, key), 'rpm');
    expect((await me(witness, key)).requestsLastMinute).toBe(3);
    expect(logged(gw, UNREACHABLE)).toBe(1);
    expect(await ledgerRows(id, [gw, witness], witness)).toBe(1 + 3 + 2);
  });

  it('adds what was spent during the outage to the shared budget once Redis is back', async () => {
    const { gw, proxy } = await behindProxy();
    const { key } = await createKey(witness, { dailyBudgetUsd: 2.5 * COST });
    fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: 5 } });
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect((await me(witness, key)).spentTodayUsd).toBe(COST);

    await proxy.cut();
    await eventually(() => logged(gw, UNREACHABLE) === 1, 'the outage noticed');
    // Its own budget is seeded from the ledger: what the gateway has written of it.
    await gw.app.ledger.flush();
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect(onlyError(await complete(gw, key)).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', spentUsd: 2 * COST });

    await proxy.restore();
    await until(async () => (await me(witness, key)).spentTodayUsd === 2 * COST, 'the outage spend added to the shared spend', 10_000);
    expect(onlyError(await complete(witness, key)).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', spentUsd: 2 * COST });
  });

  it('seeds spend from the ledger again when Redis comes back without its data (restarted without persistence)', async () => {
    const { key, id } = await createKey(witness, { dailyBudgetUsd: 2.5 * COST });
    fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: 5 } });
    expect((await complete(witness, key)).errors).toBeUndefined();
    expect((await complete(witness, key)).errors).toBeUndefined();
    await witness.app.ledger.flush();
    // What a restart without persistence leaves of this key: nothing.
    const lost = (await keysUnder(env['REDIS_KEY_PREFIX'] ?? '')).filter((name) => name.includes(id));
    expect(lost.length).toBeGreaterThan(0);
    const client = new Redis(REDIS_URL_TEST);
    await client.del(...lost);
    client.disconnect();
    expect(onlyError(await complete(witness, key)).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', spentUsd: 2 * COST });
    expect((await me(witness, key)).spentTodayUsd).toBe(2 * COST);
  });

  it('starts while Redis is unreachable, serves on its own limits, and shares them once Redis answers', async () => {
    const { gw, proxy } = await behindProxy({}, (proxy) => proxy.cut());
    const { key } = await createKey(witness, { rpm: 5 });
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect(await redisUp(gw)).toBe(0);
    expect(logged(gw, UNREACHABLE)).toBe(1);

    await proxy.restore();
    await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up 1 once Redis answers', 10_000);
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect((await me(witness, key)).requestsLastMinute).toBe(1);
  });

  it('does not wait on a Redis that stops answering: past REDIS_COMMAND_TIMEOUT_MS it serves on its own limits', async () => {
    const { gw, proxy } = await behindProxy();
    const { key } = await createKey(witness, { rpm: 10 });
    expect((await complete(gw, key)).errors).toBeUndefined();
    proxy.mute();
    for (let i = 0; i < 3; i++) expect((await complete(gw, key)).errors).toBeUndefined();
    expect(await redisUp(gw)).toBe(0);
    expect(logged(gw, UNREACHABLE)).toBe(1);
    await proxy.restore();
    await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up 1 once Redis answers', 10_000);
  });
});

describe.skipIf(redisSkip !== undefined)('REDIS_FAILURE_MODE=closed', () => {
  it('refuses admission with SERVICE_UNAVAILABLE while Redis is cut, and admits again once it is back', async () => {
    const { gw, proxy } = await behindProxy({ REDIS_FAILURE_MODE: 'closed' });
    const { key, id } = await createKey(witness, { rpm: 10 });
    expect((await complete(gw, key)).errors).toBeUndefined();

    await proxy.cut();
    for (let i = 0; i < 3; i++) {
      expect(onlyError(await complete(gw, key)).extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterMs: 1000 });
    }
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(await redisUp(gw)).toBe(0);
    expect(logged(gw, UNREACHABLE)).toBe(1);

    await proxy.restore();
    await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up back to 1', 10_000);
    expect((await complete(gw, key)).errors).toBeUndefined();
    expect((await me(witness, key)).requestsLastMinute).toBe(2);
    expect(await ledgerRows(id, [gw], witness)).toBe(2);
  });

  it('refuses the upstream slot too (the cap it cannot count), for a gateway that needs no key', async () => {
    // A database of its own with no key in it: the gateway runs open, so only the slot is asked.
    const { gw, proxy } = await behindProxy({ REDIS_FAILURE_MODE: 'closed', DATABASE_URL: 'file::memory:' });
    const open = (): ReturnType<typeof graphql<unknown, unknown>> => graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 5 }) });
    expect((await open()).errors).toBeUndefined();
    await proxy.cut();
    expect(onlyError(await open()).extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    await proxy.restore();
    await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up back to 1', 10_000);
    expect((await open()).errors).toBeUndefined();
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
  });
});
