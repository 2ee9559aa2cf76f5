/**
 * What the gateway refuses over WebSocket (graphql-ws on /graphql): graphql-armor's limits on
 * a subscription, oversized messages, too many operations on one socket, upgrades from
 * origins not allowed, too many sockets from one address, and sockets that never say
 * connection_init. Each refused operation is one that would stream from the upstream if it
 * were allowed, and each test proves the fake upstream heard nothing of it.
 */
import { getIntrospectionQuery, Lexer, Source, TokenKind, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, graphql, useGatewayWithFake, wsClient, type GraphQLErrorShape } from './helpers.js';

const PROTOCOL = 'graphql-transport-ws';
const INPUT = '{ prompt: "Hi" }';
const FAKE_TEXT = 'Hello from the fake upstream.';

/** `subscription { completionStream(input: …) { <selection> } }` */
/** complete (1) > choices (2) > logprobs (3) > token (4). */
const TOO_DEEP = 'mutation { complete(input: { prompt: "Hi" }) { choices { logprobs { token } } } }';

function stream(selection: string): string {
  return `subscription { completionStream(input: ${INPUT}) { ${selection} } }`;
}

interface Outcome {
  results: ExecutionResult<{ completionStream: Record<string, unknown> }>[];
  /** Set when the server answered with an `error` message (the operation was refused). */
  errors?: GraphQLErrorShape[];
}

/**
 * Runs one operation on the client's socket until `complete` or `error`; a socket closure
 * rejects. `onNext` sees each payload as it arrives. The promise counts as handled, so a
 * test may leave it running in the background and await it later.
 */
function run(client: Client, query: string, onNext?: () => void): Promise<Outcome> {
  const outcome = new Promise<Outcome>((resolve, reject) => {
    const results: Outcome['results'] = [];
    client.subscribe<{ completionStream: Record<string, unknown> }>(
      { query },
      {
        next: (result) => {
          results.push(result as Outcome['results'][number]);
          onNext?.();
        },
        error: (error) => {
          if (Array.isArray(error)) resolve({ results, errors: error as GraphQLErrorShape[] });
          else {
            const { code, reason } = error as { code?: number; reason?: string };
            reject(new Error(`the socket closed (${code ?? '?'} ${reason ?? ''}) instead of answering`));
          }
        },
        complete: () => resolve({ results }),
      },
    );
  });
  outcome.catch(() => undefined);
  return outcome;
}

/** Clients and raw sockets a test opened, closed after it. */
const clients: Client[] = [];
const sockets: WebSocket[] = [];

function client(url: string): Client {
  const c = wsClient(url);
  clients.push(c);
  return c;
}

/**
 * A client that opens its socket at once and keeps it until disposed (the helpers' client is
 * lazy: it closes the socket whenever no operation runs). `connections()` counts the sockets
 * it opened, to prove several operations shared one.
 */
function persistentClient(url: string): { client: Client; connections: () => number } {
  const c = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  clients.push(c);
  let count = 0;
  c.on('connected', () => count++);
  return { client: c, connections: () => count };
}

afterEach(async () => {
  await Promise.all(
    clients.splice(0).map(async (c) => {
      await c.dispose();
    }),
  );
  await Promise.all(
    sockets.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.readyState === WebSocket.CLOSED) return resolve();
          s.once('close', () => resolve());
          s.terminate();
        }),
    ),
  );
});

type Upgrade = { status: 'open'; socket: WebSocket } | { status: number };

/** Attempts an upgrade with the graphql-ws subprotocol; resolves with the open socket or the HTTP status of the refusal. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, PROTOCOL, { headers });
    sockets.push(socket);
    socket.once('open', () => resolve({ status: 'open', socket }));
    socket.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0 });
    });
    socket.on('error', reject);
  });
}

async function openSocket(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const result = await upgrade(url, headers);
  if (result.status !== 'open') throw new Error(`upgrade refused with HTTP ${result.status}`);
  return result.socket;
}

/** Resolves with the close code and reason once the socket closes. */
function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'));
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** The next graphql-ws message on a raw socket. */
function nextMessage(socket: WebSocket): Promise<{ type: string; id?: string; payload?: unknown }> {
  return new Promise((resolve) =>
    socket.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { type: string })),
  );
}

/** A raw socket past connection_init / connection_ack. */
async function initialisedSocket(url: string): Promise<WebSocket> {
  const socket = await openSocket(url);
  const ack = nextMessage(socket);
  socket.send(JSON.stringify({ type: 'connection_init' }));
  expect((await ack).type).toBe('connection_ack');
  return socket;
}

function expectTooComplex(outcome: Outcome, limit: string, message: RegExp): void {
  expect(outcome.results).toEqual([]);
  expect(outcome.errors).toHaveLength(1);
  const [error] = outcome.errors ?? [];
  expect(error?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  expect(error?.extensions?.limit).toBe(limit);
  expect(error?.message).toMatch(message);
}

/** The streamed text of a completed subscription (the fake's default answer unless scripted). */
function streamedText(outcome: Outcome): string {
  expect(outcome.errors).toBeUndefined();
  return String(outcome.results.at(-1)?.data?.completionStream['accumulatedText']);
}

// graphql-armor's depth, aliases, cost and directives rules throw from validate(): each must
// refuse its one operation with an `error` message, never close the socket under the others.
describe('graphql-armor limits on subscriptions, at their defaults', () => {
  const ctx = useGatewayWithFake();

  it('streams a subscription with 15 aliases', async () => {
    const aliases = Array.from({ length: 15 }, (_, i) => `a${i}: text`).join(' ');
    const outcome = await run(client(ctx.gw.wsUrl), stream(`${aliases} accumulatedText`));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses a subscription with 16 aliases with QUERY_TOO_COMPLEX / maxAliases, before the upstream is called', async () => {
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: text`).join(' ');
    const outcome = await run(client(ctx.gw.wsUrl), stream(aliases));
    expectTooComplex(outcome, 'maxAliases', /Aliases limit of 15 exceeded, found 16/);
    expect(ctx.fake.requests).toEqual([]);
  });

  /** The stream subscription padded with scalar selections to exactly `tokens` lexical tokens. */
  function streamWithTokens(tokens: number): string {
    // `subscription { completionStream ( input : { prompt : "Hi" } ) {` … `} }` is 15 tokens.
    const names = ['id', 'model', 'created', 'index', 'text', 'finishReason', 'accumulatedText'];
    const fields = Array.from({ length: tokens - 16 }, (_, i) => names[i % names.length]).join(' ');
    const document = stream(`${fields} accumulatedText`);
    const lexer = new Lexer(new Source(document));
    let count = 0;
    while (lexer.advance().kind !== TokenKind.EOF) count++;
    expect(count).toBe(tokens);
    return document;
  }

  it('streams a subscription of exactly 1000 lexical tokens', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), streamWithTokens(1000));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses a subscription of 1001 tokens with QUERY_TOO_COMPLEX / maxTokens, before the upstream is called', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), streamWithTokens(1001));
    expectTooComplex(outcome, 'maxTokens', /Token limit of 1000 exceeded/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('streams a subscription with 50 directives', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream(`${'text @include(if: true) '.repeat(49)}accumulatedText @skip(if: false)`));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses a subscription with 51 directives with QUERY_TOO_COMPLEX / maxDirectives, before the upstream is called', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream('text @include(if: true) '.repeat(51)));
    expectTooComplex(outcome, 'maxDirectives', /Directives limit of 50 exceeded, found 51/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('answers a refusal on the socket without closing it: a stream running beside it goes on', async () => {
    ctx.fake.script({ choices: [['Slow', ' and', ' steady']], chunkDelayMs: 50 });
    const { client: c, connections } = persistentClient(ctx.gw.wsUrl);
    const running = run(c, stream('accumulatedText'));
    await ctx.fake.waitForRequests(1);
    expectTooComplex(await run(c, streamWithTokens(1001)), 'maxTokens', /Token limit of 1000 exceeded/);
    expect(streamedText(await running)).toBe('Slow and steady');
    ctx.fake.script({});
    expect(streamedText(await run(c, stream('accumulatedText')))).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(2);
    expect(connections()).toBe(1);
  });
});

describe('graphql-armor limits on subscriptions, lowered: GRAPHQL_MAX_DEPTH=3, GRAPHQL_MAX_COST=20', () => {
  const ctx = useGatewayWithFake({ GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '20' });

  it('streams a subscription exactly 3 deep', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream('accumulatedText usage { totalTokens }'));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
    expect(outcome.results.at(-1)?.data?.completionStream['usage']).toEqual({ totalTokens: 13 });
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('does not count an inline fragment as a level of depth', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream('usage { ... on Usage { totalTokens } } accumulatedText'));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
  });

  it('refuses an operation 4 deep with QUERY_TOO_COMPLEX / maxDepth, before the upstream is called', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), TOO_DEEP);
    expectTooComplex(outcome, 'maxDepth', /depth limit of 3 exceeded, found 4/);
    expect(ctx.fake.requests).toEqual([]);
  });

  // completionStream with 12 scalar selections costs 2 + 12 × 1.5 = 20.
  const twelve = 'id model created index text accumulatedText id model created index text accumulatedText';

  it('answers a too-deep operation with an error and leaves the stream running beside it alone', async () => {
    ctx.fake.script({ choices: [['Slow', ' and', ' steady']], chunkDelayMs: 50 });
    const { client: c, connections } = persistentClient(ctx.gw.wsUrl);
    const running = run(c, stream('accumulatedText'));
    await ctx.fake.waitForRequests(1);
    const refused = await run(c, TOO_DEEP);
    expectTooComplex(refused, 'maxDepth', /depth limit of 3 exceeded, found 4/);
    expect(streamedText(await running)).toBe('Slow and steady');
    expect(connections()).toBe(1);
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('streams a subscription whose cost is exactly 20', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream(twelve));
    expect(streamedText(outcome)).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses a subscription costing 21.5 with QUERY_TOO_COMPLEX / maxCost, before the upstream is called', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream(`${twelve} finishReason`));
    expectTooComplex(outcome, 'maxCost', /Cost limit of 20 exceeded, found 21\.5/);
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('field suggestions over WebSocket with GRAPHQL_HIDE_SUGGESTIONS=true', () => {
  const ctx = useGatewayWithFake({ GRAPHQL_HIDE_SUGGESTIONS: 'true' });

  it('drops "Did you mean" from the error of an unknown field', async () => {
    const outcome = await run(client(ctx.gw.wsUrl), stream('accumulatedTxt'));
    expect(outcome.errors?.[0]?.message).toMatch(/Cannot query field "accumulatedTxt"/);
    expect(outcome.errors?.[0]?.message).not.toMatch(/did you mean/i);
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('introspection over WebSocket', () => {
  describe('by default', () => {
    const ctx = useGatewayWithFake();

    it('answers introspection, deeper than the depth limit as it is', async () => {
      const outcome = await run(client(ctx.gw.wsUrl), getIntrospectionQuery());
      expect(outcome.errors).toBeUndefined();
      const data = outcome.results[0]?.data as unknown as { __schema: { subscriptionType: { name: string } } };
      expect(data.__schema.subscriptionType.name).toBe('Subscription');
    });
  });

  describe('with GRAPHQL_INTROSPECTION=false', () => {
    const ctx = useGatewayWithFake({ GRAPHQL_INTROSPECTION: 'false' });

    it('still refuses introspection over HTTP', async () => {
      const result = await graphql(ctx.gw.httpUrl, '{ __schema { types { name } } }');
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.[0]?.message).toMatch(/introspection/i);
    });
    it('refuses introspection over the socket too (__schema and __type), and still streams', async () => {
      const c = persistentClient(ctx.gw.wsUrl).client;
      for (const query of ['{ __schema { types { name } } }', '{ __type(name: "Query") { name } }']) {
        const refused = await run(c, query);
        expect(refused.results.map((r) => r.data ?? null)).toEqual([]);
        expect(refused.errors?.[0]?.message).toMatch(/introspection/i);
      }
      expect(streamedText(await run(c, stream('accumulatedText')))).toBe(FAKE_TEXT);
    });
  });
});

describe('message size: WS_MAX_PAYLOAD_BYTES=1024', () => {
  const ctx = useGatewayWithFake({ WS_MAX_PAYLOAD_BYTES: '1024' });

  /** A subscribe message for the stream, padded with insignificant spaces to exactly `bytes` bytes. */
  function subscribeMessage(id: string, bytes: number): string {
    const query = (padding: number): string => `${stream('accumulatedText')}${' '.repeat(padding)}`;
    const bare = JSON.stringify({ id, type: 'subscribe', payload: { query: query(0) } });
    const message = JSON.stringify({ id, type: 'subscribe', payload: { query: query(bytes - bare.length) } });
    expect(Buffer.byteLength(message)).toBe(bytes);
    return message;
  }

  it('runs an operation sent in a message of exactly 1024 bytes', async () => {
    const socket = await initialisedSocket(ctx.gw.wsUrl);
    const messages: { type: string; id?: string }[] = [];
    const done = new Promise<void>((resolve) =>
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { type: string };
        messages.push(message);
        if (message.type === 'complete' || message.type === 'error') resolve();
      }),
    );
    socket.send(subscribeMessage('1', 1024));
    await done;
    expect(messages.filter((m) => m.type === 'next').length).toBeGreaterThan(1);
    expect(messages.at(-1)).toEqual({ id: '1', type: 'complete' });
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('closes a socket that sends 1025 bytes with 1009, while another socket streams on to completion', async () => {
    ctx.fake.script({ choices: [['Still', ' here', ' and', ' done']], chunkDelayMs: 50 });
    const { client: other, connections } = persistentClient(ctx.gw.wsUrl);
    const streaming = run(other, stream('accumulatedText'));
    await ctx.fake.waitForRequests(1);

    const socket = await initialisedSocket(ctx.gw.wsUrl);
    const closing = closed(socket);
    socket.send(subscribeMessage('1', 1025));
    expect((await closing).code).toBe(1009);

    expect(streamedText(await streaming)).toBe('Still here and done');
    ctx.fake.script({});
    expect(streamedText(await run(other, stream('accumulatedText')))).toBe(FAKE_TEXT);
    expect(connections()).toBe(1);
    // The oversized operation never reached the upstream: only the other socket's two did.
    expect(ctx.fake.requests).toHaveLength(2);
  });
});

describe('operations per socket: WS_MAX_SUBSCRIPTIONS_PER_SOCKET=2', () => {
  const ctx = useGatewayWithFake({ WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2' });

  it('refuses a third concurrent operation on one socket with TOO_MANY_OPERATIONS while the first two stream on', async () => {
    // Slow streams: the first two are still running when the third arrives.
    ctx.fake.script({ choices: [['One', ' two', ' three', ' four']], chunkDelayMs: 100 });
    const { client: c, connections } = persistentClient(ctx.gw.wsUrl);
    const started = [false, false];
    const finished = [false, false];
    const slow = (i: 0 | 1): Promise<Outcome> =>
      run(c, stream('accumulatedText'), () => (started[i] = true)).finally(() => (finished[i] = true));
    const first = slow(0);
    const second = slow(1);
    await eventually(() => started.every(Boolean), 'both streams started');

    const third = await run(c, stream('accumulatedText'));
    expect(third.results).toEqual([]);
    expect(third.errors).toHaveLength(1);
    expect(third.errors?.[0]?.extensions?.code).toBe('TOO_MANY_OPERATIONS');
    expect(third.errors?.[0]?.extensions?.limit).toBe(2);
    // The refusal came while both were still streaming.
    expect(finished).toEqual([false, false]);

    expect(streamedText(await first)).toBe('One two three four');
    expect(streamedText(await second)).toBe('One two three four');
    expect(ctx.fake.requests).toHaveLength(2);
    expect(connections()).toBe(1);
  });

  it('frees the slot when an operation ends: more operations than the limit run one after another on one socket', async () => {
    const { client: c, connections } = persistentClient(ctx.gw.wsUrl);
    for (let i = 0; i < 4; i++) expect(streamedText(await run(c, stream('accumulatedText')))).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(4);
    expect(connections()).toBe(1);
  });

  it('frees the slot when the client leaves an operation (complete message)', async () => {
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const { client: c, connections } = persistentClient(ctx.gw.wsUrl);
    const started = [false, false];
    const stops = [0, 1].map((i) =>
      c.subscribe({ query: stream('accumulatedText') }, { next: () => (started[i] = true), error: () => {}, complete: () => {} }),
    );
    await eventually(() => started.every(Boolean), 'both stalled streams started');
    for (const stop of stops) stop();
    await eventually(() => ctx.fake.aborted.length === 2, 'both upstream requests aborted');

    ctx.fake.script({});
    expect(streamedText(await run(c, stream('accumulatedText')))).toBe(FAKE_TEXT);
    expect(ctx.fake.requests).toHaveLength(3);
    expect(connections()).toBe(1);
  });
});

describe('upgrade Origin check, by default (no ALLOWED_ORIGINS): same origin only', () => {
  const ctx = useGatewayWithFake();

  it('refuses an upgrade from another origin with HTTP 403', async () => {
    expect((await upgrade(ctx.gw.wsUrl, { origin: 'https://evil.example' })).status).toBe(403);
  });

  it('refuses an opaque origin ("null") with HTTP 403', async () => {
    expect((await upgrade(ctx.gw.wsUrl, { origin: 'null' })).status).toBe(403);
  });

  it('accepts the same origin (http://127.0.0.1:PORT)', async () => {
    expect((await upgrade(ctx.gw.wsUrl, { origin: ctx.gw.baseUrl })).status).toBe('open');
  });

  it('accepts an upgrade without Origin (not a browser)', async () => {
    expect((await upgrade(ctx.gw.wsUrl)).status).toBe('open');
  });
});

describe('upgrade Origin check with ALLOWED_ORIGINS=https://app.example', () => {
  const ctx = useGatewayWithFake({ ALLOWED_ORIGINS: 'https://app.example' });

  it('accepts that origin, and the socket runs operations', async () => {
    const socket = await openSocket(ctx.gw.wsUrl, { origin: 'https://app.example' });
    const ack = nextMessage(socket);
    socket.send(JSON.stringify({ type: 'connection_init' }));
    expect((await ack).type).toBe('connection_ack');
  });

  it('still refuses another origin with HTTP 403', async () => {
    expect((await upgrade(ctx.gw.wsUrl, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await upgrade(ctx.gw.wsUrl, { origin: 'https://app.example.evil.example' })).status).toBe(403);
  });

  it('still accepts the same origin and no Origin', async () => {
    expect((await upgrade(ctx.gw.wsUrl, { origin: ctx.gw.baseUrl })).status).toBe('open');
    expect((await upgrade(ctx.gw.wsUrl)).status).toBe('open');
  });
});

describe('sockets per client address: WS_MAX_SOCKETS_PER_CLIENT=2', () => {
  const ctx = useGatewayWithFake({ WS_MAX_SOCKETS_PER_CLIENT: '2' });

  it('refuses the third socket from 127.0.0.1 with HTTP 429, and accepts one again after a socket closes', async () => {
    const first = await openSocket(ctx.gw.wsUrl);
    await openSocket(ctx.gw.wsUrl);
    expect((await upgrade(ctx.gw.wsUrl)).status).toBe(429);
    // A refused upgrade holds no slot.
    expect((await upgrade(ctx.gw.wsUrl)).status).toBe(429);

    const gone = closed(first);
    first.close(1000);
    await gone;
    // The server counts the socket gone when its own side of the close completes, which
    // may be a moment after this side's: retry a refused upgrade until then.
    const deadline = Date.now() + 2000;
    let again = await upgrade(ctx.gw.wsUrl);
    while (again.status === 429 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      again = await upgrade(ctx.gw.wsUrl);
    }
    expect(again.status).toBe('open');
    // …and that one took the freed slot.
    expect((await upgrade(ctx.gw.wsUrl)).status).toBe(429);
  });
});

describe('connection_init deadline: WS_CONNECTION_INIT_TIMEOUT_MS=200', () => {
  const ctx = useGatewayWithFake({ WS_CONNECTION_INIT_TIMEOUT_MS: '200' });

  it('closes a socket that never sends connection_init with 4408, and not one that did', async () => {
    const polite = await initialisedSocket(ctx.gw.wsUrl);
    const silent = await openSocket(ctx.gw.wsUrl);
    const { code, reason } = await closed(silent);
    expect(code).toBe(4408);
    expect(reason).toMatch(/initiali[sz]ation timeout/i);
    // The polite socket's deadline passed first, and it is still open.
    expect(polite.readyState).toBe(WebSocket.OPEN);
    expect(ctx.fake.requests).toEqual([]);
  });
});
