/**
 * The response cache's Redis store against a real Redis (REDIS_URL_TEST, default
 * redis://127.0.0.1:6379; skipped, with the reason, when none is reachable), under a
 * random key prefix of this file's own, removed at the end: answers kept with Redis's own
 * expiry, two instances (two clients, two caches) reading each other's answers, and an
 * unreachable or garbled Redis that is only ever a miss.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ANSWER_FORMAT, type CachedAnswer } from '../src/completion/cache-answer.js';
import { RedisCacheStore } from '../src/completion/cache-store-redis.js';
import { ResponseCache } from '../src/completion/response-cache.js';
import { createLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';

const REDIS_URL = process.env['REDIS_URL_TEST'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `gw-test:${randomUUID()}:`;

async function reachable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

const up = await reachable();
const clients: Redis[] = [];

function client(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  clients.push(redis);
  return redis;
}

afterAll(async () => {
  if (up) {
    const admin = client();
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  for (const redis of clients.splice(0)) redis.disconnect();
});

const ANSWER: CachedAnswer = {
  format: ANSWER_FORMAT,
  id: 'chatcmpl-redis',
  model: 'gpt-4o-mini',
  created: 1_700_000_000,
  choices: [{ index: 0, text: 'Paris.', finishReason: 'stop', logprobs: null, toolCalls: null, refusal: null }],
  usage: { promptTokens: 12, completionTokens: 2, totalTokens: 14 },
};

function responseCache(redis: Redis, metrics = new Metrics()): ResponseCache {
  const store = new RedisCacheStore(redis, { prefix: `${PREFIX}cache:` });
  return new ResponseCache(store, { defaultTtlSeconds: 60, scope: 'key', maxEntryBytes: 1_048_576 }, metrics, createLogger('silent'));
}

describe.skipIf(!up)(`the Redis store at ${REDIS_URL}`, () => {
  it('keeps a value under its prefix with Redis’s own expiry (SET PX), and reads it back', async () => {
    const redis = client();
    const store = new RedisCacheStore(redis, { prefix: `${PREFIX}a:` });
    expect(await store.set('k1', 'the answer', 60_000)).toBe(true);
    expect(await store.get('k1')).toBe('the answer');
    const ttl = await redis.pttl(`${PREFIX}a:k1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await store.get('absent')).toBeUndefined();
  });

  it('lets Redis drop a value once its TTL has passed', async () => {
    const store = new RedisCacheStore(client(), { prefix: `${PREFIX}b:` });
    await store.set('short', 'soon gone', 300);
    expect(await store.get('short')).toBe('soon gone');
    await sleep(450);
    expect(await store.get('short')).toBeUndefined();
  });

  it('lets two instances (two clients, two caches) on one Redis serve each other’s answers', async () => {
    const metricsB = new Metrics();
    const a = responseCache(client());
    const b = responseCache(client(), metricsB);
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: `Shared ${randomUUID()}` }], temperature: 0 };
    const planA = a.plan(request, undefined, 'key-1');
    const planB = b.plan(request, undefined, 'key-1');
    if (!planA || !planB) throw new Error('a temperature-0 request is cached by default here');
    expect(planB.key).toBe(planA.key);
    expect(await b.lookup(planB)).toBeUndefined();

    a.store(planA, ANSWER);
    await expect.poll(() => b.lookup(planB)).toEqual(ANSWER);
    const hits = await metricsB.registry.getSingleMetricAsString('gateway_response_cache_lookups_total');
    expect(hits).toMatch(/result="hit"} [1-9]/);
    // Another key's scope is another key in Redis.
    const other = b.plan(request, undefined, 'key-2');
    if (!other) throw new Error('no plan');
    expect(await b.lookup(other)).toBeUndefined();
  });

  it('takes a value that is not a stored answer (another version’s, damaged) for a miss', async () => {
    const redis = client();
    const cache = responseCache(redis);
    const plan = cache.plan({ model: 'gpt-4o-mini', prompt: `Garbled ${randomUUID()}`, temperature: 0 }, undefined, null);
    if (!plan) throw new Error('no plan');
    await redis.set(`${PREFIX}cache:${plan.key}`, '{"format":0,"id":1}', 'PX', 60_000);
    expect(await cache.lookup(plan)).toBeUndefined();
    await redis.set(`${PREFIX}cache:${plan.key}`, 'not json', 'PX', 60_000);
    expect(await cache.lookup(plan)).toBeUndefined();
  });
});

describe('a Redis that cannot be reached', () => {
  it('is a miss at once, and a store that did not happen, never an error', async () => {
    // A port that refuses connections: one that was just free, closed again.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const redis = client(`redis://127.0.0.1:${address.port}`);
    redis.on('error', () => undefined);
    await expect.poll(() => redis.status).toBe('reconnecting');

    const store = new RedisCacheStore(redis, { prefix: `${PREFIX}down:` });
    expect(await store.get('k')).toBeUndefined();
    expect(await store.set('k', 'v', 1_000)).toBe(false);

    // The cache on top says so once, not once per answer it could not keep.
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const metrics = new Metrics();
    const cache = new ResponseCache(store, { defaultTtlSeconds: 60, scope: 'key', maxEntryBytes: 1_048_576 }, metrics, logger);
    for (const question of ['one', 'two', 'three']) {
      const plan = cache.plan({ model: 'gpt-4o-mini', prompt: question, temperature: 0 }, undefined, null);
      if (!plan) throw new Error('no plan');
      expect(await cache.lookup(plan)).toBeUndefined();
      cache.store(plan, ANSWER);
    }
    await expect.poll(() => metrics.registry.getSingleMetricAsString('gateway_response_cache_stores_total')).toMatch(/result="failed"} 3/);
    expect(lines.filter((l) => l.includes('could not be stored'))).toHaveLength(1);
  });

  it('is a miss when it accepts the connection but never answers, once timeoutMs has passed', async () => {
    // Takes connections and reads them, answers nothing: a hung Redis (or a wrong port).
    const silent = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    try {
      const redis = client(`redis://127.0.0.1:${address.port}`);
      redis.on('error', () => undefined);
      const errors: unknown[] = [];
      const store = new RedisCacheStore(redis, { prefix: `${PREFIX}silent:`, timeoutMs: 100, onError: (error) => errors.push(error) });
      expect(await store.get('k')).toBeUndefined();
      expect(await store.set('k', 'v', 1_000)).toBe(false);
      expect(errors.map((e) => (e instanceof Error ? e.message : String(e)))).toEqual([
        'Redis did not answer within 100 ms',
        'Redis did not answer within 100 ms',
      ]);
      redis.disconnect();
    } finally {
      silent.close();
    }
  });
});
