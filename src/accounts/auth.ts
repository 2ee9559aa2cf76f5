/**
 * Who is calling. A gateway key comes as `Authorization: Bearer gk_…` over HTTP and SSE,
 * and as `connectionParams.authorization` over graphql-ws. Keys are required as soon as
 * one has been created (or GATEWAY_REQUIRE_AUTH=true, the default when NODE_ENV=production);
 * with none ever, the gateway runs open for local use.
 */
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { Services } from '../graphql/builder.js';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
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

/**
 * One start-up line saying which auth mode is in force and why: `required` (always),
 * `keyed` (keys exist; the gateway would be open without them) or `open` (a warning).
 */
export function logAuthMode(logger: Logger, requireAuth: boolean, keyCount: number): void {
  if (requireAuth) {
    logger.info({ auth: 'required' }, 'auth: a gateway API key is required for every operation (GATEWAY_REQUIRE_AUTH, on by default when NODE_ENV=production)');
  } else if (keyCount > 0) {
    logger.info(
      { auth: 'keyed', keys: keyCount },
      'auth: open until the first key exists, and keys exist, so a gateway API key is required (GATEWAY_REQUIRE_AUTH=false: with an empty database the gateway would be open)',
    );
  } else {
    logger.warn(
      { auth: 'open' },
      'no gateway API keys exist: the gateway is OPEN to anyone who can reach it (create one with `npm run keys -- create --name admin --admin`, or set GATEWAY_REQUIRE_AUTH=true)',
    );
  }
}
