/**
 * UPSTREAM_MAX_CONCURRENCY across every instance: a semaphore in Redis whose slots are
 * leases (a sorted set of slot id → expiry), so a crashed instance's slots are freed when
 * their leases lapse. Waiting stays local and in order: this instance's waiters try again
 * whenever any instance frees a slot (a pub/sub message), and every POLL_MS in case a slot
 * was freed by expiry. Past UPSTREAM_QUEUE_TIMEOUT_MS a waiter is refused as the local
 * limiter refuses (RATE_LIMITED, GATEWAY_CAPACITY). While Redis cannot be reached, `open`
 * leaves each instance to its own cap and `closed` refuses with SERVICE_UNAVAILABLE.
 */
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import { atCapacity } from '../completion/limiter.js';
import { serviceUnavailable } from './failover-quotas.js';
import type { Leases } from './leases.js';
import type { SharedRedis } from './redis.js';

/** KEYS: the slots. ARGV: now ('' = Redis's clock), capacity, leaseMs, id. 1 = taken, 0 = full. */
const ACQUIRE = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    gatewaySlotAcquire(key: string, now: string, capacity: number, leaseMs: number, id: string): Result<number, Context>;
  }
}

const POLL_MS = 100;

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (error: unknown) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal;
  onAbort: () => void;
}

export interface SharedSlotsOptions {
  capacity: number;
  /** UPSTREAM_QUEUE_TIMEOUT_MS: the longest wait for a shared slot. */
  timeoutMs: number;
  failureMode: 'open' | 'closed';
  /** Tests: the time the script uses (default: Redis's own clock). */
  clock?: () => number;
}

export class SharedSlots {
  private readonly waiting: Waiter[] = [];
  private readonly key: string;
  private readonly channel: string;
  private pumping = false;
  private again = false;
  private poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: SharedRedis,
    private readonly leases: Leases,
    private readonly options: SharedSlotsOptions,
  ) {
    this.key = redis.key('upstream', 'slots');
    this.channel = redis.key('upstream', 'freed');
    redis.client.defineCommand('gatewaySlotAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.subscribe(this.channel, () => void this.pump()).catch(() => undefined);
  }

  /** Waiting here for a shared slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with the slot's release, once one is free across all instances. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw signal.reason;
    if (this.waiting.length === 0) {
      const release = await this.take();
      if (signal.aborted) {
        release?.(); // the caller left while Redis answered
        throw signal.reason;
      }
      if (release) return release;
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        refuse: reject,
        signal,
        timer: setTimeout(() => this.drop(waiter, atCapacity()), this.options.timeoutMs),
        onAbort: () => this.drop(waiter, signal.reason),
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
      this.poll ??= setInterval(() => void this.pump(), POLL_MS).unref();
    });
  }

  /** A slot's release, or null when all are taken; throws SERVICE_UNAVAILABLE (closed) when Redis cannot say. */
  private async take(): Promise<(() => void) | null> {
    const id = randomUUID();
    try {
      if (!this.redis.available) return this.unavailable();
      const now = this.options.clock ? String(this.options.clock()) : '';
      const taken = await this.redis.client.gatewaySlotAcquire(this.key, now, this.options.capacity, this.leases.leaseMs, id);
      if (taken !== 1) return null;
    } catch (error) {
      this.redis.failed(error);
      return this.unavailable();
    }
    this.leases.hold(id, [this.key]);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leases.release(id);
      // Ordered on one connection: a waiter here asks after the slot is back.
      this.redis.client
        .multi()
        .zrem(this.key, id)
        .publish(this.channel, '1')
        .exec()
        .catch((error: unknown) => this.redis.failed(error));
      void this.pump();
    };
  }

  private unavailable(): () => void {
    if (this.options.failureMode === 'closed') throw serviceUnavailable();
    return () => undefined; // open: this instance's own cap (the local limiter) holds alone
  }

  /** Hands free slots to the waiters, first come first served. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (this.waiting.length > 0) {
          let release: (() => void) | null;
          try {
            release = await this.take();
          } catch (error) {
            for (const waiter of this.waiting.splice(0)) this.refuse(waiter, error);
            break;
          }
          if (!release) break;
          const waiter = this.waiting.shift();
          if (!waiter) {
            release(); // the waiter left while the slot was being taken
            break;
          }
          this.settle(waiter);
          waiter.grant(release);
        }
      } while (this.again && this.waiting.length > 0);
    } finally {
      this.pumping = false;
      if (this.waiting.length === 0) this.stopPolling();
    }
  }

  private drop(waiter: Waiter, error: unknown): void {
    const at = this.waiting.indexOf(waiter);
    if (at === -1) return;
    this.waiting.splice(at, 1);
    this.refuse(waiter, error);
    if (this.waiting.length === 0) this.stopPolling();
  }

  private refuse(waiter: Waiter, error: unknown): void {
    this.settle(waiter);
    waiter.refuse(error);
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  private stopPolling(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }

  close(): void {
    for (const waiter of this.waiting.splice(0)) this.refuse(waiter, atCapacity());
    this.stopPolling();
  }
}
