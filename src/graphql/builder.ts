import SchemaBuilder from '@pothos/core';
import type { ApiKey, KeyStore } from '../accounts/keys.js';
import type { Ledger } from '../accounts/ledger.js';
import type { Quotas } from '../accounts/quotas.js';
import type { Completions } from '../completion/service.js';

/** What the resolvers check input against before anything runs. */
export interface InputSettings {
  /** DEFAULT_MODEL: the model of a request that names none. */
  defaultModel: string;
  /** MAX_IDENTIFIER_CHARS: the longest model name, user, stop sequence or key name. */
  maxIdentifierChars: number;
}

/** What every resolver gets: the services it calls, and who is asking. Built once per operation by the app. */
export interface Context {
  completions: Completions;
  keys: KeyStore;
  quotas: Quotas;
  ledger: Ledger;
  input: InputSettings;
  /** Aborts when the HTTP client goes away (absent over WebSocket). */
  signal: AbortSignal | undefined;
  /** From the client's `x-request-id` when it sent a sane one, else generated. */
  requestId: string;
  operationName: string | null;
  /** The caller's gateway key, or null when the gateway runs open (no keys yet). */
  apiKey: ApiKey | null;
}

/** A JSON object, as `JSONObject` (graphql-scalars) hands it over. */
export type JsonObject = Record<string, unknown>;

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    JSONObject: { Input: JsonObject; Output: JsonObject };
  };
}>({
  defaultFieldNullability: false,
});
