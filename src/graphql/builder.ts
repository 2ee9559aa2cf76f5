import SchemaBuilder from '@pothos/core';
import type { Logger } from 'pino';
import type { Target } from '../completion/completions.js';
import type { Config } from '../config/index.js';
import type { ApiKey, KeyStore } from '../accounts/keys.js';
import type { Ledger } from '../accounts/ledger.js';
import type { Lifecycle } from '../server/lifecycle.js';
import type { ConcurrencyLimiter } from '../completion/limiter.js';
import type { StartPacer } from '../completion/pacer.js';
import type { Metrics } from '../observability/metrics.js';
import type { Pricing } from '../accounts/pricing.js';
import type { Provider } from '../upstream/provider.js';
import type { Quotas } from '../accounts/quotas.js';

/** What the app builds once and every operation shares. */
export interface Services {
  config: Config;
  /** The main upstream (what `models` lists). */
  provider: Provider;
  /** The requested model on the main upstream first, then the configured fallbacks. */
  targets: (requestedModel: string) => Target[];
  limiter: ConcurrencyLimiter;
  pacer: StartPacer;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  /** Strings that must never reach a client or a log line (the upstream keys). */
  secrets: readonly string[];
  keys: KeyStore;
  quotas: Quotas;
  ledger: Ledger;
  pricing: Pricing;
}

/** What every resolver gets. Built once per operation by the app. */
export interface Context {
  services: Services;
  /** Aborts when the HTTP client goes away (absent over WebSocket). */
  signal: AbortSignal | undefined;
  /** From the client's `x-request-id` when it sent a sane one, else generated. */
  requestId: string;
  operationName: string | null;
  /** The caller's gateway key, or null when the gateway runs open (no keys yet). */
  apiKey: ApiKey | null;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
});
