/**
 * The measuring clients. One minimal `node:http` client serves direct, gateway and peer
 * alike (only the request differs), so their figures differ by the server side alone.
 * Streams record the arrival time (performance.now()) of every content-bearing chunk.
 */
import http from 'node:http';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export const PROMPT = 'Say something short.';

export const MUTATION = 'mutation Bench($input: CompletionInput!) { complete(input: $input) { text usage { totalTokens } } }';
export const SUBSCRIPTION =
  'subscription BenchStream($input: CompletionInput!) { completionStream(input: $input) { text finishReason usage { totalTokens } } }';

/** Where to send one kind of request, with the body precomputed. */
export interface Endpoint {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export function agent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 1000 });
}

/** An OpenAI chat request to the fake (direct) or through Portkey (peer). */
export function openaiEndpoint(port: number, model: string, stream: boolean, extraHeaders: Record<string, string> = {}): Endpoint {
  const body = JSON.stringify({
    model,
    messages: [{ role: 'user', content: PROMPT }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  return {
    port,
    path: '/v1/chat/completions',
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...(stream ? { accept: 'text/event-stream' } : {}),
      ...extraHeaders,
    },
    body,
  };
}

export function gatewayVariables(model: string): { input: { model: string; messages: { role: 'USER'; content: string }[] } } {
  return { input: { model, messages: [{ role: 'USER', content: PROMPT }] } };
}

/** The gateway over HTTP: the mutation (JSON) or the subscription (SSE). */
export function gatewayEndpoint(port: number, key: string, model: string, stream: boolean): Endpoint {
  const body = JSON.stringify({ query: stream ? SUBSCRIPTION : MUTATION, variables: gatewayVariables(model) });
  return {
    port,
    path: '/graphql',
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      accept: stream ? 'text/event-stream' : 'application/graphql-response+json',
      authorization: `Bearer ${key}`,
    },
    body,
  };
}

export interface Reply {
  status: number;
  text: string;
}

/** One POST; resolves with the whole body. */
export function post(via: http.Agent, endpoint: Endpoint): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent: via, host: '127.0.0.1', port: endpoint.port, path: endpoint.path, method: 'POST', headers: endpoint.headers },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (part: string) => (text += part));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(endpoint.body);
  });
}

/** A non-streamed answer is good when it is 200 and carries the text. */
export function replyOk(reply: Reply): boolean {
  return reply.status === 200 && reply.text.includes(' tok') && !reply.text.includes('"errors"');
}

export interface StreamTiming {
  /** performance.now() when the request was sent. */
  start: number;
  /** Arrival of each content-bearing chunk. */
  arrivals: number[];
  /** The stream ended (complete / [DONE] / response end). */
  end: number;
  /** A final chunk with usage arrived. */
  usage: boolean;
  error?: string;
}

/** Which SSE events carry content: OpenAI's `data:` chunks, or Yoga's `event: next`. */
export type SseDialect = 'openai' | 'graphql';

interface OpenAIChunk {
  choices?: { delta?: { content?: string | null }; text?: string }[];
  usage?: unknown;
}

interface GraphQLChunk {
  data?: { completionStream?: { text: string; usage: unknown } | null } | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One SSE stream over HTTP POST, parsed as it arrives. */
export function sseStream(via: http.Agent, endpoint: Endpoint, dialect: SseDialect): Promise<StreamTiming> {
  return new Promise((resolve) => {
    const timing: StreamTiming = { start: performance.now(), arrivals: [], end: 0, usage: false };
    let settled = false;
    const done = (error?: string): void => {
      if (settled) return;
      settled = true;
      timing.end = performance.now();
      if (error !== undefined) timing.error = error;
      resolve(timing);
    };
    const req = http.request(
      { agent: via, host: '127.0.0.1', port: endpoint.port, path: endpoint.path, method: 'POST', headers: endpoint.headers },
      (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (part: string) => (text += part));
          res.on('end', () => done(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          return;
        }
        let buffer = '';
        res.on('data', (part: string) => {
          const now = performance.now();
          buffer += part;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            if (block === '' || block.startsWith(':')) continue;
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trimStart();
            }
            if (dialect === 'openai') {
              if (data === '[DONE]') continue;
              const chunk = JSON.parse(data) as OpenAIChunk;
              const choice = chunk.choices?.[0];
              if (choice && (choice.delta?.content || choice.text)) timing.arrivals.push(now);
              if (chunk.usage) timing.usage = true;
            } else if (event === 'next') {
              const result = JSON.parse(data) as GraphQLChunk;
              if (result.errors) timing.error = result.errors.map((e) => e.extensions?.code ?? e.message).join(',');
              const chunk = result.data?.completionStream;
              if (chunk?.text) timing.arrivals.push(now);
              if (chunk?.usage) timing.usage = true;
            }
          }
        });
        res.on('end', () => done(timing.error));
        res.on('error', (error) => done(error.message));
      },
    );
    req.on('error', (error) => done(error.message));
    req.end(endpoint.body);
  });
}

export interface WsOptions {
  port: number;
  key: string;
  /** Bind the client side to this loopback address (per-address socket limits). */
  localAddress?: string;
}

/** A graphql-ws client that has been acknowledged (connection_ack) before it resolves. */
export function connectWs(options: WsOptions): Promise<Client> {
  const { localAddress } = options;
  const Impl = localAddress
    ? class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { localAddress });
        }
      }
    : WebSocket;
  return new Promise((resolve, reject) => {
    let connected = false;
    const client = createClient({
      url: `ws://127.0.0.1:${options.port}/graphql`,
      webSocketImpl: Impl,
      lazy: false,
      retryAttempts: 0,
      keepAlive: 0,
      connectionParams: { authorization: `Bearer ${options.key}` },
      onNonLazyError: (error) => {
        if (!connected) reject(error instanceof Error ? error : new Error(describeClose(error)));
      },
    });
    client.on('connected', () => {
      connected = true;
      resolve(client);
    });
  });
}

/** An error's `extensions.code`, else its message. */
export function codeOf(error: { message: string; extensions?: Record<string, unknown> | undefined }): string {
  const code = error.extensions?.['code'];
  return typeof code === 'string' ? code : error.message;
}

/** What a graphql-ws sink's `error` received: GraphQL errors, an Error, or a close event. */
export function describeError(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message: string; extensions?: Record<string, unknown> }) => codeOf(e)).join(',');
  if (error instanceof Error) return error.message;
  return describeClose(error);
}

function describeClose(event: unknown): string {
  if (event && typeof event === 'object' && 'code' in event) {
    const { code, reason } = event as { code: unknown; reason?: unknown };
    return `socket closed ${String(code)} ${typeof reason === 'string' ? reason : ''}`.trim();
  }
  return String(event);
}

/** One subscription over an open graphql-ws client. */
export function wsStream(client: Client, model: string): Promise<StreamTiming> {
  return new Promise((resolve) => {
    const timing: StreamTiming = { start: performance.now(), arrivals: [], end: 0, usage: false };
    client.subscribe<{ completionStream: { text: string; usage: unknown } }>(
      { query: SUBSCRIPTION, variables: gatewayVariables(model) },
      {
        next: (result) => {
          const now = performance.now();
          if (result.errors) timing.error = result.errors.map(codeOf).join(',');
          const chunk = result.data?.completionStream;
          if (chunk?.text) timing.arrivals.push(now);
          if (chunk?.usage) timing.usage = true;
        },
        error: (error) => {
          timing.end = performance.now();
          timing.error = describeError(error);
          resolve(timing);
        },
        complete: () => {
          timing.end = performance.now();
          resolve(timing);
        },
      },
    );
  });
}
