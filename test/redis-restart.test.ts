/**
 * Redis killed and restarted for real (issue #16): a private `redis-server` on a port of its
 * own (no persistence, so it comes back empty), SIGKILLed mid-test while a stream runs, then
 * started again on the same port. Two gateways share it and one database. The machine's
 * Redis on 6379 is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually, startGateway, type HttpResult, type TestGateway } from './helpers.js';
import { freePort } from './process.js';
import { complete, ledgerRows, logged, redisUp } from './redis-gateways.js';
import { createKey, expectRateLimited, holdOpen, input, keyedWs, me, onlyError, PROMPT_TOKENS, until } from './quota-cases.js';

const REDIS_SERVER = '/usr/bin/redis-server';
// $1 per token, so costs are whole dollars.
const PRICES = JSON.stringify({ 'gpt-4o-mini': { input: 1_000_000, output: 1_000_000 } });
const COST = PROMPT_TOKENS + 5;
const UNREACHABLE = 'Redis is unreachable';
const BACK = 'Redis is reachable again';

let port = 0;
let dir = '';
let server: ChildProcess | undefined;
let fake: FakeUpstream;
const gateways: TestGateway[] = [];
const clients: Client[] = [];

/** Starts the private Redis on `port`, empty, and waits until it answers PING. */
async function startRedis(): Promise<void> {
  const child = spawn(REDIS_SERVER, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], {
    stdio: 'ignore',
  });
  server = child;
  const client = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        try {
          if (client.status !== 'ready') await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          client.disconnect();
          return false;
        }
      },
      'the private redis-server answering PING',
      5000,
    );
  } finally {
    client.disconnect();
  }
}

/** SIGKILL: no shutdown, no save; resolves once the process is gone. */
async function killRedis(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  if (!existsSync(REDIS_SERVER)) return;
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'gw-redis-'));
  await startRedis();
  fake = await startFakeUpstream();
  const env = {
    OPENAI_API_KEY: 'sk-test-gateway-key',
    OPENAI_BASE_URL: fake.url,
    MODEL_PRICES: PRICES,
    DATABASE_URL: await sqlite.create(),
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_COMMAND_TIMEOUT_MS: '300',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
  };
  gateways.push(await startGateway(env), await startGateway(env));
});

afterAll(async () => {
  for (const client of clients) await client.dispose();
  for (const gw of gateways) await gw.stop();
  await fake?.close();
  await killRedis();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs one subscription to its end: the final text and usage, or the first error. */
async function stream(client: Client): Promise<{ text: string; errors: unknown }> {
  let text = '';
  const iterator = client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: { input: input({ maxTokens: 5 }) } });
  for await (const result of iterator) {
    if (result.errors) return { text, errors: result.errors };
    text = result.data?.completionStream.accumulatedText ?? text;
  }
  return { text, errors: undefined };
}

describe.skipIf(!existsSync(REDIS_SERVER))('redis-server SIGKILLed and restarted empty (REDIS_FAILURE_MODE=open)', () => {
  it('serves on local limits while Redis is dead (logged once, gateway_redis_up 0, a running stream completes), then shares limits again with spend re-seeded from the ledger, every ledger row written', async () => {
    const [a, b] = gateways;
    if (!a || !b) throw new Error('gateways not started');
    fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: 5 } });
    const limited = await createKey(a, { rpm: 3 });
    const budgeted = await createKey(a, { dailyBudgetUsd: 2.5 * COST });
    const streaming = await createKey(a, {});

    // Redis up: the minute and the spend are shared by both gateways.
    expect((await complete(a, limited.key)).errors).toBeUndefined();
    expect((await complete(b, limited.key)).errors).toBeUndefined();
    expect((await me(a, limited.key)).requestsLastMinute).toBe(2);
    expect((await complete(a, budgeted.key)).errors).toBeUndefined();
    expect((await me(b, budgeted.key)).spentTodayUsd).toBe(COST);
    expect(await redisUp(a)).toBe(1);
    expect(await redisUp(b)).toBe(1);

    // A stream admitted while Redis is up, held at the upstream across the kill.
    const { hold, release } = holdOpen();
    fake.script({ usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: 5 }, holdUntil: hold });
    const client = keyedWs(a.wsUrl, streaming.key);
    clients.push(client);
    const running = stream(client);
    await fake.waitForRequests(4);

    await killRedis();
    // Gateway a's own minute, seeded fresh: 3 of 5 fit (held at the upstream with the stream
    // until the refusals are in), the rest are refused; nothing waits on Redis.
    let answered = 0;
    const pending = Array.from({ length: 5 }, () => complete(a, limited.key).finally(() => answered++));
    let during: HttpResult<unknown>[];
    try {
      await until(() => Promise.resolve(answered === 2), 'the two refusals while Redis is dead', 5000);
      await fake.waitForRequests(4 + 3);
    } finally {
      release();
      during = await Promise.all(pending);
    }
    expect(during.filter((r) => r.errors === undefined)).toHaveLength(3);
    for (const r of during.filter((r) => r.errors !== undefined)) expectRateLimited(r, 'rpm');
    // Its own budget, seeded from the ledger: one more fits, the next would pass 2.5 × COST.
    await a.app.ledger.flush();
    expect((await complete(a, budgeted.key)).errors).toBeUndefined();
    expect(onlyError(await complete(a, budgeted.key)).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', spentUsd: 2 * COST });
    expect(await redisUp(a)).toBe(0);
    await until(async () => (await redisUp(b)) === 0, 'gateway b noticing the outage', 5000);
    expect(logged(a, UNREACHABLE)).toBe(1);

    const streamed = await running;
    expect(streamed.errors).toBeUndefined();
    expect(streamed.text).toBe('Hello from the fake upstream.');

    // Back on the same port, empty.
    await startRedis();
    for (const gw of gateways) await until(async () => (await redisUp(gw)) === 1, 'gateway_redis_up back to 1', 15_000);
    await eventually(() => logged(a, BACK) === 1 && logged(b, BACK) === 1, 'the recovery logged');
    for (const gw of gateways) expect(logged(gw, UNREACHABLE)).toBe(1);

    // Shared again, on a minute Redis starts afresh: 3 fit across both gateways, the fourth does not.
    expect((await complete(a, limited.key)).errors).toBeUndefined();
    expect((await complete(b, limited.key)).errors).toBeUndefined();
    expect((await complete(a, limited.key)).errors).toBeUndefined();
    expectRateLimited(await complete(b, limited.key), 'rpm');
    expect((await me(b, limited.key)).requestsLastMinute).toBe(3);
    // The spend Redis lost is seeded again from the ledger, outage spend included, counted once.
    for (const gw of gateways) await gw.app.ledger.flush();
    expect(onlyError(await complete(b, budgeted.key)).extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', spentUsd: 2 * COST });
    expect((await me(a, budgeted.key)).spentTodayUsd).toBe(2 * COST);

    // Every answered request has its ledger row.
    expect(await ledgerRows(limited.id, gateways, gateways[0] as TestGateway)).toBe(2 + 3 + 3);
    expect(await ledgerRows(budgeted.id, gateways, gateways[0] as TestGateway)).toBe(2);
    expect(await ledgerRows(streaming.id, gateways, gateways[0] as TestGateway)).toBe(1);
  });
});
