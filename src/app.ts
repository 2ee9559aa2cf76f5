/**
 * The app factory: one HTTP server on which Yoga answers GraphQL over HTTP and SSE and
 * graphql-ws answers WebSocket upgrades, on the same path. Tests and `main` both use it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type CORSOptions, type Plugin, type YogaInitialContext, type YogaServerInstance } from 'graphql-yoga';
import type { DestinationStream, Logger } from 'pino';
import { authenticate, logAuthMode } from './accounts/auth.js';
import type { Context, Services } from './graphql/builder.js';
import type { Target } from './completion/completions.js';
import type { Config } from './config/index.js';
import { openDatabase } from './accounts/db/index.js';
import { createFrontDoor } from './server/http.js';
import { KeyStore, type ApiKey } from './accounts/keys.js';
import { Ledger } from './accounts/ledger.js';
import { Lifecycle } from './server/lifecycle.js';
import { ConcurrencyLimiter } from './completion/limiter.js';
import { StartPacer } from './completion/pacer.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { Pricing } from './accounts/pricing.js';
import { Quotas } from './accounts/quotas.js';
import { useCompiledSubscriptions } from './graphql/plugins/use-compiled-subscriptions.js';
import { useOperationLimits } from './graphql/plugins/use-operation-limits.js';
import { useOperationMetrics } from './graphql/plugins/use-operation-metrics.js';
import { requestIdOf, useRequestId } from './graphql/plugins/use-request-id.js';
import { OpenAIProvider } from './upstream/openai/provider.js';
import type { Provider } from './upstream/provider.js';
import { SimulatorProvider } from './upstream/simulator.js';
import { schema } from './graphql/schema/index.js';
import { preloadTokenizer } from './completion/tokens.js';
import { startTracing } from './observability/tracing.js';
import { createWebSocketGateway } from './server/websocket.js';

export interface AppOptions {
  /** Where JSON log lines go; default stdout. Tests pass a stream to read them. */
  logDestination?: DestinationStream;
}

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  server: Server;
  logger: Logger;
  provider: Provider;
  metrics: Metrics;
  lifecycle: Lifecycle;
  keys: KeyStore;
  ledger: Ledger;
  /** Listens on config.port/host; resolves with the base URL (e.g. http://127.0.0.1:4000). */
  start(): Promise<string>;
  /**
   * Graceful stop: refuses new work (and /health says 503), lets running operations finish
   * for up to SHUTDOWN_GRACE_MS, cuts the rest with SHUTTING_DOWN, closes WebSockets with
   * 1001, then closes the server.
   */
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

function openAIProvider(config: Config, upstream: { apiKey: string | undefined; baseURL: string | undefined }): OpenAIProvider {
  return new OpenAIProvider({
    apiKey: upstream.apiKey,
    baseURL: upstream.baseURL,
    timeoutMs: config.upstreamTimeoutMs,
    maxRetries: config.upstreamMaxRetries,
    maxEventBytes: config.upstreamMaxEventBytes,
    maxBodyBytes: config.upstreamMaxBodyBytes,
  });
}

/** The main upstream with the requested model, then FALLBACK_MODELS on it, then the second upstream. */
function targetPlan(config: Config): { provider: Provider; providers: Provider[]; targets: (model: string) => Target[] } {
  if (config.upstream.kind === 'simulator') {
    const provider = new SimulatorProvider({ tokenDelayMs: config.simulatorTokenDelayMs });
    return { provider, providers: [provider], targets: (model) => [{ provider, model, upstream: 'simulator' }] };
  }
  const provider = openAIProvider(config, config.upstream);
  const { models, upstream } = config.fallback;
  const second = upstream ? openAIProvider(config, upstream) : undefined;
  return {
    provider,
    providers: second ? [provider, second] : [provider],
    targets: (model) => {
      const targets: Target[] = [{ provider, model, upstream: 'primary' }];
      for (const fallback of models) if (fallback !== model) targets.push({ provider, model: fallback, upstream: 'primary' });
      if (second && upstream) targets.push({ provider: second, model: upstream.model ?? model, upstream: 'fallback' });
      return targets;
    },
  };
}

/**
 * CORS from ALLOWED_ORIGINS: none (same origin only) by default; `*` for any origin but
 * never with credentials; otherwise only a listed origin, named back exactly (never the
 * opaque `null` that sandboxed iframes and file: pages send).
 */
function corsFor(allowed: readonly string[]): false | ((request: Request) => CORSOptions) {
  if (allowed.length === 0) return false;
  if (allowed.includes('*')) return () => ({ origin: '*', credentials: false });
  return (request) => {
    const origin = request.headers.get('origin');
    return origin !== null && allowed.includes(origin) ? { origin: [origin], credentials: true } : false;
  };
}

/** Operation details the WebSocket layer puts in the initial context (HTTP derives them). */
interface OperationInfo {
  requestId?: string;
  operationName?: string | null;
  apiKey?: ApiKey | null;
}

/**
 * Builds the app: opens (and migrates) the database, wires the services, and returns an
 * app that is not listening yet.
 */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const database = await openDatabase(config.databaseUrl);
  const keys = new KeyStore(database, config.keyCacheTtlMs);
  const metrics = new Metrics();
  const ledger = new Ledger(database, logger, { flushIntervalMs: config.ledgerFlushMs, maxPendingRows: config.ledgerMaxPendingRows, metrics });
  // Before serving: operations a crashed predecessor left running become `interrupted` rows.
  await ledger.recover();
  const quotas = new Quotas((keyId, since) => ledger.spentSince(keyId, since));
  const pricing = new Pricing(config.modelPrices);
  const { provider, providers, targets } = targetPlan(config);
  const secrets = [
    config.upstream.kind === 'openai' ? config.upstream.apiKey : undefined,
    config.fallback.upstream?.apiKey,
  ].filter((s): s is string => Boolean(s));
  const tracing = config.otlpTracesEndpoint ? startTracing(config.otlpTracesEndpoint) : undefined;
  const lifecycle = new Lifecycle();
  const limiter = new ConcurrencyLimiter(
    config.upstreamMaxConcurrency,
    config.upstreamQueueLimit,
    config.upstreamQueueTimeoutMs,
  );
  const services: Services = {
    config,
    provider,
    targets,
    limiter,
    pacer: new StartPacer(config.upstreamStartsPerTurn),
    lifecycle,
    metrics,
    logger,
    secrets,
    keys,
    quotas,
    ledger,
    pricing,
  };
  const { limits } = config;
  // The GraphiQL page inlines its ~9 MB bundle from the installed package (no CDN, works
  // offline). It is loaded on the first page view, not at start (it costs ~45 MB), and
  // rendered once.
  let graphiqlPage: Promise<string> | undefined;

  const plugins: Plugin[] = [
    useRequestId(),
    useCompiledSubscriptions(config.compiledSubscriptions),
    useOperationMetrics(metrics),
    ...useOperationLimits(limits),
    // Browsers send GET and "simple" POSTs without a CORS preflight: those must carry a
    // custom header (GraphiQL adds it below), JSON requests are preflighted anyway.
    useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'] }),
  ];
  // A validation rule rather than Yoga's plugin, which only applies to HTTP requests.
  if (!limits.introspection) plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // http.ts caps the body before Yoga sees it; Yoga's own cap would re-stream every body.
    maxRequestBodySize: false,
    batching: limits.batchLimit > 0 ? { limit: limits.batchLimit } : false,
    cors: corsFor(limits.allowedOrigins),
    graphiql: limits.graphiql
      ? {
          title: 'LLM GraphQL Gateway',
          defaultQuery: EXAMPLE_OPERATION,
          additionalHeaders: { 'x-graphql-yoga-csrf': 'graphiql' },
        }
      : false,
    renderGraphiQL: (graphiqlOptions) =>
      (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL }) =>
        renderGraphiQL(graphiqlOptions),
      )),
    plugins,
    logging: {
      debug: (...args: unknown[]) => logger.debug({ args }, 'yoga'),
      info: (...args: unknown[]) => logger.info({ args }, 'yoga'),
      warn: (...args: unknown[]) => logger.warn({ args }, 'yoga'),
      error: (...args: unknown[]) => logger.error({ err: args[0] }, 'yoga'),
    },
    context: async (initial: YogaInitialContext & OperationInfo): Promise<Context> => ({
      services,
      signal: initial.request?.signal,
      requestId: initial.requestId ?? requestIdOf(initial.request),
      operationName: initial.operationName ?? initial.params.operationName ?? null,
      // Over graphql-ws the socket layer has authenticated already and passes the key.
      apiKey: initial.apiKey !== undefined ? initial.apiKey : await authenticate(services, initial.request.headers.get('authorization')),
    }),
  });

  const server = createServer(
    createFrontDoor({ yoga, lifecycle, metrics: config.metrics ? metrics : undefined, metricsToken: config.metricsToken, ledgerHealth: () => ledger.health(), maxBodyBytes: limits.maxBodyBytes }),
  );
  const websockets = createWebSocketGateway({
    yoga,
    authenticate: (authorization) => authenticate(services, authorization),
    limits: config.websocket,
    allowedOrigins: limits.allowedOrigins,
    trustProxy: limits.trustProxy,
    lifecycle,
    metrics,
    logger,
  });
  server.on('upgrade', (request, socket, head) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname !== yoga.graphqlEndpoint) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    websockets.handleUpgrade(request, socket, head);
  });

  let stopping: Promise<void> | undefined;
  return {
    yoga,
    server,
    logger,
    provider,
    metrics,
    lifecycle,
    keys,
    ledger,
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
      logAuthMode(logger, config.requireAuth, config.requireAuth ? 0 : await keys.keyCount());
      const { port } = server.address() as AddressInfo;
      const host = config.host && config.host !== '0.0.0.0' && config.host !== '::' ? config.host : 'localhost';
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      logger.info(
        {
          url: `${url}/graphql`,
          upstream: provider.description,
          fallbacks: targets(config.defaultModel).slice(1).map((t) => `${t.upstream}:${t.model}`),
          defaultModel: config.defaultModel,
        },
        config.upstream.kind === 'simulator'
          ? 'gateway listening; no OPENAI_API_KEY or OPENAI_BASE_URL set, so answers come from the built-in SIMULATOR'
          : 'gateway listening',
      );
      return url;
    },
    stop() {
      stopping ??= (async () => {
        // Still listening while draining, so health checks see 503 and new work gets a clear
        // SHUTTING_DOWN instead of a refused connection; WebSocket upgrades are refused.
        logger.info(
          { graceMs: config.shutdownGraceMs, operations: lifecycle.activeOperations, sockets: websockets.openSockets },
          'draining',
        );
        const cut = await lifecycle.drain(config.shutdownGraceMs);
        if (cut > 0) logger.warn({ cut }, 'grace period over: cut the remaining operations');
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // A last turn of the event loop so the final frames leave before the sockets close.
        await new Promise((resolve) => setTimeout(resolve, 20));
        await websockets.close();
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), 1000);
        await closed;
        clearTimeout(force);
        await yoga.dispose();
        await Promise.all(providers.map((p) => p.close?.() ?? Promise.resolve()));
        // Every operation has finished (or was cut) and recorded its row: write them all.
        await ledger.close();
        await database.close();
        await tracing?.shutdown();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}
