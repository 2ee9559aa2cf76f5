/**
 * Per-key limits in Redis (REDIS_URL), exact across every instance: each admission is one
 * script call that checks every limit and reserves (quota-scripts.ts). Refusals are the
 * same errors, with the same `retryAfterMs`, as the in-memory `MemoryQuotas`.
 *
 * Redis failing is reported as `SharedStateUnavailable` (the caller falls back or refuses,
 * by REDIS_FAILURE_MODE); the ledger failing while spend is seeded is passed on as it is.
 */
import { randomUUID } from 'node:crypto';
import type { ApiKey } from '../accounts/keys.js';
import {
  budgetExceeded,
  rpmLimited,
  startOfDay,
  startOfMonth,
  streamsLimited,
  tooManyTokens,
  tpmLimited,
  utcDay,
  type Estimate,
  type Quotas,
  type Reservation,
  type SpentSince,
  type WindowUsage,
} from '../accounts/quotas.js';
import { Leases } from './leases.js';
import { defineQuotaScripts, quotaKeys, type Period, type QuotaKeys } from './quota-scripts.js';
import type { SharedRedis } from './redis.js';
import { OwedSpend } from './owed-spend.js';

/** Redis could not be asked (unreachable, too slow, loading). */
export class SharedStateUnavailable extends Error {
  constructor(cause: unknown) {
    super(`Redis could not be reached: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'SharedStateUnavailable';
  }
}

/** Replies that mean "not now" rather than a bug in a script. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN)\b/;

const DAY_TTL_MS = 2 * 86_400_000;
const MONTH_TTL_MS = 32 * 86_400_000;

export interface RedisQuotasOptions {
  /** REDIS_LEASE_MS: stream slots and budget reservations expire this long after their last renewal. */
  leaseMs: number;
  /** Tests: the time the scripts use (default: Redis's own clock). */
  clock?: () => number;
}

export class RedisQuotas implements Quotas {
  readonly leases: Leases;
  readonly owed: OwedSpend;
  /** Per key, the local time until which its requests-per-minute window is known to be full. */
  private readonly fullUntil = new Map<string, number>();
  private readonly seeding = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: SharedRedis,
    private readonly spentSince: SpentSince,
    private readonly options: RedisQuotasOptions,
  ) {
    defineQuotaScripts(redis.client);
    this.leases = new Leases(redis, options.leaseMs, options.clock);
    this.owed = new OwedSpend(redis);
  }

  async admit(key: ApiKey, estimate: Estimate): Promise<Reservation> {
    const { limits } = key;
    const period = this.period();
    const keys = this.keys(key.id, period);
    const id = randomUUID();
    const args = [
      id,
      this.now(),
      orEmpty(limits.rpm),
      orEmpty(limits.tpm),
      estimate.tokens,
      estimate.stream ? 1 : 0,
      orEmpty(limits.maxStreams),
      orEmpty(estimate.costUsd),
      orEmpty(limits.dailyBudgetUsd),
      orEmpty(limits.monthlyBudgetUsd),
      this.options.leaseMs,
    ];
    let [verdict, value] = await this.ask(() => this.redis.client.gatewayQuotaAdmit(...keys.admit, ...args));
    if (verdict === 'seed') {
      await this.seed(key.id, period);
      [verdict, value] = await this.ask(() => this.redis.client.gatewayQuotaAdmit(...keys.admit, ...args));
    }
    switch (verdict) {
      case 'ok':
        if (typeof value === 'number' && value > 0) this.fullUntil.set(key.id, Date.now() + value);
        break;
      case 'rpm':
        this.fullUntil.set(key.id, Date.now() + Number(value));
        throw rpmLimited(key, Number(value));
      case 'streams':
        throw streamsLimited(key);
      case 'tpm-size':
        throw tooManyTokens(key, estimate.tokens);
      case 'tpm':
        throw tpmLimited(key, Number(value));
      case 'daily':
        throw budgetExceeded('daily', limits.dailyBudgetUsd ?? 0, Number(value));
      case 'monthly':
        throw budgetExceeded('monthly', limits.monthlyBudgetUsd ?? 0, Number(value));
      default:
        throw new Error(`The admission script answered ${String(verdict)}`);
    }

    const leased = estimate.stream || estimate.costUsd !== null;
    if (leased) {
      const sets = [...(estimate.stream ? [keys.streams] : []), ...(estimate.costUsd === null ? [] : [keys.reserved])];
      this.leases.hold(id, sets, estimate.costUsd === null ? [] : [keys.reservedUsd]);
    }
    let settled = false;
    return {
      settle: (actual) => {
        if (settled) return;
        settled = true;
        if (leased) this.leases.release(id);
        this.redis.client.gatewayQuotaSettle(...keys.settle, id, actual.tokens, orEmpty(actual.costUsd)).catch((error: unknown) => {
          this.redis.failed(error);
          // Not sent at all: the spend is added once Redis is back. (A command that timed out
          // may have run, so it is not repeated; its lease and window entry lapse by themselves.)
          if (actual.costUsd !== null && !timedOut(error)) this.owed.add(key.id, period, actual.costUsd);
        });
      },
    };
  }

  /**
   * Local and cheap: refuses only a key whose requests-per-minute window the last shared
   * answer proved full until later (other instances can only fill it further). Streams are
   * left to `admit`: another instance may free a slot at any moment.
   */
  check(key: ApiKey): void {
    const until = this.fullUntil.get(key.id);
    if (until === undefined) return;
    const left = until - Date.now();
    if (left <= 0 || key.limits.rpm === null) {
      this.fullUntil.delete(key.id);
      return;
    }
    throw rpmLimited(key, left);
  }

  async usage(key: ApiKey): Promise<WindowUsage> {
    const period = this.period();
    const keys = this.keys(key.id, period);
    const read = (): Promise<[string, number?, string?, number?, string?, string?]> =>
      this.ask(() => this.redis.client.gatewayQuotaUsage(...keys.usage, this.now()));
    let answer = await read();
    if (answer[0] === 'seed') {
      await this.seed(key.id, period);
      answer = await read();
    }
    const [verdict, requests, tokens, streams, day, month] = answer;
    if (verdict !== 'ok') throw new Error(`The usage script answered ${verdict}`);
    return {
      requestsLastMinute: Number(requests),
      tokensLastMinute: Number(tokens),
      openStreams: Number(streams),
      spentTodayUsd: Number(day),
      spentThisMonthUsd: Number(month),
    };
  }

  /** A key's limits changed: what the last answers said about it may no longer hold. */
  forget(): void {
    this.fullUntil.clear();
  }

  close(): void {
    this.leases.stop();
  }

  /**
   * Seeds the period's spend from the ledger, once per key per period across all instances
   * (SET NX: the first wins, and one seeded already is left alone); requests of this
   * instance arriving together share one ledger query.
   */
  private seed(keyId: string, period: Period): Promise<void> {
    const name = `${keyId}:${period.day}`;
    let seeding = this.seeding.get(name);
    if (!seeding) {
      seeding = (async () => {
        const [daySpent, monthSpent] = await Promise.all([
          this.spentSince(keyId, startOfDay(period.day)),
          this.spentSince(keyId, startOfMonth(period.month)),
        ]);
        const keys = this.keys(keyId, period);
        await this.ask(() =>
          this.redis.client
            .multi()
            .set(keys.spentDay, String(daySpent), 'PX', DAY_TTL_MS, 'NX')
            .set(keys.spentMonth, String(monthSpent), 'PX', MONTH_TTL_MS, 'NX')
            .exec(),
        );
      })().finally(() => this.seeding.delete(name));
      this.seeding.set(name, seeding);
    }
    return seeding;
  }

  private async ask<T>(command: () => Promise<T>): Promise<T> {
    if (!this.redis.available) throw new SharedStateUnavailable(new Error('not connected'));
    try {
      return await command();
    } catch (error) {
      if (error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) throw error;
      this.redis.failed(error);
      throw new SharedStateUnavailable(error);
    }
  }

  private now(): string {
    return this.options.clock ? String(this.options.clock()) : '';
  }

  private period(): Period {
    const day = utcDay(Date.now());
    return { day, month: day.slice(0, 7) };
  }

  private keys(keyId: string, period: Period): QuotaKeys {
    return quotaKeys(this.redis, keyId, period);
  }
}


function orEmpty(value: number | null): string | number {
  return value === null ? '' : value;
}

function timedOut(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}
