/**
 * graphql-sse's single-connection ("reservation") mode on /graphql, through the real
 * `graphql-sse` client and Node's fetch: streams to the end, several operations on one
 * event stream, auth, graphql-armor limits and typed refusals in the stream, metrics,
 * cancellation (DELETE and dispose abort the upstream request at once) and drain; a stream
 * nobody opens expires, and takes a bounded number of operations meanwhile. The
 * distinct-connections mode (Yoga's own SSE) keeps working beside it. Across processes:
 * sse-forwarding.test.ts and sse-cluster.test.ts.
 */
import type { IncomingMessage } from 'node:http';
import { print, type ExecutionResult } from 'graphql';
import { createClient, NetworkError, type Client } from 'graphql-sse';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { startFakeUpstream } from './fake-upstream.js';
import { startGateway, useGatewayWithFake, type GraphQLErrorShape } from './helpers.js';

type Payload = ExecutionResult<CompletionStreamSubscription>;

const RESERVATION_MS = 1000;
const ctx = useGatewayWithFake({ UPSTREAM_TIMEOUT_MS: '60000', UPSTREAM_IDLE_TIMEOUT_MS: '60000', SSE_RESERVATION_TIMEOUT_MS: String(RESERVATION_MS) });
let key = '';
beforeAll(async () => {
  // With a key in the store, every operation needs one.
  ({ key } = await ctx.gw.app.keys.create({ name: 'sse-client' }));
});

const clients: Client[] = [];
afterEach(() => clients.splice(0).forEach((c) => c.dispose()));

/** Event-stream requests (GET in single-connection mode, POST per operation otherwise) the gateway received. */
let eventStreams = 0;
beforeAll(() => {
  ctx.gw.app.server.on('request', (req: IncomingMessage) => {
    if (req.headers.accept === 'text/event-stream') eventStreams++;
  });
});

function sseClient(options: { singleConnection?: boolean; authorization?: string | null; url?: string } = {}): Client {
  const authorization = options.authorization === undefined ? `Bearer ${key}` : options.authorization;
  const client = createClient({
    url: options.url ?? ctx.gw.httpUrl,
    singleConnection: options.singleConnection ?? true,
    retryAttempts: 0,
    headers: authorization === null ? {} : { authorization },
    fetchFn: fetch,
  });
  clients.push(client);
  return client;
}

const input = (content: string) => ({ input: { messages: [{ role: 'USER' as const, content }] } });

function stream(client: Client, content: string): AsyncIterableIterator<Payload> {
  return client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: input(content) }) as AsyncIterableIterator<Payload>;
}

async function collect(events: AsyncIterable<Payload>): Promise<Payload[]> {
  const results: Payload[] = [];
  for await (const result of events) results.push(result);
  return results;
}

function codes(result: Payload | undefined): (string | undefined)[] {
  return (result?.errors ?? []).map((e) => e.extensions['code'] as string | undefined);
}

function expectWholeStream(results: Payload[]): void {
  for (const r of results) expect(r.errors).toBeUndefined();
  const chunks = results.map((r) => r.data?.completionStream);
  expect(chunks.map((c) => c?.text).join('')).toBe('Hello from the fake upstream.');
  expect(chunks.at(-1)?.accumulatedText).toBe('Hello from the fake upstream.');
  expect(chunks.at(-1)?.finishReason).toBe('STOP');
  expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 7, completionTokens: 6, totalTokens: 13 });
}

/** "At once", as in cancellation.test.ts: within 300 ms of the client leaving. */
async function expectAbortedAtOnce(leftAt: number): Promise<void> {
  await ctx.fake.waitForAbort(1000);
  expect(performance.now() - leftAt).toBeLessThan(300);
}

describe('graphql-sse single-connection mode on /graphql', () => {
  it('streams every chunk to STOP with usage', async () => {
    expectWholeStream(await collect(stream(sseClient(), 'one')));
  });

  it('runs two concurrent subscriptions on one event stream, and both complete', async () => {
    ctx.fake.script({ chunkDelayMs: 30 });
    const client = sseClient();
    const before = eventStreams;
    const [a, b] = await Promise.all([collect(stream(client, 'a')), collect(stream(client, 'b'))]);
    expectWholeStream(a);
    expectWholeStream(b);
    expect(eventStreams - before).toBe(1);
    expect(await ctx.fake.waitForRequests(2)).toHaveLength(2);
  });

  it('refuses a missing or unknown key with 401 UNAUTHENTICATED before reserving a stream', async () => {
    for (const authorization of [null, 'Bearer gk_thisKeyWasNeverCreatedAnywhere0000000000000']) {
      const error: unknown = await collect(stream(sseClient({ authorization }), 'x')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError<Response>).response?.status).toBe(401);
      // The client drops the body of the refused reservation; the same request, by hand:
      const reservation = await fetch(ctx.gw.httpUrl, { method: 'PUT', headers: authorization === null ? {} : { authorization } });
      expect(reservation.status).toBe(401);
      const body = (await reservation.json()) as { errors: GraphQLErrorShape[] };
      expect(body.errors.map((e) => e.extensions)).toEqual([{ code: 'UNAUTHENTICATED' }]);
    }
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('delivers refusals in the stream with their codes: graphql-armor limits and bad input', async () => {
    const client = sseClient();
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: text`).join(' ');
    const tooMany = `subscription { completionStream(input: { messages: [{ role: USER, content: "x" }] }) { ${aliases} } }`;
    const [tooComplex] = await collect(client.iterate({ query: tooMany }) as AsyncIterable<Payload>);
    expect(codes(tooComplex)).toEqual(['QUERY_TOO_COMPLEX']);
    const [bad] = await collect(client.iterate({ query: print(CompletionStreamDocument), variables: { input: { messages: [] } } }) as AsyncIterable<Payload>);
    expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad?.data ?? null).toBeNull();
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('counts its operations in the metrics', async () => {
    const metrics = () => fetch(`${ctx.gw.baseUrl}/metrics`).then((r) => r.text());
    const line = /gateway_operations_total\{operation="CompletionStream",type="subscription",outcome="ok"\} (\d+)/;
    const before = Number(line.exec(await metrics())?.[1] ?? 0);
    await collect(stream(sseClient(), 'counted'));
    expect(Number(line.exec(await metrics())?.[1])).toBe(before + 1);
  });

  it('aborts the upstream request at once when one stream is left; the other goes on to STOP', async () => {
    // The first generation request stalls after one chunk; the second streams normally.
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 }, faultTimes: 1, chunkDelayMs: 50 });
    const client = sseClient();
    const left = stream(client, 'left');
    expect((await left.next()).done).toBe(false);
    const kept = stream(client, 'kept');
    const first = await kept.next();
    expect(first.done).toBe(false);
    const leftAt = performance.now();
    await left.return?.();
    await expectAbortedAtOnce(leftAt);
    const rest = await collect(kept);
    expectWholeStream([first.value as Payload, ...rest]);
    expect(ctx.fake.aborted.map((r) => JSON.stringify(r.body?.['messages']))).toEqual([JSON.stringify([{ role: 'user', content: 'left' }])]);
  });

  it('aborts the upstream request at once when the client is disposed', async () => {
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const client = sseClient();
    const events = stream(client, 'disposed');
    expect((await events.next()).done).toBe(false);
    const leftAt = performance.now();
    client.dispose();
    await expectAbortedAtOnce(leftAt);
  });

  /** The protocol by hand: graphql-sse's client always opens the stream before it sends an operation. */
  async function reserve(): Promise<string> {
    const response = await fetch(ctx.gw.httpUrl, { method: 'PUT', headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(201);
    return response.text();
  }
  function send(token: string, operationId: string, query = '{ __typename }'): Promise<Response> {
    return fetch(ctx.gw.httpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
      body: JSON.stringify({ query, variables: input('queued'), extensions: { operationId } }),
    });
  }

  it('takes at most 16 operations for a stream that is not open yet: the next gets 429 TOO_MANY_OPERATIONS', async () => {
    const token = await reserve();
    for (let i = 0; i < 16; i++) expect((await send(token, `op${i}`)).status).toBe(202);
    const refused = await send(token, 'op16');
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { errors: GraphQLErrorShape[] };
    expect(body.errors.map((e) => e.extensions)).toEqual([{ code: 'TOO_MANY_OPERATIONS' }]);
  });

  it('drops a reservation not opened within SSE_RESERVATION_TIMEOUT_MS, with the operation already sent to it', async () => {
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const unused = await reserve();
    const token = await reserve();
    expect((await send(token, 'waiting', print(CompletionStreamDocument))).status).toBe(202);
    await ctx.fake.waitForRequests(1);
    await ctx.fake.waitForAbort(RESERVATION_MS + 2000);
    for (const t of [token, unused]) {
      const late = await send(t, 'late');
      expect(late.status).toBe(404);
      expect(await late.json()).toEqual({ errors: [{ message: 'Stream not found' }] });
    }
  });

  it('leaves the distinct-connections mode to Yoga: one event stream per operation', async () => {
    const client = sseClient({ singleConnection: false });
    const before = eventStreams;
    const [a, b] = await Promise.all([collect(stream(client, 'a')), collect(stream(client, 'b'))]);
    expectWholeStream(a);
    expectWholeStream(b);
    expect(eventStreams - before).toBe(2);
  });
});

describe('graphql-sse single-connection mode during a shutdown', () => {
  it('ends a running stream with SHUTTING_DOWN, and refuses new reservations with 503', async () => {
    const fake = await startFakeUpstream({ fault: { kind: 'stallAfter', chunks: 1 } });
    const gw = await startGateway({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, SHUTDOWN_GRACE_MS: '200' });
    try {
      const client = sseClient({ url: gw.httpUrl, authorization: null });
      const events = stream(client, 'cut');
      expect((await events.next()).done).toBe(false);
      const stopped = gw.stop();
      const rest = collect(events);
      const late = await collect(stream(sseClient({ url: gw.httpUrl, authorization: null }), 'late')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((late as NetworkError<Response>).response?.status).toBe(503);
      const results = await rest;
      expect(codes(results.at(-1))).toEqual(['SHUTTING_DOWN']);
      await stopped;
      await fake.waitForAbort(1000);
    } finally {
      await gw.stop();
      await fake.close();
    }
  });
});
