/** The routing's targets and the fallback plan (src/completion/routing.ts), at memory speed. */
import { describe, expect, it } from 'vitest';
import { Routing } from '../src/completion/routing.js';
import { prepareRequest } from '../src/completion/request.js';
import { SimulatorProvider } from '../src/upstream/simulator/index.js';

const main = new SimulatorProvider({ tokenDelayMs: 0 });
const secondProvider = new SimulatorProvider({ tokenDelayMs: 0 });
const names = (targets: { model: string; upstream: string; provider: unknown }[]): string[] =>
  targets.map((t) => `${t.upstream}:${t.model}${t.provider === secondProvider ? ' (second)' : ''}`);

describe('Routing', () => {
  it('tries the requested model, then FALLBACK_MODELS on the main upstream, then the second upstream', () => {
    const routing = new Routing({ main, mainName: 'primary', second: { provider: secondProvider, model: 'gpt-4o' } }, ['gpt-4.1', 'gpt-4']);
    expect(names(routing.targets('gpt-5'))).toEqual(['primary:gpt-5', 'primary:gpt-4.1', 'primary:gpt-4', 'fallback:gpt-4o (second)']);
  });

  it('does not try the requested model twice when it is also a fallback model', () => {
    const routing = new Routing({ main, mainName: 'primary', second: undefined }, ['gpt-4.1', 'gpt-5']);
    expect(names(routing.targets('gpt-5'))).toEqual(['primary:gpt-5', 'primary:gpt-4.1']);
  });

  it('asks the second upstream for the requested model when FALLBACK_MODEL is unset', () => {
    const routing = new Routing({ main, mainName: 'primary', second: { provider: secondProvider, model: undefined } }, []);
    expect(names(routing.targets('my-model'))).toEqual(['primary:my-model', 'fallback:my-model (second)']);
  });

  it('plans only the fallbacks whose window fits the prompt and whose model the key can bill; the first target always', async () => {
    const routing = new Routing({ main, mainName: 'primary', second: undefined }, ['gpt-4', 'gpt-4.1', 'gpt-4o']);
    // About 10,000 prompt tokens: over gpt-4's 8,192-token window, within the others'.
    const prepared = await prepareRequest({ model: 'gpt-5', prompt: 'hello '.repeat(10_000) });
    expect(prepared.promptTokens).toBeGreaterThan(8_192);
    const plan = routing.plan(prepared, (model) => model !== 'gpt-4o');
    expect(names(plan)).toEqual(['primary:gpt-5', 'primary:gpt-4.1']);
    // The first target is tried even when the predicate refuses it (precheck refused earlier).
    expect(names(routing.plan(prepared, () => false))).toEqual(['primary:gpt-5']);
  });
});
