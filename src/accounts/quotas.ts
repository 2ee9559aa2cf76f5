/**
 * Per-key limits, checked before any upstream call: requests and tokens per minute
 * (sliding one-minute windows), streams open at once, and USD budgets per UTC day and
 * month. Checking and reserving happen in one synchronous step, so a burst of parallel
 * requests is admitted exactly up to the limit. Counts live in this process (one
 * instance); spend is seeded from the ledger when a key is first seen.
 */
import type { GraphQLError } from 'graphql';
import { ErrorCode, gatewayError } from '../graphql/errors.js';
import type { ApiKey } from './keys.js';

const MINUTE = 60_000;

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

interface Spend {
  day: string;
  month: string;
  daySpent: number;
  monthSpent: number;
  reserved: number;
}

class KeyState {
  readonly requests: number[] = [];
  readonly tokens: { at: number; n: number }[] = [];
  streams = 0;
  spend: Spend | undefined;

  prune(now: number): void {
    while (this.requests.length > 0 && (this.requests[0] ?? 0) <= now - MINUTE) this.requests.shift();
    while (this.tokens.length > 0 && (this.tokens[0]?.at ?? 0) <= now - MINUTE) this.tokens.shift();
  }

  tokensInWindow(): number {
    let sum = 0;
    for (const t of this.tokens) sum += t.n;
    return sum;
  }
}

function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function startOfDay(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

function startOfMonth(month: string): number {
  return Date.parse(`${month}-01T00:00:00.000Z`);
}

function rateLimited(message: string, retryAfterMs: number | null, limit: string): GraphQLError {
  return gatewayError(ErrorCode.RATE_LIMITED, message, { retryAfterMs, limit });
}

export class Quotas {
  private readonly keys = new Map<string, KeyState>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    /** USD the ledger holds for a key since a time. */
    private readonly spentSince: (keyId: string, since: number) => Promise<number>,
  ) {}

  /** Throws RATE_LIMITED or QUOTA_EXCEEDED, or reserves the estimate and returns its admission. */
  async admit(key: ApiKey, estimate: Estimate): Promise<Reservation> {
    const { limits } = key;
    // Spend is seeded from the ledger before this process adds to it (a fallback to a priced
    // model can bill an unpriced request), so nothing is lost or counted twice.
    await this.loadSpend(key.id);
    // From here on, synchronous: nothing can interleave between check and reservation.
    const now = Date.now();
    const state = this.checkRate(key, estimate.stream, now);
    if (limits.tpm !== null) {
      if (estimate.tokens > limits.tpm) {
        throw rateLimited(
          `This request may use ${estimate.tokens} tokens, more than the key's ${limits.tpm} per minute; lower maxTokens`,
          null,
          'tpm',
        );
      }
      let used = state.tokensInWindow();
      if (used + estimate.tokens > limits.tpm) {
        // When enough of the window will have expired for this request to fit.
        let retryAt = now;
        for (const t of state.tokens) {
          used -= t.n;
          retryAt = t.at + MINUTE;
          if (used + estimate.tokens <= limits.tpm) break;
        }
        throw rateLimited(`This key allows ${limits.tpm} tokens per minute`, Math.max(1, retryAt - now), 'tpm');
      }
    }
    const spend = estimate.costUsd === null ? undefined : this.rolledSpend(state, now);
    if (spend && estimate.costUsd !== null) {
      const committed = spend.reserved + estimate.costUsd;
      if (limits.dailyBudgetUsd !== null && spend.daySpent + committed > limits.dailyBudgetUsd) {
        throw gatewayError(ErrorCode.QUOTA_EXCEEDED, `This key's daily budget of $${limits.dailyBudgetUsd} is spent`, {
          budget: 'daily',
          budgetUsd: limits.dailyBudgetUsd,
          spentUsd: spend.daySpent,
        });
      }
      if (limits.monthlyBudgetUsd !== null && spend.monthSpent + committed > limits.monthlyBudgetUsd) {
        throw gatewayError(ErrorCode.QUOTA_EXCEEDED, `This key's monthly budget of $${limits.monthlyBudgetUsd} is spent`, {
          budget: 'monthly',
          budgetUsd: limits.monthlyBudgetUsd,
          spentUsd: spend.monthSpent,
        });
      }
    }

    state.requests.push(now);
    const tokenEntry = { at: now, n: estimate.tokens };
    state.tokens.push(tokenEntry);
    if (estimate.stream) state.streams++;
    if (spend && estimate.costUsd !== null) spend.reserved += estimate.costUsd;

    let settled = false;
    return {
      settle: (actual) => {
        if (settled) return;
        settled = true;
        tokenEntry.n = actual.tokens;
        if (estimate.stream) state.streams--;
        if (spend && estimate.costUsd !== null) spend.reserved -= estimate.costUsd;
        if (actual.costUsd !== null) this.addSpend(state, actual.costUsd);
      },
    };
  }

  /**
   * The cheap part of `admit`, without reserving: requests per minute and streams at once.
   * Run before the prompt is counted, so a key over its rate pays no tokenizer time
   * (issue #12); `admit` checks again when it reserves.
   */
  check(key: ApiKey, stream: boolean): void {
    this.checkRate(key, stream, Date.now());
  }

  private checkRate(key: ApiKey, stream: boolean, now: number): KeyState {
    const { limits } = key;
    const state = this.state(key.id);
    state.prune(now);
    if (limits.rpm !== null && state.requests.length >= limits.rpm) {
      const retryAfterMs = (state.requests[0] ?? now) + MINUTE - now;
      throw rateLimited(`This key allows ${limits.rpm} requests per minute`, retryAfterMs, 'rpm');
    }
    if (stream && limits.maxStreams !== null && state.streams >= limits.maxStreams) {
      throw rateLimited(`This key allows ${limits.maxStreams} streams at once`, null, 'streams');
    }
    return state;
  }

  /** The key's current windows and spend, for `me`. */
  async usage(key: ApiKey): Promise<WindowUsage> {
    await this.loadSpend(key.id);
    const now = Date.now();
    const state = this.state(key.id);
    state.prune(now);
    const spend = this.rolledSpend(state, now);
    return {
      requestsLastMinute: state.requests.length,
      tokensLastMinute: state.tokensInWindow(),
      openStreams: state.streams,
      spentTodayUsd: spend.daySpent,
      spentThisMonthUsd: spend.monthSpent,
    };
  }

  private state(keyId: string): KeyState {
    let state = this.keys.get(keyId);
    if (!state) {
      state = new KeyState();
      this.keys.set(keyId, state);
    }
    return state;
  }

  /** Seeds today's and this month's spend from the ledger, once per key. */
  private loadSpend(keyId: string): Promise<void> {
    let loading = this.loading.get(keyId);
    if (!loading) {
      loading = (async () => {
        const now = Date.now();
        const day = utcDay(now);
        const month = day.slice(0, 7);
        const [daySpent, monthSpent] = await Promise.all([
          this.spentSince(keyId, startOfDay(day)),
          this.spentSince(keyId, startOfMonth(month)),
        ]);
        this.state(keyId).spend = { day, month, daySpent, monthSpent, reserved: 0 };
      })();
      loading.catch(() => this.loading.delete(keyId));
      this.loading.set(keyId, loading);
    }
    return loading;
  }

  private rolledSpend(state: KeyState, now: number): Spend {
    const day = utcDay(now);
    const month = day.slice(0, 7);
    state.spend ??= { day, month, daySpent: 0, monthSpent: 0, reserved: 0 };
    if (state.spend.day !== day) {
      state.spend.day = day;
      state.spend.daySpent = 0;
    }
    if (state.spend.month !== month) {
      state.spend.month = month;
      state.spend.monthSpent = 0;
    }
    return state.spend;
  }

  private addSpend(state: KeyState, usd: number): void {
    const spend = this.rolledSpend(state, Date.now());
    spend.daySpent += usd;
    spend.monthSpent += usd;
  }
}
