/**
 * Operations by name and outcome, and errors by code, for every transport: this hooks
 * Envelop, which both HTTP/SSE and graphql-ws operations run through.
 */
import type { ExecutionResult, GraphQLError, OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Metrics } from '../../observability/metrics.js';
import { mapStream } from './map-stream.js';

function codeOf(error: Error | GraphQLError): string {
  const code = 'extensions' in error ? (error.extensions as Record<string, unknown> | undefined)?.['code'] : undefined;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

export function useOperationMetrics(metrics: Metrics): Plugin {
  const countErrors = (result: ExecutionResult): string | undefined => {
    let outcome: string | undefined;
    for (const error of result.errors ?? []) {
      const code = codeOf(error);
      metrics.errors.inc({ code });
      outcome ??= code;
    }
    return outcome;
  };
  const operationOf = (args: { document: unknown; operationName?: string | null }): { name: string; type: string } => {
    const definitions = (args.document as { definitions?: readonly { kind: string }[] } | undefined)?.definitions ?? [];
    const operations = definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
    const operation = operations.find((o) => !args.operationName || o.name?.value === args.operationName) ?? operations[0];
    return { name: metrics.operationName(args.operationName ?? operation?.name?.value), type: operation?.operation ?? 'unknown' };
  };

  return {
    onValidate({ params }) {
      return ({ result }) => {
        const errors: readonly Error[] = result;
        const [first] = errors;
        if (!first) return;
        for (const error of errors) metrics.errors.inc({ code: codeOf(error) });
        const { name, type } = operationOf({ document: params.documentAST });
        metrics.operations.inc({ operation: name, type, outcome: codeOf(first) });
      };
    },
    onExecute({ args }) {
      const { name, type } = operationOf(args);
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) return;
          metrics.operations.inc({ operation: name, type, outcome: countErrors(result) ?? 'ok' });
        },
      };
    },
    onSubscribe({ args }) {
      const { name, type } = operationOf(args);
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) {
            metrics.operations.inc({ operation: name, type, outcome: countErrors(result) ?? 'ok' });
            return;
          }
          let outcome: string | undefined;
          // One thin iterator instead of Envelop's onNext/onEnd hooks (see map-stream.ts).
          setResult(
            mapStream(
              result,
              (event) => {
                const code = countErrors(event);
                outcome ??= code;
                return event;
              },
              {
                onEnd: (error) => {
                  if (error !== undefined) outcome ??= error instanceof Error ? codeOf(error) : 'INTERNAL_SERVER_ERROR';
                  metrics.operations.inc({ operation: name, type, outcome: outcome ?? 'ok' });
                },
              },
            ),
          );
        },
      };
    },
  };
}
