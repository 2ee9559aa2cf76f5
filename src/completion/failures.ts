/** The ways an operation ends other than by an upstream failure, shared by both transports. */
import type { GraphQLError } from 'graphql';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
import { ShuttingDown, shuttingDownError } from '../server/lifecycle.js';

/** Why the gateway aborted an upstream call that a client no longer waits for. */
export class ClientGone extends Error {
  constructor() {
    super('The client went away');
    this.name = 'ClientGone';
  }
}

/** What a mutation whose client left ends with: nobody reads it, and it is no server fault. */
export function clientClosed(): GraphQLError {
  return gatewayError(ErrorCode.CLIENT_CLOSED, new ClientGone().message);
}

/** Why waiting for a slot failed: the gateway's own RATE_LIMITED, or a shutdown cutting the wait. */
export function admissionError(error: unknown, signal: AbortSignal): GraphQLError {
  if (signal.reason instanceof ShuttingDown) return shuttingDownError();
  if (isGraphQLError(error)) return error;
  throw error;
}

/** Errors the gateway raised itself (capacity, limits) pass through unmapped. */
export function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}
