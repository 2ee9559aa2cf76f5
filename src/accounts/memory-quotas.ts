/**
 * Per-key limits (see quotas.ts) kept in this process: without REDIS_URL, and as the
 * fallback while Redis cannot be reached. Checking and reserving happen in one synchronous
 * step, so a burst of parallel requests is admitted exactly up to the limit. Spend is
 * seeded from the ledger when a key is first seen.
 */
import type { ApiKey } from './keys.js';
import {
  budgetExceeded,
  MINUTE,
  rpmLimited,
  startOfDay,
  startOfMonth,
  streamsLimited,
  tooManyTokens,
  tpmLimited,
  utcDay,
  type Estimate,
  type Quotas,
  type Reservation,
  type SpentSince,
  type WindowUsage,
} from './quotas.js';

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

export class MemoryQuotas implements Quotas {
  private readonly keys = new Map<string, KeyState>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    /** USD the ledger holds for a key since a time. */
    private readonly spentSince: SpentSince,
  ) {}

  async admit(key: ApiKey, estimate: Estimate): Promise<Reservation> {
    const { limits } = key;
    // Spend is seeded from the ledger before this process adds to it (a fallback to a priced
    // model can bill an unpriced request), so nothing is lost or counted twice.
    await this.loadSpend(key.id);
    // From here on, synchronous: nothing can interleave between check and reservation.
    const now = Date.now();
    const state = this.checkRate(key, estimate.stream, now);
    if (limits.tpm !== null) {
      if (estimate.tokens > limits.tpm) throw tooManyTokens(key, estimate.tokens);
      let used = state.tokensInWindow();
      if (used + estimate.tokens > limits.tpm) {
        // When enough of the window will have expired for this request to fit.
        let retryAt = now;
        for (const t of state.tokens) {
          used -= t.n;
          retryAt = t.at + MINUTE;
          if (used + estimate.tokens <= limits.tpm) break;
        }
        throw tpmLimited(key, Math.max(1, retryAt - now));
      }
    }
    const spend = estimate.costUsd === null ? undefined : this.rolledSpend(state, now);
    if (spend && estimate.costUsd !== null) {
      const committed = spend.reserved + estimate.costUsd;
      if (limits.dailyBudgetUsd !== null && spend.daySpent + committed > limits.dailyBudgetUsd) {
        throw budgetExceeded('daily', limits.dailyBudgetUsd, spend.daySpent);
      }
      if (limits.monthlyBudgetUsd !== null && spend.monthSpent + committed > limits.monthlyBudgetUsd) {
        throw budgetExceeded('monthly', limits.monthlyBudgetUsd, spend.monthSpent);
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
      throw rpmLimited(key, (state.requests[0] ?? now) + MINUTE - now);
    }
    if (stream && limits.maxStreams !== null && state.streams >= limits.maxStreams) {
      throw streamsLimited(key);
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
