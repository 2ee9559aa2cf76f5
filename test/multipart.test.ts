/**
 * Apollo's multipart HTTP subscriptions: Apollo Client 4 with only an `HttpLink` (no
 * WebSocket link) runs `completionStream` over plain HTTP, against a real gateway backed
 * by the fake OpenAI upstream. Plus the wire itself, read raw: the parts, the payload
 * wrapping and the heartbeats of a silent stream.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { ApolloClient, CombinedGraphQLErrors, CombinedProtocolErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { createGraphQLError, createSchema, createYoga, type Plugin } from 'graphql-yoga';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { useMultipartSubscriptions } from '../src/graphql/plugins/use-multipart-subscriptions.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, type TestGateway } from './helpers.js';

/** What Apollo Client 4's HttpLink sends for a subscription (checked against it in the first test). */
const APOLLO_ACCEPT = 'multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/graphql-response+json,application/json;q=0.9';
/** See cancellation.test.ts: an abort that waits for a timer or the next chunk fails this. */
const AT_ONCE_MS = 300;

type StreamResult = ApolloClient.SubscribeResult<CompletionStreamSubscription>;

interface Collected {
  results: StreamResult[];
  /** What the observable's `error` got, if it errored rather than completed. */
  error: unknown;
}

function apollo(uri: string, headers: Record<string, string> = {}): ApolloClient {
  return new ApolloClient({ link: new HttpLink({ uri, headers }), cache: new InMemoryCache() });
}

/** Subscribes through Apollo and collects every result until the observable completes or errors. */
function collect(client: ApolloClient, input: CompletionInput): Promise<Collected> {
  return new Promise((resolve) => {
    const results: StreamResult[] = [];
    client.subscribe({ query: CompletionStreamDocument, variables: { input } }).subscribe({
      next: (result) => results.push(result),
      error: (error: unknown) => resolve({ results, error }),
      complete: () => resolve({ results, error: undefined }),
    });
  });
}

function codesOf(error: unknown): unknown[] {
  if (!CombinedGraphQLErrors.is(error)) throw new Error(`expected CombinedGraphQLErrors, got ${String(error)}`);
  return error.errors.map((e) => e.extensions?.['code']);
}

const ask = (content: string): CompletionInput => ({ messages: [{ role: 'USER', content }] });

describe('Apollo Client with only an HttpLink', () => {
  let fake: FakeUpstream;
  let gw: TestGateway;
  let client: ApolloClient;
  const accepts: (string | null)[] = [];

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gw = await startGateway({ OPENAI_API_KEY: 'sk-test-multipart', OPENAI_BASE_URL: fake.url, UPSTREAM_IDLE_TIMEOUT_MS: '60000', MULTIPART_HEARTBEAT_MS: '1000' });
    // Records the Accept header Apollo really sends, so the raw tests below send the same.
    const recording: typeof fetch = (input, init) => {
      accepts.push(new Headers(init?.headers).get('accept'));
      return fetch(input, init);
    };
    client = new ApolloClient({ link: new HttpLink({ uri: gw.httpUrl, fetch: recording }), cache: new InMemoryCache() });
  });
  afterAll(async () => {
    client?.stop();
    await gw?.stop();
    await fake?.close();
  });
  beforeEach(() => fake.reset());
  afterEach(async () => {
    await client.clearStore();
  });

  it('streams every chunk in order, ending with STOP and usage', async () => {
    const pieces = ['Roses', ' are', ' red', ','];
    fake.script({ choices: [pieces], usage: { prompt_tokens: 9, completion_tokens: 4 } });

    const { results, error } = await collect(client, ask('A poem please'));

    expect(accepts.at(-1)).toBe(APOLLO_ACCEPT);
    expect(error).toBeUndefined();
    expect(results.every((r) => r.error === undefined)).toBe(true);
    const chunks = results.map((r) => r.data?.completionStream);
    expect(chunks.map((c) => c?.text).slice(0, pieces.length)).toEqual(pieces);
    expect(chunks.map((c) => c?.accumulatedText).slice(0, pieces.length)).toEqual(['Roses', 'Roses are', 'Roses are red', 'Roses are red,']);
    const last = chunks.at(-1);
    expect(last?.accumulatedText).toBe('Roses are red,');
    expect(last?.finishReason).toBe('STOP');
    expect(last?.usage).toEqual(expect.objectContaining({ promptTokens: 9, completionTokens: 4, totalTokens: 13 }));
    const [request] = await fake.waitForRequests(1);
    expect(request?.body).toMatchObject({ stream: true });
  });

  it('delivers the chunks sent before an upstream failure, then an UPSTREAM_ERROR result, then completes', async () => {
    fake.script({ choices: [['one', ' two', ' three', ' four']], fault: { kind: 'dieAfter', chunks: 2 } });

    const { results, error } = await collect(client, ask('Count'));

    expect(error).toBeUndefined();
    expect(results.slice(0, -1).map((r) => r.data?.completionStream.accumulatedText)).toEqual(['one', 'one two']);
    const failed = results.at(-1);
    expect(failed?.data).toBeUndefined();
    expect(codesOf(failed?.error)).toEqual(['UPSTREAM_ERROR']);
  });

  it('aborts the upstream request at once when the subscription is unsubscribed', async () => {
    fake.script({ choices: [['first', ' second', ' third']], fault: { kind: 'stallAfter', chunks: 1 } });

    const received: StreamResult[] = [];
    let gotFirst!: () => void;
    const first = new Promise<void>((resolve) => (gotFirst = resolve));
    const subscription = client.subscribe({ query: CompletionStreamDocument, variables: { input: ask('Go') } }).subscribe({
      next: (result) => {
        received.push(result);
        gotFirst();
      },
    });
    await first;
    expect(received.map((r) => r.data?.completionStream.text)).toEqual(['first']);
    expect(fake.aborted).toEqual([]);

    const leftAt = performance.now();
    subscription.unsubscribe();

    const aborted = await fake.waitForAbort(1000);
    expect(performance.now() - leftAt).toBeLessThan(AT_ONCE_MS);
    expect(aborted.path).toBe('/v1/chat/completions');
    expect(received).toHaveLength(1);
  });

  it('runs a mutation over the same HttpLink', async () => {
    fake.script({ choices: [['Fine', ',', ' thanks']] });

    const { data } = await client.mutate({ mutation: CompleteDocument, variables: { input: { ...ask('How are you?'), temperature: 0 } } });

    expect(data?.complete.text).toBe('Fine, thanks');
  });

  it('sends heartbeat parts on a silent stream every MULTIPART_HEARTBEAT_MS, then the events wrapped in payload, then the final boundary', async () => {
    let release!: () => void;
    fake.script({ choices: [['late']], holdUntil: new Promise<void>((resolve) => (release = resolve)) });
    const startedAt = performance.now();
    const response = await fetch(gw.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: APOLLO_ACCEPT },
      body: JSON.stringify({ query: print(CompletionStreamDocument), variables: { input: ask('Wait for it') } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let wire = '';
    const readUntil = async (predicate: () => boolean): Promise<void> => {
      while (!predicate()) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`the body ended early: ${JSON.stringify(wire)}`);
        wire += decoder.decode(value, { stream: true });
      }
    };

    // The upstream is held: nothing but a heartbeat can come, after MULTIPART_HEARTBEAT_MS
    // (1 s here, not the default 5 s).
    await readUntil(() => wire.includes('{}'));
    const heartbeatAfter = performance.now() - startedAt;
    expect(heartbeatAfter).toBeGreaterThan(900);
    expect(heartbeatAfter).toBeLessThan(4500);
    expect(wire).toBe('\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql');

    release();
    await readUntil(() => wire.endsWith('--graphql--\r\n'));
    const parts = wire
      .slice(0, -'--\r\n'.length)
      .split('\r\n--graphql')
      .filter(Boolean)
      .map((part) => JSON.parse(part.slice(part.indexOf('\r\n\r\n'))) as Record<string, unknown>);
    const payloads = parts.filter((p) => 'payload' in p) as { payload: { data: CompletionStreamSubscription } }[];
    expect(parts.filter((p) => !('payload' in p))).toEqual([{}]);
    expect(payloads.map((p) => p.payload.data.completionStream.accumulatedText)).toContain('late');
    expect(payloads.at(-1)?.payload.data.completionStream.finishReason).toBe('STOP');
  }, 15_000);
});

describe('Apollo multipart subscriptions on a gateway with keys', () => {
  let fake: FakeUpstream;
  let gw: TestGateway;
  let key: string;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gw = await startGateway({ OPENAI_API_KEY: 'sk-test-multipart', OPENAI_BASE_URL: fake.url, SHUTDOWN_GRACE_MS: '100' });
    ({ key } = await gw.app.keys.create({ name: 'multipart' }));
  });
  afterAll(async () => {
    await gw?.stop();
    await fake?.close();
  });

  it('refuses a subscription without a key with UNAUTHENTICATED, and streams with one', async () => {
    const anonymous = apollo(gw.httpUrl);
    const refused = await collect(anonymous, ask('Hello'));
    anonymous.stop();
    expect(refused.error).toBeUndefined();
    expect(refused.results).toHaveLength(1);
    expect(codesOf(refused.results[0]?.error)).toEqual(['UNAUTHENTICATED']);
    expect(fake.requests).toEqual([]);

    const keyed = apollo(gw.httpUrl, { authorization: `Bearer ${key}` });
    const streamed = await collect(keyed, ask('Hello'));
    keyed.stop();
    expect(streamed.error).toBeUndefined();
    expect(streamed.results.at(-1)?.data?.completionStream).toMatchObject({
      accumulatedText: 'Hello from the fake upstream.',
      finishReason: 'STOP',
    });
  });

  // Last: it stops this gateway.
  it('ends a stream the shutdown cuts with a SHUTTING_DOWN result, then completes', async () => {
    fake.script({ choices: [['first', ' second']], fault: { kind: 'stallAfter', chunks: 1 } });
    const keyed = apollo(gw.httpUrl, { authorization: `Bearer ${key}` });
    const results: StreamResult[] = [];
    let gotFirst!: () => void;
    const first = new Promise<void>((resolve) => (gotFirst = resolve));
    const ended = new Promise<unknown>((resolve) => {
      keyed.subscribe({ query: CompletionStreamDocument, variables: { input: ask('Go on') } }).subscribe({
        next: (result) => {
          results.push(result);
          gotFirst();
        },
        error: resolve,
        complete: () => resolve(undefined),
      });
    });
    await first;

    await gw.stop();

    expect(await ended).toBeUndefined();
    keyed.stop();
    expect(results[0]?.data?.completionStream.text).toBe('first');
    expect(codesOf(results.at(-1)?.error)).toEqual(['SHUTTING_DOWN']);
    await fake.waitForAbort(1000);
  });
});

/**
 * The gateway's streams do not break: their failures are events with `data: null`. A
 * stream that does break (Yoga hands it over as a last result without `data`) is the
 * transport failure of Apollo's protocol; that is shown on a small Yoga with the plugin and
 * a layer that breaks the stream, Apollo fetching from it in memory.
 */
describe('the plugin on its own', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const breaking: Plugin = {
    onSubscribe: () => ({
      onSubscribeResult({ setResult }) {
        setResult(
          (async function* () {
            yield { data: { ticks: 1 } };
            await sleep(120);
            throw createGraphQLError('The stream broke', { extensions: { code: 'UPSTREAM_ERROR' }, path: ['ticks'] });
          })(),
        );
      },
    }),
  };
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { ok: Boolean } type Subscription { ticks: Int }',
      resolvers: { Subscription: { ticks: { subscribe: async function* () {} } } },
    }),
    plugins: [useMultipartSubscriptions({ heartbeatMs: 50 }), breaking],
    logging: false,
  });
  const fetchFromYoga: typeof fetch = (input, init) => Promise.resolve(yoga.fetch(new Request(input, init)));
  const TICKS = gql`
    subscription Ticks {
      ticks
    }
  `;
  const post = (accept: string): Promise<Response> =>
    fetchFromYoga('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept },
      body: JSON.stringify({ query: print(TICKS) }),
    });

  it('sends heartbeats at the configured interval, and a broken stream as a transport error that Apollo reads as protocol errors', async () => {
    const wire = await (await post(APOLLO_ACCEPT)).text();
    const parts = wire
      .split('\r\n--graphql')
      .slice(1, -1)
      .map((part) => JSON.parse(part.slice(part.indexOf('\r\n\r\n'))) as unknown);
    expect(parts[0]).toEqual({ payload: { data: { ticks: 1 } } });
    // 120 ms of silence at a 50 ms interval: one or two heartbeats, whatever the timers' jitter.
    const heartbeats = parts.slice(1, -1);
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(heartbeats.every((p) => JSON.stringify(p) === '{}')).toBe(true);
    // Top-level errors keep message and code, never a path or locations; then the response ends.
    expect(parts.at(-1)).toEqual({ payload: null, errors: [{ message: 'The stream broke', extensions: { code: 'UPSTREAM_ERROR' } }] });
    expect(wire.endsWith('\r\n--graphql--\r\n')).toBe(true);

    const client = new ApolloClient({ link: new HttpLink({ uri: 'http://yoga/graphql', fetch: fetchFromYoga }), cache: new InMemoryCache() });
    const results = await new Promise<ApolloClient.SubscribeResult[]>((resolve, reject) => {
      const out: ApolloClient.SubscribeResult[] = [];
      client.subscribe({ query: TICKS }).subscribe({ next: (r) => out.push(r), error: reject, complete: () => resolve(out) });
    });
    client.stop();
    expect(results[0]?.data).toEqual({ ticks: 1 });
    const failure = results.at(-1)?.error;
    expect(CombinedProtocolErrors.is(failure)).toBe(true);
    expect((failure as CombinedProtocolErrors).errors.map((e) => e.extensions?.['code'])).toEqual(['UPSTREAM_ERROR']);
  });

  it('leaves SSE, plain multipart and JSON requests to Yoga', async () => {
    const sse = await post('text/event-stream');
    expect(sse.headers.get('content-type')).toBe('text/event-stream');
    expect(await sse.text()).toContain('event: complete');
    // Yoga offers its incremental-delivery multipart to no subscription: unchanged.
    expect((await post('multipart/mixed')).status).toBe(406);
    expect((await post('application/json')).status).toBe(406);
  });
});
