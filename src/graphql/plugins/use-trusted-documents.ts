/**
 * Trusted documents over HTTP (POST, GET, Yoga's SSE, Apollo's multipart): Yoga's
 * persisted-operations plugin, fed by the loaded manifest and its rule (trusted-documents.ts),
 * so HTTP runs and refuses exactly what graphql-ws and graphql-sse's single connection do.
 * Every refusal happens on the request's parameters, before any parse, context or upstream call.
 */
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import type { GraphQLError } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import { documentNotFound, operationNotAllowed, type OperationParams, type TrustedDocuments } from '../trusted-documents.js';

/** Yoga's GET parser keeps only query, variables, operationName and extensions: `documentId` is read from the URL. */
function sent(params: GraphQLParams, request: Request): OperationParams {
  const documentId = request.method === 'GET' ? new URL(request.url).searchParams.get('documentId') : null;
  return documentId === null ? params : { ...params, documentId };
}

/** The HTTP status for an error a client can fix (never sent over WebSocket or in an event stream). */
const withStatus = (error: GraphQLError, status: number): GraphQLError =>
  createGraphQLError(error.message, { extensions: { ...error.extensions, http: { status } } });

export function useTrustedDocuments(documents: TrustedDocuments): Plugin[] {
  const notAllowed = (): GraphQLError => withStatus(operationNotAllowed(), 403);
  return [
    {
      // Text and an id both sent: Yoga's plugin would run the text (or, in ONLY mode, refuse
      // it), so keep only the one the shared rule picks. Yoga refuses a `documentId` it does
      // not expect beside the text.
      onParams({ params, request, setParams }) {
        if (!params.query) return;
        if (documents.byId(sent(params, request))) {
          setParams({ ...params, query: undefined });
        } else if ('documentId' in params) {
          const text: GraphQLParams & { documentId?: unknown } = { ...params };
          delete text.documentId;
          setParams(text);
        }
      },
    },
    usePersistedOperations({
      allowArbitraryOperations: !documents.only,
      extractPersistedOperationId: (params, request) => documents.idOf(sent(params, request)) ?? null,
      getPersistedOperation: (id) => documents.lookup(id) ?? null,
      customErrors: {
        // Request errors get a 4xx, as GraphQL over HTTP asks; Apollo's persisted-queries link
        // reads the body of a non-2xx answer too, so its retry with the text still happens.
        notFound: () => withStatus(documentNotFound(), 404),
        persistedQueryOnly: notAllowed,
        // Neither text nor id: without ONLY, Yoga's own answer when there is no query.
        keyNotFound: () =>
          documents.only
            ? notAllowed()
            : createGraphQLError('Must provide query string.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } }),
      },
    }),
  ];
}
