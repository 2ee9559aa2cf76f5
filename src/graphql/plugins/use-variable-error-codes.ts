/**
 * Variables that do not fit the schema (a wrong type, a missing required field, two members
 * of a `@oneOf` input set) are refused by the executor before any resolver runs, with HTTP
 * 400 but no `extensions.code`: the one kind of client error that reached clients untyped.
 * This gives them BAD_USER_INPUT, like every other bad input, over every transport.
 */
import { isAsyncIterable } from '@graphql-tools/utils';
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.js';

/** graphql-js words every variable coercion error this way (execution/values.js). */
const VARIABLE_ERROR = /^Variable "\$[_A-Za-z][_0-9A-Za-z]*" /;

function typed(error: GraphQLError): void {
  if (error.extensions['code'] !== undefined || !VARIABLE_ERROR.test(error.message)) return;
  // The executor adds its `http` extension the same way: GraphQLError's extensions are read-only.
  Object.defineProperty(error, 'extensions', { value: { ...error.extensions, code: ErrorCode.BAD_USER_INPUT } });
}

function typeErrors(result: ExecutionResult | AsyncIterable<ExecutionResult>): void {
  // Variable errors come before execution: a result with errors and no data.
  if (isAsyncIterable(result) || result.data !== undefined) return;
  result.errors?.forEach(typed);
}

export function useVariableErrorCodes(): Plugin {
  return {
    onExecute: () => ({ onExecuteDone: ({ result }) => typeErrors(result) }),
    onSubscribe: () => ({ onSubscribeResult: ({ result }) => typeErrors(result) }),
  };
}
