/**
 * Spend that Redis has not heard of: what requests admitted locally while Redis was
 * unreachable cost (REDIS_FAILURE_MODE=open), and settlements that could not be sent. It is
 * added to the shared spend once Redis is back, so an outage does not reset anyone's
 * budget. A period Redis has lost meanwhile is seeded again from the ledger, which has
 * these rows, so they are not added there twice.
 */
import { quotaKeys, type Period } from './quota-scripts.js';
import type { SharedRedis } from './redis.js';

interface Debt {
  keyId: string;
  period: Period;
  usd: number;
}

export class OwedSpend {
  /** By key and day: as many entries as keys that spent during the outage. */
  private readonly debts = new Map<string, Debt>();
  private repaying: Promise<void> | undefined;

  constructor(private readonly redis: SharedRedis) {}

  add(keyId: string, period: Period, usd: number): void {
    const name = `${keyId}|${period.day}`;
    const debt = this.debts.get(name);
    if (debt) debt.usd += usd;
    else this.debts.set(name, { keyId, period, usd });
  }

  get size(): number {
    return this.debts.size;
  }

  /** Sends every debt as a settlement of no request (no window entry, no lease): spend only. */
  repay(): Promise<void> {
    this.repaying ??= (async () => {
      // Debts added while this runs (requests admitted locally that end now) are sent too.
      while (this.debts.size > 0 && this.redis.available) {
        const [name, debt] = this.debts.entries().next().value as [string, Debt];
        this.debts.delete(name);
        const keys = quotaKeys(this.redis, debt.keyId, debt.period);
        try {
          await this.redis.client.gatewayQuotaSettle(...keys.settle, '', 0, debt.usd);
        } catch (error) {
          this.redis.failed(error);
          this.add(debt.keyId, debt.period, debt.usd);
          break;
        }
      }
    })().finally(() => (this.repaying = undefined));
    return this.repaying;
  }
}
