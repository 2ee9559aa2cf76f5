/**
 * deploy/nginx.conf in front of two real gateway processes (`node dist/main.js`),
 * each with a fake upstream of its own, so which fake got a request says which instance
 * served it. Everything goes through nginx on loopback: a mutation, /health, SSE, Apollo's
 * multipart subscriptions, graphql-ws and graphql-sse's single-connection mode; the
 * balancing between the two instances; client addresses (TRUST_PROXY); and a drain in the
 * order docs/deploy.md gives: out of nginx first (reload), then SIGTERM.
 *
 * Streams are shown to be unbuffered without timing: the fake upstream sends two chunks and
 * then holds the stream open, so chunks that reach the client can only have been passed on
 * as they came, not at the stream's end.
 *
 * Skipped only when nginx is not installed; CI (.ci/run) installs it.
 */
import http, { type IncomingMessage } from 'node:http';
import { print, type ExecutionResult } from 'graphql';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompleteMutation,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually, sse, takeSseEvents, type SseEvent } from './helpers.js';
import { NGINX_BINARY, startNginx, type RunningNginx, type Upstream } from './nginx.js';
import { freePort, jsonLines, startMain, type Running } from './process.js';

const WHOLE_TEXT = 'Hello from the fake upstream.';
const APOLLO_ACCEPT = 'multipart/mixed;boundary=graphql;subscriptionSpec="1.0",application/json';
const input = (content: string) => ({ input: { messages: [{ role: 'USER' as const, content }] } });

interface Instance {
  name: 'A' | 'B';
  fake: FakeUpstream;
  run: Running;
  port: number;
  /** host:port, as in nginx's upstream block and access log. */
  address: string;
}

async function startInstance(name: Instance['name']): Promise<Instance> {
  const fake = await startFakeUpstream();
  const port = await freePort();
  const run = startMain({
    PORT: String(port),
    HOST: '127.0.0.1',
    OPENAI_API_KEY: 'sk-deploy-test-key',
    OPENAI_BASE_URL: fake.url,
    UPSTREAM_MAX_RETRIES: '0',
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
    // A client that stops reading is cut after this long (see the back-pressure test), and
    // a stream's text may outgrow the default 32 MiB cap there if nginx absorbs it.
    CLIENT_STALL_TIMEOUT_MS: '1000',
    UPSTREAM_MAX_BODY_BYTES: String(256 * 1024 * 1024),
    // Behind nginx: the client address is X-Forwarded-For's. One socket per client makes
    // the per-address count visible (see the TRUST_PROXY test).
    TRUST_PROXY: 'true',
    WS_MAX_SOCKETS_PER_CLIENT: '1',
  });
  return { name, fake, run, port, address: `127.0.0.1:${port}` };
}

/** Completion requests its fake upstream received (since the last reset). */
function generations(instance: Instance): number {
  return instance.fake.requests.filter((r) => r.method === 'POST').length;
}

async function listening(instance: Instance): Promise<void> {
  const { run } = instance;
  const up = (): boolean => jsonLines(run.stdout).some((line) => line['msg'] === 'gateway listening');
  await eventually(() => up() || run.child.exitCode !== null, `gateway ${instance.name} to start`, 80_000);
  if (!up()) throw new Error(`gateway ${instance.name} did not start:\n${run.stdout}\n${run.stderr}`);
}

/** The instance whose fake upstream received the only generation request so far. */
function servedBy(instances: readonly Instance[]): Instance {
  const serving = instances.filter((i) => generations(i) > 0);
  if (serving.length !== 1) throw new Error(`expected one instance to have served, got ${serving.map((i) => i.name).join(', ') || 'none'}`);
  return serving[0] as Instance;
}

/** Reads an Apollo multipart response until `parts` parts with a payload arrived; returns them and the reader. */
async function readParts(response: Response, parts: number): Promise<{ payloads: unknown[]; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  if (!response.body) throw new Error('no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let wire = '';
  for (;;) {
    const payloads = wire
      .split('\r\n--graphql')
      .map((part) => part.slice(part.indexOf('\r\n\r\n') + 4))
      .filter((body) => body.startsWith('{"payload"'))
      .map((body) => (JSON.parse(body) as { payload: unknown }).payload);
    // A part is whole once the next delimiter follows it.
    if (payloads.length >= parts && wire.endsWith('\r\n--graphql')) return { payloads, reader };
    const { done, value } = await reader.read();
    if (done) throw new Error(`the multipart response ended after:\n${wire}`);
    wire += decoder.decode(value, { stream: true });
  }
}

/** An SSE subscription over a raw HTTP request, so the test decides when the client reads. */
async function openRawSse(url: string): Promise<{ response: IncomingMessage; events: { event: string; data: string }[]; ended: Promise<void> }> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' } });
    request.on('response', resolve).on('error', reject);
    // Only each chunk's own text: `accumulatedText` would grow with every chunk.
    request.end(JSON.stringify({ query: 'subscription { completionStream(input: { prompt: "deploy test: a client that stops reading" }) { text } }' }));
  });
  const events: { event: string; data: string }[] = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (text: string) => {
    const taken = takeSseEvents(buffer + text);
    buffer = taken.rest;
    events.push(...taken.events);
  });
  const ended = new Promise<void>((resolve) => response.on('end', resolve).on('close', resolve));
  return { response, events, ended };
}

/** Streams and WebSockets open on an instance, from its own /metrics. */
async function openOn(instance: Instance): Promise<number> {
  const text = await (await fetch(`http://${instance.address}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return value('gateway_active_subscriptions') + value('gateway_active_websockets');
}

/** Waits until no instance holds a stream or a WebSocket from an earlier test. */
async function allQuiet(instances: readonly Instance[]): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const open = await Promise.all(instances.map(openOn));
    if (open.every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`streams or sockets still open on the instances: ${open.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The next event of an SSE stream that must not have ended. */
async function nextEvent<T>(stream: AsyncGenerator<SseEvent<T>>): Promise<SseEvent<T>> {
  const result = await stream.next();
  if (result.done) throw new Error('the SSE stream ended early');
  return result.value;
}

/** A request on a connection of its own (closed after it): a POST of `body` as JSON, else a GET. */
function onNewConnection(url: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: body === undefined ? 'GET' : 'POST',
      agent: false,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    request.on('error', reject).on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * `promise`, or a failure saying `what` did not happen within `ms`: a guard so a buffering
 * proxy fails with a reason instead of the test's timeout, not a check of speed.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A WebSocket handshake from `localAddress` (127.0.0.x): 101 and the open socket, or the refusal's status. */
function openSocket(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; socket?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { localAddress, headers });
    socket.once('open', () => {
      // Said at once, so the gateway does not close it for a missing connection_init.
      socket.send(JSON.stringify({ type: 'connection_init' }));
      resolve({ status: 101, socket });
    });
    socket.once('unexpected-response', (request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      request.destroy();
    });
    socket.once('error', reject);
  });
}

const describeWithNginx = describe.skipIf(NGINX_BINARY === undefined);

describeWithNginx(
  NGINX_BINARY === undefined
    ? 'deploy/nginx.conf (SKIPPED: nginx is not installed; `apt-get install nginx`, as .ci/run does)'
    : 'deploy/nginx.conf in front of two gateway processes',
  () => {
    let a: Instance;
    let b: Instance;
    let instances: Instance[];
    let nginx: RunningNginx;
    let graphqlUrl = '';

    beforeAll(async () => {
      [a, b] = await Promise.all([startInstance('A'), startInstance('B')]);
      instances = [a, b];
      const upstreams: Upstream[] = instances.map((i) => ({ address: i.address }));
      // nginx first: its workers are up while the gateways still compile.
      nginx = await startNginx(NGINX_BINARY as string, upstreams, await freePort());
      graphqlUrl = `${nginx.url}/graphql`;
      await Promise.all(instances.map(listening));
    }, 90_000);

    afterAll(async () => {
      await nginx?.stop();
      for (const i of instances ?? []) if (i.run.child.exitCode === null) i.run.child.kill('SIGTERM');
      await Promise.all((instances ?? []).map(async (i) => [await i.run.exit, await i.fake.close()]));
    });

    beforeEach(() => {
      for (const i of instances) i.fake.reset();
    });

    it('answers a mutation and /health, under one request id in nginx’s log and the gateway’s answer', async () => {
      const response = await fetch(graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: print(CompleteDocument), variables: input('deploy test: a mutation') }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as ExecutionResult<CompleteMutation>;
      expect(body.errors).toBeUndefined();
      expect(body.data?.complete.text).toBe(WHOLE_TEXT);
      // nginx's $request_id (32 hex digits, not the gateway's own UUID), passed on and echoed.
      const id = response.headers.get('x-request-id') ?? '';
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      const instance = servedBy(instances);
      await eventually(() => nginx.accessLog().includes(`rid=${id}`), 'the mutation in the access log');
      const line = nginx.accessLog().split('\n').find((l) => l.includes(`rid=${id}`));
      expect(line).toContain(`upstream=${instance.address} upstream_status=200`);

      // A client's own id is kept.
      const own = await fetch(`${nginx.url}/health`, { headers: { 'x-request-id': 'client-chosen-id-1' } });
      expect(own.status).toBe(200);
      expect(await own.json()).toEqual({ status: 'ok' });
      await eventually(() => nginx.accessLog().includes('"GET /health HTTP/1.1" 200 ') && nginx.accessLog().includes('rid=client-chosen-id-1'), 'the client’s id in the access log');

      // Metrics are per instance: nginx does not serve a random instance's figures.
      expect((await fetch(`${nginx.url}/metrics`)).status).toBe(404);
    });

    it('passes SSE events on as they come (two arrive while the upstream holds the stream open), and a client leaving aborts the upstream call', async () => {
      for (const i of instances) i.fake.script({ fault: { kind: 'stallAfter', chunks: 2 } });
      const texts: (string | undefined)[] = [];
      const twoEvents = async (): Promise<void> => {
        for await (const event of sse(graphqlUrl, CompletionStreamDocument, input('deploy test: SSE'))) {
          expect(event.event).toBe('next');
          texts.push(event.data?.data?.completionStream.text);
          if (texts.length === 2) break; // leaving the loop closes the connection
        }
      };
      await within(twoEvents(), 5000, 'two SSE events through nginx while the stream is open (is it buffering?)');
      expect(texts).toEqual(['Hello', ' from']);
      // The client left: nginx closed its connection to the gateway, which aborted the upstream call.
      await servedBy(instances).fake.waitForAbort(5000);
    });

    it('passes Apollo multipart parts on as they come (two arrive while the upstream holds the stream open), and a client leaving aborts the upstream call', async () => {
      for (const i of instances) i.fake.script({ fault: { kind: 'stallAfter', chunks: 2 } });
      const controller = new AbortController();
      const response = await fetch(graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: APOLLO_ACCEPT },
        body: JSON.stringify({ query: print(CompletionStreamDocument), variables: input('deploy test: multipart') }),
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
      const { payloads } = await within(readParts(response, 2), 5000, 'two multipart parts through nginx while the stream is open (is it buffering?)');
      expect(payloads.map((p) => (p as { data: CompletionStreamSubscription }).data.completionStream.text)).toEqual(['Hello', ' from']);
      controller.abort();
      await servedBy(instances).fake.waitForAbort(5000);
    });

    it('lets a client that stops reading hold the gateway back: it cuts the stream with CLIENT_TOO_SLOW and aborts the upstream call', async () => {
      // 96 MB, more than the socket buffers on the way hold (Linux grows them to tens of MB):
      // nginx must not absorb it. Large pieces: the fewer chunks, the less work for the gateway.
      const pieces = Array.from({ length: 6_000 }, (_, i) => `${String(i).padStart(6, '0')} ${'lorem ipsum '.repeat(1365)}`);
      for (const i of instances) i.fake.script({ choices: [pieces] });
      const reader = await openRawSse(graphqlUrl);
      await eventually(() => reader.events.some((e) => e.event === 'next'), 'the first chunk', 5000);
      reader.response.pause();
      const aborted = await within(servedBy(instances).fake.waitForAbort(20_000), 20_000, 'the gateway cutting the stalled stream (is nginx buffering?)');
      expect(aborted.eventsSent).toBeLessThan(pieces.length);
      reader.response.resume();
      await reader.ended;
      const last = reader.events.filter((e) => e.event === 'next').at(-1);
      const codes = ((JSON.parse(last?.data ?? '{}') as ExecutionResult).errors ?? []).map((e) => e.extensions?.['code']);
      expect(codes).toEqual(['CLIENT_TOO_SLOW']);
    });

    it('runs a graphql-ws subscription through the upgrade, a browser’s same-origin socket included (Host is passed on)', async () => {
      // What a browser on the page sends: Origin = the address it loaded the page from, nginx's.
      const origin = nginx.url;
      class BrowserLikeSocket extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { origin });
        }
      }
      const client = createWsClient({ url: graphqlUrl.replace(/^http/, 'ws'), webSocketImpl: BrowserLikeSocket, retryAttempts: 0, lazy: true });
      try {
        const texts: string[] = [];
        for await (const result of client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: input('deploy test: ws') })) {
          expect(result.errors).toBeUndefined();
          texts.push(result.data?.completionStream.text ?? '');
        }
        expect(texts.join('')).toBe(WHOLE_TEXT);
      } finally {
        await client.dispose();
      }
    });

    it('sends a new stream to the instance with fewer open connections (least_conn, not round-robin)', async () => {
      // Both start even: nothing left open by the tests before.
      await allQuiet(instances);
      for (const i of instances) i.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
      const first = sse(graphqlUrl, CompletionStreamDocument, input('deploy test: stream 1'));
      let second: typeof first | undefined;
      try {
        // The first stream holds its connection open once its first chunk is in.
        expect((await nextEvent(first)).event).toBe('next');
        expect(instances.map(generations).sort()).toEqual([0, 1]);
        // A short request in between: round-robin would now send the next stream back to
        // the busy instance; least_conn sends both to the idle one.
        const quick = await fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
        expect(quick.status).toBe(200);
        second = sse(graphqlUrl, CompletionStreamDocument, input('deploy test: stream 2'));
        expect((await nextEvent(second)).event).toBe('next');
        expect(instances.map(generations)).toEqual([1, 1]);
      } finally {
        await Promise.all([first.return(undefined), second?.return(undefined)]);
      }
    });

    it('keeps a graphql-sse single-connection stream and its operations on the instance that reserved it', async () => {
      const client = createSseClient({ url: graphqlUrl, singleConnection: true, retryAttempts: 0, fetchFn: fetch });
      try {
        // Each operation reserves a stream (PUT), opens it (GET) and sends itself (POST): three
        // requests that must meet on one instance. Three rounds, so that spreading them over
        // both instances could not pass by luck.
        for (const n of [1, 2, 3]) {
          const texts: string[] = [];
          for await (const result of client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: input(`deploy test: sse ${n}`) })) {
            expect(result.errors).toBeUndefined();
            texts.push(result.data?.completionStream.text ?? '');
          }
          expect(texts.join('')).toBe(WHOLE_TEXT);
        }
      } finally {
        client.dispose();
      }
    });

    it('counts WebSockets per real client address (TRUST_PROXY), which a client cannot forge with X-Forwarded-For', async () => {
      const wsUrl = graphqlUrl.replace(/^http/, 'ws');
      const sockets: WebSocket[] = [];
      try {
        // Four clients, one socket each: within WS_MAX_SOCKETS_PER_CLIENT=1 only if each
        // instance sees their own addresses, not nginx's one.
        const clients = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
        const opened = [];
        for (const address of clients) {
          const outcome = await openSocket(wsUrl, address);
          if (outcome.socket) sockets.push(outcome.socket);
          opened.push(outcome.status);
        }
        expect(opened).toEqual([101, 101, 101, 101]);

        // The first client again, claiming other addresses: nginx replaces the header, so
        // at most one more socket fits (on the instance it has none on yet).
        const forged = [];
        for (const claimed of ['203.0.113.7', '203.0.113.8', '203.0.113.9']) {
          const outcome = await openSocket(wsUrl, '127.0.0.2', { 'x-forwarded-for': claimed });
          if (outcome.socket) sockets.push(outcome.socket);
          forged.push(outcome.status);
        }
        expect(forged.filter((status) => status === 429).length, `handshakes: ${forged.join(', ')}`).toBeGreaterThanOrEqual(2);
      } finally {
        for (const socket of sockets) socket.close();
      }
    });

    it('drains an instance taken out of nginx first: /health says draining, new requests reach the other, its stream ends normally', async () => {
      const pieces = ['one', ' two', ' three', ' four', ' five', ' six', ' seven', ' eight'];
      for (const i of instances) i.fake.script({ choices: [pieces], chunkDelayMs: 150 });
      const stream = sse(graphqlUrl, CompletionStreamDocument, input('deploy test: the stream that outlives the drain'));
      const texts: string[] = [];
      const first = await nextEvent(stream);
      texts.push(first.data?.data?.completionStream.text ?? '');
      const rest = (async () => {
        for await (const event of stream) {
          expect(event.data?.errors).toBeUndefined();
          if (event.event === 'next') texts.push(event.data?.data?.completionStream.text ?? '');
        }
      })();
      // Awaited below; this only keeps a failure before that from being reported twice.
      rest.catch(() => undefined);
      const draining = servedBy(instances);
      const other = draining === a ? b : a;

      // 1. Out of the balancer: `down` on its line in every upstream block, and a reload.
      await nginx.reload(instances.map((i) => ({ address: i.address, down: i === draining })));
      // 2. SIGTERM: it stops taking work and says so on /health, while its stream goes on.
      draining.run.child.kill('SIGTERM');
      const direct = `http://${draining.address}/health`;
      await eventually(() => draining.run.stdout.includes('"msg":"draining"'), 'the instance to start draining', 5000);
      const health = await fetch(direct);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'draining' });

      // 3. New work through nginx: every request answered, all by the other instance. New
      // clients, on new connections: a connection opened before the reload but still
      // without a request is served by an old nginx worker with the old list (docs/deploy.md).
      const answers = await Promise.all(
        [1, 2, 3, 4].map((n) => onNewConnection(graphqlUrl, { query: print(CompleteDocument), variables: input(`deploy test: after the drain began ${n}`) })),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        const body = JSON.parse(answer.body) as ExecutionResult<CompleteMutation>;
        expect(body.errors).toBeUndefined();
        expect(body.data?.complete.text).toBe(pieces.join(''));
      }
      expect((await onNewConnection(`${nginx.url}/health`)).status).toBe(200);
      expect(generations(draining)).toBe(1);
      expect(generations(other)).toBe(4);

      // 4. The running stream ends as it would have, then the instance exits cleanly.
      await rest;
      expect(texts.join('')).toBe(pieces.join(''));
      expect(await draining.run.exit).toBe(0);
    });
  },
);
