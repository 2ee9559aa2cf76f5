/**
 * The quotas the gateway uses when REDIS_URL is set: shared ones in Redis while it answers,
 * and otherwise, by REDIS_FAILURE_MODE, either this instance's own (`open`: a fresh
 * in-memory set per outage, its spend seeded from the ledger, what it spends added to the
 * shared spend once Redis is back) or none (`closed`: SERVICE_UNAVAILABLE). A request keeps
 * the reservation it was admitted with: its settlement goes where its admission did.
 */
import type { GraphQLError } from 'graphql';
import type { ApiKey } from '../accounts/keys.js';
import { MemoryQuotas } from '../accounts/memory-quotas.js';
import { utcDay, type Estimate, type Quotas, type Reservation, type SpentSince, type WindowUsage } from '../accounts/quotas.js';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
import { SharedStateUnavailable, type RedisQuotas } from './redis-quotas.js';
import type { SharedRedis } from './redis.js';

export function serviceUnavailable(): GraphQLError {
  return gatewayError(ErrorCode.SERVICE_UNAVAILABLE, 'The shared limits (Redis) cannot be reached, so nothing is admitted; retry shortly', {
    retryAfterMs: 1000,
  });
}

export class FailoverQuotas implements Quotas {
  /** This instance's own limits during an outage (open mode); a new set for each outage. */
  private local: MemoryQuotas | undefined;

  constructor(
    private readonly shared: RedisQuotas,
    private readonly redis: SharedRedis,
    private readonly spentSince: SpentSince,
    private readonly failureMode: 'open' | 'closed',
  ) {
    redis.onRecovered(() => {
      this.local = undefined;
      void shared.owed.repay();
    });
  }

  async admit(key: ApiKey, estimate: Estimate): Promise<Reservation> {
    if (this.redis.available) {
      try {
        return await this.shared.admit(key, estimate);
      } catch (error) {
        if (!(error instanceof SharedStateUnavailable)) throw error;
      }
    }
    const local = this.fallback();
    const day = utcDay(Date.now());
    const reservation = await local.admit(key, estimate);
    return {
      settle: (actual) => {
        reservation.settle(actual);
        if (actual.costUsd === null) return;
        this.shared.owed.add(key.id, { day, month: day.slice(0, 7) }, actual.costUsd);
        // Admitted during an outage that is over by now.
        if (this.redis.available) void this.shared.owed.repay();
      },
    };
  }

  check(key: ApiKey, stream: boolean): void {
    if (this.redis.available) this.shared.check(key);
    else this.fallback().check(key, stream);
  }

  async usage(key: ApiKey): Promise<WindowUsage> {
    if (this.redis.available) {
      try {
        return await this.shared.usage(key);
      } catch (error) {
        if (!(error instanceof SharedStateUnavailable)) throw error;
      }
    }
    return this.fallback().usage(key);
  }

  /** This instance's own limits (open), or the refusal (closed). */
  private fallback(): MemoryQuotas {
    if (this.failureMode === 'closed') throw serviceUnavailable();
    this.local ??= new MemoryQuotas(this.spentSince);
    return this.local;
  }
}
