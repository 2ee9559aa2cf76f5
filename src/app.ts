/**
 * The composition root: builds the app from the configuration (opens and migrates the
 * database, wires each service with exactly what it uses) and returns it, not listening yet.
 * Tests and `main` both use it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import { Authenticator, logAuthMode } from './accounts/auth.js';
import { openDatabase } from './accounts/db/index.js';
import { KeyStore } from './accounts/keys.js';
import { Ledger } from './accounts/ledger.js';
import { Pricing } from './accounts/pricing.js';
import { Admission } from './completion/admission.js';
import { responseCacheFrom } from './completion/cache-from-config.js';
import { ConcurrencyLimiter } from './completion/limiter.js';
import { StartPacer } from './completion/pacer.js';
import { Routing } from './completion/routing.js';
import { Completions } from './completion/service.js';
import { preloadTokenizer } from './completion/tokens.js';
import type { Config } from './config/index.js';
import { schema } from './graphql/schema/index.js';
import { loadTrustedDocuments } from './graphql/trusted-documents.js';
import { createGatewayYoga } from './graphql/yoga.js';
import { createLogger } from './observability/logger.js';
import { joinClusterMetrics } from './observability/cluster-metrics.js';
import { Metrics } from './observability/metrics.js';
import { startTracing } from './observability/tracing.js';
import { CHAT_UI_PATH, createChatUi } from './server/chat-ui.js';
import { contextFactory } from './server/context.js';
import { createFrontDoor } from './server/http.js';
import { Lifecycle } from './server/lifecycle.js';
import { createWebSocketGateway } from './server/websocket.js';
import { openSharedState } from './shared-state/index.js';
import { upstreamsFrom } from './upstream/from-config.js';

export interface AppOptions {
  /** Where JSON log lines go; default stdout. Tests pass a stream to read them. */
  logDestination?: DestinationStream;
  /**
   * The cluster worker's id (WORKERS>1), put on every log line; /metrics then answers with
   * every worker's metrics, through the primary.
   */
  worker?: number | undefined;
}

export interface App {
  server: Server;
  logger: Logger;
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

/** @throws ConfigError when TRUSTED_DOCUMENTS_FILE cannot be used, before anything is opened. */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  // First: a missing build refuses the start before anything is opened.
  const chatUi = config.chatUi ? createChatUi() : undefined;
  const { trustedDocumentsFile, trustedDocumentsOnly } = config.limits;
  // Read and checked against the schema once, here: HTTP and graphql-ws share this one copy.
  const trustedDocuments = trustedDocumentsFile === undefined ? undefined : loadTrustedDocuments(trustedDocumentsFile, trustedDocumentsOnly, schema);
  const base = createLogger(config.logLevel, options.logDestination);
  const logger = options.worker === undefined ? base : base.child({ worker: options.worker });
  if (trustedDocuments) logger.info({ file: trustedDocumentsFile, documents: trustedDocuments.size, only: trustedDocuments.only }, 'trusted documents loaded');
  const database = await openDatabase(config.databaseUrl);
  const metrics = new Metrics();
  if (options.worker !== undefined) joinClusterMetrics(metrics);
  const ledger = new Ledger(database, logger, { flushIntervalMs: config.ledgerFlushMs, maxPendingRows: config.ledgerMaxPendingRows, metrics });
  // Limits, budgets and the upstream cap: in this process, or shared by all over REDIS_URL.
  const shared = openSharedState(config, { logger, registry: metrics.registry, spentSince: (keyId, since) => ledger.spentSince(keyId, since) });
  const keys = new KeyStore(database, config.keyCacheTtlMs, (keyId) => shared.keyChanged(keyId));
  shared.onKeyChange(() => keys.invalidate());
  const { quotas } = shared;
  // Before serving: operations a crashed predecessor left running become `interrupted` rows.
  await Promise.all([ledger.recover(), shared.connected()]);
  const pricing = new Pricing(config.modelPrices);
  const upstreams = upstreamsFrom(config);
  const routing = new Routing(upstreams, config.fallback.models);
  const tracing = config.otlpTracesEndpoint ? startTracing(config.otlpTracesEndpoint) : undefined;
  const lifecycle = new Lifecycle();
  const limiter = new ConcurrencyLimiter(config.upstreamMaxConcurrency, config.upstreamQueueLimit, config.upstreamQueueTimeoutMs);
  const admission = new Admission(limiter, new StartPacer(config.upstreamStartsPerTurn), metrics, shared.slots);
  const completions = new Completions(
    routing,
    {
      admission,
      quotas,
      pricing,
      ledger,
      metrics,
      logger,
      secrets: upstreams.secrets,
      reserveCompletionTokens: config.reserveCompletionTokens,
      logPrompts: config.logPrompts,
    },
    lifecycle,
    config,
    responseCacheFrom(config, metrics, logger, shared.redis),
  );
  const auth = new Authenticator(keys, config.requireAuth);
  const input = { defaultModel: config.defaultModel, maxIdentifierChars: config.maxIdentifierChars };
  const context = contextFactory({ completions, keys, quotas, ledger, input }, auth);
  const yoga = createGatewayYoga(config, context, metrics, logger, trustedDocuments, shared.redis);
  const { limits } = config;

  const server = createServer(
    createFrontDoor({ yoga, lifecycle, metrics: config.metrics ? metrics : undefined, metricsToken: config.metricsToken, ledgerHealth: () => ledger.health(), maxBodyBytes: limits.maxBodyBytes, chatUi }),
  );
  const websockets = createWebSocketGateway({
    yoga,
    authenticate: (authorization) => auth.authenticate(authorization),
    limits: config.websocket,
    allowedOrigins: limits.allowedOrigins,
    trustProxy: limits.trustProxy,
    lifecycle,
    metrics,
    logger,
    trustedDocuments,
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
    server,
    logger,
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
      const { port } = server.address() as AddressInfo;
      const host = config.host && config.host !== '0.0.0.0' && config.host !== '::' ? config.host : 'localhost';
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      await warm;
      // A stop may begin while this starts (a cluster's SIGTERM reaching a worker that has
      // just listened): it closes the server and the database, and there is nothing left to
      // announce; that is a clean stop, not a failed start.
      const keyCount = config.requireAuth
        ? 0
        : await keys.keyCount().catch((error: unknown) => {
            if (lifecycle.draining) return 0;
            throw error;
          });
      if (lifecycle.draining) return url;
      logAuthMode(logger, config.requireAuth, keyCount);
      logger.info(
        {
          url: `${url}/graphql`,
          upstream: upstreams.main.description,
          fallbacks: routing.targets(config.defaultModel).slice(1).map((t) => `${t.upstream}:${t.model}`),
          defaultModel: config.defaultModel,
          ...(chatUi && { chat: `${url}${CHAT_UI_PATH}/` }),
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
        await Promise.all(upstreams.all.map((p) => p.close?.() ?? Promise.resolve()));
        // Every operation has finished (or was cut) and recorded its row: write them all.
        await ledger.close();
        await shared.close();
        await database.close();
        await tracing?.shutdown();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}
