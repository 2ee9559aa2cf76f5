/**
 * Where the response cache keeps answers: the contract a store meets, and the in-memory
 * store (a bounded LRU). The Redis store, shared by every instance, is in cache-store-redis.ts.
 */
import { LRUCache } from 'lru-cache';

/**
 * A store of answers by key (the request's hash), each as JSON text with its own lifetime.
 * A store never throws: one that fails or cannot be reached is a miss, and a lost answer
 * only costs the next request an upstream call.
 */
export interface CacheStore {
  /** The answer kept under `key`: undefined when absent, expired, or the store failed. */
  get(key: string): Promise<string | undefined>;
  /** Keeps `value` for `ttlMs`; resolves with whether it was kept. */
  set(key: string, value: string, ttlMs: number): Promise<boolean>;
}

export interface MemoryStoreOptions {
  /** RESPONSE_CACHE_MAX_ENTRIES: answers held at most. */
  maxEntries: number;
  /** RESPONSE_CACHE_MAX_BYTES: UTF-8 bytes of keys and answers held at most. */
  maxBytes: number;
}

/**
 * One process's cache: lru-cache bounded by entries and by bytes (whichever is reached
 * first evicts the least recently used), with each answer's TTL checked when it is read.
 * Answers are kept as text, so a hit hands out a copy nobody else can change.
 */
export class MemoryCacheStore implements CacheStore {
  private readonly lru: LRUCache<string, string>;

  constructor(options: MemoryStoreOptions) {
    this.lru = new LRUCache<string, string>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => Buffer.byteLength(value) + key.length,
    });
  }

  /** Answers held now (expired ones included until they are read or evicted). */
  get entries(): number {
    return this.lru.size;
  }

  /** Bytes held now, as `maxBytes` counts them. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.lru.get(key));
  }

  set(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.lru.set(key, value, { ttl: ttlMs });
    // lru-cache declines, without a word, an entry larger than the whole cache.
    return Promise.resolve(this.lru.has(key));
  }
}
