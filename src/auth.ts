/**
 * Who is calling. A gateway key comes as `Authorization: Bearer gk_…` over HTTP and SSE,
 * and as `connectionParams.authorization` over graphql-ws. Keys are required as soon as
 * one has been created (or GATEWAY_REQUIRE_AUTH=true); with none ever, the gateway runs
 * open for local use.
 */
import type { GraphQLError } from 'graphql';
import type { Services } from './builder.js';
import { ErrorCode, gatewayError } from './errors.js';
import type { ApiKey } from './keys.js';

export function unauthenticated(message: string): GraphQLError {
  // `http.status`: Yoga answers HTTP requests that fail this way with a 401.
  return gatewayError(ErrorCode.UNAUTHENTICATED, message, { http: { status: 401 } });
}

/** The key in an Authorization value: `Bearer gk_…`, or the bare key. */
export function tokenFrom(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const value = authorization.trim();
  const match = /^Bearer\s+(\S+)$/i.exec(value);
  return match?.[1] ?? (value === '' ? undefined : value);
}

/** The caller's key, null when the gateway runs open; throws UNAUTHENTICATED otherwise. */
export async function authenticate(services: Services, authorization: unknown): Promise<ApiKey | null> {
  const token = tokenFrom(authorization);
  if (token !== undefined) {
    const key = await services.keys.authenticate(token);
    if (!key) throw unauthenticated('The gateway API key is not valid (unknown or revoked)');
    return key;
  }
  if (services.config.requireAuth || (await services.keys.keyCount()) > 0) {
    throw unauthenticated('A gateway API key is required: send Authorization: Bearer gk_…');
  }
  return null;
}
