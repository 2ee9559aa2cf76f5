/**
 * The app factory: one HTTP server on which Yoga answers GraphQL over HTTP and SSE and
 * graphql-ws answers WebSocket upgrades, on the same path. Tests and `main` both use it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type {
  DocumentNode,
  ExecutionArgs,
  GraphQLError,
  GraphQLSchema,
  parse as graphqlParse,
  validate as graphqlValidate,
} from 'graphql';
import type { DestinationStream, Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { Context } from './builder.js';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { OpenAIProvider } from './providers/openai.js';
import type { Provider } from './providers/provider.js';
import { SimulatorProvider } from './providers/simulator.js';
import { schema } from './schema/index.js';
import { preloadTokenizer } from './tokens.js';

export interface AppOptions {
  /** Where JSON log lines go; default stdout. Tests pass a stream to read them. */
  logDestination?: DestinationStream;
}

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  server: Server;
  logger: Logger;
  provider: Provider;
  /** Listens on config.port/host; resolves with the base URL (e.g. http://127.0.0.1:4000). */
  start(): Promise<string>;
  /** Closes sockets (WebSocket code 1001), aborts streams, stops listening. */
  stop(): Promise<void>;
}

const EXAMPLE_OPERATION = `# The subscription streams a completion as the model writes it.
# With no OPENAI_API_KEY the gateway answers from its built-in simulator.
subscription Stream {
  completionStream(input: { messages: [{ role: USER, content: "Write a haiku about GraphQL" }], maxTokens: 60 }) {
    accumulatedText
    finishReason
    usage { promptTokens completionTokens totalTokens }
  }
}

mutation Complete {
  complete(input: { messages: [{ role: USER, content: "How are you?" }], temperature: 0 }) {
    model
    text
    usage { totalTokens }
  }
}
`;

function createProvider(config: Config, logger: Logger): Provider {
  if (config.upstream.kind === 'simulator') {
    return new SimulatorProvider({ tokenDelayMs: config.simulatorTokenDelayMs });
  }
  const sdkLogger = logger.child({ component: 'openai-sdk' });
  return new OpenAIProvider({
    apiKey: config.upstream.apiKey,
    baseURL: config.upstream.baseURL,
    timeoutMs: config.upstreamTimeoutMs,
    maxRetries: config.upstreamMaxRetries,
    logger: {
      error: (message: string) => sdkLogger.error(message),
      warn: (message: string) => sdkLogger.warn(message),
      info: (message: string) => sdkLogger.info(message),
      debug: (message: string) => sdkLogger.debug(message),
    },
  });
}

export function buildApp(config: Config, options: AppOptions = {}): App {
  const logger = createLogger(config.logLevel, options.logDestination);
  const provider = createProvider(config, logger);
  const secrets = config.upstream.kind === 'openai' && config.upstream.apiKey ? [config.upstream.apiKey] : [];
  // The GraphiQL page inlines its ~9 MB bundle from the installed package (no CDN, works
  // offline). It is loaded on the first page view, not at start (it costs ~45 MB), and
  // rendered once.
  let graphiqlPage: Promise<string> | undefined;

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    graphiql: { title: 'LLM GraphQL Gateway', defaultQuery: EXAMPLE_OPERATION },
    renderGraphiQL: (graphiqlOptions) =>
      (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL }) =>
        renderGraphiQL(graphiqlOptions),
      )),
    logging: {
      debug: (...args: unknown[]) => logger.debug({ args }, 'yoga'),
      info: (...args: unknown[]) => logger.info({ args }, 'yoga'),
      warn: (...args: unknown[]) => logger.warn({ args }, 'yoga'),
      error: (...args: unknown[]) => logger.error({ err: args[0] }, 'yoga'),
    },
    context: ({ request }): Context => ({
      config,
      provider,
      logger,
      secrets,
      signal: request?.signal,
    }),
  });

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Yoga is a Node request listener that returns a promise it handles itself
  const server = createServer(yoga);
  // `noServer`: upgrades are routed here explicitly, so the HTTP server's own errors (a
  // port in use) stay the HTTP server's, instead of being relayed to every socket.
  const wsServer = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname !== yoga.graphqlEndpoint) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
  });
  // The graphql-ws recipe from Yoga's docs: each subscribe runs through Yoga's envelop
  // (same plugins, same error masking) as an HTTP request would.
  const wsHandle = useServer(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
        // Envelop types these loosely (it does not depend on graphql); pin graphql's types.
        const { execute, subscribe, contextFactory } = enveloped;
        const parse: typeof graphqlParse = enveloped.parse;
        const validate: typeof graphqlValidate = enveloped.validate;
        const envelopedSchema = enveloped.schema as GraphQLSchema;
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(envelopedSchema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema: envelopedSchema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        return args;
      },
    },
    wsServer,
  );

  return {
    yoga,
    server,
    logger,
    provider,
    async start() {
      const warm = preloadTokenizer(config.defaultModel);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await warm;
      const { port } = server.address() as AddressInfo;
      const host = config.host && config.host !== '0.0.0.0' && config.host !== '::' ? config.host : 'localhost';
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      logger.info(
        { url: `${url}/graphql`, upstream: provider.description, defaultModel: config.defaultModel },
        config.upstream.kind === 'simulator'
          ? 'gateway listening; no OPENAI_API_KEY or OPENAI_BASE_URL set, so answers come from the built-in SIMULATOR'
          : 'gateway listening',
      );
      return url;
    },
    async stop() {
      await wsHandle.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await yoga.dispose();
    },
  };
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}
