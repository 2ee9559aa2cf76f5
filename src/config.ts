/**
 * Configuration comes from environment variables only, and is validated once at start:
 * every bad variable is reported (not just the first), so a deploy fails with the whole
 * list of what to fix.
 */
import { parsePrices, type Price } from './pricing.js';
import { SIMULATOR_MODEL } from './tokens.js';

export type Upstream =
  | {
      kind: 'openai';
      /** Absent for servers that need no key (Ollama, vLLM, llama.cpp). */
      apiKey: string | undefined;
      /** Absent means OpenAI's own API. */
      baseURL: string | undefined;
    }
  | { kind: 'simulator' };

/** The embedded default: a SQLite file, created on first start. */
export const DEFAULT_DATABASE_URL = 'file:./data/gateway.db';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** `PORT`, default 4000. 0 picks a free port (tests). */
  port: number;
  /** `HOST`, default all interfaces. */
  host: string | undefined;
  upstream: Upstream;
  /** `DEFAULT_MODEL`: used when a request names none. */
  defaultModel: string;
  /** `UPSTREAM_TIMEOUT_MS`: longest wait for the answer (mutation) or first chunk (stream). */
  upstreamTimeoutMs: number;
  /** `UPSTREAM_IDLE_TIMEOUT_MS`: longest silence between two chunks of a stream. */
  upstreamIdleTimeoutMs: number;
  /** `CLIENT_STALL_TIMEOUT_MS`: longest a stream waits for a client that has stopped reading before it is cut (CLIENT_TOO_SLOW). */
  clientStallTimeoutMs: number;
  /** `UPSTREAM_MAX_RETRIES`: retries of 408/409/429/5xx and connection errors, before a response starts. */
  upstreamMaxRetries: number;
  /** `UPSTREAM_MAX_EVENT_BYTES` (advanced): the largest single SSE event from an upstream. */
  upstreamMaxEventBytes: number;
  /** `UPSTREAM_MAX_BODY_BYTES` (advanced): the largest non-streamed upstream body, and the most text one stream may produce. */
  upstreamMaxBodyBytes: number;
  /** `SIMULATOR_TOKEN_DELAY_MS`: the simulator's pause between streamed tokens. */
  simulatorTokenDelayMs: number;
  /** `LOG_LEVEL`. */
  logLevel: LogLevel;
  /** `LOG_PROMPTS`: log prompt and completion text (off: logs carry counts, never text). */
  logPrompts: boolean;
  limits: Limits;
  websocket: WebSocketLimits;
  /** Models and a second upstream to try, in order, when the first choice fails before streaming. */
  fallback: Fallback;
  /** `UPSTREAM_MAX_CONCURRENCY`: upstream requests in flight at once (streams hold one for their life). */
  upstreamMaxConcurrency: number;
  /** `UPSTREAM_QUEUE_LIMIT`: requests allowed to wait for a slot; beyond it, RATE_LIMITED at once. */
  upstreamQueueLimit: number;
  /** `UPSTREAM_QUEUE_TIMEOUT_MS`: longest wait for a slot before RATE_LIMITED. */
  upstreamQueueTimeoutMs: number;
  /** `UPSTREAM_STARTS_PER_TURN`: upstream calls started per event-loop turn, so a burst cannot stall running streams; 0 = unpaced. */
  upstreamStartsPerTurn: number;
  /** `COMPILED_SUBSCRIPTIONS`: run each subscription event by a plan made once per subscription, not a full execution each. */
  compiledSubscriptions: boolean;
  /** `SHUTDOWN_GRACE_MS`: how long in-flight work may finish after SIGTERM before it is cut. */
  shutdownGraceMs: number;
  /** `METRICS`: serve Prometheus metrics at /metrics. */
  metrics: boolean;
  /** `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`): send traces there; unset = tracing off. */
  otlpTracesEndpoint: string | undefined;
  /** `DATABASE_URL`: `file:./data/gateway.db` (SQLite, default) or `postgres://…`. */
  databaseUrl: string;
  /** `GATEWAY_REQUIRE_AUTH`: require a key even while none exists (otherwise: as soon as one does); default on when NODE_ENV=production. */
  requireAuth: boolean;
  /** `LEDGER_MAX_PENDING_ROWS`: ledger rows kept in memory while they cannot be written; later ones are dropped. */
  ledgerMaxPendingRows: number;
  /** `METRICS_TOKEN`: when set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** `LEDGER_FLUSH_MS`: how often buffered ledger rows are written (what a crash can lose). */
  ledgerFlushMs: number;
  /** `KEY_CACHE_TTL_MS`: how long a key lookup is trusted (revocation by the CLI takes effect within it). */
  keyCacheTtlMs: number;
  /** `MODEL_PRICES`: JSON `{"model": {"input": USD, "output": USD}}` per 1M tokens, over the built-in list. */
  modelPrices: Record<string, Price>;
  /** `RESERVE_COMPLETION_TOKENS`: completion tokens reserved against a key's limits when maxTokens is unset. */
  reserveCompletionTokens: number;
  /** `UNPRICED_MODELS`: `refuse` (default) keys with a budget the models the gateway cannot price; `allow` serves them unbilled. */
  unpricedModels: 'refuse' | 'allow';
  /** `MAX_IDENTIFIER_CHARS` (advanced): longest `model`, `user`, stop sequence or key name a client may send. */
  maxIdentifierChars: number;
}

export interface Limits {
  /** `GRAPHQL_MAX_DEPTH`: deepest field nesting. */
  maxDepth: number;
  /** `GRAPHQL_MAX_ALIASES`: aliases per operation. */
  maxAliases: number;
  /** `GRAPHQL_MAX_COST`: graphql-armor's cost estimate per operation. */
  maxCost: number;
  /** `GRAPHQL_MAX_TOKENS`: lexical tokens in the GraphQL document (not model tokens). */
  maxTokens: number;
  /** `GRAPHQL_MAX_DIRECTIVES`: directives per operation. */
  maxDirectives: number;
  /** `GRAPHQL_HIDE_SUGGESTIONS`: drop "Did you mean …?" hints (default on when NODE_ENV=production). */
  hideSuggestions: boolean;
  /** `GRAPHQL_INTROSPECTION`: answer introspection (codegen and GraphiQL need it). */
  introspection: boolean;
  /** `GRAPHIQL`: serve GraphiQL at /graphql to browsers. */
  graphiql: boolean;
  /** `MAX_BODY_BYTES`: largest HTTP request body; larger ones get 413. */
  maxBodyBytes: number;
  /** `GRAPHQL_BATCH_LIMIT`: operations per batched HTTP request; 0 turns batching off. */
  batchLimit: number;
  /** `ALLOWED_ORIGINS`: browser origins allowed (CORS and WebSocket upgrades); empty = same origin only; `*` = any. */
  allowedOrigins: string[];
  /** `TRUST_PROXY`: take the client address from X-Forwarded-For (only behind a proxy you run). */
  trustProxy: boolean;
}

export interface WebSocketLimits {
  /** `WS_MAX_PAYLOAD_BYTES`: largest WebSocket message; a larger one closes that socket (1009). */
  maxPayloadBytes: number;
  /** `WS_CONNECTION_INIT_TIMEOUT_MS`: time a new socket has to send connection_init. */
  connectionInitTimeoutMs: number;
  /** `WS_MAX_SUBSCRIPTIONS_PER_SOCKET`: concurrent operations on one socket. */
  maxSubscriptionsPerSocket: number;
  /** `WS_MAX_SOCKETS_PER_CLIENT`: open sockets from one client address. */
  maxSocketsPerClient: number;
}

export interface Fallback {
  /** `FALLBACK_MODELS`: models tried on the main upstream after the requested one. */
  models: string[];
  /** `FALLBACK_OPENAI_BASE_URL` / `FALLBACK_OPENAI_API_KEY` / `FALLBACK_MODEL`: tried last. */
  upstream: { baseURL: string; apiKey: string | undefined; model: string | undefined } | undefined;
}

export const DEFAULTS = {
  port: 4000,
  openaiModel: 'gpt-4o-mini',
  upstreamTimeoutMs: 60_000,
  upstreamIdleTimeoutMs: 30_000,
  clientStallTimeoutMs: 60_000,
  upstreamMaxRetries: 2,
  upstreamMaxEventBytes: 4_194_304,
  upstreamMaxBodyBytes: 33_554_432,
  simulatorTokenDelayMs: 40,
  logLevel: 'info',
  // graphql-armor's own defaults.
  maxDepth: 6,
  maxAliases: 15,
  maxCost: 5000,
  maxTokens: 1000,
  maxDirectives: 50,
  maxBodyBytes: 1_048_576,
  wsMaxPayloadBytes: 1_048_576,
  wsConnectionInitTimeoutMs: 3_000,
  wsMaxSubscriptionsPerSocket: 100,
  wsMaxSocketsPerClient: 100,
  upstreamMaxConcurrency: 1_000,
  upstreamQueueLimit: 1_000,
  upstreamQueueTimeoutMs: 10_000,
  upstreamStartsPerTurn: 16,
  shutdownGraceMs: 10_000,
  ledgerFlushMs: 1_000,
  ledgerMaxPendingRows: 100_000,
  keyCacheTtlMs: 2_000,
  reserveCompletionTokens: 1_024,
  maxIdentifierChars: 256,
} as const;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and validates the environment; throws one ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };

  const boolean = (name: string, fallback: boolean): boolean => {
    const raw = text(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  };
  const httpUrl = (name: string): string | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push(`${name} must be an http(s) URL such as http://localhost:11434/v1, got "${raw}"`);
    }
    return raw;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = text(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    const value = allowed.find((a) => a === raw);
    if (value === undefined) problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return value ?? fallback;
  };
  const list = (name: string): string[] =>
    (text(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);

  const apiKey = text('OPENAI_API_KEY');
  const baseURL = httpUrl('OPENAI_BASE_URL');
  const upstream: Upstream =
    apiKey === undefined && baseURL === undefined ? { kind: 'simulator' } : { kind: 'openai', apiKey, baseURL };

  const fallbackBaseURL = httpUrl('FALLBACK_OPENAI_BASE_URL');
  const fallbackUpstream =
    fallbackBaseURL === undefined
      ? undefined
      : { baseURL: fallbackBaseURL, apiKey: text('FALLBACK_OPENAI_API_KEY'), model: text('FALLBACK_MODEL') };
  if (fallbackUpstream === undefined && text('FALLBACK_OPENAI_API_KEY') !== undefined) {
    problems.push('FALLBACK_OPENAI_API_KEY needs FALLBACK_OPENAI_BASE_URL (the second upstream)');
  }

  const prices = (raw: string | undefined): Record<string, Price> => {
    if (raw === undefined) return {};
    try {
      return parsePrices(raw);
    } catch (error) {
      problems.push(`MODEL_PRICES ${error instanceof Error ? error.message : String(error)}`);
      return {};
    }
  };

  const logLevel = (text('LOG_LEVEL') ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const config: Config = {
    port: integer('PORT', DEFAULTS.port, 0, 65_535),
    host: text('HOST'),
    upstream,
    defaultModel: text('DEFAULT_MODEL') ?? (upstream.kind === 'simulator' ? SIMULATOR_MODEL : DEFAULTS.openaiModel),
    upstreamTimeoutMs: integer('UPSTREAM_TIMEOUT_MS', DEFAULTS.upstreamTimeoutMs, 1, 3_600_000),
    upstreamIdleTimeoutMs: integer('UPSTREAM_IDLE_TIMEOUT_MS', DEFAULTS.upstreamIdleTimeoutMs, 1, 3_600_000),
    clientStallTimeoutMs: integer('CLIENT_STALL_TIMEOUT_MS', DEFAULTS.clientStallTimeoutMs, 1, 3_600_000),
    upstreamMaxRetries: integer('UPSTREAM_MAX_RETRIES', DEFAULTS.upstreamMaxRetries, 0, 10),
    upstreamMaxEventBytes: integer('UPSTREAM_MAX_EVENT_BYTES', DEFAULTS.upstreamMaxEventBytes, 1_024, 1_073_741_824),
    upstreamMaxBodyBytes: integer('UPSTREAM_MAX_BODY_BYTES', DEFAULTS.upstreamMaxBodyBytes, 1_024, 1_073_741_824),
    simulatorTokenDelayMs: integer('SIMULATOR_TOKEN_DELAY_MS', DEFAULTS.simulatorTokenDelayMs, 0, 60_000),
    logLevel,
    logPrompts: boolean('LOG_PROMPTS', false),
    limits: {
      maxDepth: integer('GRAPHQL_MAX_DEPTH', DEFAULTS.maxDepth, 1, 1_000),
      maxAliases: integer('GRAPHQL_MAX_ALIASES', DEFAULTS.maxAliases, 0, 1_000),
      maxCost: integer('GRAPHQL_MAX_COST', DEFAULTS.maxCost, 1, 10_000_000),
      maxTokens: integer('GRAPHQL_MAX_TOKENS', DEFAULTS.maxTokens, 1, 10_000_000),
      maxDirectives: integer('GRAPHQL_MAX_DIRECTIVES', DEFAULTS.maxDirectives, 0, 1_000),
      hideSuggestions: boolean('GRAPHQL_HIDE_SUGGESTIONS', env['NODE_ENV'] === 'production'),
      introspection: boolean('GRAPHQL_INTROSPECTION', true),
      graphiql: boolean('GRAPHIQL', true),
      maxBodyBytes: integer('MAX_BODY_BYTES', DEFAULTS.maxBodyBytes, 1_024, 1_073_741_824),
      batchLimit: integer('GRAPHQL_BATCH_LIMIT', 0, 0, 1_000),
      allowedOrigins: list('ALLOWED_ORIGINS'),
      trustProxy: boolean('TRUST_PROXY', false),
    },
    websocket: {
      maxPayloadBytes: integer('WS_MAX_PAYLOAD_BYTES', DEFAULTS.wsMaxPayloadBytes, 1_024, 1_073_741_824),
      connectionInitTimeoutMs: integer('WS_CONNECTION_INIT_TIMEOUT_MS', DEFAULTS.wsConnectionInitTimeoutMs, 1, 600_000),
      maxSubscriptionsPerSocket: integer('WS_MAX_SUBSCRIPTIONS_PER_SOCKET', DEFAULTS.wsMaxSubscriptionsPerSocket, 1, 100_000),
      maxSocketsPerClient: integer('WS_MAX_SOCKETS_PER_CLIENT', DEFAULTS.wsMaxSocketsPerClient, 1, 1_000_000),
    },
    fallback: { models: list('FALLBACK_MODELS'), upstream: fallbackUpstream },
    upstreamMaxConcurrency: integer('UPSTREAM_MAX_CONCURRENCY', DEFAULTS.upstreamMaxConcurrency, 1, 1_000_000),
    upstreamQueueLimit: integer('UPSTREAM_QUEUE_LIMIT', DEFAULTS.upstreamQueueLimit, 0, 1_000_000),
    upstreamQueueTimeoutMs: integer('UPSTREAM_QUEUE_TIMEOUT_MS', DEFAULTS.upstreamQueueTimeoutMs, 1, 3_600_000),
    upstreamStartsPerTurn: integer('UPSTREAM_STARTS_PER_TURN', DEFAULTS.upstreamStartsPerTurn, 0, 1_000_000),
    compiledSubscriptions: boolean('COMPILED_SUBSCRIPTIONS', true),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_MS', DEFAULTS.shutdownGraceMs, 0, 3_600_000),
    metrics: boolean('METRICS', true),
    otlpTracesEndpoint: httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? otlpBase(httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT')),
    databaseUrl: text('DATABASE_URL') ?? DEFAULT_DATABASE_URL,
    // A lost database means no keys: in production that must not mean an open gateway.
    requireAuth: boolean('GATEWAY_REQUIRE_AUTH', env['NODE_ENV'] === 'production'),
    ledgerFlushMs: integer('LEDGER_FLUSH_MS', DEFAULTS.ledgerFlushMs, 10, 600_000),
    ledgerMaxPendingRows: integer('LEDGER_MAX_PENDING_ROWS', DEFAULTS.ledgerMaxPendingRows, 1, 100_000_000),
    metricsToken: text('METRICS_TOKEN'),
    keyCacheTtlMs: integer('KEY_CACHE_TTL_MS', DEFAULTS.keyCacheTtlMs, 0, 600_000),
    modelPrices: prices(text('MODEL_PRICES')),
    reserveCompletionTokens: integer('RESERVE_COMPLETION_TOKENS', DEFAULTS.reserveCompletionTokens, 1, 10_000_000),
    unpricedModels: oneOf('UNPRICED_MODELS', ['refuse', 'allow'] as const, 'refuse'),
    maxIdentifierChars: integer('MAX_IDENTIFIER_CHARS', DEFAULTS.maxIdentifierChars, 16, 1_048_576),
  };
  if (!/^(file:|postgres(ql)?:\/\/)/.test(config.databaseUrl)) {
    problems.push(`DATABASE_URL must be file:<path> or postgres://…, got "${config.databaseUrl}"`);
  }
  // Never quoted back: a config error goes to the logs, the token must not.
  if (config.metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(config.metricsToken)) {
    problems.push('METRICS_TOKEN must be at least 16 printable ASCII characters without spaces (its value is not shown)');
  }
  if (config.fallback.models.length > 0 && upstream.kind === 'simulator') {
    problems.push('FALLBACK_MODELS needs a real upstream (OPENAI_API_KEY or OPENAI_BASE_URL)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The OTLP/HTTP convention: a base endpoint gets `/v1/traces` appended. */
function otlpBase(endpoint: string | undefined): string | undefined {
  return endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}
