/**
 * graphql-sse's single-connection ("reservation") mode on the GraphQL endpoint: the client
 * reserves a stream with PUT, opens it with GET (`text/event-stream`), then sends each
 * operation with POST and stops one with DELETE, all carrying the stream's token. Many
 * streams share one connection, where a browser allows only ~6 per origin on HTTP/1.1.
 * Requests without a token (the distinct-connections mode) stay with Yoga's own SSE.
 *
 * graphql-sse's handler speaks the protocol; this file only runs each operation through
 * Yoga's Envelop (the same parse, graphql-armor limits, context, auth, metrics and masking
 * as every transport). It does not use @graphql-yoga/plugin-graphql-sse (3.24.1), which
 * gives graphql-sse results without `data` that graphql-sse then mistakes for execution
 * arguments: a query over a limit, or a stream refused with BAD_USER_INPUT, answered the
 * POST `400 Unable to detect operation AST` with its errors lost, and an unknown key
 * (a failing context) a 500. The client takes either for a network error and retries.
 * Here, as over graphql-ws, a refused operation is a result with `errors` in the stream.
 * For the same reason Yoga's parameter hooks (the trusted documents plugin's) never see these
 * operations: the manifest's rule is applied here too, before the parse. graphql-sse's handler
 * keeps only query (which must be a string, '' with an id), variables, operationName and
 * extensions: a trusted document's id comes in `extensions` (`documentId` or APQ's `persistedQuery`).
 *
 * Which process holds a stream, and requests forwarded to it (WORKERS>1, several instances
 * with REDIS_URL), are sse-reservations.ts's: PUTs are answered there.
 *
 * These requests skip Yoga's request parsing, so the CSRF check (a custom header on GET and
 * simple POSTs) does not apply to them, and need not: PUT and DELETE are always preflighted,
 * and a GET or POST here only acts with a stream's secret token, which a cross-site page
 * cannot read (POSTs must be JSON, preflighted too).
 */
import { randomUUID } from 'node:crypto';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type parse as graphqlParse,
  type validate as graphqlValidate,
} from 'graphql';
import { createHandler, type RequestContext } from 'graphql-sse/lib/use/fetch';
import type { Request as HandlerRequest, RequestParams } from 'graphql-sse';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { SharedRedis } from '../../shared-state/redis.js';
import type { TrustedDocuments } from '../trusted-documents.js';
import { SseReservations, TOKEN_HEADER, TOKEN_PARAM, tokenOf, type ForwardResult } from './sse-reservations.js';

type SSERequest = HandlerRequest<Request, RequestContext>;

export interface SingleConnectionSSEOptions {
  /** The TRUSTED_DOCUMENTS_FILE manifest; absent (the default), operations are sent as text. */
  trustedDocuments?: TrustedDocuments | undefined;
  /** The shared state (REDIS_URL): streams are found, and requests forwarded, across processes. Absent (the default): this process only. */
  redis?: SharedRedis | undefined;
  /** SSE_RESERVATION_TIMEOUT_MS: see sse-reservations.ts. @default 30000 */
  reserveMs?: number | undefined;
  /** Told each forwarded request's result (for `gateway_sse_forwarded_total`). @default none */
  forwarded?: ((result: ForwardResult) => void) | undefined;
}

/** PUT, DELETE, or anything carrying a stream's token: the rest is Yoga's. */
function isReservationMode(request: Request, url: URL): boolean {
  return (
    request.method === 'PUT' ||
    request.method === 'DELETE' ||
    request.headers.has(TOKEN_HEADER) ||
    url.searchParams.has(TOKEN_PARAM)
  );
}

/** The error as a client sees it: `http.status` is for HTTP answers (Yoga strips it there too). */
function forClient(error: GraphQLError): GraphQLError {
  if (!('http' in error.extensions)) return error;
  const extensions: Record<string, unknown> = { ...error.extensions };
  delete extensions['http'];
  return createGraphQLError(error.message, { extensions });
}

/** A refused operation, delivered in the stream. Anything but a GraphQLError is a fault: rethrown. */
function refused(error: unknown): ExecutionResult {
  if (!(error instanceof GraphQLError)) throw error;
  return { data: null, errors: [forClient(error)] };
}

/**
 * @param endpoint The path the mode is served on (the gateway's GraphQL endpoint).
 */
export function useSingleConnectionSSE(endpoint: string, options: SingleConnectionSSEOptions = {}): Plugin {
  const { trustedDocuments, redis, reserveMs, forwarded } = options;
  let reservations: SseReservations | undefined;
  return {
    onYogaInit({ yoga }) {
      const handler = createHandler(
        {
          // A client's PUT never gets here (sse-reservations.ts answers it); the only PUT is
          // the one making the stream of a claimed reservation, under its token.
          authenticate: (req: SSERequest) => tokenOf(req.raw) ?? randomUUID(),
          async onSubscribe(req: SSERequest, params: RequestParams) {
            const resolved = trustedDocuments?.resolve(params) ?? { query: params.query };
            if ('error' in resolved) return refused(resolved.error);
            const enveloped = yoga.getEnveloped({ request: req.raw, params: { ...params, query: resolved.query } });
            // Envelop types these loosely (it does not depend on graphql); pin graphql's types.
            const parse: typeof graphqlParse = enveloped.parse;
            const validate: typeof graphqlValidate = enveloped.validate;
            const schema = enveloped.schema as GraphQLSchema;
            let document: DocumentNode;
            let contextValue: unknown;
            try {
              document = parse(resolved.query);
              // graphql-armor's rules may throw rather than report.
              const errors = validate(schema, document);
              if (errors.length > 0) return { data: null, errors: errors.map(forClient) };
              contextValue = await enveloped.contextFactory();
            } catch (error) {
              return refused(error);
            }
            const args: ExecutionArgs = {
              schema,
              document,
              contextValue,
              variableValues: params.variables,
              operationName: params.operationName,
            };
            const operation = getOperationAST(document, params.operationName);
            const result = (await (operation?.operation === OperationTypeNode.SUBSCRIPTION ? enveloped.subscribe(args) : enveloped.execute(args))) as
              | AsyncIterable<ExecutionResult>
              | ExecutionResult;
            // A subscription refused before its stream (bad variables, BAD_USER_INPUT) has no
            // `data`; graphql-sse tells a result from execution arguments by that key.
            return isAsyncIterable(result) || 'data' in result ? result : { data: null, errors: result.errors?.map(forClient) };
          },
        },
        yoga.fetchAPI,
      );
      reservations = new SseReservations({
        handler,
        fetchAPI: yoga.fetchAPI,
        redis,
        reserveMs,
        forwarded,
        // A reservation builds the context that every operation builds, so a caller the
        // gateway would refuse (UNAUTHENTICATED) is refused before holding any memory; every
        // operation is authenticated again by its own context.
        async admit(request) {
          try {
            await yoga.getEnveloped({ request, params: {} }).contextFactory();
            return undefined;
          } catch (error) {
            if (!(error instanceof GraphQLError)) throw error;
            const status = error.extensions.http?.status ?? 401;
            const body = JSON.stringify({ errors: [forClient(error)] });
            return new yoga.fetchAPI.Response(body, { status, statusText: 'Unauthorized', headers: { 'content-type': 'application/json; charset=utf-8' } });
          }
        },
      });
    },
    onRequest(payload) {
      const { request, url } = payload;
      if (!reservations || url.pathname !== endpoint || !isReservationMode(request, url)) return;
      return reservations.handle(request).then((response) => payload.endResponse(response));
    },
  };
}
