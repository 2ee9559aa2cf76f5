/**
 * Chunk identities (issue #15): every chunk has its own `id`, a `seq` that runs 1..N in the
 * order the stream sends chunks (over every choice), and the upstream's completion id as
 * `completionId`; and Apollo's InMemoryCache, which keys objects by `id`, keeps every chunk.
 *
 * The gateway talks to the fake upstream through a small HTTP proxy that keeps what the fake
 * answers, so a test can read the completion id the upstream really sent.
 */
import http from 'node:http';
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import type { ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream, type Script } from './fake-upstream.js';
import { collectSse, startGateway, subscribeOverWs, type TestGateway } from './helpers.js';

type Chunk = CompletionStreamSubscription['completionStream'];

let fake: FakeUpstream;
let proxy: http.Server;
let gw: TestGateway;
/** Bodies the fake sent through the proxy since the last reset, in order. */
let answered: string[] = [];

/** Passes every request on to the fake and keeps a copy of each answer's body. */
function startProxy(target: URL): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const forward = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        let body = '';
        upstream.setEncoding('utf8');
        upstream.on('data', (piece: string) => {
          body += piece;
          res.write(piece);
        });
        upstream.on('end', () => {
          answered.push(body);
          res.end();
        });
      },
    );
    // The gateway leaving (a cancelled stream) must reach the fake too.
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The completion id in the upstream's (only) streamed answer. */
function upstreamId(): string {
  expect(answered).toHaveLength(1);
  const match = /"id":"([^"]+)"/.exec(answered[0] ?? '');
  if (!match?.[1]) throw new Error('no completion id in the upstream’s answer');
  return match[1];
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  proxy = await startProxy(new URL(fake.url));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  gw = await startGateway({ OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: `http://127.0.0.1:${address.port}/v1` });
});
afterAll(async () => {
  await gw?.stop();
  await new Promise((resolve) => proxy?.close(resolve));
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  answered = [];
});

function chunks(results: ExecutionResult<CompletionStreamSubscription>[]): Chunk[] {
  return results.map((r) => {
    expect(r.errors).toBeUndefined();
    if (!r.data) throw new Error('payload without data');
    return r.data.completionStream;
  });
}

/** What every stream's chunks must say of themselves. */
function expectHonestIdentities(got: Chunk[]): void {
  expect(got.length).toBeGreaterThan(2);
  expect(got.map((c) => c.seq)).toEqual(got.map((_, i) => i + 1));
  const completionId = upstreamId();
  expect(got.every((c) => c.completionId === completionId)).toBe(true);
  expect(got.map((c) => c.id)).toEqual(got.map((c) => `${completionId}:${c.seq}`));
  expect(new Set(got.map((c) => c.id)).size).toBe(got.length);
}

const transports = {
  'graphql-ws': (input: CompletionInput) => subscribeOverWs(gw.wsUrl, CompletionStreamDocument, { input }),
  SSE: (input: CompletionInput) => collectSse(gw.httpUrl, CompletionStreamDocument, { input }),
};

const streams: { name: string; script: Script; input: CompletionInput }[] = [
  {
    name: 'two chat choices, interleaved',
    script: { choices: [['a1', 'a2', 'a3'], ['b1', 'b2']] },
    input: { messages: [{ role: 'USER', content: 'Go' }], n: 2 },
  },
  {
    name: 'two text-completion choices',
    script: { choices: [['x1', 'x2'], ['y1', 'y2']] },
    input: { prompt: 'Go', n: 2 },
  },
  {
    // The chunks made after the upstream's last event (no finish reason came) count too.
    name: 'two choices from an upstream that sends no finish reason',
    script: { choices: [['a1', 'a2'], ['b1']], finishReason: null },
    input: { messages: [{ role: 'USER', content: 'Go' }], n: 2 },
  },
  {
    name: 'two choices of tool calls',
    script: { toolCalls: [[{ name: 'get_weather', arguments: ['{"city":', '"Paris"}'] }]] },
    input: {
      messages: [{ role: 'USER', content: 'Weather?' }],
      n: 2,
      tools: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
    },
  },
];

describe.each(Object.entries(transports))('over %s', (_transport, subscribe) => {
  it.each(streams)('$name: seq runs 1..N, ids are unique, completionId is the upstream’s', async ({ script, input }) => {
    fake.script(script);
    const got = chunks(await subscribe(input));
    expect(new Set(got.map((c) => c.index))).toEqual(new Set([0, 1]));
    expectHonestIdentities(got);
  });
});

describe('an upstream that sends no completion id', () => {
  it('gets one from the gateway per stream, so chunk ids stay unique across streams', async () => {
    fake.script({ completionId: '', choices: [['x1', 'x2', 'x3']] });
    const input: CompletionInput = { messages: [{ role: 'USER', content: 'Go' }] };
    const [first, second] = [chunks(await subscribeOverWs(gw.wsUrl, CompletionStreamDocument, { input })), chunks(await subscribeOverWs(gw.wsUrl, CompletionStreamDocument, { input }))];
    expect(answered.every((body) => body.includes('"id":""'))).toBe(true);
    for (const got of [first, second]) {
      const completionId = got[0]?.completionId ?? '';
      expect(completionId).toMatch(/^chatcmpl-gw-/);
      expect(got.every((c) => c.completionId === completionId)).toBe(true);
      expect(got.map((c) => c.id)).toEqual(got.map((c) => `${completionId}:${c.seq}`));
    }
    expect(first[0]?.completionId).not.toBe(second[0]?.completionId);
  });
});

describe('Apollo Client’s InMemoryCache', () => {
  let ws: Client;
  let client: ApolloClient;
  const cache = new InMemoryCache();
  beforeAll(() => {
    ws = createClient({ url: gw.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0 });
    client = new ApolloClient({ link: new GraphQLWsLink(ws), cache });
  });
  afterAll(async () => {
    client?.stop();
    await ws?.dispose();
  });

  it('keeps every event of an n=2 stream intact, each chunk its own cache entry', async () => {
    const pieces = [
      ['Roses', ' are', ' red'],
      ['Violets', ' are', ' blue', '.'],
    ];
    fake.script({ choices: pieces });
    const results = await new Promise<Chunk[]>((resolve, reject) => {
      const seen: Chunk[] = [];
      client
        .subscribe({ query: CompletionStreamDocument, variables: { input: { messages: [{ role: 'USER', content: 'A poem' }], n: 2 } } })
        .subscribe({
          next: ({ data, error }) => {
            if (error) reject(new Error(error.message, { cause: error }));
            else if (data) seen.push(data.completionStream);
          },
          error: reject,
          complete: () => resolve(seen),
        });
    });

    // What Apollo delivered: each result is its own chunk (read back from the cache), in
    // order, none overwritten by a later one; each choice's pieces come through whole.
    expectHonestIdentities(results);
    const byChoice = (i: number): string[] => results.filter((c) => c.index === i && c.text !== '').map((c) => c.text);
    expect([byChoice(0), byChoice(1)]).toEqual(pieces);
    for (const c of results) expect(c.accumulatedText.endsWith(c.text)).toBe(true);

    // What the cache holds once the stream is over: one entry per chunk, each still as sent.
    const fragment = gql`
      fragment Kept on CompletionChunk {
        seq
        index
        text
        accumulatedText
      }
    `;
    const entries = Object.keys(cache.extract()).filter((key) => key.startsWith('CompletionChunk:'));
    expect(entries).toHaveLength(results.length);
    for (const c of results) {
      const kept = cache.readFragment<Pick<Chunk, 'seq' | 'index' | 'text' | 'accumulatedText'>>({
        fragment,
        id: cache.identify({ __typename: 'CompletionChunk', id: c.id }),
      });
      expect(kept).toEqual({ __typename: 'CompletionChunk', seq: c.seq, index: c.index, text: c.text, accumulatedText: c.accumulatedText });
    }
  });
});
