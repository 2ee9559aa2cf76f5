/**
 * The upstreams the configuration names: the built-in simulator when neither
 * OPENAI_API_KEY nor OPENAI_BASE_URL is set, else the OpenAI-compatible upstream, and the
 * second upstream of FALLBACK_OPENAI_BASE_URL when set.
 */
import type { Config } from '../config/index.js';
import { OpenAIProvider } from './openai/provider.js';
import type { Provider } from './provider.js';
import { SimulatorProvider } from './simulator/index.js';

export interface Upstreams {
  /** The main upstream: what `models` lists and where a request goes first. */
  main: Provider;
  /** Its name in logs and metrics. */
  mainName: 'primary' | 'simulator';
  /** The second upstream (FALLBACK_OPENAI_BASE_URL), tried last, with FALLBACK_MODEL if set. */
  second: { provider: Provider; model: string | undefined } | undefined;
  /** Every provider, to close at shutdown. */
  all: Provider[];
  /** Strings that must never reach a client or a log line (the upstream keys). */
  secrets: string[];
}

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

export function upstreamsFrom(config: Config): Upstreams {
  const secrets = [
    config.upstream.kind === 'openai' ? config.upstream.apiKey : undefined,
    config.fallback.upstream?.apiKey,
  ].filter((s): s is string => Boolean(s));
  if (config.upstream.kind === 'simulator') {
    const main = new SimulatorProvider({ tokenDelayMs: config.simulatorTokenDelayMs });
    return { main, mainName: 'simulator', second: undefined, all: [main], secrets };
  }
  const main = openAIProvider(config, config.upstream);
  const fallback = config.fallback.upstream;
  const second = fallback ? { provider: openAIProvider(config, fallback), model: fallback.model } : undefined;
  return { main, mainName: 'primary', second, all: second ? [main, second.provider] : [main], secrets };
}
