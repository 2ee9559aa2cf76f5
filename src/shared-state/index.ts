/**
 * What instances share (REDIS_URL): per-key limits and budgets, the upstream concurrency
 * cap, and word of key changes. Without REDIS_URL each process keeps its own, as a single
 * instance always has. Built by the app; see redis.ts for how an outage is handled.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { MemoryQuotas } from '../accounts/memory-quotas.js';
import type { Quotas, SpentSince } from '../accounts/quotas.js';
import type { Config } from '../config/index.js';
import { FailoverQuotas } from './failover-quotas.js';
import { keyChannel } from './key-events.js';
import { RedisQuotas } from './redis-quotas.js';
import { SharedRedis } from './redis.js';
import { SharedSlots } from './slots.js';

export interface SharedState {
  quotas: Quotas;
  /** The cross-instance upstream cap; undefined without Redis (the local limiter is the cap). */
  slots: SharedSlots | undefined;
  /** The connection to Redis (REDIS_URL) for other shared stores (the response cache); undefined without it. */
  redis: SharedRedis | undefined;
  /** Tells every instance (this one too) that a key changed. */
  keyChanged(keyId: string): Promise<void>;
  /** Runs `listener` when any instance changed a key, or when Redis is back (changes may have been missed). */
  onKeyChange(listener: () => void): void;
  /** Waits briefly for the first connection; the gateway starts either way. */
  connected(): Promise<void>;
  close(): Promise<void>;
}

export interface SharedStateDeps {
  logger: Logger;
  /** Where `gateway_redis_up` goes. */
  registry: Registry;
  spentSince: SpentSince;
}

type SharedConfig = Pick<
  Config,
  | 'redisUrl'
  | 'redisFailureMode'
  | 'redisKeyPrefix'
  | 'redisLeaseMs'
  | 'redisCommandTimeoutMs'
  | 'upstreamMaxConcurrency'
  | 'upstreamQueueTimeoutMs'
>;

export function openSharedState(config: SharedConfig, deps: SharedStateDeps): SharedState {
  if (config.redisUrl === undefined) {
    return {
      quotas: new MemoryQuotas(deps.spentSince),
      slots: undefined,
      redis: undefined,
      keyChanged: () => Promise.resolve(),
      onKeyChange: () => undefined,
      connected: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }
  const failureMode = config.redisFailureMode;
  const redis = new SharedRedis({
    url: config.redisUrl,
    prefix: config.redisKeyPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    failureMode,
    logger: deps.logger,
    registry: deps.registry,
  });
  const shared = new RedisQuotas(redis, deps.spentSince, { leaseMs: config.redisLeaseMs });
  const slots = new SharedSlots(redis, shared.leases, {
    capacity: config.upstreamMaxConcurrency,
    timeoutMs: config.upstreamQueueTimeoutMs,
    failureMode,
  });
  const listeners: (() => void)[] = [() => shared.forget()];
  const changed = (): void => {
    for (const listener of listeners) listener();
  };
  const channel = keyChannel(config.redisKeyPrefix);
  redis.subscribe(channel, changed).catch(() => undefined);
  redis.onRecovered(changed);
  redis.onResubscribed(changed);
  return {
    quotas: new FailoverQuotas(shared, redis, deps.spentSince, failureMode),
    slots,
    redis,
    async keyChanged(keyId) {
      await redis.publish(channel, keyId);
    },
    onKeyChange(listener) {
      listeners.push(listener);
    },
    async connected() {
      await redis.connected(Math.max(2 * config.redisCommandTimeoutMs, 2000));
    },
    async close() {
      slots.close();
      shared.close();
      await redis.close();
    },
  };
}
