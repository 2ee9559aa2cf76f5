/**
 * An Apollo Client for one gateway key and one transport. Queries always go over plain
 * HTTP; subscriptions go over graphql-ws (`ws`) or over the same HTTP link (`http`), where
 * Apollo Client 4 streams them as multipart responses (no WebSocket at all, as behind
 * proxies that do not pass one).
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
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
  /** The gateway's GraphQL endpoint; by default `/graphql` on the page's own origin. */
  endpoint?: URL;
}

/** `/graphql` beside the page: the gateway serves this app at /chat, and `vite dev` proxies it. */
export function defaultEndpoint(): URL {
  return new URL('/graphql', window.location.href);
}

export function connect({ transport, gatewayKey, endpoint = defaultEndpoint() }: ConnectionOptions): Connection {
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
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    dispose() {
      client.stop();
      void socket?.dispose();
    },
  };
}
