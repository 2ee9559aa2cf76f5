/**
 * An Apollo Client for one gateway key and one transport. Queries always go over plain
 * HTTP; subscriptions go over graphql-ws (`ws`) or over the same HTTP link (`http`), where
 * Apollo Client 4 streams them as multipart responses (no WebSocket at all, as behind
 * proxies that do not pass one). Optionally it sends trusted-document ids instead of text.
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';

export type Transport = 'ws' | 'http';

export interface Connection {
  client: ApolloClient;
  /** Stops the client's work and closes its socket, if it has one. */
  dispose(): void;
}

export interface ConnectionOptions {
  transport: Transport;
  /** The gateway key (`gk_…`); empty for a gateway that runs open. */
  gatewayKey: string;
  /**
   * Send each document's id (its hash in the trusted-documents manifest) instead of its
   * text, for a gateway with TRUSTED_DOCUMENTS_FILE (and TRUSTED_DOCUMENTS_ONLY).
   */
  documentIds?: boolean;
  /** The gateway's GraphQL endpoint; by default `/graphql` on the page's own origin. */
  endpoint?: URL;
}

/** `/graphql` beside the page: the gateway serves this app at /chat, and `vite dev` proxies it. */
export function defaultEndpoint(): URL {
  return new URL('/graphql', window.location.href);
}

/**
 * The document's id, as the client preset put it on the generated document (`__meta__.hash`,
 * `sha256:<hex>`), sent as bare hex: what Apollo's persisted queries (and every APQ server)
 * expect in `extensions.persistedQuery.sha256Hash`; the gateway reads either form.
 */
function documentId(document: DocumentNode): string {
  const hash = (document as DocumentNode & { __meta__?: { hash?: unknown } }).__meta__?.hash;
  if (typeof hash !== 'string') throw new Error('A document without an id: run `npm run codegen:chat`');
  return hash.replace(/^sha256:/, '');
}

/** A gateway without trusted documents refuses a request that has only an id this way. */
function idsUnknown(error: unknown): boolean {
  return error instanceof Error && /Must provide query string/.test(error.message);
}

/**
 * Ids first; the text only when the gateway does not know the id (PERSISTED_QUERY_NOT_FOUND,
 * e.g. an app built after the gateway's manifest) or ids at all (then never again). With
 * TRUSTED_DOCUMENTS_ONLY the gateway refuses the text too, and that error is shown.
 */
function sendIds(): ApolloLink {
  return new PersistedQueryLink({
    generateHash: documentId,
    disable: ({ meta, error }) => meta.persistedQueryNotSupported || idsUnknown(error),
    retry: ({ meta, error }) => meta.persistedQueryNotSupported || meta.persistedQueryNotFound || idsUnknown(error),
  });
}

export function connect({ transport, gatewayKey, documentIds = false, endpoint = defaultEndpoint() }: ConnectionOptions): Connection {
  // How the gateway reads a key: `Authorization: Bearer gk_…` over HTTP, the same value
  // as `connectionParams.authorization` over graphql-ws.
  const authorization = gatewayKey === '' ? undefined : `Bearer ${gatewayKey}`;
  const http = new HttpLink({ uri: endpoint.href, headers: authorization === undefined ? {} : { authorization } });
  let socket: Client | undefined;
  let link: ApolloLink = http;
  if (transport === 'ws') {
    const url = new URL(endpoint);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = createClient({
      url: url.href,
      connectionParams: authorization === undefined ? {} : { authorization },
      // Connects on the first subscription; stays open a while for the next message.
      lazy: true,
      lazyCloseTimeout: 30_000,
      // A dropped socket fails the answer in progress (shown as an error); the next
      // message reconnects. Retrying would silently restart a paid completion.
      retryAttempts: 0,
    });
    link = ApolloLink.split(({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION, new GraphQLWsLink(socket), http);
  }
  if (documentIds) link = sendIds().concat(link);
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    dispose() {
      client.stop();
      void socket?.dispose();
    },
  };
}
