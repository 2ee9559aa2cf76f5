/**
 * Whatever a request failed with, as the user should see it: the gateway's message and
 * `extensions.code`, and when to retry for RATE_LIMITED (`extensions.retryAfterMs`).
 */
import { CombinedGraphQLErrors, CombinedProtocolErrors, ServerError } from '@apollo/client/errors';

export interface ErrorView {
  /** The gateway's `extensions.code`, or what the failure was when no GraphQL error came. */
  code: string;
  message: string;
  /** RATE_LIMITED: milliseconds until the limit admits a request again, when known. */
  retryAfterMs: number | null;
  /** RATE_LIMITED: which limit (`rpm`, `tpm`, …), when the gateway says. */
  limit: string | null;
}

interface ErrorLike {
  message: string;
  extensions?: Record<string, unknown> | undefined;
}

function fromGraphQL(error: ErrorLike | undefined): ErrorView {
  const extensions = error?.extensions ?? {};
  const code = extensions['code'];
  const retryAfterMs = extensions['retryAfterMs'];
  const limit = extensions['limit'];
  return {
    code: typeof code === 'string' ? code : 'GRAPHQL_ERROR',
    message: error?.message ?? 'The gateway answered with an error',
    retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : null,
    limit: typeof limit === 'string' ? limit : null,
  };
}

function plain(code: string, message: string): ErrorView {
  return { code, message, retryAfterMs: null, limit: null };
}

/** A refused request answered with a status: the GraphQL error in its body, if there is one. */
function fromServerError(error: ServerError): ErrorView {
  try {
    const body = JSON.parse(error.bodyText) as { errors?: ErrorLike[] };
    if (Array.isArray(body.errors) && body.errors.length > 0) return fromGraphQL(body.errors[0]);
  } catch {
    // Not JSON (a proxy's error page): the status says it all.
  }
  return plain(`HTTP_${error.statusCode}`, error.message);
}

/** graphql-ws's close codes, as GraphQLWsLink reports them ("Socket closed with event 4403 Forbidden"). */
function fromSocketClose(code: number, reason: string): ErrorView {
  if (code === 4403) {
    // How the gateway refuses a missing or wrong key on a WebSocket (see its auth docs).
    return plain('UNAUTHENTICATED', `The gateway refused the key: the WebSocket was closed with ${code} ${reason || 'Forbidden'}`);
  }
  return plain('CONNECTION_CLOSED', `The WebSocket was closed with ${code}${reason ? ` ${reason}` : ''}`);
}

export function describeError(error: unknown): ErrorView {
  if (CombinedGraphQLErrors.is(error) || CombinedProtocolErrors.is(error)) return fromGraphQL(error.errors[0]);
  if (ServerError.is(error)) return fromServerError(error);
  if (error instanceof Error) {
    const closed = /Socket closed with event (\d+)\s*(.*)$/.exec(error.message);
    if (closed) return fromSocketClose(Number(closed[1]), closed[2] ?? '');
    if (error instanceof TypeError) return plain('NETWORK_ERROR', `Could not reach the gateway: ${error.message}`);
    return plain('ERROR', error.message);
  }
  return plain('ERROR', String(error));
}

/** "retry in 42 s" (rounded up: retrying a moment early would be refused again). */
export function retryText(retryAfterMs: number): string {
  return `retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`;
}
