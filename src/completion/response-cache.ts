/**
 * The response cache (issue #16): which requests it serves, the key an answer is kept
 * under, and the lookups and stores, counted in /metrics. Where answers live is a
 * CacheStore's business (memory or Redis); how a hit is served is cache-hit.ts's.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { badInput } from '../graphql/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { CompletionRequest } from '../upstream/provider.js';
import { ANSWER_FORMAT, parseAnswer, StreamRecorder, type CachedAnswer } from './cache-answer.js';
import type { CacheStore } from './cache-store.js';
import type { ChunkShape } from './shapes.js';

/** The longest `cache.ttlSeconds` a request may ask for: a day, as RESPONSE_CACHE_TTL_SECONDS. */
export const MAX_CACHE_TTL_SECONDS = 86_400;

/** `CompletionInput.cache`, checked. */
export interface CacheOption {
  ttlSeconds: number;
}

/** Checks `CompletionInput.cache`: BAD_USER_INPUT on `cache.ttlSeconds` out of 1…MAX_CACHE_TTL_SECONDS. */
export function cacheOption(input: { ttlSeconds: number } | null | undefined): CacheOption | undefined {
  if (input === null || input === undefined) return undefined;
  const { ttlSeconds } = input;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_CACHE_TTL_SECONDS) {
    throw badInput('cache.ttlSeconds', `must be between 1 and ${MAX_CACHE_TTL_SECONDS} seconds, got ${ttlSeconds}`);
  }
  return { ttlSeconds };
}

/**
 * Request fields that do not change what the model writes, left out of the key: ids for
 * the upstream's abuse monitoring and the routing hint of its prompt cache. Everything else
 * in the request, present and future, is in the key (a field added to CompletionRequest is
 * in it without anyone remembering to add it).
 */
const NOT_IN_KEY = ['user', 'safetyIdentifier', 'promptCacheKey'] as const satisfies readonly (keyof CompletionRequest)[];

/** JSON with every object's keys sorted, so that the same request is the same text whatever order its fields came in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const fields = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The key of `request`'s answer in `scope`: a SHA-256 of the answer format, the scope and the request as the upstream gets it. */
export function cacheKey(request: CompletionRequest, scope: string): string {
  const fields: Partial<CompletionRequest> = { ...request };
  for (const name of NOT_IN_KEY) delete fields[name];
  return createHash('sha256').update(`${ANSWER_FORMAT}\n${scope}\n`).update(canonicalJson(fields)).digest('hex');
}

/** A request the cache serves: its key, and how long its answer is kept. */
export interface CachePlan {
  key: string;
  ttlMs: number;
}

export interface ResponseCacheSettings {
  /** RESPONSE_CACHE_TTL_SECONDS: applies to requests at `temperature: 0` with one choice; 0 = only when asked. */
  defaultTtlSeconds: number;
  /** CACHE_SCOPE: `key` keeps each key's answers apart; `global` shares them. */
  scope: Config['cacheScope'];
  /** RESPONSE_CACHE_MAX_ENTRY_BYTES: the largest answer kept (its JSON, UTF-8). */
  maxEntryBytes: number;
}

/** What a stream tells the cache: each chunk as it goes out, then that it ended normally. */
export interface StreamRecording {
  chunk(chunk: ChunkShape): void;
  /** The stream ended normally (not cancelled, failed or cut): its answer is stored. */
  done(): void;
}

export class ResponseCache {
  private failing = false;

  constructor(
    private readonly backend: CacheStore,
    private readonly settings: ResponseCacheSettings,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Whether the cache serves `request`, and under which key: when it asks (`cache`), or at
   * the server's default for a `temperature: 0` request with one choice (sampled answers,
   * and several choices, are cached only when asked: their point is to differ).
   */
  plan(request: CompletionRequest, option: CacheOption | undefined, keyId: string | null): CachePlan | undefined {
    let ttlSeconds: number;
    if (option) ttlSeconds = option.ttlSeconds;
    else if (this.settings.defaultTtlSeconds > 0 && request.temperature === 0 && (request.n ?? 1) === 1) {
      ttlSeconds = this.settings.defaultTtlSeconds;
    } else return undefined;
    // Without keys the gateway is open, and everyone is one scope.
    const scope = this.settings.scope === 'global' ? 'global' : keyId === null ? 'open' : `key:${keyId}`;
    return { key: cacheKey(request, scope), ttlMs: ttlSeconds * 1000 };
  }

  /** The answer kept for `plan`, if any (a store that fails is a miss). */
  async lookup(plan: CachePlan): Promise<CachedAnswer | undefined> {
    const text = await this.backend.get(plan.key);
    const answer = text === undefined ? undefined : parseAnswer(text);
    this.metrics.cacheLookups.inc({ result: answer ? 'hit' : 'miss' });
    return answer;
  }

  /** Keeps `answer` for `plan`, in the background: the client does not wait for the store. */
  store(plan: CachePlan, answer: CachedAnswer): void {
    const text = JSON.stringify(answer);
    if (Buffer.byteLength(text) > this.settings.maxEntryBytes) {
      this.metrics.cacheStores.inc({ result: 'too_large' });
      return;
    }
    void this.backend.set(plan.key, text, plan.ttlMs).then((kept) => {
      this.metrics.cacheStores.inc({ result: kept ? 'stored' : 'failed' });
      // Once per change, not per request: a store that is down would flood the log.
      if (kept !== this.failing) return;
      this.failing = !kept;
      if (this.failing) this.logger.warn('response cache: an answer could not be stored (counted in gateway_response_cache_stores_total)');
      else this.logger.info('response cache: answers are stored again');
    });
  }

  /**
   * What records a stream's answer for `plan`, chunk by chunk; undefined when a stream's
   * answer is not to be kept: one that asked for logprobs (streams do not carry them, and a
   * `complete` served from it would miss them).
   */
  recorder(plan: CachePlan, request: CompletionRequest): StreamRecording | undefined {
    if (request.logprobs !== undefined) return undefined;
    const recorder = new StreamRecorder();
    return {
      chunk: (chunk) => recorder.chunk(chunk),
      done: () => {
        const answer = recorder.answer();
        if (answer) this.store(plan, answer);
      },
    };
  }
}
