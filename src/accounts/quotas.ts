/**
 * Per-key limits, checked before any upstream call: requests and tokens per minute
 * (sliding one-minute windows), streams open at once, and USD budgets per UTC day and
 * month. This is what the rest of the gateway sees of them; `MemoryQuotas` keeps the
 * counts in this process, `RedisQuotas` (src/shared-state/) in Redis for every instance.
 * Both refuse with the same errors, built here.
 */
import type { GraphQLError } from 'graphql';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
import type { ApiKey } from './keys.js';

export const MINUTE = 60_000;

export interface Estimate {
  /** Prompt tokens + the completion tokens that may come (maxTokens × n). */
  tokens: number;
  /** USD for that, or null when the model has no price. */
  costUsd: number | null;
  stream: boolean;
}

export interface Reservation {
  /** Replaces the reservation with what was really used. Call exactly once. */
  settle(actual: { tokens: number; costUsd: number | null }): void;
}

export interface WindowUsage {
  requestsLastMinute: number;
  tokensLastMinute: number;
  openStreams: number;
  spentTodayUsd: number;
  spentThisMonthUsd: number;
}

export interface Quotas {
  /**
   * Throws RATE_LIMITED or QUOTA_EXCEEDED, or reserves the estimate and returns its
   * admission. Checking and reserving are one atomic step: a burst of parallel requests
   * is admitted exactly up to the limit.
   */
  admit(key: ApiKey, estimate: Estimate): Promise<Reservation>;
  /**
   * A cheap, synchronous pre-check without reserving, run before the prompt is counted so
   * a key over its rate pays no tokenizer time (issue #12); `admit` decides either way.
   */
  check(key: ApiKey, stream: boolean): void;
  /** The key's current windows and spend, for `me`. */
  usage(key: ApiKey): Promise<WindowUsage>;
}

/** What the ledger says a key spent since a time (USD). */
export type SpentSince = (keyId: string, since: number) => Promise<number>;

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

export function startOfDay(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

export function startOfMonth(month: string): number {
  return Date.parse(`${month}-01T00:00:00.000Z`);
}

export function rateLimited(message: string, retryAfterMs: number | null, limit: string): GraphQLError {
  return gatewayError(ErrorCode.RATE_LIMITED, message, { retryAfterMs, limit });
}

export function rpmLimited(key: ApiKey, retryAfterMs: number): GraphQLError {
  return rateLimited(`This key allows ${key.limits.rpm} requests per minute`, retryAfterMs, 'rpm');
}

export function streamsLimited(key: ApiKey): GraphQLError {
  return rateLimited(`This key allows ${key.limits.maxStreams} streams at once`, null, 'streams');
}

/** A request too large for the key's tpm by itself: waiting would not help. */
export function tooManyTokens(key: ApiKey, tokens: number): GraphQLError {
  return rateLimited(`This request may use ${tokens} tokens, more than the key's ${key.limits.tpm} per minute; lower maxTokens`, null, 'tpm');
}

export function tpmLimited(key: ApiKey, retryAfterMs: number): GraphQLError {
  return rateLimited(`This key allows ${key.limits.tpm} tokens per minute`, retryAfterMs, 'tpm');
}

export function budgetExceeded(budget: 'daily' | 'monthly', budgetUsd: number, spentUsd: number): GraphQLError {
  return gatewayError(ErrorCode.QUOTA_EXCEEDED, `This key's ${budget} budget of $${budgetUsd} is spent`, { budget, budgetUsd, spentUsd });
}
