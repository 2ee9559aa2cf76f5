/**
 * The response cache across instances (issue #16): with REDIS_URL, two gateways on one
 * Redis and one ledger serve each other's stored answers, each hit with no upstream call and
 * a `cached` ledger row, still scoped per gateway key.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/accounts/db/index.js';
import { ask, complete, generations, metric, stream } from './cache-clients.js';
import { useInstances } from './instances.js';
import { createKey } from './quota-cases.js';
import { redisSkip } from './redis.js';

describe.skipIf(redisSkip !== undefined)('the response cache shared by two instances over Redis', () => {
  const ctx = useInstances(2, { RESPONSE_CACHE_TTL_SECONDS: '60' });

  it('serves an answer stored by one instance from the other, as a mutation and as a stream, with no upstream call', async () => {
    const [a, b] = [ctx.at(0), ctx.at(1)];
    const { key, id } = await createKey(a, {});
    const input = ask('Across instances');
    const live = await complete(a, input, key);
    expect(live.cached).toBe(false);
    expect(generations(ctx.fake)).toBe(1);

    // The store is written in the background: the other instance sees it once it has landed.
    let hit = await complete(b, input, key);
    for (let i = 0; i < 20 && !hit.cached; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      hit = await complete(b, input, key);
    }
    expect(hit.cached).toBe(true);
    expect(hit.text).toBe(live.text);
    expect(hit.usage.cost).toBe(0);

    const chunks = await stream(b, input, key);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.cached)).toBe(true);
    expect(chunks.at(-1)?.accumulatedText).toBe(live.text);

    // Only the first request reached the upstream, however many times the answer was served.
    expect(generations(ctx.fake)).toBe(1);
    expect(await metric(b, 'gateway_response_cache_lookups_total', 'result="hit"')).toBeGreaterThanOrEqual(2);

    // Every instance wrote its rows to the one ledger: the live answer, then hits only. One
    // flush at a time: both instances share this process, and better-sqlite3 blocks it while
    // it waits for the file's lock, so the other instance could never release it.
    for (const gw of ctx.gateways) await gw.app.ledger.flush();
    const db = await openDatabase(ctx.env['DATABASE_URL'] as string);
    try {
      const rows = await db.db.selectFrom('usage_ledger').select(['outcome', 'cost_usd']).where('key_id', '=', id).orderBy('started_at').execute();
      expect(rows[0]?.outcome).toBe('completed');
      expect(rows.slice(1).map((r) => r.outcome)).toEqual(rows.slice(1).map(() => 'cached'));
      expect(rows.slice(1).every((r) => r.cost_usd === 0)).toBe(true);
      expect(rows.length).toBeGreaterThanOrEqual(3);
    } finally {
      await db.close();
    }
  });

  it('keeps each key’s answers apart across instances (CACHE_SCOPE=key)', async () => {
    const [a, b] = [ctx.at(0), ctx.at(1)];
    const first = await createKey(a, {});
    const second = await createKey(a, {});
    const input = ask('Scoped');
    await complete(a, input, first.key);
    // The first key is served its answer on the other instance (so it is in Redis)…
    let own = await complete(b, input, first.key);
    for (let i = 0; i < 20 && !own.cached; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      own = await complete(b, input, first.key);
    }
    expect(own.cached).toBe(true);
    const upstreamCalls = generations(ctx.fake);
    // …and the second key is not: it pays for its own.
    const other = await complete(b, input, second.key);
    expect(other.cached).toBe(false);
    expect(generations(ctx.fake)).toBe(upstreamCalls + 1);
  });
});
