/**
 * What a model costs, in USD per million tokens: input, cached input and output. Used for
 * `usage.cost`, the ledger and budgets. MODEL_PRICES (JSON) adds or overrides entries; a model
 * with no price is counted in tokens only (cost null, budgets do not apply to it).
 *
 * Cost = uncached prompt tokens × input + cached prompt tokens × cachedInput + completion
 * tokens × output. Reasoning tokens are part of the completion tokens (that is how OpenAI
 * reports them) and so are billed as output, never on top. A price without `cachedInput`
 * bills cached tokens at its input price, and usage that does not say how many tokens were
 * cached is billed as all uncached: both err towards the higher figure.
 */
import { lookupModel } from '../completion/tokens.js';
import type { Usage } from '../upstream/provider.js';

export interface Price {
  input: number;
  output: number;
  /** Prompt tokens served from the upstream's prompt cache; absent: billed at `input`. */
  cachedInput?: number;
}

/** The counts a cost depends on (reasoning tokens are inside `completionTokens`). */
export type PricedUsage = Pick<Usage, 'promptTokens' | 'completionTokens' | 'cachedPromptTokens'>;

/**
 * OpenAI's list prices (USD / 1M tokens, standard tier) as of late 2025, cached input where
 * OpenAI offers prompt caching for the model; override with MODEL_PRICES.
 *
 * Kept here rather than read from gpt-tokenizer's model data: its `price_data` has no cached
 * input prices at all, lacks several models we list (gpt-5-mini, gpt-4o-mini, o4-mini, …) and
 * has list prices that are not OpenAI's (gpt-5 and gpt-4o at $10/$30).
 */
const LIST_PRICES: Record<string, Price> = {
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  // No prompt caching for these: cached tokens (if an upstream ever reports any) cost input.
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  'gpt-3.5-turbo-instruct': { input: 1.5, output: 2 },
  'davinci-002': { input: 2, output: 2 },
  'babbage-002': { input: 0.4, output: 0.4 },
  'text-davinci-003': { input: 20, output: 20 },
  // The offline simulator costs nothing.
  simulator: { input: 0, cachedInput: 0, output: 0 },
};

export class Pricing {
  private readonly prices: Record<string, Price>;

  /** An override replaces the whole entry: without `cachedInput`, its cached tokens cost its input price. */
  constructor(overrides: Record<string, Price> = {}) {
    this.prices = { ...LIST_PRICES, ...overrides };
  }

  price(model: string): Price | null {
    return lookupModel(this.prices, model) ?? null;
  }

  /** USD for this usage, or null when the model has no price. */
  usageCost(model: string, usage: PricedUsage): number | null {
    return this.cost(model, usage.promptTokens, usage.completionTokens, usage.cachedPromptTokens);
  }

  /**
   * USD for these tokens, or null when the model has no price. `cachedPromptTokens` are
   * part of `promptTokens` (undefined: none known to be cached).
   */
  cost(model: string, promptTokens: number, completionTokens: number, cachedPromptTokens?: number): number | null {
    const price = this.price(model);
    if (!price) return null;
    // An upstream reporting more cached tokens than prompt tokens is not trusted past the prompt.
    const cached = Math.min(Math.max(cachedPromptTokens ?? 0, 0), promptTokens);
    const uncached = promptTokens - cached;
    return (uncached * price.input + cached * (price.cachedInput ?? price.input) + completionTokens * price.output) / 1_000_000;
  }
}

/**
 * Parses MODEL_PRICES: `{"model": {"input": 0.5, "output": 1.5}}`, optionally with
 * `"cachedInput": 0.25` (all USD per 1M tokens). Other fields are ignored, as they always were.
 */
export function parsePrices(json: string): Record<string, Price> {
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('must be a JSON object');
  const prices: Record<string, Price> = {};
  for (const [model, value] of Object.entries(parsed as Record<string, unknown>)) {
    const { input, output, cachedInput } = (value ?? {}) as { input?: unknown; output?: unknown; cachedInput?: unknown };
    if (!isPrice(input) || !isPrice(output)) {
      throw new Error(`"${model}" needs non-negative numbers "input" and "output" (USD per 1M tokens)`);
    }
    if (cachedInput !== undefined && !isPrice(cachedInput)) {
      throw new Error(`"${model}": "cachedInput" must be a non-negative number (USD per 1M cached prompt tokens), or left out to bill cached tokens at "input"`);
    }
    prices[model] = cachedInput === undefined ? { input, output } : { input, output, cachedInput };
  }
  return prices;
}

function isPrice(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
