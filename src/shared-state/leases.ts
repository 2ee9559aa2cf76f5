/**
 * Leases this instance holds in Redis (stream slots, budget reservations, upstream slots):
 * each expires REDIS_LEASE_MS after it was last renewed, so what a crashed instance held is
 * freed by itself; while the operation runs, this renews all of them every third of that,
 * in one pipelined round trip. A renewal that fails (Redis unreachable) is retried at the
 * next tick; one that lapsed meanwhile (an outage longer than the lease) is taken again,
 * so that the shared counts say what really runs, even if that is over a limit for a while.
 */
import type { Result } from 'ioredis';
import type { SharedRedis } from './redis.js';

/**
 * KEYS: the sorted sets holding the lease, then hashes that live as long (none or more).
 * ARGV: now ('' = Redis's clock), leaseMs, id, how many of KEYS are sorted sets. Extends a
 * running operation's lease, or takes it again if it lapsed.
 */
const RENEW = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local lease, id, sets = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
for i = 1, #KEYS do
  if i <= sets then redis.call('ZADD', KEYS[i], now + lease, id) end
  redis.call('PEXPIRE', KEYS[i], lease)
end
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    gatewayLeaseRenew(numberOfKeys: number, ...args: (string | number)[]): Result<number, Context>;
  }
}

interface Held {
  /** Sorted sets where the lease is a member scored by its expiry. */
  sets: string[];
  /** Hashes that must live as long (amounts of the same members). */
  hashes: string[];
}

export class Leases {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: SharedRedis,
    readonly leaseMs: number,
    /** The time the scripts use; undefined = Redis's own clock. */
    private readonly clock: (() => number) | undefined,
  ) {
    // The number of keys varies: it is the first argument.
    redis.client.defineCommand('gatewayLeaseRenew', { lua: RENEW });
  }

  hold(id: string, sets: string[], hashes: string[] = []): void {
    this.held.set(id, { sets, hashes });
    this.timer ??= setInterval(() => this.renew(), Math.max(10, Math.floor(this.leaseMs / 3))).unref();
  }

  release(id: string): void {
    this.held.delete(id);
    if (this.held.size === 0) this.stop();
  }

  get size(): number {
    return this.held.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private renew(): void {
    if (!this.redis.available || this.held.size === 0) return;
    const now = this.clock ? String(this.clock()) : '';
    const pipeline = this.redis.client.pipeline();
    for (const [id, { sets, hashes }] of this.held) {
      pipeline.gatewayLeaseRenew(sets.length + hashes.length, ...sets, ...hashes, now, this.leaseMs, id, sets.length);
    }
    pipeline.exec().then(
      (results) => {
        const failure = results?.find(([error]) => error !== null)?.[0];
        if (failure) this.redis.failed(failure);
      },
      (error: unknown) => this.redis.failed(error),
    );
  }
}
