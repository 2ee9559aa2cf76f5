/**
 * What a response-cache hit counts for (issue #16), through the public API with gateway
 * keys: its ledger row (outcome `cached`, cost 0) on SQLite and PostgreSQL, the key's
 * requests and tokens per minute, and whose answers a key is served (CACHE_SCOPE).
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/accounts/db/index.js';
import type { KeyLimits } from '../src/accounts/keys.js';
import { MeDocument } from '../src/generated/operations.js';
import { ask, bearer, complete, generations, stream, tryComplete } from './cache-clients.js';
import { postgres, sqlite } from './databases.js';
import { startFakeUpstream } from './fake-upstream.js';
import { graphql, startGateway, useGatewayWithFake, type TestGateway } from './helpers.js';
import { useLedgerHarness } from './ledger-harness.js';

async function createKey(gw: TestGateway, limits: Partial<KeyLimits> = {}): Promise<{ key: string; id: string }> {
  const { key, apiKey } = await gw.app.keys.create({ name: `cache-${Math.random().toString(36).slice(2, 8)}`, limits });
  return { key, id: apiKey.id };
}

async function me(gw: TestGateway, key: string): Promise<{ requests: number; tokens: number }> {
  const result = await graphql(gw.httpUrl, MeDocument, {}, bearer(key));
  expect(result.errors).toBeUndefined();
  const usage = result.data?.me;
  if (!usage) throw new Error('me is null for a keyed request');
  return { requests: usage.requestsLastMinute, tokens: usage.tokensLastMinute };
}

const { open } = useLedgerHarness();

describe.each([sqlite, postgres])('a hit in the ledger on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  it('is a row with outcome `cached`, cost 0 and the answer’s tokens, for complete and completionStream alike', async () => {
    const url = await backend.create();
    const fake = await startFakeUpstream();
    open.fakes.push(fake);
    const gw = await startGateway({ OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: fake.url, DATABASE_URL: url, RESPONSE_CACHE_TTL_SECONDS: '60' });
    open.gateways.push(gw);
    const { key, id } = await createKey(gw);
    const input = ask('Recorded');
    const live = await complete(gw, input, key, { 'x-request-id': 'cache-live-1' });
    await complete(gw, input, key, { 'x-request-id': 'cache-hit-1' });
    await stream(gw, input, key);
    expect(generations(fake)).toBe(1);

    await gw.app.ledger.flush();
    const db = await openDatabase(url);
    open.dbs.push(db);
    const rows = await db.db.selectFrom('usage_ledger').selectAll().where('key_id', '=', id).orderBy('started_at').execute();
    expect(rows.map((r) => [r.operation, r.outcome])).toEqual([
      ['complete', 'completed'],
      ['complete', 'cached'],
      ['completionStream', 'cached'],
    ]);
    const [liveRow, ...hits] = rows;
    expect(liveRow?.request_id).toBe('cache-live-1');
    expect(liveRow?.cost_usd).toBeGreaterThan(0);
    expect(hits[0]?.request_id).toBe('cache-hit-1');
    for (const hit of hits) {
      expect(hit).toMatchObject({
        cost_usd: 0,
        model: live.model,
        model_requested: 'gpt-4o-mini',
        prompt_tokens: live.usage.promptTokens,
        completion_tokens: live.usage.completionTokens,
      });
    }
  });
});

describe('a hit and the key’s limits', () => {
  const ctx = useGatewayWithFake({ RESPONSE_CACHE_TTL_SECONDS: '60' });

  it('counts a hit as a request per minute, and its tokens as used tokens per minute', async () => {
    const { key } = await createKey(ctx.gw, { rpm: 3, tpm: 100_000 });
    const input = ask('Counted against the key');
    const live = await complete(ctx.gw, input, key);
    const tokens = live.usage.totalTokens;
    expect(await me(ctx.gw, key)).toEqual({ requests: 1, tokens });

    expect((await complete(ctx.gw, input, key)).cached).toBe(true);
    expect(await me(ctx.gw, key)).toEqual({ requests: 2, tokens: 2 * tokens });
    expect((await stream(ctx.gw, input, key)).every((c) => c.cached)).toBe(true);
    expect(await me(ctx.gw, key)).toEqual({ requests: 3, tokens: 3 * tokens });

    const refused = await tryComplete(ctx.gw, input, key);
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.['limit']])).toEqual([['RATE_LIMITED', 'rpm']]);
    expect(generations(ctx.fake)).toBe(1);
  });

  it('refuses a hit whose tokens the key’s tokens per minute no longer hold, as it would a live answer', async () => {
    const { key } = await createKey(ctx.gw, { tpm: 2_000 });
    const input = ask('Tokens per minute', { maxTokens: 10 });
    const live = await complete(ctx.gw, input, key);
    // Another request of the key that the upstream says used all but 5 tokens of the minute.
    ctx.fake.script({ usage: { prompt_tokens: 2_000 - live.usage.totalTokens - 5, completion_tokens: 0 } });
    await complete(ctx.gw, ask('Filler', { maxTokens: 1 }), key);
    expect(await me(ctx.gw, key)).toMatchObject({ tokens: 1_995 });

    const refused = await tryComplete(ctx.gw, input, key);
    expect(refused.errors?.map((e) => [e.extensions?.code, e.extensions?.['limit']])).toEqual([['RATE_LIMITED', 'tpm']]);
    expect(generations(ctx.fake)).toBe(2);
  });

  it('keeps each key’s answers apart by default (CACHE_SCOPE=key)', async () => {
    const a = await createKey(ctx.gw);
    const b = await createKey(ctx.gw);
    const input = ask('Private to each key');
    expect((await complete(ctx.gw, input, a.key)).cached).toBe(false);
    expect((await complete(ctx.gw, input, b.key)).cached).toBe(false);
    expect((await complete(ctx.gw, input, a.key)).cached).toBe(true);
    expect((await complete(ctx.gw, input, b.key)).cached).toBe(true);
    expect(generations(ctx.fake)).toBe(2);
  });
});

describe('CACHE_SCOPE=global', () => {
  const ctx = useGatewayWithFake({ RESPONSE_CACHE_TTL_SECONDS: '60', CACHE_SCOPE: 'global' });

  it('serves one key the answer another key’s request stored', async () => {
    const a = await createKey(ctx.gw);
    const b = await createKey(ctx.gw);
    const input = ask('Shared by every key');
    expect((await complete(ctx.gw, input, a.key)).cached).toBe(false);
    expect((await complete(ctx.gw, input, b.key)).cached).toBe(true);
    expect((await stream(ctx.gw, input, b.key)).every((c) => c.cached)).toBe(true);
    expect(generations(ctx.fake)).toBe(1);
  });
});
