/**
 * The one place where failures become client-facing errors. Every error a client can
 * see carries `extensions.code`; anything not mapped here stays masked by Yoga.
 */
import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { ProviderError } from '../upstream/provider.js';

export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  CONTEXT_LENGTH_EXCEEDED: 'CONTEXT_LENGTH_EXCEEDED',
  RATE_LIMITED: 'RATE_LIMITED',
  UPSTREAM_ERROR: 'UPSTREAM_ERROR',
  UPSTREAM_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UPSTREAM_AUTH_FAILED: 'UPSTREAM_AUTH_FAILED',
  UPSTREAM_REJECTED: 'UPSTREAM_REJECTED',
  /** An operation over graphql-armor's limits (depth, aliases, cost, tokens, directives). */
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  /** Too many operations on one WebSocket. */
  TOO_MANY_OPERATIONS: 'TOO_MANY_OPERATIONS',
  /** The server is draining for shutdown. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** No valid gateway API key (HTTP 401). */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The key may not do this (admin operations, other keys' usage). */
  FORBIDDEN: 'FORBIDDEN',
  /** The key's budget is spent. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** Shared state (Redis) cannot be reached and REDIS_FAILURE_MODE=closed: nothing is admitted. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** A stream's client stopped reading for longer than CLIENT_STALL_TIMEOUT_MS. */
  CLIENT_TOO_SLOW: 'CLIENT_TOO_SLOW',
  /** The client went away before the answer; nobody reads this, but it keeps the logs honest. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** An HTTP request body over MAX_BODY_BYTES (HTTP 413). */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** A `documentId` / `extensions.persistedQuery` hash that is not in TRUSTED_DOCUMENTS_FILE (Apollo's persisted-queries link knows this code). */
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  /** An operation sent as text while TRUSTED_DOCUMENTS_ONLY is on. */
  OPERATION_NOT_ALLOWED: 'OPERATION_NOT_ALLOWED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function gatewayError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return createGraphQLError(message, { extensions: { code, ...extensions } });
}

export function badInput(field: string, message: string): GraphQLError {
  return gatewayError(ErrorCode.BAD_USER_INPUT, `${field}: ${message}`, { field });
}

export function contextLengthExceeded(model: string, window: number, requested: number): GraphQLError {
  return gatewayError(
    ErrorCode.CONTEXT_LENGTH_EXCEEDED,
    `The request needs ${requested} tokens (prompt + maxTokens) but ${model} has a context window of ${window}. Shorten the prompt or lower maxTokens.`,
    { model, contextWindow: window, requestedTokens: requested },
  );
}

/**
 * The reason a gateway-side timer aborts an upstream call. It travels as the
 * AbortSignal's reason so the mapping below can tell a timeout from a client leaving.
 */
export class UpstreamTimeout extends Error {
  constructor(readonly phase: 'response' | 'first chunk' | 'next chunk', readonly ms: number) {
    super(`No ${phase} from the upstream within ${ms} ms`);
    this.name = 'UpstreamTimeout';
  }
}

/**
 * The reason the gateway cuts a stream whose client has stopped reading: our own
 * back-pressure holds the upstream meanwhile, so this is not the upstream's silence.
 */
export class ClientTooSlow extends Error {
  constructor(readonly ms: number) {
    super(`The client read nothing for ${ms} ms (CLIENT_STALL_TIMEOUT_MS); the stream was cut`);
    this.name = 'ClientTooSlow';
  }
}

/** Upstream text (error messages) is cut to this many characters before a client or a log sees it. */
const MAX_UPSTREAM_TEXT = 1_000;

/** Removes the upstream key, and anything shaped like an OpenAI key, from upstream text. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.length > 4 * MAX_UPSTREAM_TEXT ? text.slice(0, 4 * MAX_UPSTREAM_TEXT) : text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  out = out.replace(/\bsk-[A-Za-z0-9_*.-]{6,}/g, '[redacted]');
  return out.length > MAX_UPSTREAM_TEXT ? `${out.slice(0, MAX_UPSTREAM_TEXT)}… (cut)` : out;
}

/**
 * Maps whatever an upstream call threw into a typed error. `signal` is the call's own
 * signal: when a gateway timer aborted it, the transport only reports "aborted", and
 * the signal's reason says why. Providers fail with a `ProviderError` (upstream/provider.ts).
 */
export function mapUpstreamError(error: unknown, signal: AbortSignal, secrets: readonly string[]): GraphQLError {
  if (signal.aborted && signal.reason instanceof UpstreamTimeout) {
    return gatewayError(ErrorCode.UPSTREAM_TIMEOUT, signal.reason.message, { timeoutMs: signal.reason.ms });
  }
  if (signal.aborted && signal.reason instanceof ClientTooSlow) {
    return gatewayError(ErrorCode.CLIENT_TOO_SLOW, signal.reason.message, { timeoutMs: signal.reason.ms });
  }
  if (error instanceof ProviderError) return providerError(error, secrets);
  // A connection that died mid-body surfaces as a plain error from fetch, a malformed
  // answer as a TypeError or SyntaxError: neither detail is the client's business.
  return gatewayError(ErrorCode.UPSTREAM_ERROR, 'The upstream failed: the connection broke or the answer was malformed');
}

function providerError(error: ProviderError, secrets: readonly string[]): GraphQLError {
  const { status, code, retryAfterMs } = error.upstream;
  const extensions = { upstreamStatus: status ?? null, upstreamCode: code ?? null };
  switch (error.failure) {
    case 'timeout':
      return gatewayError(ErrorCode.UPSTREAM_TIMEOUT, 'The upstream did not answer in time');
    case 'unreachable':
      return gatewayError(ErrorCode.UPSTREAM_ERROR, 'Could not reach the upstream');
    case 'bad_answer':
      return gatewayError(ErrorCode.UPSTREAM_ERROR, error.message);
    case 'auth':
      // OpenAI's 401 message quotes the key it was given: never pass it on.
      return gatewayError(
        ErrorCode.UPSTREAM_AUTH_FAILED,
        "The upstream refused the gateway's credentials; the gateway operator must fix its upstream API key",
        extensions,
      );
    case 'rate_limited':
      return gatewayError(ErrorCode.RATE_LIMITED, 'The upstream is rate limiting requests; retry later', {
        ...extensions,
        retryAfterMs: retryAfterMs ?? null,
      });
    case 'context_length':
      return gatewayError(ErrorCode.CONTEXT_LENGTH_EXCEEDED, `The upstream refused the request as too long: ${redact(error.message, secrets)}`, extensions);
    case 'failed':
      return gatewayError(ErrorCode.UPSTREAM_ERROR, `The upstream failed: ${redact(error.message, secrets)}`, extensions);
    case 'rejected':
      return gatewayError(ErrorCode.UPSTREAM_REJECTED, `The upstream rejected the request: ${redact(error.message, secrets)}`, extensions);
  }
}
