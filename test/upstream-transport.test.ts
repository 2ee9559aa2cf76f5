/**
 * The gateway's HTTP client for upstreams (src/upstream/openai/client.ts), through the
 * public surface: SSE framings real servers use, errors sent inside a stream, connection
 * reuse and the retry rules.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CompleteDocument, CompletionStreamDocument, type CompletionInput } from '../src/generated/operations.js';
import type { Framing, RecordedRequest } from './fake-upstream.js';
import { collectSse, collectWs, eventually, graphql, startGateway, useGatewayWithFake, wsClient, subscribeOverWs } from './helpers.js';

const KEY = 'sk-test-gateway-key';
// The back-pressure tests stream 80 MB of text, over the default cap on one stream's text.
const ctx = useGatewayWithFake({ UPSTREAM_MAX_BODY_BYTES: String(128 * 1024 * 1024) });

// Multi-byte characters, so a split read can cut one in half.
const PIECES = ['Grüße', ' 🙂', ' — ', 'naïve', ' 東京'];
const CHAT: CompletionInput = { messages: [{ role: 'USER', content: 'Go' }] };

const streamWs = (url: string, input: CompletionInput = CHAT) => subscribeOverWs(url, CompletionStreamDocument, { input });

const framings: [string, Framing][] = [
  ['CRLF line ends', { lineEnding: '\r\n' }],
  ['lone CR line ends', { lineEnding: '\r' }],
  ['keep-alive comments', { comments: true }],
  ['events split every 3 bytes', { splitBytes: 3 }],
  ['CRLF split every byte, with comments', { lineEnding: '\r\n', splitBytes: 1, comments: true }],
  ['lone CR split every byte', { lineEnding: '\r', splitBytes: 1 }],
];

describe('decoding upstream streams', () => {
  it.each(framings)('reads every chunk of a stream framed with %s', async (_name, framing) => {
    ctx.fake.script({ choices: [PIECES], framing, usage: { prompt_tokens: 3, completion_tokens: 5 } });
    const results = await streamWs(ctx.gw.wsUrl);
    expect(results.map((r) => r.errors)).toEqual(results.map(() => undefined));
    const chunks = results.map((r) => r.data?.completionStream);
    expect(chunks.map((c) => c?.text).filter(Boolean)).toEqual(PIECES);
    expect(chunks.at(-1)?.finishReason).toBe('STOP');
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 3, completionTokens: 5 });
  });

  it('reads a text-completion stream split every byte over SSE', async () => {
    ctx.fake.script({ choices: [PIECES], framing: { splitBytes: 1, lineEnding: '\r\n' } });
    const results = await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input: { prompt: 'Go' } });
    expect(results.at(-1)?.data?.completionStream.accumulatedText).toBe(PIECES.join(''));
  });

  it('ends the stream with UPSTREAM_ERROR and the upstream’s message when it sends an error event after some chunks', async () => {
    ctx.fake.script({ choices: [['a', 'b', 'c', 'd']], fault: { kind: 'errorAfter', chunks: 2 } });
    for (const results of [
      await streamWs(ctx.gw.wsUrl),
      await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input: CHAT }),
    ]) {
      expect(results.slice(0, -1).map((r) => r.data?.completionStream.text)).toEqual(['a', 'b']);
      const error = results.at(-1)?.errors?.[0];
      expect(error?.extensions?.['code']).toBe('UPSTREAM_ERROR');
      expect(error?.message).toContain('The model crashed while generating');
    }
  });
});

describe('connections to the upstream', () => {
  it('reuses one keep-alive connection for completions one after another', async () => {
    const before = ctx.fake.connections;
    for (let i = 0; i < 5; i++) {
      const { data } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(data?.complete.text).toBe('Hello from the fake upstream.');
    }
    await streamWs(ctx.gw.wsUrl);
    expect(ctx.fake.requests).toHaveLength(6);
    expect(ctx.fake.connections - before).toBeLessThanOrEqual(1);
  });

  it('opens a connection per concurrent stream and sends every request with the key and its JSON body', async () => {
    ctx.fake.script({ chunkDelayMs: 20 });
    const before = ctx.fake.connections;
    const all = await Promise.all([1, 2, 3, 4].map(() => streamWs(ctx.gw.wsUrl)));
    for (const results of all) expect(results.at(-1)?.data?.completionStream.accumulatedText).toBe('Hello from the fake upstream.');
    expect(ctx.fake.connections - before).toBeGreaterThanOrEqual(3);
    for (const request of ctx.fake.requests) {
      expect(request.headers['authorization']).toBe(`Bearer ${KEY}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    }
  });
});

describe('connections after a burst', () => {
  it('reuses the connections a burst of 80 streams opened, and opens one new one once the upstream has closed them all', async () => {
    // Slow enough that all 80 are in flight together; more than the 64 dropped connections
    // after which the gateway compacts its idle list.
    ctx.fake.script({ chunkDelayMs: 300 });
    const client = wsClient(ctx.gw.wsUrl);
    try {
      const streams = Promise.all(Array.from({ length: 80 }, () => collectWs(client, CompletionStreamDocument, { input: CHAT })));
      await ctx.fake.waitForRequests(80, 10_000);
      expect(ctx.fake.openConnections).toBeGreaterThanOrEqual(80);
      for (const results of await streams) {
        expect(results.at(-1)?.data?.completionStream.accumulatedText).toBe('Hello from the fake upstream.');
      }
    } finally {
      await client.dispose();
    }
    const burst = ctx.fake.connections;

    ctx.fake.script({});
    const complete = async (): Promise<void> => {
      const { data, errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(errors).toBeUndefined();
      expect(data?.complete.text).toBe('Hello from the fake upstream.');
    };
    for (let i = 0; i < 4; i++) await complete();
    expect(ctx.fake.connections).toBe(burst);

    // The upstream's idle timeout: every kept-alive connection closes. The next calls must
    // not try a closed one, and need only one new connection between them.
    ctx.fake.dropIdleConnections();
    await eventually(() => ctx.fake.openConnections === 0, 'the fake closed its idle connections');
    // …and give the gateway a moment to read the close (a request racing it is a real
    // failure, one that UPSTREAM_MAX_RETRIES covers; here retries are off).
    await new Promise((resolve) => setTimeout(resolve, 250));
    for (let i = 0; i < 4; i++) await complete();
    expect(ctx.fake.connections).toBe(burst + 1);
  });
});

describe('retry rules (UPSTREAM_MAX_RETRIES=2)', () => {
  async function retrying<T>(run: (gw: Awaited<ReturnType<typeof startGateway>>) => Promise<T>): Promise<T> {
    const gw = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: ctx.fake.url, UPSTREAM_MAX_RETRIES: '2' });
    try {
      return await run(gw);
    } finally {
      await gw.stop();
    }
  }

  it('waits out a retry-after given as an HTTP date, then succeeds', async () => {
    await retrying(async (gw) => {
      const at = new Date(Date.now() + 1000).toUTCString();
      ctx.fake.script({ fault: { kind: 'status', status: 503, headers: { 'retry-after': at } }, faultTimes: 1 });
      const { data } = await graphql(gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(data?.complete.text).toBe('Hello from the fake upstream.');
      expect(ctx.fake.requests).toHaveLength(2);
    });
  });

  it('does not retry when the upstream says x-should-retry: false, and retries a 400 it says to', async () => {
    await retrying(async (gw) => {
      ctx.fake.script({ fault: { kind: 'status', status: 503, headers: { 'x-should-retry': 'false' } } });
      const refused = await graphql(gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(refused.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
      expect(ctx.fake.requests).toHaveLength(1);

      ctx.fake.reset();
      ctx.fake.script({ fault: { kind: 'status', status: 400, headers: { 'x-should-retry': 'true', 'retry-after-ms': '10' } }, faultTimes: 1 });
      const { data } = await graphql(gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(data?.complete.text).toBe('Hello from the fake upstream.');
      expect(ctx.fake.requests).toHaveLength(2);
    });
  });

  it('gives up the retry wait as soon as the client leaves, without asking the upstream again', async () => {
    await retrying(async (gw) => {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 30 } });
      const client = wsClient(gw.wsUrl);
      const done = new Promise<void>((resolve) => {
        const unsubscribe = client.subscribe(
          { query: 'subscription { completionStream(input: { prompt: "Hi" }) { text } }' },
          { next: () => undefined, error: () => resolve(), complete: () => resolve() },
        );
        void ctx.fake.waitForRequests(1).then(() => {
          unsubscribe();
          resolve();
        });
      });
      await done;
      await eventually(() => gw.app.lifecycle.activeOperations === 0, 'the operation ended when its client left');
      await client.dispose();
      expect(ctx.fake.requests).toHaveLength(1);
    });
  });

  it('ignores a retry-after of over a minute and retries after its own backoff', async () => {
    await retrying(async (gw) => {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 3600 }, faultTimes: 1 });
      const { data } = await graphql(gw.httpUrl, CompleteDocument, { input: CHAT });
      expect(data?.complete.text).toBe('Hello from the fake upstream.');
      expect(ctx.fake.requests).toHaveLength(2);
    });
  });
});

describe('back-pressure', () => {
  // 40,000 numbered chunks of 2 KB: 80 MB, far more than the socket buffers along the way hold.
  const bigAnswer = (): string[] => Array.from({ length: 40_000 }, (_, i) => `${String(i).padStart(6, '0')}${'x'.repeat(2042)}`);
  const SUBSCRIBE = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { completionStream(input: { prompt: "Go" }) { text } }' } });

  /** The upstream's count of events sent, sampled 250 ms apart until it stands still (10 s at most). */
  async function sentOnceStill(request: RecordedRequest): Promise<{ last: number; now: number }> {
    let last = -1;
    for (let i = 0; i < 40 && request.eventsSent !== last; i++) {
      last = request.eventsSent;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return { last, now: request.eventsSent };
  }

  it('stops reading the upstream while a graphql-ws client does not read, instead of buffering the answer', async () => {
    const pieces = bigAnswer();
    ctx.fake.script({ choices: [pieces] });
    const socket = new WebSocket(ctx.gw.wsUrl, 'graphql-transport-ws');
    const firstNext = new Promise<void>((resolve, reject) => {
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
      socket.on('error', reject);
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { type: string };
        if (message.type === 'connection_ack') socket.send(SUBSCRIBE);
        if (message.type === 'next') resolve();
      });
    });
    await firstNext;
    // The client stops reading: its socket buffer fills, then the gateway's, then the upstream's.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const [request] = await ctx.fake.waitForRequests(1);
    if (!request) throw new Error('no upstream request');
    const { last, now } = await sentOnceStill(request);
    expect(now).toBe(last);
    expect(now).toBeLessThan(pieces.length / 2);
    // Leaving still aborts the upstream request.
    socket.terminate();
    await ctx.fake.waitForAbort(5000);
  });

  it('reads the upstream again once a stalled graphql-ws client reads, and delivers every chunk in order', async () => {
    const pieces = bigAnswer();
    ctx.fake.script({ choices: [pieces] });
    const socket = new WebSocket(ctx.gw.wsUrl, 'graphql-transport-ws');
    // ws's own TCP socket, there once the socket is open.
    const raw = (): { pause(): void; resume(): void } => (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    const received: string[] = [];
    let paused = false;
    const completed = new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
      socket.on('error', reject);
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: { completionStream?: { text?: string } } } };
        if (message.type === 'connection_ack') socket.send(SUBSCRIBE);
        const text = message.payload?.data?.completionStream?.text;
        if (message.type === 'next' && text) received.push(text.slice(0, 6));
        if (message.type === 'next' && !paused) {
          paused = true;
          raw().pause();
        }
        if (message.type === 'complete') resolve('complete');
        if (message.type === 'error') resolve(JSON.stringify(message.payload));
      });
    });
    const [request] = await ctx.fake.waitForRequests(1);
    if (!request) throw new Error('no upstream request');
    // Stalled: the upstream has stopped sending before the end.
    expect((await sentOnceStill(request)).now).toBeLessThan(pieces.length / 2);
    raw().resume();
    expect(await completed).toBe('complete');
    expect(received).toEqual(pieces.map((p) => p.slice(0, 6)));
    expect(ctx.fake.aborted).toHaveLength(0);
    socket.close();
  });
});

describe('UPSTREAM_STARTS_PER_TURN=1 (starts paced one per event-loop turn)', () => {
  it('starts every stream of a burst, while a stream already running keeps receiving chunks', async () => {
    const gw = await startGateway({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: ctx.fake.url, UPSTREAM_STARTS_PER_TURN: '1' });
    const clients = [wsClient(gw.wsUrl), wsClient(gw.wsUrl), wsClient(gw.wsUrl)];
    try {
      const pieces = Array.from({ length: 60 }, (_, i) => ` ${i}`);
      ctx.fake.script({ choices: [pieces], chunkDelayMs: 3 });
      // For each chunk of the running stream: how many upstream requests had arrived.
      const requestsSeen: number[] = [];
      const running = new Promise<string>((resolve, reject) => {
        let text = '';
        clients[0]?.subscribe<{ completionStream: { text: string } }>(
          { query: 'subscription { completionStream(input: { prompt: "first" }) { text } }' },
          {
            next: (r) => {
              requestsSeen.push(ctx.fake.requests.length);
              text += r.data?.completionStream.text ?? '';
            },
            error: reject,
            complete: () => resolve(text),
          },
        );
      });
      await ctx.fake.waitForRequests(1);
      const BURST = 150;
      const burst = Array.from({ length: BURST }, (_, i) =>
        collectWs(clients[1 + (i % 2)] ?? clients[1]!, CompletionStreamDocument, { input: { prompt: `burst ${i}` } }),
      );
      const results = await Promise.all(burst);
      for (const r of results) expect(r.at(-1)?.data?.completionStream.accumulatedText).toBe(pieces.join(''));
      expect(await running).toBe(pieces.join(''));
      expect(ctx.fake.requests).toHaveLength(BURST + 1);
      // Chunks of the running stream arrived while the burst was still reaching the upstream.
      expect(requestsSeen.some((n) => n > 1 && n < BURST + 1)).toBe(true);
    } finally {
      for (const c of clients) await c.dispose();
      await gw.stop();
    }
  });
});
