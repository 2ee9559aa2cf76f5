/**
 * Getting a request in: the checks that cost nothing (before the prompt is counted), and
 * the upstream slot an operation holds while it runs (fallbacks run one after another in it).
 */
import type { ApiKey } from '../accounts/keys.js';
import type { Pricing } from '../accounts/pricing.js';
import type { Config } from '../config/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { ConcurrencyLimiter } from './limiter.js';
import type { StartPacer } from './pacer.js';

/**
 * Whether `key` may spend on `model`: a key with a budget cannot be held to it on a model
 * the gateway has no price for (a $0 budget was served o1-pro; issue #12), unless the
 * operator set UNPRICED_MODELS=allow.
 */
export function billable(model: string, key: ApiKey | null, pricing: Pricing, unpricedModels: Config['unpricedModels']): boolean {
  const limits = key?.limits;
  if (!limits || (limits.dailyBudgetUsd === null && limits.monthlyBudgetUsd === null)) return true;
  return unpricedModels === 'allow' || pricing.price(model) !== null;
}

/** The upstream slots: UPSTREAM_MAX_CONCURRENCY at once, their starts paced per event-loop turn. */
export class Admission {
  constructor(
    private readonly limiter: ConcurrencyLimiter,
    private readonly pacer: StartPacer,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Waits for an upstream slot and resolves with its release. Refusals (queue full, waited
   * too long) are the gateway's own RATE_LIMITED, never a reason to fall back.
   */
  async admit(signal: AbortSignal): Promise<() => void> {
    const paced = this.pacer.turn();
    if (paced) await paced;
    this.metrics.queued.set(this.limiter.queued + 1);
    try {
      return await this.limiter.acquire(signal);
    } finally {
      this.metrics.queued.set(this.limiter.queued);
    }
  }
}
