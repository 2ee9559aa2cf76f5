/**
 * A subscription's plan (see ../use-compiled-subscriptions.ts): its fields collected, their
 * arguments coerced, resolve infos built and completions chosen once, when it starts;
 * ./execute.ts runs it for every event.
 */
import {
  getNamedType,
  getNullableType,
  isLeafType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  GraphQLError,
  OperationTypeNode,
  type ExecutionArgs,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
} from 'graphql';
import { buildExecutionContext, buildResolveInfo, getFieldDef } from '@graphql-tools/executor';
import {
  addPath,
  collectFields,
  collectSubFields,
  createGraphQLError,
  getArgumentValues,
  inspect,
  isIterableObject,
  locatedError,
  pathToArray,
  type Path,
} from '@graphql-tools/utils';
import { isPromise } from '../map-stream.js';
import { handleFieldError, runFields, toError } from './execute.js';
import type { Complete, ExecutionContext, FieldPlan } from './types.js';

/** The plan could not be made exactly; the executor keeps the operation. */
class Unplannable extends Error {}

class Planner {
  constructor(private readonly exe: ExecutionContext) {}

  private get coerced(): Record<string, unknown> {
    return this.exe.variableValues.coerced as Record<string, unknown>;
  }

  private coordinate(info: GraphQLResolveInfo): GraphQLResolveInfo | undefined {
    return this.exe.schemaCoordinateInErrors ? info : undefined;
  }

  fields(parentType: GraphQLObjectType, fieldNodes: FieldNode[], path: Path | undefined): FieldPlan[] {
    const { fields, patches } =
      path === undefined
        ? collectFields(this.exe.schema, this.exe.fragments, this.coerced, parentType, this.exe.operation.selectionSet)
        : collectSubFields(this.exe.schema, this.exe.fragments, this.coerced, parentType, fieldNodes);
    if (patches.length > 0) throw new Unplannable('@defer');
    return [...fields].map(([key, nodes]) => this.field(parentType, key, nodes, path));
  }

  private field(parentType: GraphQLObjectType, key: string, nodes: FieldNode[], parentPath: Path | undefined): FieldPlan {
    const node = nodes[0];
    const fieldDef = node && getFieldDef(this.exe.schema, parentType, node);
    if (!node || !fieldDef) throw new Unplannable(`no field ${key}`);
    if (nodes.some((n) => n.directives?.some((d) => d.name.value === 'stream'))) throw new Unplannable('@stream');
    const path = addPath(parentPath, key, parentType.name);
    const info = buildResolveInfo(this.exe, fieldDef, nodes, parentType, path);
    return {
      key,
      fieldName: fieldDef.name,
      parentTypeName: parentType.name,
      type: fieldDef.type,
      nodes,
      resolve: fieldDef.resolve,
      args: getArgumentValues(fieldDef, node, this.coerced),
      info,
      leaf: isLeafType(getNullableType(fieldDef.type)),
      complete: this.complete(fieldDef.type, nodes, info, path),
    };
  }

  private complete(type: GraphQLOutputType, nodes: FieldNode[], info: GraphQLResolveInfo, path: Path): Complete {
    if (isNonNullType(type)) {
      const inner = this.complete(type.ofType, nodes, info, path);
      const check = (completed: unknown): unknown => {
        if (completed === null) {
          throw new Error(`Cannot return null for non-nullable field ${info.parentType.name}.${info.fieldName}.`);
        }
        return completed;
      };
      return (value, p, errors) => {
        if (value instanceof Error) throw value;
        const completed = inner(value, p, errors);
        return isPromise(completed) ? completed.then(check) : check(completed);
      };
    }
    const nullable = this.nullable(type, nodes, info, path);
    return (value, p, errors) => {
      if (value instanceof Error) throw value;
      if (value == null) return null;
      return nullable(value, p, errors);
    };
  }

  /** A value that is neither an error nor null. */
  private nullable(type: GraphQLOutputType, nodes: FieldNode[], info: GraphQLResolveInfo, path: Path): Complete {
    if (isListType(type)) {
      const itemType: GraphQLOutputType = type.ofType;
      const item = this.complete(itemType, nodes, info, path);
      return (value, p, errors) => {
        if (!isIterableObject(value)) {
          throw createGraphQLError(
            `Expected Iterable, but did not find one for field "${info.parentType.name}.${info.fieldName}".`,
          );
        }
        let pending = false;
        const out: unknown[] = [];
        let index = 0;
        for (const element of value) {
          const itemPath = addPath(p, index++, undefined);
          const located = (raw: unknown): null =>
            handleFieldError(
              locatedError(toError(raw), nodes, pathToArray(itemPath), this.coordinate(info)),
              itemType,
              errors,
              itemPath,
            );
          try {
            let completed = item(element, itemPath, errors);
            if (isPromise(completed)) {
              pending = true;
              completed = completed.then(undefined, located);
            }
            out.push(completed);
          } catch (raw) {
            // A non-null item nulls the list, as in the executors, without waiting for the
            // items still pending; FieldErrors drops their errors, and this their rejections.
            if (pending && isNonNullType(itemType)) Promise.all(out).catch(() => undefined);
            out.push(located(raw));
          }
        }
        return pending ? Promise.all(out) : out;
      };
    }
    if (isScalarType(type) || isEnumType(type)) {
      return (value) => {
        let serialized: unknown;
        try {
          serialized = type.serialize(value);
        } catch (error) {
          // As graphql-tools does, so the null check and masking treat it like any error.
          if (error instanceof GraphQLError) throw new Error(error.message);
          throw error;
        }
        if (serialized == null) {
          throw new Error(
            `Expected \`${inspect(type)}.serialize(${inspect(value)})\` to return non-nullable value, returned: ${inspect(serialized)}`,
          );
        }
        return serialized;
      };
    }
    if (isObjectType(type)) {
      if (type.isTypeOf) throw new Unplannable(`${type.name}.isTypeOf`);
      const fields = this.fields(type, nodes, path);
      return (value, p, errors) => runFields(fields, value, p, errors, this.exe);
    }
    throw new Unplannable(`abstract type ${getNamedType(type).name}`);
  }
}

/** Plans the operation, or says why it cannot be planned. */
export function planSubscription(args: ExecutionArgs): { exe: ExecutionContext; root: FieldPlan[] } | { unplannable: string } {
  const exe = buildExecutionContext(args);
  if (!('schema' in exe)) return { unplannable: 'variables or operation' };
  const rootType = exe.schema.getSubscriptionType();
  if (exe.operation.operation !== OperationTypeNode.SUBSCRIPTION || !rootType) return { unplannable: 'not a subscription' };
  try {
    const root = new Planner(exe).fields(rootType, [], undefined);
    return root.length === 1 ? { exe, root } : { unplannable: 'not one root field' };
  } catch (error) {
    if (error instanceof Unplannable) return { unplannable: error.message };
    throw error;
  }
}
