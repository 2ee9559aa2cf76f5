/**
 * Configuration comes from environment variables only, and is validated once at start:
 * every bad variable is reported (not just the first), so a deploy fails with the whole
 * list of what to fix. Each variable's type, range, default and documentation are declared
 * once, in `table.ts`; this module adds the rules that join several variables.
 */
import { availableParallelism } from 'node:os';
import {
  TABLE,
  parseVariable,
  present,
  type DefaultContext,
  type SectionFields,
  type TableEntry,
  type TopLevelFields,
  type ValueOf,
  type Variable,
  type VariableName,
} from './table.js';

export { DEFAULT_DATABASE_URL } from './keys.js';
export { DEFAULT_REDIS_KEY_PREFIX } from './shared-state.js';

export type Upstream =
  | {
      kind: 'openai';
      /** Absent for servers that need no key (Ollama, vLLM, llama.cpp). */
      apiKey: string | undefined;
      /** Absent means OpenAI's own API. */
      baseURL: string | undefined;
    }
  | { kind: 'simulator' };

export type LogLevel = ValueOf<Extract<TableEntry, { env: 'LOG_LEVEL' }>>;

/**
 * Every field named by a table entry (`field`), typed by its entry; see the group files
 * (`general.ts`, `limits.ts`, …) for what each one means. The fields below are the ones
 * several variables make together.
 */
export interface Config extends TopLevelFields {
  /** From OPENAI_API_KEY and OPENAI_BASE_URL: neither set means the simulator. */
  upstream: Upstream;
  limits: Limits;
  websocket: WebSocketLimits;
  /** Models and a second upstream to try, in order, when the first choice fails before streaming. */
  fallback: Fallback;
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; unset = tracing off. */
  otlpTracesEndpoint: string | undefined;
  /** From WORKERS (`auto` = `os.availableParallelism()`): processes serving the port; 1 = no cluster. */
  workers: number;
}

export type Limits = SectionFields<'limits'>;
export type WebSocketLimits = SectionFields<'websocket'>;

export interface Fallback extends SectionFields<'fallback'> {
  /** `FALLBACK_OPENAI_BASE_URL` / `FALLBACK_OPENAI_API_KEY` / `FALLBACK_MODEL`: tried last. */
  upstream: { baseURL: string; apiKey: string | undefined; model: string | undefined } | undefined;
}

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
  const context: DefaultContext = {
    production: env['NODE_ENV'] === 'production',
    simulator: present(env['OPENAI_API_KEY']) === undefined && present(env['OPENAI_BASE_URL']) === undefined,
  };

  const values = new Map<string, unknown>();
  // Built untyped, field by field as the table places them; the test of the whole default
  // config (test/config.test.ts) is what holds this to the `Config` type.
  const placed: Record<string, unknown> = { limits: {}, websocket: {}, fallback: {} };
  for (const variable of TABLE as readonly Variable[]) {
    const value = parseVariable(variable, env[variable.env], context, problems);
    values.set(variable.env, value);
    if (variable.field === undefined) continue;
    const [section, name] = variable.field.split('.');
    if (name === undefined) placed[variable.field] = value;
    else (placed[section as string] as Record<string, unknown>)[name] = value;
  }
  const get = <N extends VariableName>(name: N): ValueOf<Extract<TableEntry, { env: N }>> =>
    values.get(name) as ValueOf<Extract<TableEntry, { env: N }>>;

  const upstream: Upstream = context.simulator
    ? { kind: 'simulator' }
    : { kind: 'openai', apiKey: get('OPENAI_API_KEY'), baseURL: get('OPENAI_BASE_URL') };

  const fallbackBaseURL = get('FALLBACK_OPENAI_BASE_URL');
  const fallbackUpstream =
    fallbackBaseURL === undefined
      ? undefined
      : { baseURL: fallbackBaseURL, apiKey: get('FALLBACK_OPENAI_API_KEY'), model: get('FALLBACK_MODEL') };
  if (fallbackUpstream === undefined && get('FALLBACK_OPENAI_API_KEY') !== undefined) {
    problems.push('FALLBACK_OPENAI_API_KEY needs FALLBACK_OPENAI_BASE_URL (the second upstream)');
  }
  if (get('FALLBACK_MODELS').length > 0 && upstream.kind === 'simulator') {
    problems.push('FALLBACK_MODELS needs a real upstream (OPENAI_API_KEY or OPENAI_BASE_URL)');
  }
  // The manifest itself is read and checked against the schema by buildApp (graphql/trusted-documents.ts).
  if (get('TRUSTED_DOCUMENTS_ONLY') && get('TRUSTED_DOCUMENTS_FILE') === undefined) {
    problems.push('TRUSTED_DOCUMENTS_ONLY needs TRUSTED_DOCUMENTS_FILE (the manifest of the documents allowed)');
  }
  const workers = workerCount(get('WORKERS'));
  if (workers > 1) problems.push(...clusterProblems(workers, get('REDIS_URL'), get('DATABASE_URL')));
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    ...(placed as Omit<Config, 'upstream' | 'fallback' | 'otlpTracesEndpoint' | 'workers'>),
    workers,
    upstream,
    fallback: { models: get('FALLBACK_MODELS'), upstream: fallbackUpstream },
    otlpTracesEndpoint: get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? otlpBase(get('OTEL_EXPORTER_OTLP_ENDPOINT')),
  };
}

/** WORKERS as a number: `auto` is one per core (a bad value was reported already: 1). */
function workerCount(value: string): number {
  if (value.toLowerCase() === 'auto') return availableParallelism();
  const count = Number(value);
  return Number.isInteger(count) && count >= 1 ? count : 1;
}

/**
 * What several workers need: limits shared through Redis (each worker keeps its own in
 * memory otherwise, so N workers would admit N times a key's limits), and one database
 * (an in-memory SQLite database would be one per worker: keys and ledger split).
 */
function clusterProblems(workers: number, redisUrl: string | undefined, databaseUrl: string): string[] {
  const problems: string[] = [];
  if (redisUrl === undefined) {
    problems.push(
      `WORKERS=${workers} needs REDIS_URL: without Redis each worker keeps its own per-key limits (requests and tokens per minute, streams at once, budgets, the upstream concurrency cap), so ${workers} workers would admit ${workers} times each limit`,
    );
  }
  if (databaseUrl === 'file::memory:') {
    problems.push(`WORKERS=${workers} needs a database the workers share: with DATABASE_URL=file::memory: each worker would have keys and a ledger of its own`);
  }
  return problems;
}

/** The OTLP/HTTP convention: a base endpoint gets `/v1/traces` appended. */
function otlpBase(endpoint: string | undefined): string | undefined {
  return endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}
