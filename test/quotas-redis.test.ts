/**
 * Per-key limits and budgets kept in Redis (REDIS_URL, a key prefix of this file's own):
 * every case of quota-cases.ts, so the shared limits refuse and admit exactly as the
 * in-memory ones, with the same errors and `retryAfterMs`.
 */
import { describe, it } from 'vitest';
import { quotaCases } from './quota-cases.js';
import { REDIS_URL_TEST, redisSkip, testPrefix } from './redis.js';

const skip = redisSkip;
if (skip === undefined) quotaCases({ REDIS_URL: REDIS_URL_TEST, REDIS_KEY_PREFIX: testPrefix() });
else describe('per-key limits in Redis', () => it.skip(skip, () => undefined));
