/**
 * An operation's row in the ledger: a checkpoint from its first upstream call on, so a
 * crash leaves it `interrupted` (issue #12), then the final row when it ends. An operation
 * that never reached an upstream has no row.
 */
import type { Ledger, LedgerEntry, Progress, RunningOperation } from '../accounts/ledger.js';
import type { Pricing } from '../accounts/pricing.js';

/** What is known of the row before any upstream call. */
type Fixed = Pick<LedgerEntry, 'keyId' | 'requestId' | 'operation' | 'modelRequested' | 'promptTokens'>;

export class LedgerRow {
  readonly startedAt = Date.now();
  private running: RunningOperation | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly pricing: Pricing,
    private readonly fixed: Fixed,
  ) {}

  /** At each upstream call: the first one starts the checkpoint. */
  open(model: string): void {
    const { pricing } = this;
    this.running ??= this.ledger.start({
      ...this.fixed,
      model,
      startedAt: this.startedAt,
      cost: (name, promptTokens, completionTokens, cachedPromptTokens) => pricing.cost(name, promptTokens, completionTokens, cachedPromptTokens),
    });
  }

  /** Cheap (memory only): what the operation has produced so far (cached and reasoning tokens once the upstream said). */
  progress(update: Progress): void {
    this.running?.progress(update);
  }

  /** Writes the final row (its prompt tokens as the upstream counted them), if an upstream was reached. Call once. */
  finish(rest: Omit<LedgerEntry, Exclude<keyof Fixed, 'promptTokens'> | 'startedAt'>): void {
    this.running?.finish({ ...this.fixed, ...rest, startedAt: this.startedAt });
  }
}
