/**
 * Test clients for a gateway started in-process on port 0: GraphQL over HTTP (fetch),
 * graphql-ws (the real client over a real socket) and SSE (a raw reader, so tests can
 * close the connection themselves).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { print, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

export interface TestGateway {
  app: App;
  /** http://127.0.0.1:PORT/graphql */
  httpUrl: string;
  /** ws://127.0.0.1:PORT/graphql */
  wsUrl: string;
  baseUrl: string;
  /** Every log line the gateway wrote, raw. */
  logs: string[];
  stop(): Promise<void>;
}

/** Starts a gateway from environment variables, as `main` would (PORT 0, quiet simulator, no retries). */
export async function startGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    UPSTREAM_MAX_RETRIES: '0',
    SIMULATOR_TOKEN_DELAY_MS: '0',
    // A private database per gateway, gone with it.
    DATABASE_URL: 'file::memory:',
    ...env,
  });
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const app = await buildApp(config, { logDestination });
  const baseUrl = await app.start();
  const base = baseUrl.replace('localhost', '127.0.0.1');
  return {
    app,
    baseUrl: base,
    httpUrl: `${base}/graphql`,
    wsUrl: `${base.replace(/^http/, 'ws')}/graphql`,
    logs,
    stop: () => app.stop(),
  };
}

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; [key: string]: unknown };
}

export interface HttpResult<TData> {
  status: number;
  data: TData | null | undefined;
  errors: GraphQLErrorShape[] | undefined;
}

/** One GraphQL operation over HTTP POST. */
export async function graphql<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables> | string,
  variables?: TVariables,
  init: { signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<HttpResult<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...init.headers },
    body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
    signal: init.signal,
  });
  const body = (await response.json()) as { data?: TData | null; errors?: GraphQLErrorShape[] };
  return { status: response.status, data: body.data, errors: body.errors };
}

export function wsClient(url: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

/** Runs a subscription over graphql-ws to its end and returns every payload. */
export async function collectWs<TData, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<ExecutionResult<TData>[]> {
  const results: ExecutionResult<TData>[] = [];
  for await (const result of client.iterate<TData>({ query: print(document), variables })) {
    results.push(result as ExecutionResult<TData>);
  }
  return results;
}

/** Runs a subscription to its end on a graphql-ws client of its own, closed afterwards. */
export async function subscribeOverWs<TData, TVariables extends Record<string, unknown>>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<ExecutionResult<TData>[]> {
  const client = wsClient(url);
  try {
    return await collectWs(client, document, variables);
  } finally {
    await client.dispose();
  }
}

export interface SseEvent<TData> {
  event: string;
  data: ExecutionResult<TData> | null;
}

/**
 * Opens a subscription over SSE (Yoga's "distinct connections" mode, what GraphiQL and
 * graphql-sse use) and yields its events; breaking out of the loop or aborting `signal`
 * closes the HTTP connection.
 */
export async function* sse<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
): AsyncGenerator<SseEvent<TData>> {
  const controller = new AbortController();
  signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: print(document), variables }),
    signal: controller.signal,
  });
  if (!response.ok || !response.body) throw new Error(`SSE request failed with ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const { events, rest } = takeSseEvents(buffer);
      buffer = rest;
      for (const { event, data } of events) {
        yield { event, data: data ? (JSON.parse(data) as ExecutionResult<TData>) : null };
        if (event === 'complete') return;
      }
    }
  } finally {
    controller.abort();
  }
}

/** The whole events at the start of `buffer` (keep-alive comments skipped), and the rest. */
export function takeSseEvents(buffer: string): { events: { event: string; data: string }[]; rest: string } {
  const events: { event: string; data: string }[] = [];
  let rest = buffer;
  let end;
  while ((end = rest.indexOf('\n\n')) !== -1) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    if (block.startsWith(':')) continue;
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    events.push({ event, data });
  }
  return { events, rest };
}

/** All `next` payloads of an SSE subscription, until `complete`. */
export async function collectSse<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<ExecutionResult<TData>[]> {
  const results: ExecutionResult<TData>[] = [];
  for await (const event of sse(url, document, variables)) {
    if (event.event === 'next' && event.data) results.push(event.data);
  }
  return results;
}

/** Waits until `predicate` holds, polling; fails with `message` after `timeoutMs`. */
export async function eventually(predicate: () => boolean, message: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface GatewayWithFake {
  readonly fake: FakeUpstream;
  readonly gw: TestGateway;
}

/**
 * Registers hooks that start a fake upstream and a gateway pointed at it for the file,
 * reset the fake before each test, and stop both at the end.
 */
export function useGatewayWithFake(env: Record<string, string> = {}): GatewayWithFake {
  let fake: FakeUpstream | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    gw = await startGateway({ OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: fake.url, ...env });
  });
  afterAll(async () => {
    await gw?.stop();
    await fake?.close();
  });
  beforeEach(() => fake?.reset());
  return {
    get fake() {
      if (!fake) throw new Error('the fake upstream starts in beforeAll');
      return fake;
    },
    get gw() {
      if (!gw) throw new Error('the gateway starts in beforeAll');
      return gw;
    },
  };
}
