/** The response cache the configuration asks for: in Redis when the app has a client for it, else in this process's memory. */
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { SharedRedis as SharedStateRedis } from '../shared-state/redis.js';
import { MemoryCacheStore, type CacheStore } from './cache-store.js';
import { RedisCacheStore } from './cache-store-redis.js';
import { ResponseCache } from './response-cache.js';

/** The app's Redis (REDIS_URL) and the prefix of every key it writes there (REDIS_KEY_PREFIX). */
type SharedRedis = Pick<SharedStateRedis, 'client' | 'prefix'>;

export function responseCacheFrom(config: Config, metrics: Metrics, logger: Logger, redis?: SharedRedis): ResponseCache {
  const store: CacheStore = redis
    ? new RedisCacheStore(redis.client, {
        prefix: `${redis.prefix}cache:`,
        // Debug only: Redis being down is logged once where the client is watched, and a
        // failed lookup is a miss, counted in /metrics.
        onError: (error) => logger.debug({ err: error }, 'response cache: Redis command failed'),
      })
    : new MemoryCacheStore({ maxEntries: config.responseCacheMaxEntries, maxBytes: config.responseCacheMaxBytes });
  return new ResponseCache(
    store,
    { defaultTtlSeconds: config.responseCacheTtlSeconds, scope: config.cacheScope, maxEntryBytes: config.responseCacheMaxEntryBytes },
    metrics,
    logger,
  );
}
