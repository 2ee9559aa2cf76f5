/**
 * graphql-sse's single-connection mode across two gateway instances on one Redis, with no
 * sticky sessions: the real graphql-sse client, whose `fetchFn` is a tiny load balancer that
 * sends each request to the instance a rule picks. The stream lives where its GET landed;
 * operations and their DELETEs that land on the other instance are forwarded to it.
 */
import { randomUUID } from 'node:crypto';
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-sse';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import type { SharedRedis } from '../src/shared-state/redis.js';
import { eventually, type GraphQLErrorShape } from './helpers.js';
import { useInstances } from './instances.js';
import { until } from './quota-cases.js';
import { keysUnder, redisSkip, sharedRedis } from './redis.js';

type Payload = ExecutionResult<CompletionStreamSubscription>;
const TOKEN_HEADER = 'x-graphql-event-stream-token';
const RESERVATION_MS = 1500;

describe.skipIf(redisSkip !== undefined)('graphql-sse single-connection mode over two instances without sticky sessions', () => {
  const instances = useInstances(2, {
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
    SSE_RESERVATION_TIMEOUT_MS: String(RESERVATION_MS),
  });
  let key = '';
  beforeAll(async () => {
    // With a key in the store every operation needs one: the forwarded ones too.
    ({ key } = await instances.at(0).app.keys.create({ name: 'sse-forwarding' }));
  });

  /** What the balancer sent where: `METHOD instance status`. */
  let routed: string[] = [];
  const clients: Client<true>[] = [];
  afterEach(() => {
    clients.splice(0).forEach((c) => c.dispose());
    routed = [];
  });

  /** A client whose every request goes to the instance `pick` names (by the request's number and method). */
  function balanced(pick: (n: number, method: string) => number): Client<true> {
    let n = 0;
    const fetchFn = async (input: string, init?: RequestInit): Promise<Response> => {
      const method = init?.method ?? 'GET';
      const target = pick(n++, method) % 2;
      const url = new URL(input);
      const base = new URL(instances.at(target).httpUrl);
      url.host = base.host;
      const response = await fetch(url, init);
      routed.push(`${method} ${target} ${response.status}`);
      return response;
    };
    const client = createClient({
      url: instances.at(0).httpUrl,
      singleConnection: true,
      retryAttempts: 0,
      headers: { authorization: `Bearer ${key}` },
      fetchFn,
    });
    clients.push(client);
    return client;
  }

  const stream = (client: Client<true>, content: string): AsyncIterableIterator<Payload> =>
    client.iterate<CompletionStreamSubscription>({
      query: print(CompletionStreamDocument),
      variables: { input: { messages: [{ role: 'USER', content }] } },
    }) as AsyncIterableIterator<Payload>;

  async function collect(events: AsyncIterable<Payload>): Promise<Payload[]> {
    const results: Payload[] = [];
    for await (const result of events) results.push(result);
    return results;
  }

  function expectWholeStream(results: Payload[]): void {
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(results.at(-1)?.data?.completionStream).toMatchObject({ accumulatedText: 'Hello from the fake upstream.', finishReason: 'STOP' });
  }

  async function forwarded(result: string): Promise<number> {
    let total = 0;
    for (const gw of instances.gateways) {
      const text = await fetch(`${gw.baseUrl}/metrics`).then((r) => r.text());
      total += Number(new RegExp(`gateway_sse_forwarded_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    }
    return total;
  }

  it('streams several subscriptions on one client to the end while its requests alternate between the instances', async () => {
    instances.fake.script({ chunkDelayMs: 20 });
    const before = await forwarded('answered');
    for (let round = 0; round < 4; round++) {
      // Round-robin, started at each instance in turn: the stream is opened on either.
      const client = balanced((n) => n + round);
      const results = await Promise.all([collect(stream(client, 'a')), collect(stream(client, 'b')), collect(stream(client, 'c'))]);
      for (const r of results) expectWholeStream(r);
    }
    // Every request was answered as the client expects, from both instances.
    expect(routed.filter((r) => r.startsWith('PUT')).every((r) => r.endsWith(' 201'))).toBe(true);
    expect(routed.filter((r) => r.startsWith('POST')).every((r) => r.endsWith(' 202'))).toBe(true);
    expect(new Set(routed.filter((r) => r.startsWith('POST')).map((r) => r.split(' ')[1]))).toEqual(new Set(['0', '1']));
    // Some of them reached the instance without the stream, and were forwarded.
    expect((await forwarded('answered')) - before).toBeGreaterThan(0);
    expect(instances.fake.requests).toHaveLength(12);
  });

  it('stops an operation on the instance holding its stream when the client leaves it through the other: the upstream request is aborted', async () => {
    instances.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    // PUT to 0, the stream (GET) on 1, the operation and its DELETE to 0.
    const client = balanced((_, method) => (method === 'GET' ? 1 : 0));
    const events = stream(client, 'left');
    expect((await events.next()).done).toBe(false);
    await events.return?.();
    await instances.fake.waitForAbort(5000);
    await eventually(() => routed.some((r) => r.startsWith('DELETE')), 'the DELETE to be answered');
    expect(routed).toEqual(['PUT 0 201', 'GET 1 200', 'POST 0 202', 'DELETE 0 200']);
  });

  it('records in Redis which instance holds an open stream, and forgets it once the event stream ends', async () => {
    instances.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const prefix = instances.env['REDIS_KEY_PREFIX'] ?? '';
    const streams = async (): Promise<string[]> => (await keysUnder(prefix)).filter((k) => k.startsWith(`${prefix}sse:`) && !k.includes(':instance:'));
    expect(await streams()).toEqual([]);
    const client = balanced((n) => n);
    const events = stream(client, 'held');
    expect((await events.next()).done).toBe(false);
    // Longer than the record's lifetime: renewed while the stream is open.
    await new Promise((resolve) => setTimeout(resolve, RESERVATION_MS + 500));
    expect(await streams()).toHaveLength(1);
    client.dispose();
    await until(async () => (await streams()).length === 0, 'the stream’s record deleted', 800);
    await instances.fake.waitForAbort(1000);
  });

  async function post(instance: number, token: string, init: { method?: string; accept?: string } = {}): Promise<Response> {
    return fetch(instances.at(instance).httpUrl + (init.method === 'DELETE' ? '?operationId=op' : ''), {
      method: init.method ?? 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: init.accept ?? '*/*', [TOKEN_HEADER]: token },
      body: init.method === undefined ? JSON.stringify({ query: print(CompletionStreamDocument), variables: { input: { messages: [{ role: 'USER', content: 'x' }] } }, extensions: { operationId: 'op' } }) : undefined,
    });
  }

  async function reserve(instance: number): Promise<string> {
    const response = await fetch(instances.at(instance).httpUrl, { method: 'PUT', headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(201);
    return response.text();
  }

  it('answers an unknown token with 404 "Stream not found" on either instance, as a single process does', async () => {
    for (const instance of [0, 1]) {
      for (const method of ['POST', 'DELETE']) {
        const response = await post(instance, randomUUID(), { method: method === 'POST' ? undefined : method });
        expect(response.status).toBe(404);
        expect(await response.json()).toEqual({ errors: [{ message: 'Stream not found' }] });
      }
    }
  });

  it('refuses to open on one instance a stream whose operations were sent to the other before it was opened, and drops that stream when nobody opens it', async () => {
    instances.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const token = await reserve(0);
    // graphql-sse's client never does this (it opens the stream first); the protocol allows it.
    expect((await post(1, token)).status).toBe(202);
    const elsewhere = await fetch(instances.at(0).httpUrl, { headers: { accept: 'text/event-stream', [TOKEN_HEADER]: token } });
    expect(elsewhere.status).toBe(409);
    const body = (await elsewhere.json()) as { errors: GraphQLErrorShape[] };
    expect(body.errors[0]?.message).toMatch(/held by another instance/);
    // Not opened within SSE_RESERVATION_TIMEOUT_MS: the stream and its running operation end.
    await instances.fake.waitForAbort(RESERVATION_MS + 3000);
    await until(async () => (await post(0, token)).status === 404, 'the stream forgotten everywhere', 3000);
  });

  it('drops a reservation that is never opened', async () => {
    const token = await reserve(1);
    await new Promise((resolve) => setTimeout(resolve, RESERVATION_MS + 200));
    for (const instance of [0, 1]) expect((await post(instance, token)).status).toBe(404);
  });

  describe('an instance holding a stream that does not answer', () => {
    let silent: SharedRedis;
    const channel = `silent-${randomUUID()}`;
    beforeAll(async () => {
      silent = await sharedRedis(instances.env['REDIS_KEY_PREFIX'] ?? '');
      // Subscribed, so the message is delivered, but never answered.
      await silent.subscribe(silent.key(channel), () => undefined);
      return () => silent.close();
    });

    it('answers 503 SERVICE_UNAVAILABLE after the forwarding timeout', async () => {
      const token = randomUUID();
      await silent.client.set(silent.key('sse', token), silent.key(channel), 'PX', 20_000);
      const response = await post(0, token);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { errors: GraphQLErrorShape[] };
      expect(body.errors.map((e) => e.extensions)).toEqual([{ code: 'SERVICE_UNAVAILABLE' }]);
      expect(await forwarded('timeout')).toBe(1);
    }, 15_000);

    it('answers 404 "Stream not found" when the instance that held the stream is gone', async () => {
      const token = randomUUID();
      await silent.client.set(silent.key('sse', token), silent.key(`gone-${randomUUID()}`), 'PX', 20_000);
      const response = await post(1, token);
      expect(response.status).toBe(404);
      expect(await forwarded('gone')).toBe(1);
      // Its record is deleted rather than left to lapse.
      expect(await silent.client.exists(silent.key('sse', token))).toBe(0);
    });
  });
});
