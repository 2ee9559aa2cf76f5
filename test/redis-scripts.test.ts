/**
 * The Redis side at memory speed, against the machine's Redis (no mocks): what only shared
 * state has — leases that lapse when their holder dies and last while it lives, spend
 * seeded once per period for every instance, settlements that land in the admission's
 * period, spend owed from an outage, atomic admission over several connections, and the
 * shared upstream slots. Each "instance" is its own connection; a fake clock moves the
 * windows and leases (the scripts take its time), real timers drive the renewals.
 */
import { GraphQLError } from 'graphql';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NO_LIMITS, type ApiKey, type KeyLimits } from '../src/accounts/keys.js';
import type { Estimate, SpentSince } from '../src/accounts/quotas.js';
import { Leases } from '../src/shared-state/leases.js';
import { RedisQuotas } from '../src/shared-state/redis-quotas.js';
import type { SharedRedis } from '../src/shared-state/redis.js';
import { SharedSlots } from '../src/shared-state/slots.js';
import { REDIS_URL_TEST, redisSkip, sharedRedis, testPrefix } from './redis.js';
import { startTcpProxy } from './tcp-proxy.js';

const NOON = Date.parse('2026-03-15T12:00:00.000Z');
const LEASE = 300;
const clock = (): number => Date.now();

const connections: SharedRedis[] = [];
const prefix = redisSkip ? '' : testPrefix();
afterAll(async () => {
  for (const redis of connections) await redis.close();
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOON);
});
afterEach(() => vi.useRealTimers());

/** Another instance: its own connection to the shared state (through `url`, a proxy, if given). */
async function instance(spentSince: SpentSince = () => Promise.resolve(0), url?: string): Promise<RedisQuotas> {
  const redis = await sharedRedis(prefix, { url });
  connections.push(redis);
  return new RedisQuotas(redis, spentSince, { leaseMs: LEASE, clock });
}

let keys = 0;
function key(limits: Partial<KeyLimits>): ApiKey {
  keys++;
  return { id: `scripts-${keys}`, name: 'k', prefix: 'gk_test', admin: false, createdAt: 0, revokedAt: null, limits: { ...NO_LIMITS, ...limits } };
}

function estimate(extra: Partial<Estimate> = {}): Estimate {
  return { tokens: 10, costUsd: null, stream: false, ...extra };
}

async function refusal(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a refusal').toBeInstanceOf(GraphQLError);
  return (error as GraphQLError).extensions;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(redisSkip !== undefined)('leases', () => {
  it('frees the stream slot of an instance that died holding it once the lease lapses, not before', async () => {
    const [dying, alive] = [await instance(), await instance()];
    const k = key({ maxStreams: 1 });
    await dying.admit(k, estimate({ stream: true }));
    dying.close(); // dies: no settlement, no renewal
    vi.setSystemTime(NOON + LEASE - 1);
    expect(await refusal(alive.admit(k, estimate({ stream: true })))).toMatchObject({ limit: 'streams' });
    vi.setSystemTime(NOON + LEASE);
    await alive.admit(k, estimate({ stream: true }));
    expect((await alive.usage(k)).openStreams).toBe(1);
  });

  it('renews a live stream’s lease for as long as it runs, and frees it at once when it settles', async () => {
    const [holder, other] = [await instance(), await instance()];
    const k = key({ maxStreams: 1 });
    const running = await holder.admit(k, estimate({ stream: true }));
    for (let t = 1; t <= 4; t++) {
      vi.setSystemTime(NOON + (t * LEASE) / 2);
      await realSleep(LEASE / 2); // the renewal (every LEASE / 3) runs at the new time
      expect(await refusal(other.admit(k, estimate({ stream: true }))), `at ${t * 0.5} leases`).toMatchObject({ limit: 'streams' });
    }
    running.settle({ tokens: 5, costUsd: null });
    await realSleep(50);
    await other.admit(k, estimate({ stream: true }));
  });

  it('takes a running stream’s lease again when Redis is back after an outage longer than the lease: the count says what runs', async () => {
    const proxy = await startTcpProxy(REDIS_URL_TEST);
    const [holder, other] = [await instance(undefined, proxy.url), await instance()];
    const k = key({ maxStreams: 1 });
    await holder.admit(k, estimate({ stream: true }));
    await proxy.cut();
    vi.setSystemTime(NOON + LEASE); // lapsed: nobody could renew it
    const second = await other.admit(k, estimate({ stream: true }));
    await proxy.restore();
    // Both streams run: once the holder renews, both are counted, and a third has no room.
    await vi.waitFor(async () => expect((await other.usage(k)).openStreams).toBe(2), { timeout: 10_000, interval: 50 });
    expect(await refusal(other.admit(k, estimate({ stream: true })))).toMatchObject({ limit: 'streams' });
    second.settle({ tokens: 1, costUsd: null });
  });

  it('frees a dead instance’s budget reservation once its lease lapses', async () => {
    const [dying, alive] = [await instance(), await instance()];
    const k = key({ dailyBudgetUsd: 10 });
    await dying.admit(k, estimate({ costUsd: 8 }));
    dying.close();
    expect(await refusal(alive.admit(k, estimate({ costUsd: 5 })))).toMatchObject({ budget: 'daily', spentUsd: 0 });
    vi.setSystemTime(NOON + LEASE);
    (await alive.admit(k, estimate({ costUsd: 5 }))).settle({ tokens: 1, costUsd: 5 });
    expect((await alive.usage(k)).spentTodayUsd).toBe(5);
  });
});

describe.skipIf(redisSkip !== undefined)('spend across instances', () => {
  it('is seeded from the ledger once per period: a later instance reads the shared spend, not its own ledger query', async () => {
    let asked = 0;
    const first = await instance((_keyId, since) => {
      asked++;
      return Promise.resolve(since === Date.parse('2026-03-15T00:00:00.000Z') ? 4 : 7);
    });
    const later = await instance(() => Promise.reject(new Error('a second seeding would have asked the ledger')));
    const k = key({ dailyBudgetUsd: 10 });
    await first.admit(k, estimate());
    expect(asked).toBe(2);
    expect(await later.usage(k)).toMatchObject({ spentTodayUsd: 4, spentThisMonthUsd: 7 });
    expect(await refusal(later.admit(k, estimate({ costUsd: 6.5 })))).toMatchObject({ budget: 'daily', spentUsd: 4 });
  });

  it('adds a settlement to the day it was admitted on, as the ledger counts it (by start time)', async () => {
    const quotas = await instance();
    const k = key({});
    vi.setSystemTime(Date.parse('2026-03-15T23:59:59.000Z'));
    const late = await quotas.admit(k, estimate({ costUsd: 3 }));
    vi.setSystemTime(Date.parse('2026-03-16T00:00:01.000Z'));
    late.settle({ tokens: 1, costUsd: 2 });
    await realSleep(50);
    expect(await quotas.usage(k)).toMatchObject({ spentTodayUsd: 0, spentThisMonthUsd: 2 });
    vi.setSystemTime(Date.parse('2026-03-15T23:59:59.500Z'));
    expect((await quotas.usage(k)).spentTodayUsd).toBe(2);
  });

  it('adds spend owed from an outage to the shared spend when repaid, once', async () => {
    const quotas = await instance();
    const k = key({});
    await quotas.usage(k); // seeded: nothing spent
    quotas.owed.add(k.id, { day: '2026-03-15', month: '2026-03' }, 1.25);
    quotas.owed.add(k.id, { day: '2026-03-15', month: '2026-03' }, 0.5);
    await quotas.owed.repay();
    await quotas.owed.repay();
    expect(await quotas.usage(k)).toMatchObject({ spentTodayUsd: 1.75, spentThisMonthUsd: 1.75 });
    expect(quotas.owed.size).toBe(0);
  });

  it('admits exactly what fits of a burst spread over three connections', async () => {
    const instances = [await instance(), await instance(), await instance()];
    const k = key({ rpm: 10, dailyBudgetUsd: 100 });
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => (instances[i % 3] as RedisQuotas).admit(k, estimate({ costUsd: 1 }))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    expect((await instances[0]?.usage(k))?.requestsLastMinute).toBe(10);
  });
});

describe.skipIf(redisSkip !== undefined)('shared upstream slots', () => {
  /** One instance's view of the slots under `at` (instances that share `at` share the slots). */
  async function slotsAt(at: string, capacity: number, timeoutMs = 5000): Promise<{ slots: SharedSlots; leases: Leases }> {
    const redis = await sharedRedis(at);
    connections.push(redis);
    const leases = new Leases(redis, LEASE, clock);
    return { slots: new SharedSlots(redis, leases, { capacity, timeoutMs, failureMode: 'open', clock }), leases };
  }
  const signal = new AbortController().signal;

  it('holds the capacity across instances: a waiter gets the slot another instance frees, or one a dead instance held once its lease lapses', async () => {
    const at = `${prefix}slots-a:`;
    const [a, b] = [await slotsAt(at, 2), await slotsAt(at, 2)];
    await a.slots.acquire(signal);
    const bSlot = await b.slots.acquire(signal);
    let granted = false;
    const waiting = a.slots.acquire(signal).then(() => (granted = true));
    await realSleep(150);
    expect(granted).toBe(false);
    expect(a.slots.queued).toBe(1);
    bSlot(); // freed on the other instance
    await waiting;

    // a holds both now, and dies: b's waiter gets a slot when a's leases lapse, not before.
    a.leases.stop();
    let bGranted = false;
    const bWaiting = b.slots.acquire(signal).then(() => (bGranted = true));
    await realSleep(250);
    expect(bGranted).toBe(false);
    vi.setSystemTime(NOON + LEASE);
    await bWaiting;
  });

  it('refuses a waiter after the queue timeout with RATE_LIMITED (GATEWAY_CAPACITY), and one whose client left with its reason', async () => {
    const { slots } = await slotsAt(`${prefix}slots-b:`, 1, 200);
    await slots.acquire(signal);
    expect(await refusal(slots.acquire(signal))).toMatchObject({ code: 'RATE_LIMITED', reason: 'GATEWAY_CAPACITY' });
    const controller = new AbortController();
    const left = slots.acquire(controller.signal);
    controller.abort(new Error('client left'));
    await expect(left).rejects.toThrow('client left');
  });
});
