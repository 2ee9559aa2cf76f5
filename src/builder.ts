import SchemaBuilder from '@pothos/core';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Provider } from './providers/provider.js';

/** What every resolver gets. Built once per operation by the app. */
export interface Context {
  config: Config;
  provider: Provider;
  logger: Logger;
  /** Strings that must never reach a client or a log line (the upstream key). */
  secrets: readonly string[];
  /** Aborts when the HTTP client goes away (absent over WebSocket). */
  signal: AbortSignal | undefined;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
});
