/**
 * How an OpenAI-compatible upstream's failures become ProviderErrors
 * (src/upstream/openai/errors.ts), at memory speed; the end-to-end mapping to codes is in
 * errors.test.ts and resilience.test.ts.
 */
import { errors as undiciErrors } from 'undici';
import { describe, expect, it } from 'vitest';
import { connectionFailure, httpFailure, retryAfterMs, streamFailure } from '../src/upstream/openai/errors.js';
import { ProviderError } from '../src/upstream/provider.js';

const body = (message: string, code?: string): object => ({ error: { message, type: 'invalid_request_error', code: code ?? null } });

describe('httpFailure', () => {
  it.each([
    [401, 'auth'],
    [403, 'auth'],
    [429, 'rate_limited'],
    [400, 'rejected'],
    [404, 'rejected'],
    [500, 'failed'],
    [503, 'failed'],
  ] as const)('classifies status %i as %s, keeping the status and the upstream message', (status, failure) => {
    const error = httpFailure(status, body('something went wrong', 'some_code'), '', new Headers());
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.failure).toBe(failure);
    expect(error.upstream.status).toBe(status);
    expect(error.upstream.code).toBe('some_code');
    if (failure !== 'auth') expect(error.message).toBe('something went wrong');
  });

  it('knows a context overflow by its code or by its message', () => {
    expect(httpFailure(400, body('too long', 'context_length_exceeded'), '', new Headers()).failure).toBe('context_length');
    expect(httpFailure(400, body("This model's maximum context length is 8192 tokens"), '', new Headers()).failure).toBe('context_length');
  });

  it('reads retry-after on a 429, in ms or seconds, and ignores one in the past', () => {
    expect(httpFailure(429, body('slow down'), '', new Headers({ 'retry-after-ms': '1500' })).upstream.retryAfterMs).toBe(1500);
    expect(httpFailure(429, body('slow down'), '', new Headers({ 'retry-after': '2' })).upstream.retryAfterMs).toBe(2000);
    const past = new Date(Date.now() - 60_000).toUTCString();
    expect(httpFailure(429, body('slow down'), '', new Headers({ 'retry-after': past })).upstream.retryAfterMs).toBeNull();
  });

  it('keeps a body that is not JSON as the message, and passes on no overlong upstream code', () => {
    const error = httpFailure(502, undefined, '<html>Bad gateway</html>', new Headers());
    expect(error.failure).toBe('failed');
    expect(error.message).toContain('<html>Bad gateway</html>');
    expect(httpFailure(400, body('no', 'x'.repeat(101)), '', new Headers()).upstream.code).toBeNull();
  });
});

describe('streamFailure', () => {
  it('is the upstream failing mid-stream, with no status, or a context overflow when it says so', () => {
    const error = streamFailure({ message: 'The server had an error', type: 'server_error' });
    expect(error.failure).toBe('failed');
    expect(error.upstream.status).toBeNull();
    expect(error.message).toBe('The server had an error');
    expect(streamFailure({ message: 'x', code: 'context_length_exceeded' }).failure).toBe('context_length');
  });
});

describe('connectionFailure', () => {
  it('tells a connect or headers timeout from a connection that could not be made, keeping the cause', () => {
    expect(connectionFailure(new undiciErrors.ConnectTimeoutError()).failure).toBe('timeout');
    expect(connectionFailure(new undiciErrors.HeadersTimeoutError()).failure).toBe('timeout');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const error = connectionFailure(refused);
    expect(error.failure).toBe('unreachable');
    expect(error.cause).toBe(refused);
  });
});

describe('retryAfterMs', () => {
  it('prefers retry-after-ms, reads retry-after as seconds or an HTTP date, and is undefined without either', () => {
    const headers = (h: Record<string, string>) => (name: string) => h[name];
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': '1.5' }))).toBe(1500);
    const at = retryAfterMs(headers({ 'retry-after': new Date(Date.now() + 10_000).toUTCString() }));
    expect(at).toBeGreaterThan(8_000);
    expect(at).toBeLessThanOrEqual(10_000);
    expect(retryAfterMs(headers({}))).toBeUndefined();
  });
});
