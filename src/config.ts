/**
 * Configuration comes from environment variables only, and is validated once at start:
 * every bad variable is reported (not just the first), so a deploy fails with the whole
 * list of what to fix.
 */
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
  /** `UPSTREAM_MAX_RETRIES`: SDK retries on 429/5xx/connection errors, before a response starts. */
  upstreamMaxRetries: number;
  /** `SIMULATOR_TOKEN_DELAY_MS`: the simulator's pause between streamed tokens. */
  simulatorTokenDelayMs: number;
  /** `LOG_LEVEL`. */
  logLevel: LogLevel;
}

export const DEFAULTS = {
  port: 4000,
  openaiModel: 'gpt-4o-mini',
  upstreamTimeoutMs: 60_000,
  upstreamIdleTimeoutMs: 30_000,
  upstreamMaxRetries: 2,
  simulatorTokenDelayMs: 40,
  logLevel: 'info',
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

  const apiKey = text('OPENAI_API_KEY');
  const baseURL = text('OPENAI_BASE_URL');
  if (baseURL !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(baseURL);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push(`OPENAI_BASE_URL must be an http(s) URL such as http://localhost:11434/v1, got "${baseURL}"`);
    }
  }
  const upstream: Upstream =
    apiKey === undefined && baseURL === undefined ? { kind: 'simulator' } : { kind: 'openai', apiKey, baseURL };

  const logLevel = (text('LOG_LEVEL') ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const config: Config = {
    port: integer('PORT', DEFAULTS.port, 0, 65_535),
    host: text('HOST'),
    upstream,
    defaultModel: text('DEFAULT_MODEL') ?? (upstream.kind === 'simulator' ? SIMULATOR_MODEL : DEFAULTS.openaiModel),
    upstreamTimeoutMs: integer('UPSTREAM_TIMEOUT_MS', DEFAULTS.upstreamTimeoutMs, 1, 3_600_000),
    upstreamIdleTimeoutMs: integer('UPSTREAM_IDLE_TIMEOUT_MS', DEFAULTS.upstreamIdleTimeoutMs, 1, 3_600_000),
    upstreamMaxRetries: integer('UPSTREAM_MAX_RETRIES', DEFAULTS.upstreamMaxRetries, 0, 10),
    simulatorTokenDelayMs: integer('SIMULATOR_TOKEN_DELAY_MS', DEFAULTS.simulatorTokenDelayMs, 0, 60_000),
    logLevel,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
