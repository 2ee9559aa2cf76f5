/**
 * Who is calling. A gateway key comes as `Authorization: Bearer gk_…` over HTTP and SSE,
 * and as `connectionParams.authorization` over graphql-ws. Keys are required as soon as
 * one has been created (or GATEWAY_REQUIRE_AUTH=true, the default when NODE_ENV=production);
 * with none ever, the gateway runs open for local use.
 */
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
import type { ApiKey, KeyStore } from './keys.js';

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

/** Resolves an Authorization value to the caller's key, the same way for every transport. */
export class Authenticator {
  constructor(
    private readonly keys: KeyStore,
    /** GATEWAY_REQUIRE_AUTH: a key is required even while none exists. */
    private readonly requireAuth: boolean,
  ) {}

  /** The caller's key, null when the gateway runs open; throws UNAUTHENTICATED otherwise. */
  async authenticate(authorization: unknown): Promise<ApiKey | null> {
    const token = tokenFrom(authorization);
    if (token !== undefined) {
      const key = await this.keys.authenticate(token);
      if (!key) throw unauthenticated('The gateway API key is not valid (unknown or revoked)');
      return key;
    }
    if (this.requireAuth || (await this.keys.keyCount()) > 0) {
      throw unauthenticated('A gateway API key is required: send Authorization: Bearer gk_…');
    }
    return null;
  }
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
