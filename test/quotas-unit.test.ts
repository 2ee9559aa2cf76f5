/**
 * Per-key limits at memory speed, the same cases for both implementations: in this
 * process (src/accounts/memory-quotas.ts) and in the machine's Redis (src/shared-state/
 * redis-quotas.ts, its Lua scripts given the fake clock's time). A fake clock for the
 * sliding windows and the day and month, and a plain function for what the ledger says was
 * spent. (test/quotas.test.ts proves the same limits through the gateway.)
 */
import { GraphQLError } from 'graphql';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { NO_LIMITS, type ApiKey, type KeyLimits } from '../src/accounts/keys.js';
import { MemoryQuotas } from '../src/accounts/memory-quotas.js';
import type { Estimate, Quotas, SpentSince } from '../src/accounts/quotas.js';
import type { SharedRedis } from '../src/shared-state/redis.js';
import { RedisQuotas } from '../src/shared-state/redis-quotas.js';
import { redisSkip, sharedRedis, testPrefix } from './redis.js';

const NOON = Date.parse('2026-03-15T12:00:00.000Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOON);
});
afterEach(() => {
  vi.useRealTimers();
});

let keys = 0;
function key(limits: Partial<KeyLimits>): ApiKey {
  keys++;
  return { id: `key-${keys}`, name: `key ${keys}`, prefix: 'gk_test', admin: false, createdAt: 0, revokedAt: null, limits: { ...NO_LIMITS, ...limits } };
}

function estimate(extra: Partial<Estimate> = {}): Estimate {
  return { tokens: 10, costUsd: null, stream: false, ...extra };
}

/** Nothing spent before this process. */
const nothingSpent = (): Promise<number> => Promise.resolve(0);

function at(ms: number): void {
  vi.setSystemTime(NOON + ms);
}

/** The refusal `promise` ends with: its code and extensions. */
async function refusal(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a refusal').toBeInstanceOf(GraphQLError);
  return (error as GraphQLError).extensions;
}

function thrown(fn: () => void): Record<string, unknown> {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphQLError);
    return (error as GraphQLError).extensions;
  }
  throw new Error('expected a refusal');
}

let redis: SharedRedis | undefined;
beforeAll(async () => {
  if (!redisSkip) redis = await sharedRedis(testPrefix());
});
afterAll(async () => {
  await redis?.close();
});

interface Implementation {
  name: string;
  make: (spentSince: SpentSince) => Quotas;
  /** Whether the cheap pre-check refuses a stream over maxStreams (Redis leaves it to admit). */
  checksStreams: boolean;
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: 'in memory', make: (spentSince) => new MemoryQuotas(spentSince), checksStreams: true },
  {
    name: 'in Redis',
    make: (spentSince) => {
      if (!redis) throw new Error('no Redis');
      return new RedisQuotas(redis, spentSince, { leaseMs: 30_000, clock: () => Date.now() });
    },
    checksStreams: false,
  },
];

describe.each(IMPLEMENTATIONS.filter((i) => i.name === 'in memory' || !redisSkip))('Quotas $name', ({ make, checksStreams }) => {
  describe('requests per minute', () => {
    it('admits rpm requests in a sliding minute and the next once the oldest is a minute old', async () => {
      const quotas = make(nothingSpent);
      const k = key({ rpm: 3 });
      for (const ms of [0, 10 * SECOND, 20 * SECOND]) {
        at(ms);
        await quotas.admit(k, estimate());
      }
      at(30 * SECOND);
      expect(await refusal(quotas.admit(k, estimate()))).toMatchObject({ code: 'RATE_LIMITED', limit: 'rpm', retryAfterMs: 30 * SECOND });
      at(MINUTE - 1);
      expect(await refusal(quotas.admit(k, estimate()))).toMatchObject({ limit: 'rpm', retryAfterMs: 1 });
      at(MINUTE); // the first request leaves the window
      await quotas.admit(k, estimate());
      expect((await quotas.usage(k)).requestsLastMinute).toBe(3);
    });

    it('admits exactly rpm of a burst started together', async () => {
      const quotas = make(nothingSpent);
      const k = key({ rpm: 3 });
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => quotas.admit(k, estimate())));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
      expect((await quotas.usage(k)).requestsLastMinute).toBe(3);
    });

    it('keeps each key to its own window', async () => {
      const quotas = make(nothingSpent);
      const [a, b] = [key({ rpm: 1 }), key({ rpm: 1 })];
      await quotas.admit(a, estimate());
      await refusal(quotas.admit(a, estimate()));
      await quotas.admit(b, estimate());
    });
  });

  describe('tokens per minute', () => {
    it('refuses what would pass tpm in the sliding minute, with when enough of it will have expired', async () => {
      const quotas = make(nothingSpent);
      const k = key({ tpm: 1000 });
      await quotas.admit(k, estimate({ tokens: 400 }));
      at(10 * SECOND);
      await quotas.admit(k, estimate({ tokens: 400 }));
      at(20 * SECOND);
      // 800 in the window: 300 more needs the first 400 gone, at 60 s.
      expect(await refusal(quotas.admit(k, estimate({ tokens: 300 })))).toMatchObject({ code: 'RATE_LIMITED', limit: 'tpm', retryAfterMs: 40 * SECOND });
      // 700 more needs both gone, at 70 s.
      expect(await refusal(quotas.admit(k, estimate({ tokens: 700 })))).toMatchObject({ limit: 'tpm', retryAfterMs: 50 * SECOND });
      await quotas.admit(k, estimate({ tokens: 200 })); // exactly 1000
      at(MINUTE);
      await quotas.admit(k, estimate({ tokens: 300 }));
      expect((await quotas.usage(k)).tokensLastMinute).toBe(400 + 200 + 300);
    });

    it('refuses a request larger than tpm by itself, with no retryAfterMs', async () => {
      const quotas = make(nothingSpent);
      const k = key({ tpm: 1000 });
      expect(await refusal(quotas.admit(k, estimate({ tokens: 1001 })))).toMatchObject({ limit: 'tpm', retryAfterMs: null });
      await quotas.admit(k, estimate({ tokens: 1000 }));
    });

    it('counts a request with its reservation until it settles, then with what it used', async () => {
      const quotas = make(nothingSpent);
      const k = key({ tpm: 1000 });
      const first = await quotas.admit(k, estimate({ tokens: 900 }));
      await refusal(quotas.admit(k, estimate({ tokens: 200 })));
      first.settle({ tokens: 50, costUsd: null });
      expect((await quotas.usage(k)).tokensLastMinute).toBe(50);
      await quotas.admit(k, estimate({ tokens: 950 }));
      // A second settle changes nothing.
      first.settle({ tokens: 900, costUsd: null });
      expect((await quotas.usage(k)).tokensLastMinute).toBe(1000);
    });
  });

  describe('streams at once', () => {
    it('refuses a stream over maxStreams (not a plain request) until one settles', async () => {
      const quotas = make(nothingSpent);
      const k = key({ maxStreams: 2 });
      const first = await quotas.admit(k, estimate({ stream: true }));
      await quotas.admit(k, estimate({ stream: true }));
      expect(await refusal(quotas.admit(k, estimate({ stream: true })))).toMatchObject({ code: 'RATE_LIMITED', limit: 'streams', retryAfterMs: null });
      await quotas.admit(k, estimate({ stream: false }));
      expect((await quotas.usage(k)).openStreams).toBe(2);
      first.settle({ tokens: 1, costUsd: null });
      expect((await quotas.usage(k)).openStreams).toBe(1);
      await quotas.admit(k, estimate({ stream: true }));
    });
  });

  describe('budgets', () => {
    it('counts running requests with their reserved cost and settles them to what they cost', async () => {
      const quotas = make(nothingSpent);
      const k = key({ dailyBudgetUsd: 10 });
      const running = await quotas.admit(k, estimate({ costUsd: 6 }));
      // Nothing spent yet, but 6 reserved: 5 more does not fit.
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 5 })))).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        budget: 'daily',
        budgetUsd: 10,
        spentUsd: 0,
      });
      running.settle({ tokens: 10, costUsd: 2 });
      expect(await quotas.usage(k)).toMatchObject({ spentTodayUsd: 2, spentThisMonthUsd: 2 });
      const next = await quotas.admit(k, estimate({ costUsd: 5 }));
      next.settle({ tokens: 10, costUsd: 5 });
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 4 })))).toMatchObject({ budget: 'daily', spentUsd: 7 });
      await quotas.admit(k, estimate({ costUsd: 3 })); // exactly the budget
    });

    it('admits exactly what fits the budget of a burst started together', async () => {
      const quotas = make(nothingSpent);
      const k = key({ dailyBudgetUsd: 10 });
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => quotas.admit(k, estimate({ costUsd: 3 }))));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    });

    it('starts a new day at 00:00 UTC with nothing spent that day, and keeps the month', async () => {
      const quotas = make(nothingSpent);
      const k = key({ dailyBudgetUsd: 10, monthlyBudgetUsd: 25 });
      vi.setSystemTime(Date.parse('2026-03-15T23:59:59.000Z'));
      (await quotas.admit(k, estimate({ costUsd: 9 }))).settle({ tokens: 1, costUsd: 9 });
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 2 })))).toMatchObject({ budget: 'daily' });
      vi.setSystemTime(Date.parse('2026-03-16T00:00:00.000Z'));
      (await quotas.admit(k, estimate({ costUsd: 9 }))).settle({ tokens: 1, costUsd: 9 });
      expect(await quotas.usage(k)).toMatchObject({ spentTodayUsd: 9, spentThisMonthUsd: 18 });
      vi.setSystemTime(Date.parse('2026-03-17T00:00:00.000Z'));
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 8 })))).toMatchObject({ budget: 'monthly', budgetUsd: 25, spentUsd: 18 });
      vi.setSystemTime(Date.parse('2026-04-01T00:00:00.000Z'));
      await quotas.admit(k, estimate({ costUsd: 8 }));
    });

    it('does not apply budgets to a request it cannot price', async () => {
      const quotas = make(nothingSpent);
      const k = key({ dailyBudgetUsd: 0, monthlyBudgetUsd: 0 });
      await refusal(quotas.admit(k, estimate({ costUsd: 1 })));
      await quotas.admit(k, estimate({ costUsd: null }));
    });
  });

  describe('spend seeded from the ledger', () => {
    it('asks the ledger for the day and the month once per key, even for requests arriving together', async () => {
      const calls: { keyId: string; since: string }[] = [];
      const spentSince = (keyId: string, since: number): Promise<number> => {
        calls.push({ keyId, since: new Date(since).toISOString() });
        // 4 today, 7 this month.
        return Promise.resolve(since === Date.parse('2026-03-15T00:00:00.000Z') ? 4 : 7);
      };
      const quotas = make(spentSince);
      const k = key({ dailyBudgetUsd: 10, monthlyBudgetUsd: 12 });
      await Promise.all([quotas.admit(k, estimate()), quotas.admit(k, estimate()), quotas.usage(k)]);
      await quotas.admit(k, estimate());
      expect(calls).toEqual([
        { keyId: k.id, since: '2026-03-15T00:00:00.000Z' },
        { keyId: k.id, since: '2026-03-01T00:00:00.000Z' },
      ]);
      expect(await quotas.usage(k)).toMatchObject({ spentTodayUsd: 4, spentThisMonthUsd: 7 });
      // What the ledger held counts against the budgets: 4 + 6.5 is over the day's 10,
      // 7 + 5.5 over the month's 12.
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 6.5 })))).toMatchObject({ budget: 'daily', spentUsd: 4 });
      expect(await refusal(quotas.admit(k, estimate({ costUsd: 5.5 })))).toMatchObject({ budget: 'monthly', spentUsd: 7 });

      const other = key({});
      await quotas.admit(other, estimate());
      expect(calls.filter((c) => c.keyId === other.id)).toHaveLength(2);
    });

    it('asks the ledger again after it failed to answer, failing that request rather than guessing the spend', async () => {
      let fail = true;
      let asked = 0;
      const quotas = make(() => {
        asked++;
        return fail ? Promise.reject(new Error('database down')) : Promise.resolve(3);
      });
      const k = key({ dailyBudgetUsd: 10 });
      await expect(quotas.admit(k, estimate({ costUsd: 1 }))).rejects.toThrow('database down');
      fail = false;
      await quotas.admit(k, estimate({ costUsd: 1 }));
      expect(asked).toBe(4);
      expect((await quotas.usage(k)).spentTodayUsd).toBe(3);
    });
  });

  describe('Quotas.check (the cheap pre-check)', () => {
    it('refuses a key over its rpm or streams without reserving anything', async () => {
      const quotas = make(nothingSpent);
      const k = key({ rpm: 1, maxStreams: 1 });
      for (let i = 0; i < 5; i++) quotas.check(k, true);
      // Nothing was counted by the checks: the one request the minute allows is still there.
      expect(await quotas.usage(k)).toMatchObject({ requestsLastMinute: 0, openStreams: 0 });
      await quotas.admit(k, estimate({ stream: true }));
      expect(thrown(() => quotas.check(k, false))).toMatchObject({ code: 'RATE_LIMITED', limit: 'rpm' });
      expect(await quotas.usage(k)).toMatchObject({ requestsLastMinute: 1, openStreams: 1 });
    });

    it(
      checksStreams ? 'refuses a stream over maxStreams while a plain request still passes' : 'leaves streams at once to admit (another instance may free a slot at any moment)',
      async () => {
        const quotas = make(nothingSpent);
        const k = key({ maxStreams: 1 });
        await quotas.admit(k, estimate({ stream: true }));
        if (checksStreams) expect(thrown(() => quotas.check(k, true))).toMatchObject({ limit: 'streams' });
        else quotas.check(k, true);
        expect(await refusal(quotas.admit(k, estimate({ stream: true })))).toMatchObject({ limit: 'streams' });
        quotas.check(k, false);
      },
    );
  });
});

const skipRedis = redisSkip;
if (skipRedis !== undefined) {
  describe('Quotas in Redis', () => {
    it.skip(skipRedis, () => undefined);
  });
}
