/**
 * Running a subscription's plan (see ../use-compiled-subscriptions.ts): the subscribe
 * resolver once, then ExecuteSubscriptionEvent for every event it yields, by the fields
 * planned in ./plan.ts.
 */
import { isNonNullType, type ExecutionResult, type GraphQLError, type GraphQLOutputType } from 'graphql';
import { defaultFieldResolver } from '@graphql-tools/executor';
import {
  addPath,
  createGraphQLError,
  inspect,
  isAsyncIterable,
  locatedError,
  pathToArray,
  type Path,
} from '@graphql-tools/utils';
import { isPromise, mapStream } from '../map-stream.js';
import { FieldErrors } from './field-errors.js';
import type { ExecutionContext, FieldPlan, MaybePromise } from './types.js';

export function toError(raw: unknown): Error {
  return raw instanceof Error ? raw : new Error(`Unexpected error value: ${inspect(raw)}`);
}

export function handleFieldError(error: GraphQLError, type: GraphQLOutputType, errors: FieldErrors, path: Path): null {
  // Non-null fields pass their error to the parent, which becomes null in turn.
  if (isNonNullType(type)) throw error;
  errors.add(error, path);
  return null;
}

/** `path`: the field's own, when its children were given one (the same object, so nulling it covers them). */
function fieldError(raw: unknown, field: FieldPlan, parentPath: Path | undefined, path: Path | undefined, exe: ExecutionContext, errors: FieldErrors): null {
  const at = path ?? addPath(parentPath, field.key, field.parentTypeName);
  const info = exe.schemaCoordinateInErrors ? field.info : undefined;
  return handleFieldError(locatedError(toError(raw), field.nodes, pathToArray(at), info), field.type, errors, at);
}

function runField(field: FieldPlan, source: unknown, parentPath: Path | undefined, errors: FieldErrors, exe: ExecutionContext): unknown {
  // Only lists and objects pass a path down; leaves need one only for an error.
  const path = field.leaf ? undefined : addPath(parentPath, field.key, field.parentTypeName);
  try {
    let resolved: unknown;
    if (field.fieldName === '__typename') {
      resolved = field.parentTypeName;
    } else if (field.resolve) {
      resolved = field.resolve(source, field.args, exe.contextValue, field.info);
    } else {
      // graphql's default resolver: the property of an object (or function), or the
      // method's result; a primitive source has none (`"abc".length` is not a field).
      const property =
        (typeof source === 'object' && source !== null) || typeof source === 'function'
          ? (source as Record<string, unknown>)[field.fieldName]
          : undefined;
      resolved = typeof property === 'function' ? defaultFieldResolver(source, field.args, exe.contextValue, field.info) : property;
    }
    const completed = isPromise(resolved)
      ? resolved.then((value) => field.complete(value, path, errors))
      : field.complete(resolved, path, errors);
    return isPromise(completed) ? completed.then(undefined, (raw: unknown) => fieldError(raw, field, parentPath, path, exe, errors)) : completed;
  } catch (raw) {
    return fieldError(raw, field, parentPath, path, exe, errors);
  }
}

export function runFields(
  fields: readonly FieldPlan[],
  source: unknown,
  path: Path | undefined,
  errors: FieldErrors,
  exe: ExecutionContext,
): MaybePromise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let pending: Promise<void>[] | undefined;
  try {
    for (const field of fields) {
      const value = runField(field, source, path, errors, exe);
      if (isPromise(value)) {
        (pending ??= []).push(
          value.then((settled) => {
            out[field.key] = settled;
          }),
        );
        out[field.key] = undefined; // keeps the selection's key order
      } else {
        out[field.key] = value;
      }
    }
  } catch (error) {
    // A non-null field failed: as the executors do, its parent fails once the fields still
    // pending settle, so their errors are in this event's response and none goes unhandled.
    const fail = (): never => {
      throw error;
    };
    if (pending) return Promise.all(pending).then(fail, fail);
    throw error;
  }
  return pending ? Promise.all(pending).then(() => out) : out;
}

function response(data: Record<string, unknown> | null, errors: GraphQLError[]): ExecutionResult {
  return errors.length === 0 ? { data } : { errors, data };
}

/** ExecuteSubscriptionEvent for one event, by the plan (exported for bench/subscription-events.ts). */
export function runEvent(exe: ExecutionContext, root: readonly FieldPlan[], event: unknown): MaybePromise<ExecutionResult> {
  const errors = new FieldErrors();
  // A non-null root field failed: the whole response is null.
  const failed = (error: unknown): ExecutionResult => {
    errors.add(error as GraphQLError, undefined);
    return response(null, errors.list);
  };
  try {
    const data = runFields(root, event, undefined, errors, exe);
    return isPromise(data) ? data.then((settled) => response(settled, errors.list), failed) : response(data, errors.list);
  } catch (error) {
    return failed(error);
  }
}

/**
 * CreateSourceEventStream, as graphql-tools does it, with errors located the same way:
 * the root field's `subscribe` resolver called once with the coerced arguments.
 */
export async function sourceStream(exe: ExecutionContext, root: FieldPlan): Promise<AsyncIterable<unknown> | ExecutionResult> {
  const rootType = exe.schema.getSubscriptionType();
  const fieldDef = rootType?.getFields()[root.fieldName];
  const path = addPath(undefined, root.key, root.parentTypeName);
  try {
    const subscribe = fieldDef?.subscribe ?? exe.subscribeFieldResolver;
    const stream: unknown = await subscribe(exe.rootValue, root.args, exe.contextValue, root.info);
    exe.signal?.throwIfAborted();
    if (stream instanceof Error) throw stream;
    if (!isAsyncIterable(stream)) {
      throw createGraphQLError(`Subscription field must return Async Iterable. Received: ${inspect(stream)}.`);
    }
    return stream;
  } catch (error) {
    return { errors: [locatedError(toError(error), root.nodes, pathToArray(path), exe.schemaCoordinateInErrors ? root.info : undefined)] };
  }
}

/** Maps a source stream by the plan; leaving it leaves the source at once (the upstream is aborted). */
export function mapEvents(exe: ExecutionContext, source: AsyncIterable<unknown>, root: readonly FieldPlan[]): AsyncIterableIterator<ExecutionResult> {
  const mapped = mapStream(source, (event) => runEvent(exe, root, event), {
    // As graphql-tools does: a failing source becomes an error located at the operation.
    mapError: (error) => createGraphQLError(toError(error).message, { originalError: toError(error), nodes: [exe.operation] }),
  });
  if (exe.onSignalAbort) exe.onSignalAbort(() => void mapped.return?.());
  return mapped;
}
