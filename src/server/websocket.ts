/**
 * graphql-ws on the HTTP server's `/graphql`, with the limits a public socket needs:
 * browsers send no CSRF preflight for WebSockets, so the Origin is checked at upgrade;
 * a client address may hold only so many sockets and a socket only so many operations;
 * messages are capped in size; a socket that never says connection_init is closed.
 * Every operation runs through Yoga's Envelop, as over HTTP (same plugins and masking).
 * Yoga's parameter hooks are HTTP's, so the trusted documents rule is applied here, before
 * the parse. graphql-ws's server requires `query` to be a string (`''` with an id) and passes
 * the rest of the payload on untouched: `documentId` at its top level, `extensions.documentId`
 * and APQ's `extensions.persistedQuery` all work.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  DocumentNode,
  ExecutionArgs,
  GraphQLError,
  GraphQLSchema,
  parse as graphqlParse,
  validate as graphqlValidate,
} from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { createGraphQLError, type YogaServerInstance } from 'graphql-yoga';
import type { Context } from '../graphql/builder.js';
import type { Limits, WebSocketLimits } from '../config/index.js';
import { gatewayError, ErrorCode } from '../graphql/errors.js';
import { shuttingDownError, type Lifecycle } from './lifecycle.js';
import type { Metrics } from '../observability/metrics.js';
import type { ApiKey } from '../accounts/keys.js';
import { newRequestId } from '../graphql/plugins/use-request-id.js';
import type { TrustedDocuments } from '../graphql/trusted-documents.js';
import type { Logger } from 'pino';

export interface WebSocketOptions {
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  /** Resolves the key in `connectionParams.authorization`; throws when it is refused. */
  authenticate: (authorization: unknown) => Promise<ApiKey | null>;
  limits: WebSocketLimits;
  allowedOrigins: Limits['allowedOrigins'];
  trustProxy: boolean;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  /** The TRUSTED_DOCUMENTS_FILE manifest, if any; absent, operations are sent as text. */
  trustedDocuments?: TrustedDocuments;
}

export interface WebSocketGateway {
  /** Hand an HTTP upgrade to it (after the path has been checked). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every socket with 1001 (Going Away) and stops accepting. */
  close(): Promise<void>;
  readonly openSockets: number;
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

/** The address limits apply to: the peer, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  const forwarded = request.headers['x-forwarded-for'];
  if (trustProxy && typeof forwarded === 'string' && forwarded.trim() !== '') {
    return forwarded.split(',')[0]?.trim() ?? 'unknown';
  }
  return request.socket.remoteAddress ?? 'unknown';
}

/** Browsers always send Origin on WebSocket upgrades; other clients usually don't, and aren't a CSRF risk. */
export function originAllowed(request: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/**
 * Many operations share a socket, and each chunk of each is one message: corking the TCP
 * socket until the event loop's check phase sends, in one write (one syscall), every
 * message produced while this turn's I/O was handled, instead of one write each. Upstreams
 * that pace many streams alike deliver their chunks in the same turn (one `epoll` wake-up
 * reads them all), so at 10,000 chunks/s this turns thousands of writes into a few per
 * socket. A lone message waits only for the rest of the turn, microseconds.
 */
function coalesceWrites(socket: WebSocket): void {
  const tcp = (socket as unknown as { _socket?: Duplex })._socket;
  if (!tcp) return;
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    tcp.uncork();
  };
  socket.send = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      tcp.cork();
      setImmediate(uncork);
    }
    send(...args);
  }) as WebSocket['send'];
}

/** Operations on one socket share its upgrade's `x-request-id`, told apart by operation id. */
function operationRequestId(request: IncomingMessage, operationId: string): string {
  const offered = request.headers['x-request-id'];
  return typeof offered === 'string' && offered !== '' ? newRequestId(`${offered}:${operationId}`) : newRequestId();
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function createWebSocketGateway(options: WebSocketOptions): WebSocketGateway {
  const { yoga, limits, lifecycle, metrics, logger } = options;
  // `noServer`: upgrades are routed here explicitly, so the HTTP server's own errors (a
  // port in use) stay the HTTP server's, instead of being relayed to every socket.
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes });
  const perClient = new Map<string, number>();

  const handle = useServer<Record<string, unknown>, { request: IncomingMessage; socket: WebSocket }>(
    {
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      // A refused key closes the socket with 4403 (graphql-ws's Forbidden).
      onConnect: async (ctx) => {
        try {
          await options.authenticate(ctx.connectionParams?.['authorization']);
          return true;
        } catch {
          return false;
        }
      },
      execute: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (ctx, id, params) => {
        if (lifecycle.draining) return [shuttingDownError()];
        const running = Object.keys(ctx.subscriptions).length;
        if (running > limits.maxSubscriptionsPerSocket) {
          return [
            gatewayError(
              ErrorCode.TOO_MANY_OPERATIONS,
              `At most ${limits.maxSubscriptionsPerSocket} operations may run at once on one socket`,
              { limit: limits.maxSubscriptionsPerSocket },
            ),
          ];
        }
        // Again per operation: a key revoked while the socket is open stops new operations.
        let apiKey: ApiKey | null;
        try {
          apiKey = await options.authenticate(ctx.connectionParams?.['authorization']);
        } catch (error) {
          // `http.status` is for HTTP responses; Yoga strips it there, so do it here.
          const { message, extensions } = error as GraphQLError;
          const rest = { ...extensions };
          delete rest['http'];
          return [createGraphQLError(message, { extensions: rest })];
        }
        const resolved = options.trustedDocuments?.resolve(params) ?? { query: params.query };
        if ('error' in resolved) return [resolved.error];
        const enveloped = yoga.getEnveloped({
          apiKey,
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: { ...params, query: resolved.query },
          requestId: operationRequestId(ctx.extra.request, id),
          operationName: params.operationName ?? null,
          operationId: id,
        });
        // Envelop types these loosely (it does not depend on graphql); pin graphql's types.
        const { execute, subscribe, contextFactory } = enveloped;
        const parse: typeof graphqlParse = enveloped.parse;
        const validate: typeof graphqlValidate = enveloped.validate;
        const schema = enveloped.schema as GraphQLSchema;
        let document: DocumentNode;
        try {
          document = parse(resolved.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        // Some rules (graphql-armor's) throw rather than report: that must refuse this
        // operation, not reach graphql-ws as an internal error that closes the whole socket.
        let errors: readonly GraphQLError[];
        try {
          errors = validate(schema, document);
        } catch (error) {
          return [error as GraphQLError];
        }
        if (errors.length > 0) return errors;
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
      },
    },
    wsServer,
  );

  wsServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    coalesceWrites(socket);
    const address = clientAddress(request, options.trustProxy);
    perClient.set(address, (perClient.get(address) ?? 0) + 1);
    metrics.activeSockets.inc();
    socket.once('close', (code) => {
      metrics.activeSockets.dec();
      const left = (perClient.get(address) ?? 1) - 1;
      if (left <= 0) perClient.delete(address);
      else perClient.set(address, left);
      if (code === 1009) logger.warn({ address }, 'websocket closed: message over WS_MAX_PAYLOAD_BYTES');
    });
  });

  return {
    handleUpgrade(request, socket, head) {
      if (lifecycle.draining) return refuse(socket, 503, 'Service Unavailable');
      if (!originAllowed(request, options.allowedOrigins)) {
        logger.warn({ origin: request.headers.origin }, 'websocket refused: origin not allowed');
        return refuse(socket, 403, 'Forbidden');
      }
      const address = clientAddress(request, options.trustProxy);
      const open = perClient.get(address) ?? 0;
      if (open >= limits.maxSocketsPerClient) {
        logger.warn({ address, open }, 'websocket refused: too many sockets from one client');
        return refuse(socket, 429, 'Too Many Requests');
      }
      wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
    },
    async close() {
      await handle.dispose();
    },
    get openSockets() {
      return wsServer.clients.size;
    },
  };
}
