/**
 * Gateway API keys end to end: the open mode (no keys), keys required on HTTP, SSE and
 * graphql-ws as soon as one is live (or GATEWAY_REQUIRE_AUTH=true), revocation (through the
 * graph at once, also on an open socket; by another process within KEY_CACHE_TTL_MS), the
 * admin mutations, `me` and `usage` and who may read what. Every refusal also proves that
 * the fake upstream heard nothing of the refused operation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { KeyStore } from '../src/accounts/keys.js';
import {
  CompleteDocument,
  CompletionStreamDocument,
  CreateApiKeyDocument,
  MeDocument,
  RevokeApiKeyDocument,
  UpdateApiKeyLimitsDocument,
  UsageDocument,
  type ApiKeyFieldsFragment,
  type CompletionInput,
  type CompletionStreamSubscription,
  type UsageGroupBy,
  type UsageQuery,
} from '../src/generated/operations.js';
import { graphql, startGateway, useGatewayWithFake, type GatewayWithFake, type GraphQLErrorShape, type HttpResult } from './helpers.js';

const FAKE_TEXT = 'Hello from the fake upstream.';
/** The fake's default usage: 7 prompt tokens, one completion token per piece (6). */
const FAKE_USAGE = { promptTokens: 7, completionTokens: 6, totalTokens: 13 };
const CHAT: CompletionInput = { messages: [{ role: 'USER', content: 'Hi' }] };
/** gpt-4o-mini's list price, USD per token. */
const MINI = { input: 0.15 / 1e6, output: 0.6 / 1e6 };
const UNKNOWN_KEY = 'gk_thisKeyWasNeverCreatedAnywhere0000000000000';

function bearer(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` };
}

function codes(errors: readonly GraphQLErrorShape[] | undefined): (string | undefined)[] {
  return (errors ?? []).map((e) => e.extensions?.code);
}

/** Asserts an HTTP answer is the 401 refusal. */
function expectUnauthenticated(result: HttpResult<unknown>): void {
  expect(result.status).toBe(401);
  expect(codes(result.errors)).toEqual(['UNAUTHENTICATED']);
  expect(result.data ?? null).toBeNull();
}

/** Asserts a GraphQL answer refused the operation with `code` and carried no data for it. */
function expectRefused(result: HttpResult<unknown>, code: string): void {
  expect(codes(result.errors)).toEqual([code]);
  expect(result.data ?? null).toBeNull();
}

// ---------------------------------------------------------------------------
// SSE with headers (the helpers' `sse()` sends none)
// ---------------------------------------------------------------------------

interface SseOutcome<TData> {
  status: number;
  /** The `next` payloads (a refusal comes as one payload with errors only, then `complete`). */
  results: ExecutionResult<TData>[];
}

/** One subscription over SSE with `headers`, read to its end. */
async function sseWith<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  headers: Record<string, string> = {},
): Promise<SseOutcome<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query: print(document), variables }),
    signal: AbortSignal.timeout(5000),
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await response.text();
  const results: ExecutionResult<TData>[] = [];
  for (const block of text.split('\n\n')) {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (event === 'next' && data) results.push(JSON.parse(data) as ExecutionResult<TData>);
  }
  return { status: response.status, results };
}

/** Asserts an SSE answer is the 401 refusal: one payload, UNAUTHENTICATED, no data. */
function expectSseUnauthenticated(outcome: SseOutcome<unknown>): void {
  expect(outcome.status).toBe(401);
  expect(outcome.results).toHaveLength(1);
  expect(outcome.results[0]?.data ?? null).toBeNull();
  expect(codes(outcome.results[0]?.errors as GraphQLErrorShape[] | undefined)).toEqual(['UNAUTHENTICATED']);
}

// ---------------------------------------------------------------------------
// graphql-ws with connectionParams
// ---------------------------------------------------------------------------

const clients: Client[] = [];

afterEach(async () => {
  await Promise.all(
    clients.splice(0).map(async (c) => {
      await c.dispose();
    }),
  );
});

interface KeyedClient {
  client: Client;
  /** Sockets this client opened (to prove operations shared one). */
  connections: () => number;
  /** Close codes of the sockets it saw close. */
  closes: number[];
}

/**
 * A graphql-ws client that sends `authorization` in connectionParams (none when undefined).
 * `lazy: false` keeps one socket open until disposed.
 */
function keyedClient(url: string, authorization: string | undefined, lazy = true): KeyedClient {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy,
    ...(authorization === undefined ? {} : { connectionParams: { authorization } }),
  });
  clients.push(client);
  let connected = 0;
  const closes: number[] = [];
  client.on('connected', () => connected++);
  client.on('closed', (event) => closes.push((event as { code: number }).code));
  return { client, connections: () => connected, closes };
}

interface WsOutcome<TData> {
  results: ExecutionResult<TData>[];
  /** The server's `error` message for this operation (it was refused). */
  errors?: GraphQLErrorShape[];
  /** The socket closed instead (close code). */
  closedWith?: number;
}

/** Runs one operation until complete, error or the socket's closure; never rejects. */
function runWs<TData, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  onNext?: (result: ExecutionResult<TData>) => void,
): Promise<WsOutcome<TData>> {
  return new Promise((resolve) => {
    const results: ExecutionResult<TData>[] = [];
    client.subscribe<TData>(
      { query: print(document), variables },
      {
        next: (result) => {
          results.push(result as ExecutionResult<TData>);
          onNext?.(result as ExecutionResult<TData>);
        },
        error: (error) => {
          if (Array.isArray(error)) resolve({ results, errors: error as GraphQLErrorShape[] });
          else resolve({ results, closedWith: (error as { code?: number }).code ?? -1 });
        },
        complete: () => resolve({ results }),
      },
    );
  });
}

/** The text a stream accumulated, asserting every payload was error-free. */
function streamedText(results: ExecutionResult<CompletionStreamSubscription>[]): string | undefined {
  for (const r of results) expect(r.errors).toBeUndefined();
  return results.at(-1)?.data?.completionStream.accumulatedText;
}

// ---------------------------------------------------------------------------
// Small conveniences over HTTP
// ---------------------------------------------------------------------------

function complete(ctx: GatewayWithFake, key?: string, input: CompletionInput = CHAT) {
  return graphql(ctx.gw.httpUrl, CompleteDocument, { input }, { headers: key === undefined ? {} : bearer(key) });
}

function me(ctx: GatewayWithFake, key?: string) {
  return graphql(ctx.gw.httpUrl, MeDocument, {}, { headers: key === undefined ? {} : bearer(key) });
}

/** The last hour up to a minute from now: every completion the tests ran is inside. */
function window(): { from: string; to: string } {
  return { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() };
}

function usage(ctx: GatewayWithFake, key: string, groupBy: UsageGroupBy, keyId?: string) {
  return graphql(ctx.gw.httpUrl, UsageDocument, { ...window(), groupBy, keyId }, { headers: bearer(key) });
}

function buckets(result: HttpResult<UsageQuery>): UsageQuery['usage'] {
  expect(result.errors).toBeUndefined();
  return result.data?.usage ?? [];
}

/** Pino lines as objects. */
function logLines(ctx: GatewayWithFake): { level: number; msg: string }[] {
  return ctx.gw.logs.map((line) => JSON.parse(line) as { level: number; msg: string });
}

const OPEN_WARNING = /OPEN to anyone/;

// ---------------------------------------------------------------------------

describe('open mode: no keys exist', () => {
  const ctx = useGatewayWithFake();

  it('warns at start-up that the gateway is open to anyone', () => {
    const warning = logLines(ctx).find((l) => OPEN_WARNING.test(l.msg));
    expect(warning?.level).toBe(40);
  });

  it('serves HTTP requests without a key, and `me` is null', async () => {
    const result = await complete(ctx);
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(result.data?.complete.text).toBe(FAKE_TEXT);
    const who = await me(ctx);
    expect(who.status).toBe(200);
    expect(who.errors).toBeUndefined();
    expect(who.data).toEqual({ me: null });
  });

  it('streams over graphql-ws without connectionParams', async () => {
    const { client } = keyedClient(ctx.gw.wsUrl, undefined);
    const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT });
    expect(outcome.errors).toBeUndefined();
    expect(streamedText(outcome.results)).toBe(FAKE_TEXT);
  });

  it('streams over SSE without an Authorization header', async () => {
    const outcome = await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT });
    expect(outcome.status).toBe(200);
    expect(streamedText(outcome.results)).toBe(FAKE_TEXT);
  });

  it('still refuses a key it does not know (401), and the upstream hears nothing', async () => {
    expectUnauthenticated(await complete(ctx, UNKNOWN_KEY));
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses createApiKey without an admin key (FORBIDDEN) and creates nothing', async () => {
    const result = await graphql(ctx.gw.httpUrl, CreateApiKeyDocument, { input: { name: 'sneaky', admin: true } });
    expectRefused(result, 'FORBIDDEN');
    expect(await ctx.gw.app.keys.list()).toEqual([]);
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('GATEWAY_REQUIRE_AUTH=true with no keys', () => {
  const ctx = useGatewayWithFake({ GATEWAY_REQUIRE_AUTH: 'true' });

  it('does not log the open-gateway warning', () => {
    expect(ctx.gw.logs.some((l) => OPEN_WARNING.test(l))).toBe(false);
  });

  it('refuses HTTP without a key with 401 UNAUTHENTICATED, and the upstream hears nothing', async () => {
    expectUnauthenticated(await complete(ctx));
    expectUnauthenticated(await me(ctx));
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses SSE without a key with 401, and the upstream hears nothing', async () => {
    const outcome = await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT });
    expectSseUnauthenticated(outcome);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('closes a graphql-ws socket without a key with 4403 before any operation runs', async () => {
    const { client } = keyedClient(ctx.gw.wsUrl, undefined);
    const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT });
    expect(outcome).toEqual({ results: [], closedWith: 4403 });
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('the first key switches the gateway from open to keyed', () => {
  // The default KEY_CACHE_TTL_MS (2 s): a key created through this process's store counts at once.
  const ctx = useGatewayWithFake();

  it('requires a key on the very next request once a key is created, without waiting for the cache', async () => {
    expect((await complete(ctx)).status).toBe(200); // open: "no live keys" is now cached
    const { key } = await ctx.gw.app.keys.create({ name: 'first', admin: true });
    ctx.fake.reset();
    expectUnauthenticated(await complete(ctx));
    expect(ctx.fake.requests).toEqual([]);
    const keyed = await complete(ctx, key);
    expect(keyed.status).toBe(200);
    expect(keyed.data?.complete.text).toBe(FAKE_TEXT);
  });

  describe('on a graphql-ws socket opened while the gateway was open', () => {
    const own = useGatewayWithFake();

    it('refuses the next operation on that same socket once a key exists', async () => {
      const socket = keyedClient(own.gw.wsUrl, undefined, false);
      const open = await runWs(socket.client, CompletionStreamDocument, { input: CHAT });
      expect(streamedText(open.results)).toBe(FAKE_TEXT);
      await own.gw.app.keys.create({ name: 'first' });
      const refused = await runWs(socket.client, CompletionStreamDocument, { input: CHAT });
      expect(refused.results).toEqual([]);
      expect(codes(refused.errors)).toEqual(['UNAUTHENTICATED']);
      expect(socket.connections()).toBe(1);
      expect(own.fake.requests).toHaveLength(1);
    });
  });
});

describe('once a key exists', () => {
  const ctx = useGatewayWithFake({ KEY_CACHE_TTL_MS: '0' });
  let key = '';

  beforeAll(async () => {
    ({ key } = await ctx.gw.app.keys.create({ name: 'client' }));
  });

  describe('over HTTP', () => {
    it('refuses a request without a key with 401 UNAUTHENTICATED, and the upstream hears nothing', async () => {
      expectUnauthenticated(await complete(ctx));
      expectUnauthenticated(await me(ctx));
      expect(ctx.fake.requests).toEqual([]);
    });

    it('refuses an unknown key, a malformed one and another scheme with 401, and the upstream hears nothing', async () => {
      expectUnauthenticated(await complete(ctx, UNKNOWN_KEY));
      expectUnauthenticated(await complete(ctx, `${key}x`));
      expectUnauthenticated(await complete(ctx, 'not-a-gateway-key'));
      const basic = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT }, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expectUnauthenticated(basic);
      expect(ctx.fake.requests).toEqual([]);
    });

    it('answers `Authorization: Bearer <key>` with 200', async () => {
      const result = await complete(ctx, key);
      expect(result.status).toBe(200);
      expect(result.errors).toBeUndefined();
      expect(result.data?.complete.text).toBe(FAKE_TEXT);
      expect(ctx.fake.requests).toHaveLength(1);
    });

    it('never passes the gateway key on to the upstream', async () => {
      await complete(ctx, key);
      const [request] = await ctx.fake.waitForRequests(1);
      expect(request?.headers['authorization']).toBe('Bearer sk-test-gateway-key');
      expect(JSON.stringify(request)).not.toContain(key);
    });
  });

  describe('over SSE', () => {
    it('refuses a subscription without a key with 401, and the upstream hears nothing', async () => {
      const outcome = await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT });
      expectSseUnauthenticated(outcome);
      expect(ctx.fake.requests).toEqual([]);
    });

    it('refuses a subscription with a wrong key with 401, and the upstream hears nothing', async () => {
      const outcome = await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT }, bearer(UNKNOWN_KEY));
      expectSseUnauthenticated(outcome);
      expect(ctx.fake.requests).toEqual([]);
    });

    it('streams with `Authorization: Bearer <key>`', async () => {
      const outcome = await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT }, bearer(key));
      expect(outcome.status).toBe(200);
      expect(streamedText(outcome.results)).toBe(FAKE_TEXT);
    });
  });

  describe('over graphql-ws', () => {
    it('closes a socket without connectionParams.authorization with 4403, and no operation runs', async () => {
      const { client, closes } = keyedClient(ctx.gw.wsUrl, undefined);
      const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT });
      expect(outcome).toEqual({ results: [], closedWith: 4403 });
      expect(closes).toEqual([4403]);
      expect(ctx.fake.requests).toEqual([]);
    });

    it('closes a socket with a wrong key with 4403, and no operation runs', async () => {
      for (const authorization of [`Bearer ${UNKNOWN_KEY}`, UNKNOWN_KEY, 'Bearer ']) {
        const { client } = keyedClient(ctx.gw.wsUrl, authorization);
        const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT });
        expect(outcome, authorization).toEqual({ results: [], closedWith: 4403 });
      }
      expect(ctx.fake.requests).toEqual([]);
    });

    it('streams with the right key, given as `Bearer <key>` or bare', async () => {
      for (const authorization of [`Bearer ${key}`, key]) {
        const { client } = keyedClient(ctx.gw.wsUrl, authorization);
        const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT });
        expect(outcome.errors).toBeUndefined();
        expect(outcome.closedWith).toBeUndefined();
        expect(streamedText(outcome.results)).toBe(FAKE_TEXT);
      }
      expect(ctx.fake.requests).toHaveLength(2);
    });
  });
});

describe('revocation through the graph', () => {
  // The default KEY_CACHE_TTL_MS (2 s): revocation through this process must not wait for it.
  const ctx = useGatewayWithFake();
  let admin = '';

  beforeAll(async () => {
    ({ key: admin } = await ctx.gw.app.keys.create({ name: 'admin', admin: true }));
  });

  it('stops the next operation on an already open socket with UNAUTHENTICATED, and then HTTP and SSE with 401', async () => {
    const { key, apiKey } = await ctx.gw.app.keys.create({ name: 'doomed' });
    const socket = keyedClient(ctx.gw.wsUrl, `Bearer ${key}`, false);

    const before = await runWs(socket.client, CompletionStreamDocument, { input: CHAT });
    expect(streamedText(before.results)).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(1);

    const revoked = await graphql(ctx.gw.httpUrl, RevokeApiKeyDocument, { id: apiKey.id }, { headers: bearer(admin) });
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data?.revokeApiKey.revokedAt).not.toBeNull();

    const after = await runWs(socket.client, CompletionStreamDocument, { input: CHAT });
    expect(after.results).toEqual([]);
    expect(after.closedWith).toBeUndefined();
    expect(codes(after.errors)).toEqual(['UNAUTHENTICATED']);
    // Only the code: the HTTP status hint Yoga uses for 401s is no business of a socket client.
    expect(after.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED' });
    expect(after.errors?.[0]?.message).toMatch(/not valid/);
    // The same socket, still open: only the operation was refused.
    expect(socket.connections()).toBe(1);
    expect(socket.closes).toEqual([]);

    expectUnauthenticated(await complete(ctx, key));
    expectSseUnauthenticated(await sseWith(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT }, bearer(key)));
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('takes effect at once when revoked through the app’s own KeyStore (not waiting for the 2 s cache)', async () => {
    const { key, apiKey } = await ctx.gw.app.keys.create({ name: 'in-process' });
    expect((await complete(ctx, key)).status).toBe(200); // the lookup is cached now
    await ctx.gw.app.keys.revoke(apiKey.id);
    ctx.fake.reset();
    expectUnauthenticated(await complete(ctx, key));
    expect(ctx.fake.requests).toEqual([]);
  });

  it('stays keyed after the last key is revoked: revoking a leaked key never opens the gateway', async () => {
    const lone = await startGateway({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: ctx.fake.url, KEY_CACHE_TTL_MS: '0' });
    try {
      const { apiKey } = await lone.app.keys.create({ name: 'only', admin: true });
      await lone.app.keys.revoke(apiKey.id);
      ctx.fake.reset();
      const refused = await graphql(lone.httpUrl, CompleteDocument, { input: CHAT });
      expect(refused.status).toBe(401);
      expect(codes(refused.errors)).toEqual(['UNAUTHENTICATED']);
      expect(ctx.fake.requests).toEqual([]);
    } finally {
      await lone.stop();
    }
  });

  it('leaves other keys working', async () => {
    const { key: survivor } = await ctx.gw.app.keys.create({ name: 'survivor' });
    const { apiKey: victim } = await ctx.gw.app.keys.create({ name: 'victim' });
    await graphql(ctx.gw.httpUrl, RevokeApiKeyDocument, { id: victim.id }, { headers: bearer(admin) });
    expect((await complete(ctx, survivor)).status).toBe(200);
  });
});

describe('keys changed by another process (same database, KEY_CACHE_TTL_MS=300)', () => {
  const TTL = 300;
  const dir = mkdtempSync(join(tmpdir(), 'gateway-auth-'));
  const url = `file:${join(dir, 'gateway.db')}`;
  const ctx = useGatewayWithFake({ DATABASE_URL: url, KEY_CACHE_TTL_MS: String(TTL) });
  /** The other process's view of the database, as the CLI would open it. */
  let other: { db: Db; keys: KeyStore } | undefined;

  beforeAll(async () => {
    const db = await openDatabase(url);
    other = { db, keys: new KeyStore(db, TTL) };
  });

  afterAll(async () => {
    await other?.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function otherKeys(): KeyStore {
    if (!other) throw new Error('opened in beforeAll');
    return other.keys;
  }

  /**
   * Counted from the request that cached the lookup: the refusal comes a TTL after that
   * lookup, plus a poll interval and a request or two (300-400 ms in all on a busy shared
   * machine); a cache kept twice the TTL fails.
   */
  const REFUSED_WITHIN_MS = TTL * 1.5 + 100;

  /** Polls HTTP until a request without `key` (or with it) is refused; returns how long after `cachedAt` that was. */
  async function refusedWithin(key: string | undefined, cachedAt: number): Promise<number> {
    await vi.waitFor(
      async () => {
        expect((await complete(ctx, key)).status).toBe(401);
      },
      { timeout: TTL + 1500, interval: 20 },
    );
    return Date.now() - cachedAt;
  }

  it('requires keys within the TTL once another process creates the first one', async () => {
    const cachedAt = Date.now();
    expect((await complete(ctx)).status).toBe(200); // open, and that is cached now
    const { key } = await otherKeys().create({ name: 'from the CLI', admin: true });
    const took = await refusedWithin(undefined, cachedAt);
    expect(took).toBeLessThan(REFUSED_WITHIN_MS);
    ctx.fake.reset();
    expectUnauthenticated(await complete(ctx));
    expect(ctx.fake.requests).toEqual([]);
    expect((await complete(ctx, key)).status).toBe(200);
  });

  it('stops a key within the TTL once another process revokes it, and the upstream hears nothing of the refusals', async () => {
    const { key, apiKey } = await otherKeys().create({ name: 'revoked by the CLI' });
    const cachedAt = Date.now();
    expect((await complete(ctx, key)).status).toBe(200); // the lookup is cached now
    await otherKeys().revoke(apiKey.id);
    const took = await refusedWithin(key, cachedAt);
    expect(took).toBeLessThan(REFUSED_WITHIN_MS);
    ctx.fake.reset();
    expectUnauthenticated(await complete(ctx, key));
    const { client } = keyedClient(ctx.gw.wsUrl, `Bearer ${key}`);
    expect(await runWs(client, CompletionStreamDocument, { input: CHAT })).toEqual({ results: [], closedWith: 4403 });
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('admin mutations', () => {
  const ctx = useGatewayWithFake({ KEY_CACHE_TTL_MS: '0' });
  let admin = '';
  let user = '';
  let userId = '';

  beforeAll(async () => {
    ({ key: admin } = await ctx.gw.app.keys.create({ name: 'admin', admin: true }));
    const created = await ctx.gw.app.keys.create({ name: 'user' });
    user = created.key;
    userId = created.apiKey.id;
  });

  function asAdmin<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables) {
    return graphql(ctx.gw.httpUrl, document, variables, { headers: bearer(admin) });
  }

  async function limitsOf(id: string): Promise<ApiKeyFieldsFragment['limits'] | undefined> {
    return (await ctx.gw.app.keys.get(id))?.limits;
  }

  it('createApiKey returns the plaintext key once; `me` with it shows its name, and the key is nowhere else', async () => {
    const created = await asAdmin(CreateApiKeyDocument, {
      input: { name: '  reporting  ', limits: { rpm: 30, dailyBudgetUsd: 2.5 } },
    });
    expect(created.errors).toBeUndefined();
    const result = created.data?.createApiKey;
    const key = result?.key ?? '';
    expect(key).toMatch(/^gk_[A-Za-z0-9_-]{43}$/);
    expect(result?.apiKey).toMatchObject({
      name: 'reporting',
      admin: false,
      prefix: key.slice(0, 9),
      revokedAt: null,
      limits: { rpm: 30, tpm: null, maxStreams: null, dailyBudgetUsd: 2.5, monthlyBudgetUsd: null },
    });
    expect(Date.parse(result?.apiKey.createdAt ?? '')).toBeGreaterThan(Date.now() - 60_000);

    const who = await me(ctx, key);
    expect(who.status).toBe(200);
    expect(who.data?.me?.key).toMatchObject({ id: result?.apiKey.id, name: 'reporting', admin: false });
    expect(JSON.stringify(who)).not.toContain(key);
    // Stored and logged only as prefix/hash.
    expect(JSON.stringify(await ctx.gw.app.keys.list())).not.toContain(key);
    expect(ctx.gw.logs.join('\n')).not.toContain(key);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('createApiKey refuses a name over MAX_IDENTIFIER_CHARS with BAD_USER_INPUT and creates nothing', async () => {
    const before = (await ctx.gw.app.keys.list()).length;
    const result = await asAdmin(CreateApiKeyDocument, { input: { name: 'n'.repeat(257) } });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.['field']).toBe('name');
    expect((await ctx.gw.app.keys.list()).length).toBe(before);
  });

  it('createApiKey can create another admin key, which may manage keys itself', async () => {
    const created = await asAdmin(CreateApiKeyDocument, { input: { name: 'second admin', admin: true } });
    const key = created.data?.createApiKey.key ?? '';
    expect(created.data?.createApiKey.apiKey.admin).toBe(true);
    const byIt = await graphql(ctx.gw.httpUrl, CreateApiKeyDocument, { input: { name: 'made by the second' } }, { headers: bearer(key) });
    expect(byIt.errors).toBeUndefined();
    expect(byIt.data?.createApiKey.apiKey.name).toBe('made by the second');
  });

  it('createApiKey refuses an empty name or bad limits with BAD_USER_INPUT and creates nothing', async () => {
    const before = (await ctx.gw.app.keys.list()).length;
    for (const input of [
      { name: '   ' },
      { name: 'x', limits: { rpm: 0 } },
      { name: 'x', limits: { tpm: -1 } },
      { name: 'x', limits: { maxStreams: 0 } },
      { name: 'x', limits: { dailyBudgetUsd: -0.01 } },
      { name: 'x', limits: { monthlyBudgetUsd: -1 } },
    ]) {
      expectRefused(await asAdmin(CreateApiKeyDocument, { input }), 'BAD_USER_INPUT');
    }
    expect(await ctx.gw.app.keys.list()).toHaveLength(before);
  });

  it('updateApiKeyLimits leaves omitted fields as they are and clears a field set to null', async () => {
    const { apiKey } = await ctx.gw.app.keys.create({ name: 'limited' });
    const first = await asAdmin(UpdateApiKeyLimitsDocument, {
      id: apiKey.id,
      limits: { rpm: 10, tpm: 5000, maxStreams: 2, dailyBudgetUsd: 1, monthlyBudgetUsd: 20 },
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.updateApiKeyLimits.limits).toEqual({ rpm: 10, tpm: 5000, maxStreams: 2, dailyBudgetUsd: 1, monthlyBudgetUsd: 20 });

    const second = await asAdmin(UpdateApiKeyLimitsDocument, { id: apiKey.id, limits: { tpm: 8000, rpm: null } });
    expect(second.errors).toBeUndefined();
    const expected = { rpm: null, tpm: 8000, maxStreams: 2, dailyBudgetUsd: 1, monthlyBudgetUsd: 20 };
    expect(second.data?.updateApiKeyLimits.limits).toEqual(expected);
    expect(await limitsOf(apiKey.id)).toEqual(expected);

    const nothing = await asAdmin(UpdateApiKeyLimitsDocument, { id: apiKey.id, limits: {} });
    expect(nothing.data?.updateApiKeyLimits.limits).toEqual(expected);

    const cleared = await asAdmin(UpdateApiKeyLimitsDocument, {
      id: apiKey.id,
      limits: { tpm: null, maxStreams: null, dailyBudgetUsd: null, monthlyBudgetUsd: null },
    });
    expect(cleared.data?.updateApiKeyLimits.limits).toEqual({ rpm: null, tpm: null, maxStreams: null, dailyBudgetUsd: null, monthlyBudgetUsd: null });
  });

  it('updateApiKeyLimits takes effect on the key at once (`me` shows the new limits)', async () => {
    const { key, apiKey } = await ctx.gw.app.keys.create({ name: 'watched' });
    await asAdmin(UpdateApiKeyLimitsDocument, { id: apiKey.id, limits: { maxStreams: 4 } });
    expect((await me(ctx, key)).data?.me?.key.limits.maxStreams).toBe(4);
  });

  it('updateApiKeyLimits refuses bad values and unknown ids with BAD_USER_INPUT and changes nothing', async () => {
    const { apiKey } = await ctx.gw.app.keys.create({ name: 'steady', limits: { rpm: 5, dailyBudgetUsd: 3 } });
    for (const limits of [
      { rpm: 0 },
      { tpm: 0 },
      { maxStreams: -2 },
      { dailyBudgetUsd: -1 },
      { monthlyBudgetUsd: -0.5 },
      // One bad field refuses the whole change.
      { rpm: 7, dailyBudgetUsd: -1 },
    ]) {
      const result = await asAdmin(UpdateApiKeyLimitsDocument, { id: apiKey.id, limits });
      expectRefused(result, 'BAD_USER_INPUT');
    }
    expect(await limitsOf(apiKey.id)).toEqual({ rpm: 5, tpm: null, maxStreams: null, dailyBudgetUsd: 3, monthlyBudgetUsd: null });
    expectRefused(await asAdmin(UpdateApiKeyLimitsDocument, { id: 'no-such-key', limits: { rpm: 1 } }), 'BAD_USER_INPUT');
  });

  it('revokeApiKey revokes at once (revokedAt set, the key gets 401); revoking it again or an unknown id is BAD_USER_INPUT', async () => {
    const { key, apiKey } = await ctx.gw.app.keys.create({ name: 'to revoke' });
    expect((await me(ctx, key)).status).toBe(200);
    const revoked = await asAdmin(RevokeApiKeyDocument, { id: apiKey.id });
    expect(revoked.errors).toBeUndefined();
    const revokedAt = revoked.data?.revokeApiKey.revokedAt ?? '';
    expect(Date.parse(revokedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(revoked.data?.revokeApiKey).toMatchObject({ id: apiKey.id, name: 'to revoke' });
    expectUnauthenticated(await me(ctx, key));
    // Again: refused (there is no live key with that id), and the first revocation time stays.
    expectRefused(await asAdmin(RevokeApiKeyDocument, { id: apiKey.id }), 'BAD_USER_INPUT');
    expect(new Date((await ctx.gw.app.keys.get(apiKey.id))?.revokedAt ?? 0).toISOString()).toBe(revokedAt);
    expectRefused(await asAdmin(RevokeApiKeyDocument, { id: 'no-such-key' }), 'BAD_USER_INPUT');
  });

  it('refuses every admin mutation to a non-admin key with FORBIDDEN and changes nothing', async () => {
    const { apiKey: target } = await ctx.gw.app.keys.create({ name: 'target', limits: { rpm: 9 } });
    const before = (await ctx.gw.app.keys.list()).length;
    const headers = bearer(user);
    expectRefused(
      await graphql(ctx.gw.httpUrl, CreateApiKeyDocument, { input: { name: 'escalate', admin: true } }, { headers }),
      'FORBIDDEN',
    );
    expectRefused(
      await graphql(ctx.gw.httpUrl, UpdateApiKeyLimitsDocument, { id: target.id, limits: { rpm: null } }, { headers }),
      'FORBIDDEN',
    );
    // Not even its own limits.
    expectRefused(
      await graphql(ctx.gw.httpUrl, UpdateApiKeyLimitsDocument, { id: userId, limits: { rpm: null } }, { headers }),
      'FORBIDDEN',
    );
    expectRefused(await graphql(ctx.gw.httpUrl, RevokeApiKeyDocument, { id: target.id }, { headers }), 'FORBIDDEN');
    // Forbidden is not unauthenticated: the key itself is fine.
    const status = (await graphql(ctx.gw.httpUrl, RevokeApiKeyDocument, { id: target.id }, { headers })).status;
    expect(status).toBe(200);

    expect(await ctx.gw.app.keys.list()).toHaveLength(before);
    const after = await ctx.gw.app.keys.get(target.id);
    expect(after?.revokedAt).toBeNull();
    expect(after?.limits.rpm).toBe(9);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses admin mutations without a key with 401 (not FORBIDDEN) once keys exist', async () => {
    expectUnauthenticated(await graphql(ctx.gw.httpUrl, CreateApiKeyDocument, { input: { name: 'anon' } }));
    expectUnauthenticated(await graphql(ctx.gw.httpUrl, RevokeApiKeyDocument, { id: userId }));
    expect((await ctx.gw.app.keys.get(userId))?.revokedAt).toBeNull();
  });
});

describe('me', () => {
  const ctx = useGatewayWithFake({ KEY_CACHE_TTL_MS: '0' });
  const LIMITS = { rpm: 100, tpm: 100_000, maxStreams: 3, dailyBudgetUsd: 1, monthlyBudgetUsd: null };
  let key = '';
  let keyId = '';

  beforeAll(async () => {
    const created = await ctx.gw.app.keys.create({ name: 'metered', limits: LIMITS });
    key = created.key;
    keyId = created.apiKey.id;
  });

  it('shows the key, its limits and untouched windows before any completion', async () => {
    const result = await me(ctx, key);
    expect(result.errors).toBeUndefined();
    expect(result.data?.me).toEqual({
      key: expect.objectContaining({ id: keyId, name: 'metered', admin: false, revokedAt: null, limits: LIMITS }) as unknown,
      requestsLastMinute: 0,
      tokensLastMinute: 0,
      openStreams: 0,
      spentTodayUsd: 0,
      spentThisMonthUsd: 0,
      dailyBudgetLeftUsd: 1,
      monthlyBudgetLeftUsd: null,
    });
  });

  it('counts a priced completion: requests, tokens, spend at gpt-4o-mini prices and the daily budget left', async () => {
    const result = await complete(ctx, key);
    expect(result.errors).toBeUndefined();
    const done = result.data?.complete;
    expect(done?.model).toBe('gpt-4o-mini');
    expect(done?.usage).toMatchObject(FAKE_USAGE);
    const { promptTokens = 0, completionTokens = 0, totalTokens = 0 } = done?.usage ?? {};
    const cost = promptTokens * MINI.input + completionTokens * MINI.output;
    expect(cost).toBeGreaterThan(0);
    expect(done?.usage.cost).toBeCloseTo(cost, 15);

    const after = (await me(ctx, key)).data?.me;
    expect(after?.requestsLastMinute).toBe(1);
    // The reservation (prompt + maxTokens) is settled to the real usage.
    expect(after?.tokensLastMinute).toBe(totalTokens);
    expect(after?.openStreams).toBe(0);
    expect(after?.spentTodayUsd).toBeGreaterThan(0);
    expect(after?.spentTodayUsd).toBeCloseTo(cost, 15);
    expect(after?.spentThisMonthUsd).toBeCloseTo(cost, 15);
    expect(after?.dailyBudgetLeftUsd).toBeCloseTo(1 - cost, 15);
    expect(after?.monthlyBudgetLeftUsd).toBeNull();
  });

  it('shows an open stream while it streams, and none once it ends', async () => {
    ctx.fake.script({ choices: [['one', ' two', ' three']], chunkDelayMs: 80 });
    const before = (await me(ctx, key)).data?.me;
    const { client } = keyedClient(ctx.gw.wsUrl, `Bearer ${key}`);
    let during: ReturnType<typeof me> | undefined;
    const outcome = await runWs(client, CompletionStreamDocument, { input: CHAT }, () => {
      during ??= me(ctx, key);
    });
    expect(streamedText(outcome.results)).toBe('one two three');
    if (!during) throw new Error('the stream sent nothing');
    const whileOpen = (await during).data?.me;
    expect(whileOpen?.openStreams).toBe(1);
    expect(whileOpen?.requestsLastMinute).toBe((before?.requestsLastMinute ?? 0) + 1);
    expect(whileOpen?.tokensLastMinute).toBeGreaterThan(before?.tokensLastMinute ?? 0);

    const usage = outcome.results.at(-1)?.data?.completionStream.usage;
    await vi.waitFor(async () => {
      const ended = (await me(ctx, key)).data?.me;
      expect(ended?.openStreams).toBe(0);
      expect(ended?.tokensLastMinute).toBe((before?.tokensLastMinute ?? 0) + (usage?.totalTokens ?? NaN));
    });
  });

  it('is per key: another key sees only its own windows', async () => {
    const { key: other } = await ctx.gw.app.keys.create({ name: 'idle' });
    const result = (await me(ctx, other)).data?.me;
    expect(result?.key.name).toBe('idle');
    expect(result).toMatchObject({ requestsLastMinute: 0, tokensLastMinute: 0, openStreams: 0, spentTodayUsd: 0, dailyBudgetLeftUsd: null });
  });
});

/** What one completion used, as the gateway returned it. */
interface Ran {
  promptTokens: number;
  completionTokens: number;
  cost: number | null;
}

describe('usage', () => {
  const ctx = useGatewayWithFake({ KEY_CACHE_TTL_MS: '0' });
  const keys = { a: '', b: '', admin: '' };
  const ids = { a: '', b: '' };
  /** Completions run by each key: usage as the gateway returned it. */
  const ran: Record<'a' | 'b', Ran[]> = { a: [], b: [] };
  let today = '';

  beforeAll(async () => {
    const a = await ctx.gw.app.keys.create({ name: 'A' });
    const b = await ctx.gw.app.keys.create({ name: 'B' });
    const admin = await ctx.gw.app.keys.create({ name: 'admin', admin: true });
    Object.assign(keys, { a: a.key, b: b.key, admin: admin.key });
    Object.assign(ids, { a: a.apiKey.id, b: b.apiKey.id });
    today = new Date().toISOString().slice(0, 10);
    for (const [who, model] of [['a', 'gpt-4o-mini'], ['a', 'gpt-4o-mini'], ['b', 'gpt-4o']] as const) {
      const result = await complete(ctx, keys[who], { ...CHAT, model });
      const u = result.data?.complete.usage;
      if (!u) throw new Error(`completion for ${who} failed: ${JSON.stringify(result.errors)}`);
      ran[who].push(u);
    }
  });

  function total(list: Ran[]): { requests: number; promptTokens: number; completionTokens: number; costUsd: number } {
    return {
      requests: list.length,
      promptTokens: list.reduce((s, u) => s + u.promptTokens, 0),
      completionTokens: list.reduce((s, u) => s + u.completionTokens, 0),
      costUsd: list.reduce((s, u) => s + (u.cost ?? 0), 0),
    };
  }

  function expectBucket(bucket: UsageQuery['usage'][number] | undefined, group: string, list: Ran[]): void {
    const { costUsd, ...counts } = total(list);
    expect(bucket).toMatchObject({ group, ...counts });
    expect(bucket?.costUsd).toBeCloseTo(costUsd, 15);
  }

  it('gives a key only its own bucket by KEY', async () => {
    const own = buckets(await usage(ctx, keys.a, 'KEY'));
    expect(own).toHaveLength(1);
    expectBucket(own[0], ids.a, ran.a);
    const b = buckets(await usage(ctx, keys.b, 'KEY'));
    expect(b).toHaveLength(1);
    expectBucket(b[0], ids.b, ran.b);
  });

  it('lets a key name itself in keyId, and refuses another key’s id with FORBIDDEN', async () => {
    const own = buckets(await usage(ctx, keys.a, 'KEY', ids.a));
    expectBucket(own[0], ids.a, ran.a);
    expectRefused(await usage(ctx, keys.a, 'KEY', ids.b), 'FORBIDDEN');
    expectRefused(await usage(ctx, keys.a, 'MODEL', ids.b), 'FORBIDDEN');
    expect(ctx.fake.requests).toEqual([]);
  });

  it('shows an admin every key’s bucket, or one with keyId', async () => {
    const all = buckets(await usage(ctx, keys.admin, 'KEY'));
    expect(all.map((b) => b.group).sort()).toEqual([ids.a, ids.b].sort());
    expectBucket(all.find((b) => b.group === ids.a), ids.a, ran.a);
    expectBucket(all.find((b) => b.group === ids.b), ids.b, ran.b);
    const onlyB = buckets(await usage(ctx, keys.admin, 'KEY', ids.b));
    expect(onlyB).toHaveLength(1);
    expectBucket(onlyB[0], ids.b, ran.b);
  });

  it('groups by MODEL with the models that served, each key seeing only its own', async () => {
    const all = buckets(await usage(ctx, keys.admin, 'MODEL'));
    expect(all.map((b) => b.group)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expectBucket(all[0], 'gpt-4o', ran.b);
    expectBucket(all[1], 'gpt-4o-mini', ran.a);
    const a = buckets(await usage(ctx, keys.a, 'MODEL'));
    expect(a.map((b) => b.group)).toEqual(['gpt-4o-mini']);
  });

  it('groups by DAY under today’s UTC date', async () => {
    const all = buckets(await usage(ctx, keys.admin, 'DAY'));
    expect(all).toHaveLength(1);
    expectBucket(all[0], today, [...ran.a, ...ran.b]);
    const b = buckets(await usage(ctx, keys.b, 'DAY'));
    expectBucket(b[0], today, ran.b);
  });

  it('is empty for a window without completions', async () => {
    const result = await graphql(
      ctx.gw.httpUrl,
      UsageDocument,
      { from: '2020-01-01T00:00:00Z', to: '2020-02-01', groupBy: 'KEY' },
      { headers: bearer(keys.admin) },
    );
    expect(buckets(result)).toEqual([]);
  });

  it('refuses unparseable or inverted times with BAD_USER_INPUT', async () => {
    const now = new Date().toISOString();
    for (const [from, to] of [
      ['yesterday', now],
      [now, 'not a time'],
      [now, now],
      ['2030-01-01', '2029-01-01'],
    ] as const) {
      const result = await graphql(ctx.gw.httpUrl, UsageDocument, { from, to, groupBy: 'DAY' }, { headers: bearer(keys.admin) });
      expectRefused(result, 'BAD_USER_INPUT');
    }
  });

  it('refuses a caller without a key with 401', async () => {
    expectUnauthenticated(await graphql(ctx.gw.httpUrl, UsageDocument, { ...window(), groupBy: 'KEY' }));
  });
});

// ---------------------------------------------------------------------------
// The auth mode, by NODE_ENV and GATEWAY_REQUIRE_AUTH (a lost database must not open a
// production gateway)
// ---------------------------------------------------------------------------

/** The start-up line naming the auth mode. */
function authModeLine(ctx: GatewayWithFake): { level: number; msg: string; auth?: string } | undefined {
  return ctx.gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string; auth?: string }).find((l) => l.auth !== undefined);
}

describe('NODE_ENV=production with no keys', () => {
  const ctx = useGatewayWithFake({ NODE_ENV: 'production' });

  it('requires a key: an operation without one is refused UNAUTHENTICATED and the upstream hears nothing', async () => {
    expectUnauthenticated(await complete(ctx));
    expect(ctx.fake.requests).toEqual([]);
  });

  it('says so at start-up: auth "required", at info level, and no open-gateway warning', () => {
    expect(authModeLine(ctx)).toMatchObject({ level: 30, auth: 'required', msg: expect.stringMatching(/GATEWAY_REQUIRE_AUTH.*NODE_ENV=production/) as string });
    expect(ctx.gw.logs.some((l) => OPEN_WARNING.test(l))).toBe(false);
  });
});

describe('NODE_ENV=production with GATEWAY_REQUIRE_AUTH=false and no keys', () => {
  const ctx = useGatewayWithFake({ NODE_ENV: 'production', GATEWAY_REQUIRE_AUTH: 'false' });

  it('is open (the rule before the first key), and warns so at start-up', async () => {
    const result = await complete(ctx);
    expect(result.errors).toBeUndefined();
    expect(result.data?.complete.text).toBe(FAKE_TEXT);
    expect(authModeLine(ctx)).toMatchObject({ level: 40, auth: 'open', msg: expect.stringMatching(OPEN_WARNING) as string });
  });
});

describe('GATEWAY_REQUIRE_AUTH=false with keys in the database', () => {
  it('names the mode at start-up: keys are required because keys exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-auth-mode-'));
    try {
      const url = `file:${join(dir, 'gw.db')}`;
      const db = await openDatabase(url);
      await new KeyStore(db).create({ name: 'existing' });
      await db.close();
      const gw = await startGateway({ DATABASE_URL: url });
      try {
        const line = gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string; auth?: string; keys?: number }).find((l) => l.auth !== undefined);
        expect(line).toMatchObject({ level: 30, auth: 'keyed', keys: 1, msg: expect.stringMatching(/open until the first key exists/) as string });
      } finally {
        await gw.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
