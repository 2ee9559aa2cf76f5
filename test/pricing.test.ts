/**
 * Pricing at memory speed: cached prompt tokens at the cached-input price, reasoning tokens
 * as output (never on top), models without a cached price, and MODEL_PRICES as the operator's
 * override, with and without `cachedInput`, read through loadConfig as the server reads it.
 *
 * Expected figures are worked out by hand from OpenAI's published prices (USD per 1M tokens),
 * not from the table under test.
 */
import { describe, expect, it } from 'vitest';
import { Pricing, parsePrices } from '../src/accounts/pricing.js';
import { ConfigError, loadConfig } from '../src/config/index.js';
import type { Usage } from '../src/upstream/provider.js';

const LIST = new Pricing();

function usage(promptTokens: number, completionTokens: number, details: Pick<Usage, 'cachedPromptTokens' | 'reasoningTokens'> = {}): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, ...details };
}

function pricesFrom(json: string): Pricing {
  return new Pricing(loadConfig({ MODEL_PRICES: json }).modelPrices);
}

function configProblems(json: string): string[] {
  try {
    loadConfig({ MODEL_PRICES: json });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`MODEL_PRICES=${json} was accepted`);
}

describe('cost of cached prompt tokens', () => {
  it('bills cached prompt tokens at the cached-input price and the rest at the input price (gpt-4o: $2.50 / $1.25 cached / $10)', () => {
    // 4,000 uncached × 2.5 + 6,000 cached × 1.25 + 1,000 × 10 = 27,500 µ$.
    expect(LIST.usageCost('gpt-4o', usage(10_000, 1_000, { cachedPromptTokens: 6_000 }))).toBeCloseTo(0.0275, 15);
    expect(LIST.cost('gpt-4o', 10_000, 1_000, 6_000)).toBeCloseTo(0.0275, 15);
  });

  it('bills every prompt token as uncached when the upstream did not say, or said none', () => {
    // 10,000 × 2.5 + 1,000 × 10 = 35,000 µ$.
    expect(LIST.usageCost('gpt-4o', usage(10_000, 1_000))).toBeCloseTo(0.035, 15);
    expect(LIST.usageCost('gpt-4o', usage(10_000, 1_000, { cachedPromptTokens: 0 }))).toBeCloseTo(0.035, 15);
    expect(LIST.cost('gpt-4o', 10_000, 1_000)).toBeCloseTo(0.035, 15);
  });

  it('applies the family’s cached price to a dated snapshot (gpt-4.1-mini-2025-04-14: $0.40 / $0.10 cached / $1.60)', () => {
    // 500,000 × 0.4 + 500,000 × 0.1 + 100,000 × 1.6 = 410,000 µ$.
    expect(LIST.usageCost('gpt-4.1-mini-2025-04-14', usage(1_000_000, 100_000, { cachedPromptTokens: 500_000 }))).toBeCloseTo(0.41, 15);
  });

  it('has the cached prices OpenAI publishes for the models it caches prompts of', () => {
    // One million cached prompt tokens and nothing else costs exactly the cached-input price.
    const published: Record<string, number> = {
      'gpt-5': 0.125,
      'gpt-5-mini': 0.025,
      'gpt-5-nano': 0.005,
      'gpt-4.1': 0.5,
      'gpt-4.1-mini': 0.1,
      'gpt-4.1-nano': 0.025,
      'gpt-4o': 1.25,
      'gpt-4o-mini': 0.075,
      o1: 7.5,
      o3: 0.5,
      'o3-mini': 0.55,
      'o4-mini': 0.275,
    };
    for (const [model, usd] of Object.entries(published)) {
      expect(LIST.cost(model, 1_000_000, 0, 1_000_000), model).toBeCloseTo(usd, 12);
    }
  });

  it('bills cached tokens at the input price for a model without a cached price (gpt-4-turbo: $10 / $30)', () => {
    // 1,000 × 10 + 100 × 30 = 13,000 µ$, cached or not.
    expect(LIST.usageCost('gpt-4-turbo', usage(1_000, 100, { cachedPromptTokens: 1_000 }))).toBeCloseTo(0.013, 15);
    expect(LIST.usageCost('gpt-4-turbo', usage(1_000, 100))).toBeCloseTo(0.013, 15);
  });

  it('never counts more cached tokens than prompt tokens, nor a negative number', () => {
    // All 100 prompt tokens cached: 100 × 1.25 = 125 µ$, not a negative uncached remainder.
    expect(LIST.usageCost('gpt-4o', usage(100, 0, { cachedPromptTokens: 500 }))).toBeCloseTo(0.000125, 15);
    expect(LIST.usageCost('gpt-4o', usage(100, 0, { cachedPromptTokens: -5 }))).toBeCloseTo(0.00025, 15);
  });

  it('still has no price for an unknown model, and the simulator is free even with cache hits', () => {
    expect(LIST.usageCost('llama-3-70b', usage(1_000, 10, { cachedPromptTokens: 500 }))).toBeNull();
    expect(LIST.usageCost('simulator', usage(1_000, 10, { cachedPromptTokens: 500, reasoningTokens: 5 }))).toBe(0);
  });
});

describe('cost of reasoning tokens', () => {
  it('bills them as output, inside the completion tokens and never on top (o4-mini: $1.10 / $4.40)', () => {
    // 2,000 × 1.1 + 1,500 completion (1,200 of them reasoning) × 4.4 = 8,800 µ$.
    expect(LIST.usageCost('o4-mini', usage(2_000, 1_500, { reasoningTokens: 1_200 }))).toBeCloseTo(0.0088, 15);
    expect(LIST.usageCost('o4-mini', usage(2_000, 1_500, { reasoningTokens: 1_500 }))).toBeCloseTo(0.0088, 15);
  });

  it('with cached prompt tokens too (gpt-5: $1.25 / $0.125 cached / $10)', () => {
    // 1,000 × 1.25 + 3,000 × 0.125 + 2,000 (1,800 reasoning) × 10 = 1,250 + 375 + 20,000 = 21,625 µ$.
    expect(LIST.usageCost('gpt-5', usage(4_000, 2_000, { cachedPromptTokens: 3_000, reasoningTokens: 1_800 }))).toBeCloseTo(0.021625, 15);
  });
});

describe('MODEL_PRICES', () => {
  it('still reads the format without cachedInput; an overridden model then bills cached tokens at its own input price', () => {
    const pricing = pricesFrom('{"gpt-4o": {"input": 3, "output": 12}, "my-model": {"input": 1, "output": 2}}');
    expect(pricing.price('gpt-4o')).toEqual({ input: 3, output: 12 });
    // 1,000 cached × 3 (the override's input, not the list's $1.25 cached) + 10 × 12 = 3,120 µ$.
    expect(pricing.cost('gpt-4o', 1_000, 10, 1_000)).toBeCloseTo(0.00312, 15);
    expect(pricing.cost('my-model', 1_000, 10, 400)).toBeCloseTo(0.00102, 15);
    // Models it does not name keep their list prices, cached ones included.
    expect(pricing.cost('gpt-4o-mini', 1_000_000, 0, 1_000_000)).toBeCloseTo(0.075, 12);
  });

  it('reads cachedInput and bills cached tokens at it', () => {
    const pricing = pricesFrom('{"my-model": {"input": 2, "output": 4, "cachedInput": 0.5}, "gpt-4o": {"input": 2.5, "output": 10, "cachedInput": 0}}');
    expect(pricing.price('my-model')).toEqual({ input: 2, output: 4, cachedInput: 0.5 });
    // 400 × 2 + 600 × 0.5 + 100 × 4 = 1,500 µ$.
    expect(pricing.usageCost('my-model', usage(1_000, 100, { cachedPromptTokens: 600 }))).toBeCloseTo(0.0015, 15);
    // A free cache: only the 400 uncached tokens and the output count: 400 × 2.5 + 100 × 10 = 2,000 µ$.
    expect(pricing.usageCost('gpt-4o', usage(1_000, 100, { cachedPromptTokens: 600 }))).toBeCloseTo(0.002, 15);
  });

  it('ignores fields it does not know, as before', () => {
    expect(parsePrices('{"m": {"input": 1, "output": 2, "note": "ours"}}')).toEqual({ m: { input: 1, output: 2 } });
  });

  it('refuses a cachedInput that is not a non-negative number, naming the variable and the model', () => {
    for (const bad of ['-0.1', '"0.5"', 'null', 'true']) {
      const problems = configProblems(`{"my-model": {"input": 1, "output": 2, "cachedInput": ${bad}}}`);
      expect(problems, bad).toHaveLength(1);
      expect(problems[0], bad).toMatch(/^MODEL_PRICES "my-model": "cachedInput" must be a non-negative number/);
    }
  });

  it('still refuses an entry without input and output', () => {
    expect(configProblems('{"my-model": {"cachedInput": 0.5}}')[0]).toMatch(/^MODEL_PRICES "my-model" needs non-negative numbers "input" and "output"/);
  });
});
