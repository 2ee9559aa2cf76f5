/** The shapes a subscription's plan is made of: plan.ts builds them, execute.ts runs them. */
import type { FieldNode, GraphQLError, GraphQLFieldResolver, GraphQLOutputType, GraphQLResolveInfo } from 'graphql';
import type { buildExecutionContext } from '@graphql-tools/executor';
import type { Path } from '@graphql-tools/utils';
import type { FieldErrors } from './field-errors.js';

export type ExecutionContext = Exclude<ReturnType<typeof buildExecutionContext>, readonly GraphQLError[]>;
export type MaybePromise<T> = T | Promise<T>;
/** Completes one resolved value of a field's type (CompleteValue in the spec). */
export type Complete = (value: unknown, path: Path | undefined, errors: FieldErrors) => MaybePromise<unknown>;

export interface FieldPlan {
  key: string;
  fieldName: string;
  parentTypeName: string;
  type: GraphQLOutputType;
  nodes: readonly FieldNode[];
  /** Absent: read the property, as graphql's default resolver does. */
  resolve: GraphQLFieldResolver<unknown, unknown> | undefined;
  args: Record<string, unknown>;
  info: GraphQLResolveInfo;
  /** A scalar or enum (possibly non-null): completing it needs no path. */
  leaf: boolean;
  complete: Complete;
}
