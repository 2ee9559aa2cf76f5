/**
 * The response cache in Redis (with `REDIS_URL`): every instance and worker reads the
 * answers any of them stored. One string per answer, `SET key value PX ttl`, so Redis
 * expires it by itself; the size cap is the cache's (response-cache.ts), before a value
 * is sent here.
 */
import type { Redis } from 'ioredis';
import type { CacheStore } from './cache-store.js';

/**
 * While the client is in these states a command would wait in ioredis's offline queue
 * until Redis is back: a cache does better to answer "miss" at once.
 */
const UNAVAILABLE = new Set<Redis['status']>(['reconnecting', 'close', 'end']);

export interface RedisStoreOptions {
  /** Put before every key (REDIS_KEY_PREFIX and the cache's own part), so instances of other deployments on the same Redis never meet. */
  prefix: string;
  /**
   * Longest wait for Redis on a lookup or a store; past it the lookup is a miss. A cache
   * that stalls requests would cost more than it saves.
   * @default 250
   */
  timeoutMs?: number;
  /** Told of each failure (a timeout, a refused command), for the log; the store itself carries on. */
  onError?: (error: unknown) => void;
}

export class RedisCacheStore implements CacheStore {
  private readonly timeoutMs: number;

  /** `redis` is the app's client: the store neither connects nor closes it. */
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisStoreOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 250;
  }

  async get(key: string): Promise<string | undefined> {
    if (UNAVAILABLE.has(this.redis.status)) return undefined;
    try {
      return (await this.bounded(this.redis.get(this.options.prefix + key))) ?? undefined;
    } catch (error) {
      this.options.onError?.(error);
      return undefined;
    }
  }

  async set(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (UNAVAILABLE.has(this.redis.status)) return false;
    try {
      return (await this.bounded(this.redis.set(this.options.prefix + key, value, 'PX', ttlMs))) === 'OK';
    } catch (error) {
      this.options.onError?.(error);
      return false;
    }
  }

  /** `command`, or a rejection once `timeoutMs` has passed (the command itself runs on). */
  private bounded<T>(command: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([command, late]).finally(() => clearTimeout(timer));
  }
}
