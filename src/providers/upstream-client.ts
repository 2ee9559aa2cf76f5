/**
 * The HTTP side of talking to an OpenAI-compatible upstream: keep-alive undici connections
 * per upstream, retries with retry-after, the per-attempt wait for headers, and a
 * server-sent-events decoder.
 *
 * Why not the openai SDK's own transport: on the benchmark machine its request path
 * (WHATWG fetch, `Request`/`Headers`/`ReadableStream` objects, header building, debug
 * formatting that runs even at `warn`) costs about 1.2 ms of CPU per call and 30 KiB per
 * open stream, against about 0.08 ms and a few KiB here (bench/README.md). Failures are
 * still the SDK's own error classes (`APIError.generate`, `APIConnectionError`, …), built
 * the way the SDK builds them, so `mapUpstreamError` stays the one place that maps them.
 */
import { StringDecoder } from 'node:string_decoder';
import { Client, errors as undiciErrors, type Dispatcher } from 'undici';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { retryAfterMs } from '../errors.js';

export interface UpstreamClientOptions {
  /** Base URL including any path prefix (e.g. `http://127.0.0.1:11434/v1`). Default OpenAI's API. */
  baseURL: string | undefined;
  /** Sent as `Authorization: Bearer`; servers that need none (Ollama, vLLM) get a placeholder. */
  apiKey: string | undefined;
  /** Per-attempt wait for the response headers (connecting included). */
  timeoutMs: number;
  /** Retries of refused attempts (connection errors, 408, 409, 429, 5xx) before any body. */
  maxRetries: number;
}

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** The SDK's backoff: 0.5 s doubling to 8 s, less up to 25 % jitter. */
const INITIAL_RETRY_MS = 500;
const MAX_RETRY_MS = 8000;
/** A retry-after longer than this is not waited for; the default backoff applies instead. */
const MAX_RETRY_AFTER_MS = 60_000;

/** An upstream's answer with status 2xx; anything else has already been thrown. */
export interface UpstreamResponse {
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
}

/**
 * Keep-alive connections to one origin, one request at a time on each (a stream holds its
 * connection for its whole life: HTTP/1.1 cannot share one), an idle one reused first.
 *
 * Why not undici's `Pool`: it finds a free connection by scanning every connection it
 * has, twice per request once all are busy, so with 10,000 streams open each new stream
 * paid two scans of 10,000; here an idle connection is a pop from a stack. And where a
 * Pool keeps every connection it ever opened, one that closes while idle (the keep-alive
 * timeout) is dropped here, so a burst leaves nothing behind once it is over.
 */
class Connections {
  private idle: Client[] = [];
  /** Lent out: a request is queued or running on it, and it will say `drain` when done. */
  private readonly busy = new Set<Client>();
  private readonly all = new Set<Client>();
  private dropped = 0;

  constructor(
    private readonly origin: string,
    private readonly options: Client.Options,
  ) {}

  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    // undici refuses an aborted signal before dispatching, so the connection would never
    // say `drain` and never come back.
    if (options.signal instanceof AbortSignal && options.signal.aborted) {
      return Promise.reject(new undiciErrors.RequestAbortedError());
    }
    const client = this.take();
    this.busy.add(client);
    return client.request(options);
  }

  destroy(): Promise<void> {
    const all = [...this.all];
    this.all.clear();
    this.busy.clear();
    this.idle.length = 0;
    return Promise.all(all.map((client) => client.destroy())).then(() => undefined);
  }

  private take(): Client {
    for (let client = this.idle.pop(); client; client = this.idle.pop()) {
      if (this.all.has(client)) return client;
      this.dropped--;
    }
    const client = new Client(this.origin, this.options);
    this.all.add(client);
    client.on('drain', () => {
      if (this.busy.delete(client) && this.all.has(client)) this.idle.push(client);
    });
    client.on('disconnect', () => {
      if (this.busy.has(client) || !this.all.has(client)) return;
      this.all.delete(client);
      void client.close();
      // Dropped connections leave the idle stack lazily; compact it when they are most of it.
      if (++this.dropped > 64 && this.dropped * 2 > this.idle.length) {
        this.idle = this.idle.filter((c) => this.all.has(c));
        this.dropped = 0;
      }
    });
    return client;
  }
}

export class UpstreamClient {
  /** The base URL as configured, for descriptions (never carries the key). */
  readonly baseURL: string;
  private readonly connections: Connections;
  private readonly prefix: string;
  private readonly query: string;
  private readonly authorization: string;

  constructor(private readonly options: UpstreamClientOptions) {
    this.baseURL = options.baseURL ?? DEFAULT_BASE_URL;
    const url = new URL(this.baseURL);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.query = url.search;
    this.authorization = `Bearer ${options.apiKey ?? 'not-needed'}`;
    this.connections = new Connections(url.origin, {
      connectTimeout: options.timeoutMs,
      // The gateway bounds the body itself (its first-chunk and idle timers).
      bodyTimeout: 0,
      headersTimeout: options.timeoutMs,
    });
  }

  /**
   * POSTs a JSON body; resolves once a 2xx status and headers are in (retries done).
   * `deadline` (`performance.now()` clock) bounds the retries: see `send`.
   */
  post(path: string, body: unknown, signal: AbortSignal, stream: boolean, deadline: number): Promise<UpstreamResponse> {
    return this.send('POST', path, JSON.stringify(body), stream ? 'text/event-stream' : 'application/json', signal, deadline);
  }

  get(path: string, signal: AbortSignal): Promise<UpstreamResponse> {
    return this.send('GET', path, undefined, 'application/json', signal, Number.POSITIVE_INFINITY);
  }

  /** Drops every pooled connection; called after the drain, when nothing is in flight. */
  close(): Promise<void> {
    return this.connections.destroy();
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    accept: string,
    signal: AbortSignal,
    deadline: number,
  ): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { accept, authorization: this.authorization };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const request: Dispatcher.RequestOptions = { method, path: this.prefix + path + this.query, headers, body, signal };
    for (let retriesLeft = this.options.maxRetries; ; retriesLeft--) {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.connections.request(request);
      } catch (error) {
        if (signal.aborted) throw error;
        const failure = connectionFailure(error);
        const wait = this.backoff(retriesLeft);
        if (retriesLeft <= 0 || !fitsBefore(wait, deadline)) throw failure;
        await sleep(wait, signal);
        continue;
      }
      const { statusCode: status, headers: responseHeaders } = response;
      if (status >= 200 && status < 300) return { headers: responseHeaders, body: response.body };
      if (retriesLeft > 0 && shouldRetry(status, responseHeaders)) {
        const asked = retryAfterMs((name) => header(responseHeaders, name));
        const wait = asked !== undefined && asked >= 0 && asked <= MAX_RETRY_AFTER_MS ? asked : this.backoff(retriesLeft);
        // A wait that would outlast the deadline is not started: the refusal is answered now
        // (a 429 as RATE_LIMITED with the upstream's retry-after), not after the timer fires.
        if (fitsBefore(wait, deadline)) {
          response.body.resume();
          await sleep(wait, signal);
          continue;
        }
      }
      const text = await response.body.text().catch((error: unknown) => String(error));
      const json = parseJSON(text);
      throw APIError.generate(status, json, json === undefined ? text : undefined, toHeaders(responseHeaders));
    }
  }

  private backoff(retriesLeft: number): number {
    const retry = this.options.maxRetries - retriesLeft;
    return Math.min(INITIAL_RETRY_MS * 2 ** retry, MAX_RETRY_MS) * (1 - Math.random() * 0.25);
  }
}

/** Server-sent events: one `data` payload per event, `event` name when one was given. */
export interface SSEvent {
  event: string | null;
  data: string;
}

/**
 * Decodes an SSE byte stream, calling `onEvent` for each event as soon as its blank line
 * arrives. Handles `\n`, `\r\n` and `\r` line ends (also split across reads), comments,
 * multi-line `data`, and a last event without a blank line after it. A UTF-8 character
 * split across reads is joined before decoding.
 */
export class SSEDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  private buffer = '';
  private pendingCR = false;

  constructor(private readonly onEvent: (event: SSEvent) => void) {}

  write(bytes: Buffer): void {
    let text = this.utf8.write(bytes);
    if (this.pendingCR) {
      text = '\r' + text;
      this.pendingCR = false;
    }
    if (text.includes('\r')) {
      // A trailing `\r` may be the first half of `\r\n`: decide with the next read.
      if (text.endsWith('\r')) {
        this.pendingCR = true;
        text = text.slice(0, -1);
      }
      text = text.replace(/\r\n?/g, '\n');
    }
    let buffer = this.buffer + text;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) this.onEvent(event);
    }
    this.buffer = buffer;
  }

  end(): void {
    let rest = this.buffer + this.utf8.end();
    if (this.pendingCR) rest += '\n';
    this.buffer = '';
    const event = parseBlock(rest);
    if (event) this.onEvent(event);
  }
}

/** Above this many decoded items not yet taken, reading from the upstream pauses. */
const HIGH_WATER = 64;

/**
 * The items an SSE body decodes to, as an async iterator fed straight from the socket's
 * `data` events. One layer instead of a chain of async generators (stream iterator →
 * decoder → mapper), each of which costs promises and ticks per chunk. `decode` maps one
 * event to items (or throws, which ends the iteration with that error); leaving early
 * (`return()`) destroys the body, which frees or closes its connection.
 */
export function decodeEvents<T>(body: UpstreamResponse['body'], decode: (event: SSEvent, out: T[]) => void): AsyncIterableIterator<T> {
  const items: T[] = [];
  let head = 0;
  let failure: { error: Error } | undefined;
  let ended = false;
  let waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;

  const settle = (): void => {
    if (!waiting) return;
    const { resolve, reject } = waiting;
    if (head < items.length) {
      waiting = undefined;
      resolve({ value: take(), done: false });
    } else if (failure) {
      waiting = undefined;
      reject(failure.error);
    } else if (ended) {
      waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  };
  const take = (): T => {
    const item = items[head] as T;
    items[head++] = undefined as T;
    if (head === items.length) {
      items.length = 0;
      head = 0;
      if (body.isPaused() && !ended && !failure) body.resume();
    }
    return item;
  };
  const fail = (error: unknown): void => {
    failure ??= { error: error instanceof Error ? error : new Error(String(error)) };
    body.destroy();
    settle();
  };
  const decoder = new SSEDecoder((event) => {
    if (failure) return;
    try {
      decode(event, items);
    } catch (error) {
      fail(error);
    }
  });
  body.on('data', (bytes: Buffer) => {
    decoder.write(bytes);
    if (items.length - head > HIGH_WATER) body.pause();
    settle();
  });
  body.on('end', () => {
    decoder.end();
    ended = true;
    settle();
  });
  body.on('error', fail);

  return {
    next(): Promise<IteratorResult<T>> {
      if (head < items.length) return Promise.resolve({ value: take(), done: false });
      if (failure) return Promise.reject(failure.error);
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    return(): Promise<IteratorResult<T>> {
      ended = true;
      items.length = 0;
      head = 0;
      if (!body.destroyed) body.destroy();
      settle();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function parseBlock(block: string): SSEvent | undefined {
  // The common case: one `data: …` line.
  if (block.startsWith('data: ') && !block.includes('\n')) return { event: null, data: block.slice(6) };
  let data: string | undefined;
  let event: string | null = null;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  return data === undefined ? undefined : { event, data };
}

function shouldRetry(status: number, headers: UpstreamResponse['headers']): boolean {
  const explicit = headers['x-should-retry'];
  if (explicit === 'true') return true;
  if (explicit === 'false') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function header(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function toHeaders(headers: UpstreamResponse['headers']): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else if (value !== undefined) out.set(name, value);
  }
  return out;
}

function parseJSON(text: string): object | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

function connectionFailure(error: unknown): APIError {
  if (error instanceof undiciErrors.ConnectTimeoutError || error instanceof undiciErrors.HeadersTimeoutError) {
    return new APIConnectionTimeoutError({ message: 'Request timed out.' });
  }
  return new APIConnectionError({ message: 'Connection error.', cause: error instanceof Error ? error : undefined });
}

/** Whether a wait of `ms` from now ends before `deadline` (`performance.now()` clock). */
function fitsBefore(ms: number, deadline: number): boolean {
  return performance.now() + ms < deadline;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
