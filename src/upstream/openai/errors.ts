/**
 * The one place where an OpenAI-compatible upstream's failures become `ProviderError`s.
 * Error bodies are read as the openai SDK reads them (`APIError.generate` picks the
 * message and code out of `{"error":{…}}`), so every upstream that speaks OpenAI's wire
 * format fails the same way whether the SDK or our client called it.
 */
import { errors as undiciErrors } from 'undici';
import { APIError } from 'openai';
import { ProviderError } from '../provider.js';

/**
 * How long an upstream asked to wait, in ms: `retry-after-ms`, else `retry-after` in
 * seconds or as an HTTP date. Undefined when neither says; callers bound the value.
 */
export function retryAfterMs(header: (name: string) => string | null | undefined): number | undefined {
  const ms = Number.parseFloat(header('retry-after-ms') ?? '');
  if (!Number.isNaN(ms)) return ms;
  const after = header('retry-after');
  if (!after) return undefined;
  const seconds = Number.parseFloat(after);
  if (!Number.isNaN(seconds)) return seconds * 1000;
  const at = Date.parse(after);
  return Number.isNaN(at) ? undefined : at - Date.now();
}

function positive(ms: number | undefined): number | undefined {
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/** A refused HTTP answer: its status, its body (as JSON when it parses, else as text) and headers. */
export function httpFailure(status: number, json: object | undefined, text: string, headers: Headers): ProviderError {
  return fromApiError(APIError.generate(status, json, json === undefined ? text : undefined, headers));
}

/** An `{"error":{…}}` event in the middle of a stream (no status: the stream had begun with 200). */
export function streamFailure(body: object): ProviderError {
  return fromApiError(new APIError(undefined, body, undefined, undefined));
}

/** A request that never got an answer: no connection, or no headers in time. */
export function connectionFailure(error: unknown): ProviderError {
  const cause = error instanceof Error ? error : undefined;
  if (error instanceof undiciErrors.ConnectTimeoutError || error instanceof undiciErrors.HeadersTimeoutError) {
    return new ProviderError('timeout', 'Request timed out.', {}, { cause });
  }
  return new ProviderError('unreachable', 'Connection error.', {}, { cause });
}

function fromApiError(error: APIError): ProviderError {
  const status = error.status;
  // An upstream's own code is short (`rate_limit_exceeded`); anything else is not passed on.
  const code = typeof error.code === 'string' && error.code.length <= 100 ? error.code : undefined;
  const upstream = { status: status ?? null, code: code ?? null };
  const message = upstreamMessage(error);
  // OpenAI's 401 message quotes the key it was given: the mapping never passes it on.
  if (status === 401 || status === 403) return new ProviderError('auth', error.message, upstream);
  if (status === 429) {
    const retryAfter = positive(retryAfterMs((name) => error.headers?.get(name))) ?? null;
    return new ProviderError('rate_limited', message, { ...upstream, retryAfterMs: retryAfter });
  }
  if (code === 'context_length_exceeded' || /maximum context length|context window/i.test(message)) {
    return new ProviderError('context_length', message, upstream);
  }
  if (status === undefined || status >= 500) return new ProviderError('failed', message, upstream);
  return new ProviderError('rejected', message, upstream);
}

function upstreamMessage(error: APIError): string {
  const body: unknown = error.error;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') {
    return body.message;
  }
  return error.message;
}
