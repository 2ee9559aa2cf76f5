/**
 * What a model costs, in USD per million tokens, input and output. Used for `usage.cost`,
 * the ledger and budgets. MODEL_PRICES (JSON) adds or overrides entries; a model with no
 * price is counted in tokens only (cost null, budgets do not apply to it).
 */
import { lookupModel } from '../completion/tokens.js';

export interface Price {
  input: number;
  output: number;
}

/** OpenAI's list prices (USD / 1M tokens) as of late 2025; override with MODEL_PRICES. */
const LIST_PRICES: Record<string, Price> = {
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  o1: { input: 15, output: 60 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  'gpt-3.5-turbo-instruct': { input: 1.5, output: 2 },
  'davinci-002': { input: 2, output: 2 },
  'babbage-002': { input: 0.4, output: 0.4 },
  'text-davinci-003': { input: 20, output: 20 },
  // The offline simulator costs nothing.
  simulator: { input: 0, output: 0 },
};

export class Pricing {
  private readonly prices: Record<string, Price>;

  constructor(overrides: Record<string, Price> = {}) {
    this.prices = { ...LIST_PRICES, ...overrides };
  }

  price(model: string): Price | null {
    return lookupModel(this.prices, model) ?? null;
  }

  /** USD for these tokens, or null when the model has no price. */
  cost(model: string, promptTokens: number, completionTokens: number): number | null {
    const price = this.price(model);
    if (!price) return null;
    return (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
  }
}

/** Parses MODEL_PRICES: `{"model": {"input": 0.5, "output": 1.5}}` (USD per 1M tokens). */
export function parsePrices(json: string): Record<string, Price> {
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('must be a JSON object');
  const prices: Record<string, Price> = {};
  for (const [model, value] of Object.entries(parsed as Record<string, unknown>)) {
    const { input, output } = (value ?? {}) as { input?: unknown; output?: unknown };
    if (typeof input !== 'number' || typeof output !== 'number' || input < 0 || output < 0) {
      throw new Error(`"${model}" needs non-negative numbers "input" and "output" (USD per 1M tokens)`);
    }
    prices[model] = { input, output };
  }
  return prices;
}
