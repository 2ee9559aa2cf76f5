/**
 * The machine's Redis for tests (REDIS_URL_TEST, default redis://127.0.0.1:6379), shared by
 * test files running in parallel: each file takes a random key prefix (REDIS_KEY_PREFIX)
 * and deletes its keys afterwards, so files never see each other's state. Tests that must
 * lose Redis put a `TcpProxy` (tcp-proxy.ts) in front of it and cut that, never the server.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { afterAll } from 'vitest';
import { SharedRedis } from '../src/shared-state/redis.js';

export const REDIS_URL_TEST = process.env['REDIS_URL_TEST'] ?? 'redis://127.0.0.1:6379';

async function reachable(): Promise<boolean> {
  const client = new Redis(REDIS_URL_TEST, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Why Redis tests cannot run here: only when it is unreachable and nobody asked for it (CI sets REDIS_URL_TEST). */
export const redisSkip: string | undefined =
  (await reachable()) || process.env['REDIS_URL_TEST'] !== undefined ? undefined : `Redis is not reachable at ${REDIS_URL_TEST} (set REDIS_URL_TEST)`;

const prefixes: string[] = [];
afterAll(async () => {
  if (prefixes.length === 0 || redisSkip) return;
  const client = new Redis(REDIS_URL_TEST);
  try {
    for (const prefix of prefixes.splice(0)) await deleteKeys(client, prefix);
  } finally {
    client.disconnect();
  }
});

/** A key prefix no other test uses; its keys are deleted after the file. */
export function testPrefix(): string {
  const prefix = `llmgw-test:${randomUUID().slice(0, 8)}:`;
  prefixes.push(prefix);
  return prefix;
}

/** The keys under `prefix`, for tests that look at what the gateway left in Redis. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = new Redis(REDIS_URL_TEST);
  try {
    return await client.keys(`${prefix}*`);
  } finally {
    client.disconnect();
  }
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Log lines written to memory, parsed. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, destination), lines };
}

/** A connection as the gateway makes it, to `url` (the real Redis by default), connected. */
export async function sharedRedis(
  prefix: string,
  options: { url?: string; failureMode?: 'open' | 'closed'; commandTimeoutMs?: number; logger?: Logger } = {},
): Promise<SharedRedis> {
  const redis = new SharedRedis({
    url: options.url ?? REDIS_URL_TEST,
    prefix,
    commandTimeoutMs: options.commandTimeoutMs ?? 1000,
    failureMode: options.failureMode ?? 'open',
    logger: options.logger ?? memoryLogger().logger,
    registry: new Registry(),
  });
  await redis.connected(3000);
  return redis;
}
