/**
 * Getting a request in: the checks that cost nothing (before the prompt is counted), and
 * the upstream slot an operation holds while it runs (fallbacks run one after another in it).
 */
import type { ApiKey } from '../accounts/keys.js';
import type { Pricing } from '../accounts/pricing.js';
import type { Config } from '../config/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { SharedSlots } from '../shared-state/slots.js';
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

/**
 * The upstream slots: UPSTREAM_MAX_CONCURRENCY at once, their starts paced per event-loop
 * turn. With REDIS_URL the cap holds across every instance: a local slot first (the local
 * wait list, bounded as ever), then a shared one.
 */
export class Admission {
  constructor(
    private readonly limiter: ConcurrencyLimiter,
    private readonly pacer: StartPacer,
    private readonly metrics: Metrics,
    private readonly shared?: SharedSlots,
  ) {}

  /**
   * Waits for an upstream slot and resolves with its release. Refusals (queue full, waited
   * too long) are the gateway's own RATE_LIMITED, never a reason to fall back.
   */
  async admit(signal: AbortSignal): Promise<() => void> {
    const paced = this.pacer.turn();
    if (paced) await paced;
    this.metrics.queued.set(this.queued + 1);
    try {
      const release = await this.limiter.acquire(signal);
      if (!this.shared) return release;
      try {
        const releaseShared = await this.shared.acquire(signal);
        return () => {
          releaseShared();
          release();
        };
      } catch (error) {
        release();
        throw error;
      }
    } finally {
      this.metrics.queued.set(this.queued);
    }
  }

  private get queued(): number {
    return this.limiter.queued + (this.shared?.queued ?? 0);
  }
}
