/**
 * A real Apollo Client 4 (what a browser or Node app would use) against a running gateway
 * backed by the fake OpenAI upstream: queries and mutations over HTTP, subscriptions over
 * graphql-ws, with the generated TypedDocumentNodes so results are typed end to end.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import {
  ChatDocument,
  ChatStreamDocument,
  CompleteDocument,
  CompletionStreamDocument,
  ModelsDocument,
  type CompletionInput,
  type ChatStreamSubscription,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, type TestGateway } from './helpers.js';

const KEY = 'sk-test-apollo-0123456789';

let fake: FakeUpstream;
let gw: TestGateway;
let ws: Client;
let client: ApolloClient;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.url });
  ws = createClient({ url: gw.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: gw.httpUrl }),
  );
  client = new ApolloClient({ link, cache: new InMemoryCache() });
});

afterAll(async () => {
  client?.stop();
  await ws?.dispose();
  await gw?.stop();
  await fake?.close();
});

beforeEach(() => {
  fake.reset();
});

afterEach(async () => {
  await client.clearStore();
});

type StreamResult = ApolloClient.SubscribeResult<CompletionStreamSubscription>;

/** Subscribes through Apollo and collects every emitted result until the observable completes. */
function collectStream(input: CompletionInput): Promise<StreamResult[]> {
  return new Promise((resolve, reject) => {
    const results: StreamResult[] = [];
    client.subscribe({ query: CompletionStreamDocument, variables: { input } }).subscribe({
      next: (result) => results.push(result),
      error: reject,
      complete: () => resolve(results),
    });
  });
}

function codesOf(error: unknown): unknown[] {
  if (!CombinedGraphQLErrors.is(error)) throw new Error(`expected CombinedGraphQLErrors, got ${String(error)}`);
  return error.errors.map((e) => e.extensions?.['code']);
}

describe('Apollo Client over HTTP', () => {
  it('runs the complete mutation for messages and gets the upstream text, model and usage', async () => {
    fake.script({
      choices: [['Fine', ',', ' thanks']],
      usage: { prompt_tokens: 11, completion_tokens: 3 },
      model: 'gpt-4o-mini-2024-07-18',
      finishReason: 'length',
    });

    const { data } = await client.mutate({
      mutation: CompleteDocument,
      variables: { input: { messages: [{ role: 'USER', content: 'How are you?' }], temperature: 0 } },
    });

    expect(data?.complete.text).toBe('Fine, thanks');
    expect(data?.complete.model).toBe('gpt-4o-mini-2024-07-18');
    expect(data?.complete.choices).toEqual([
      expect.objectContaining({ index: 0, text: 'Fine, thanks', finishReason: 'LENGTH', logprobs: null }),
    ]);
    expect(data?.complete.usage).toEqual(expect.objectContaining({ promptTokens: 11, completionTokens: 3, totalTokens: 14 }));

    const [request] = await fake.waitForRequests(1);
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers['authorization']).toBe(`Bearer ${KEY}`);
    expect(request?.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'How are you?' }],
      temperature: 0,
    });
    expect(request?.body?.['stream']).not.toBe(true);
  });

  it('runs the complete mutation for a prompt against /v1/completions', async () => {
    fake.script({ choices: [['Once', ' upon', ' a', ' time']], usage: { prompt_tokens: 4, completion_tokens: 4 } });

    const { data } = await client.mutate({
      mutation: CompleteDocument,
      variables: { input: { prompt: 'Tell me a story', maxTokens: 4 } },
    });

    expect(data?.complete.text).toBe('Once upon a time');
    expect(data?.complete.choices[0]?.finishReason).toBe('STOP');
    expect(data?.complete.usage).toEqual(expect.objectContaining({ promptTokens: 4, completionTokens: 4, totalTokens: 8 }));
    const [request] = await fake.waitForRequests(1);
    expect(request?.path).toBe('/v1/completions');
    expect(request?.body).toMatchObject({ prompt: 'Tell me a story', max_tokens: 4 });
    expect(request?.body).not.toHaveProperty('messages');
  });

  it('lists the upstream models through the models query', async () => {
    fake.script({ models: ['gpt-4o-mini', 'my-local-llama'] });

    const { data } = await client.query({ query: ModelsDocument, fetchPolicy: 'network-only' });

    expect(data?.models.map((m) => m.id)).toEqual(['gpt-4o-mini', 'my-local-llama']);
    expect(data?.models[0]).toMatchObject({ ownedBy: 'system', created: 1721172741, contextWindow: 128_000 });
    // A model the gateway has no table entry for: no known context window.
    expect(data?.models[1]).toMatchObject({ ownedBy: 'system', contextWindow: null });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/models']);
  });

  it('rejects the mutation with a CombinedGraphQLErrors carrying RATE_LIMITED when the upstream answers 429', async () => {
    fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 3 } });

    const error: unknown = await client
      .mutate({ mutation: CompleteDocument, variables: { input: { messages: [{ role: 'USER', content: 'hi' }] } } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(codesOf(error)).toEqual(['RATE_LIMITED']);
    const [graphQLError] = (error as CombinedGraphQLErrors).errors;
    expect(graphQLError?.path).toEqual(['complete']);
    expect(graphQLError?.extensions).toMatchObject({ upstreamStatus: 429, retryAfterMs: 3000 });
    expect((error as CombinedGraphQLErrors).data).toBeNull();
    expect(JSON.stringify(error)).not.toContain(KEY);
  });
});

describe('Apollo Client subscriptions over graphql-ws', () => {
  it('streams the pieces in order with a growing accumulatedText and ends with STOP and usage', async () => {
    const pieces = ['Roses', ' are', ' red', ','];
    fake.script({ choices: [pieces], usage: { prompt_tokens: 9, completion_tokens: 4 } });

    const results = await collectStream({ messages: [{ role: 'USER', content: 'A poem please' }] });

    expect(results.every((r) => r.error === undefined)).toBe(true);
    const chunks = results.map((r) => r.data?.completionStream);
    // One chunk per piece; the finish reason and usage come on a last (possibly empty) chunk.
    const texts = chunks.map((c) => c?.text);
    expect(texts.join('')).toBe('Roses are red,');
    expect(texts.slice(0, pieces.length)).toEqual(pieces);
    const accumulated = chunks.map((c) => c?.accumulatedText);
    expect(accumulated.slice(0, pieces.length)).toEqual(['Roses', 'Roses are', 'Roses are red', 'Roses are red,']);

    const last = chunks.at(-1);
    expect(last?.accumulatedText).toBe('Roses are red,');
    expect(last?.finishReason).toBe('STOP');
    expect(last?.usage).toEqual(expect.objectContaining({ promptTokens: 9, completionTokens: 4, totalTokens: 13 }));
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk?.finishReason).toBeNull();
      expect(chunk?.usage).toBeNull();
    }
    expect(new Set(chunks.map((c) => c?.completionId)).size).toBe(1);

    const [request] = await fake.waitForRequests(1);
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('streams a prompt completion from /v1/completions', async () => {
    fake.script({ choices: [['fox', ' jumps']] });

    const results = await collectStream({ prompt: 'The quick brown' });

    expect(results.map((r) => r.data?.completionStream.accumulatedText)).toContain('fox jumps');
    expect(results.at(-1)?.data?.completionStream.finishReason).toBe('STOP');
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/completions']);
  });

  it('delivers the chunks sent before an upstream failure, then an UPSTREAM_ERROR result, then completes', async () => {
    fake.script({ choices: [['one', ' two', ' three', ' four']], fault: { kind: 'dieAfter', chunks: 2 } });

    const results = await collectStream({ messages: [{ role: 'USER', content: 'Count' }] });

    const withData = results.filter((r) => r.data !== undefined);
    expect(withData.map((r) => r.data?.completionStream.accumulatedText)).toEqual(['one', 'one two']);
    expect(withData.every((r) => r.error === undefined)).toBe(true);
    // Apollo 4 emits a `next` payload carrying `errors` (and `data: null`) as a result with
    // `error` set and `data` undefined, rather than erroring the observable.
    const failed = results.at(-1);
    expect(failed?.data).toBeUndefined();
    expect(codesOf(failed?.error)).toEqual(['UPSTREAM_ERROR']);
    expect(results).toHaveLength(3);
  });

  it('aborts the upstream request when the Apollo subscription is unsubscribed mid-stream', async () => {
    fake.script({ choices: [['first', ' second', ' third']], fault: { kind: 'stallAfter', chunks: 1 } });

    const received: StreamResult[] = [];
    let completed = false;
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((resolve) => (firstChunk = resolve));
    const subscription = client
      .subscribe({ query: CompletionStreamDocument, variables: { input: { messages: [{ role: 'USER', content: 'Go' }] } } })
      .subscribe({
        next: (result) => {
          received.push(result);
          firstChunk();
        },
        complete: () => (completed = true),
      });
    await gotFirst;
    expect(received.map((r) => r.data?.completionStream.text)).toEqual(['first']);
    expect(fake.aborted).toEqual([]);

    subscription.unsubscribe();

    const aborted = await fake.waitForAbort();
    expect(aborted.path).toBe('/v1/chat/completions');
    expect(completed).toBe(false);
    expect(received).toHaveLength(1);
  });
});

describe('Apollo Client with tools (the typed Chat and ChatStream operations)', () => {
  const weather = {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  };
  const ask = { role: 'USER' as const, content: 'Weather in Paris and Oslo?' };

  it('streams parallel tool calls over graphql-ws: the pieces as they come, then both calls whole on the last chunk', async () => {
    fake.script({
      toolCalls: [
        [
          { id: 'call_paris', name: 'get_weather', arguments: ['{"ci', 'ty":"Par', 'is"}'] },
          { id: 'call_oslo', name: 'get_weather', arguments: ['{"city":', '"Oslo"}'] },
        ],
      ],
      finishReason: 'tool_calls',
    });
    const results = await new Promise<ApolloClient.SubscribeResult<ChatStreamSubscription>[]>((resolve, reject) => {
      const out: ApolloClient.SubscribeResult<ChatStreamSubscription>[] = [];
      client
        .subscribe({ query: ChatStreamDocument, variables: { input: { messages: [ask], tools: [weather] } } })
        .subscribe({ next: (r) => out.push(r), error: reject, complete: () => resolve(out) });
    });
    const chunks = results.map((r) => r.data?.completionStream);
    const pieces = chunks.flatMap((c) => c?.toolCallDeltas ?? []);
    // Every piece arrives, in the upstream's order, each call's arguments rejoinable by index.
    const rejoined = [0, 1].map((i) => pieces.filter((p) => p.index === i).map((p) => p.argumentsDelta).join(''));
    expect(rejoined).toEqual(['{"city":"Paris"}', '{"city":"Oslo"}']);
    expect(pieces.filter((p) => p.id !== null).map((p) => [p.index, p.id, p.name])).toEqual([
      [0, 'call_paris', 'get_weather'],
      [1, 'call_oslo', 'get_weather'],
    ]);
    const last = chunks.at(-1);
    expect(last?.finishReason).toBe('TOOL_CALLS');
    expect(last?.toolCalls?.map((c) => [c.id, c.argumentsJson])).toEqual([
      ['call_paris', { city: 'Paris' }],
      ['call_oslo', { city: 'Oslo' }],
    ]);
  });

  it('runs the round trip over HTTP: the calls, then their answers, then the text', async () => {
    fake.script({ toolCalls: [[{ id: 'call_paris', name: 'get_weather', arguments: ['{"city":"Paris"}'] }]], finishReason: 'tool_calls' });
    const first = await client.mutate({ mutation: ChatDocument, variables: { input: { messages: [ask], tools: [weather] } } });
    const calls = first.data?.complete.toolCalls ?? [];
    expect(calls.map((c) => [c.id, c.name, c.argumentsJson])).toEqual([['call_paris', 'get_weather', { city: 'Paris' }]]);

    fake.script({ choices: [['Sunny', ' in Paris.']] });
    const second = await client.mutate({
      mutation: ChatDocument,
      variables: {
        input: {
          tools: [weather],
          messages: [
            ask,
            { role: 'ASSISTANT', toolCalls: calls.map(({ id, name, arguments: args }) => ({ id, name, arguments: args })) },
            { role: 'TOOL', toolCallId: 'call_paris', content: '{"sky":"clear"}' },
          ],
        },
      },
    });
    expect(second.data?.complete.text).toBe('Sunny in Paris.');
    expect(fake.requests.at(-1)?.body?.['messages']).toEqual([
      { role: 'user', content: 'Weather in Paris and Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_paris', content: '{"sky":"clear"}' },
    ]);
  });
});
