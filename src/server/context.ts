/**
 * The context of one operation, for either transport: over HTTP (and SSE) the request id
 * and key come from the request's headers; over graphql-ws the socket layer has read them
 * already (connection params) and passes them in.
 */
import type { YogaInitialContext } from 'graphql-yoga';
import type { Authenticator } from '../accounts/auth.js';
import type { ApiKey } from '../accounts/keys.js';
import type { Context } from '../graphql/builder.js';
import { requestIdOf } from '../graphql/plugins/use-request-id.js';

/** Operation details the WebSocket layer puts in the initial context (HTTP derives them). */
export interface OperationInfo {
  requestId?: string;
  operationName?: string | null;
  apiKey?: ApiKey | null;
}

/** The services every operation's context carries: the same objects for all of them. */
export type SharedContext = Omit<Context, 'signal' | 'requestId' | 'operationName' | 'apiKey'>;

export function contextFactory(
  shared: SharedContext,
  auth: Authenticator,
): (initial: YogaInitialContext & OperationInfo) => Promise<Context> {
  return async (initial) => ({
    ...shared,
    signal: initial.request?.signal,
    requestId: initial.requestId ?? requestIdOf(initial.request),
    operationName: initial.operationName ?? initial.params.operationName ?? null,
    apiKey: initial.apiKey !== undefined ? initial.apiKey : await auth.authenticate(initial.request.headers.get('authorization')),
  });
}
