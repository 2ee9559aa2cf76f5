/**
 * The HTTP side of talking to an OpenAI-compatible upstream: keep-alive undici connections
 * per upstream, retries with retry-after and the per-attempt wait for headers (the
 * server-sent-events decoder is in sse.ts).
 *
 * Why not the openai SDK's own transport: on the benchmark machine its request path
 * (WHATWG fetch, `Request`/`Headers`/`ReadableStream` objects, header building, debug
 * formatting that runs even at `warn`) costs about 1.2 ms of CPU per call and 30 KiB per
 * open stream, against about 0.08 ms and a few KiB here (bench/README.md). Failures are
 * read the way the SDK reads them, and become `ProviderError`s in errors.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { connectionFailure, httpFailure, retryAfterMs } from './errors.js';
import { readPrefix } from './body.js';
import { Connections } from './connections.js';

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

/** How much of an upstream's error body is read; the rest is dropped with the connection. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** An upstream's answer with status 2xx; anything else has already been thrown. */
export interface UpstreamResponse {
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
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
          // Read what a refused answer sends (so its connection can be reused), up to the
          // error-body cap: a huge or stalled one is dropped with its connection instead.
          response.body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => undefined);
          await sleep(wait, signal);
          continue;
        }
      }
      // An error body only needs its message: a huge or endless one is cut, not held.
      const text = await readPrefix(response.body, MAX_ERROR_BODY_BYTES).catch((error: unknown) => String(error));
      const json = parseJSON(text);
      throw httpFailure(status, json, text, toHeaders(responseHeaders));
    }
  }

  private backoff(retriesLeft: number): number {
    const retry = this.options.maxRetries - retriesLeft;
    return Math.min(INITIAL_RETRY_MS * 2 ** retry, MAX_RETRY_MS) * (1 - Math.random() * 0.25);
  }
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

/** Whether a wait of `ms` from now ends before `deadline` (`performance.now()` clock). */
function fitsBefore(ms: number, deadline: number): boolean {
  return performance.now() + ms < deadline;
}

/**
 * Waits `ms`, or rejects with the signal's reason as soon as it aborts (node's timer
 * rejects with its own AbortError, the reason only as its `cause`), leaving no timer or
 * listener behind.
 */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch((error: unknown) => {
    throw signal.aborted ? (signal.reason as Error) : error;
  });
}
