/**
 * One request must never freeze the gateway (issue #12): a long prompt without spaces once
 * held the event loop for minutes while the tokenizer counted it (1 MB: over 6 minutes,
 * /health dead, SIGTERM ignored), and 80 KB of space-free output counted by the gateway
 * (an upstream that sends no usage) held it 3.7 s.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { CompleteDocument, CompletionStreamDocument } from '../src/generated/operations.js';
import { graphql, startGateway, subscribeOverWs, useGatewayWithFake, type TestGateway } from './helpers.js';

/** Random lower-case letters: one pre-token the whole length (the worst case for BPE). */
function spaceFree(length: number): string {
  const bytes = randomBytes(length);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(97 + (byte % 26));
  return text;
}

/**
 * The slowest /health answer allowed while the work runs. The target is 100 ms, and on a
 * quiet machine the slowest was 17–60 ms; the bound leaves room for a shared 2-core machine
 * running other test files at once, and still catches any freeze (the old counter held the
 * loop 3.7 s for 80 KB of output, and for minutes for 1 MB of prompt).
 */
const HEALTH_BOUND_MS = 250;

/**
 * Runs `work` while asking /health every 20 ms; returns its result, how long it took, and
 * the slowest /health answer seen meanwhile.
 */
async function whileProbingHealth<T>(gw: TestGateway, work: () => Promise<T>): Promise<{ value: T; ms: number; slowestHealthMs: number }> {
  let slowest = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${gw.baseUrl}/health`);
      await response.text();
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const started = performance.now();
  try {
    const value = await work();
    return { value, ms: performance.now() - started, slowestHealthMs: slowest };
  } finally {
    running = false;
    await probe;
  }
}

describe('a 1 MB prompt without spaces', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw.stop());

  it('is refused (CONTEXT_LENGTH_EXCEEDED) promptly while /health keeps answering', async () => {
    const prompt = spaceFree(1_000_000);
    const { value, ms, slowestHealthMs } = await whileProbingHealth(gw, () =>
      graphql(gw.httpUrl, CompleteDocument, { input: { prompt, maxTokens: 5 } }),
    );
    expect(value.errors?.[0]?.extensions?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    // About a second on these machines; the bound only keeps a loaded machine from flaking
    // (the old count took over 6 minutes).
    expect(ms).toBeLessThan(5_000);
    expect(slowestHealthMs).toBeLessThan(HEALTH_BOUND_MS);
  });
});

describe('counted by the gateway when the upstream sends no usage', () => {
  const ctx = useGatewayWithFake();
  const input = { messages: [{ role: 'USER' as const, content: 'Write it.' }], model: 'gpt-4o-mini' };

  it('counts ordinary output exactly, as the model’s tokenizer does', async () => {
    const text = 'The quick brown fox jumps over the lazy dog. Twice, in fact: the quick brown fox!';
    ctx.fake.script({ usage: 'omit', choices: [[text]] });
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, { input });
    expect(result.data?.complete.usage.completionTokens).toBe(encode(text).length);
  });

  for (const transport of ['mutation', 'graphql-ws'] as const) {
    it(`counts 200 KB of space-free output over ${transport} while /health keeps answering`, async () => {
      const pieces = Array.from({ length: 50 }, () => spaceFree(4_000));
      ctx.fake.script({ usage: 'omit', choices: [pieces] });
      const { value, slowestHealthMs } = await whileProbingHealth(ctx.gw, async () =>
        transport === 'mutation'
          ? (await graphql(ctx.gw.httpUrl, CompleteDocument, { input })).data?.complete.usage.completionTokens
          : (await subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, { input })).at(-1)?.data?.completionStream.usage
              ?.completionTokens,
      );
      // Random letters run 2–4 characters a token.
      expect(value).toBeGreaterThan(200_000 / 6);
      expect(value).toBeLessThan(200_000);
      expect(slowestHealthMs).toBeLessThan(HEALTH_BOUND_MS);
    });
  }
});
