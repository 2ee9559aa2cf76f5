import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import type { ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { collectSse, graphql, useGatewayWithFake, subscribeOverWs } from './helpers.js';

const ctx = useGatewayWithFake();

type Chunk = CompletionStreamSubscription['completionStream'];

function chunks(results: ExecutionResult<CompletionStreamSubscription>[]): Chunk[] {
  for (const r of results) expect(r.errors).toBeUndefined();
  return results.map((r) => {
    if (!r.data) throw new Error('payload without data');
    return r.data.completionStream;
  });
}

const transports = {
  'graphql-ws': (input: CompletionInput) => subscribeOverWs(ctx.gw.wsUrl, CompletionStreamDocument, { input }),
  SSE: (input: CompletionInput) => collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input }),
};

describe.each(Object.entries(transports))('over %s', (_name, subscribe) => {
  it('yields each upstream piece in order, with the text so far, and ends with finish reason and usage', async () => {
    ctx.fake.script({ choices: [['The', ' cat', ' sat']], usage: { prompt_tokens: 4, completion_tokens: 3 } });
    const got = chunks(await subscribe({ messages: [{ role: 'USER', content: 'Go' }] }));
    expect(got.map((c) => c.text)).toEqual(['The', ' cat', ' sat', '']);
    expect(got.map((c) => c.accumulatedText)).toEqual(['The', 'The cat', 'The cat sat', 'The cat sat']);
    expect(got.slice(0, -1).every((c) => c.finishReason === null && c.usage === null)).toBe(true);
    expect(got.at(-1)?.finishReason).toBe('STOP');
    expect(got.at(-1)?.usage).toMatchObject({ promptTokens: 4, completionTokens: 3, totalTokens: 7 });
    expect(new Set(got.map((c) => c.completionId)).size).toBe(1);
  });

  it('interleaves n choices, each chunk saying its index', async () => {
    ctx.fake.script({ choices: [['a1', 'a2'], ['b1', 'b2'], ['c1', 'c2']] });
    const got = chunks(await subscribe({ prompt: 'Go', n: 3 }));
    const text = (i: number): string => got.filter((c) => c.index === i).map((c) => c.text).join('');
    expect([text(0), text(1), text(2)]).toEqual(['a1a2', 'b1b2', 'c1c2']);
    expect(got.slice(0, 3).map((c) => c.index)).toEqual([0, 1, 2]);
    for (const i of [0, 1, 2]) {
      const last = got.filter((c) => c.index === i).at(-1);
      expect(last?.finishReason).toBe('STOP');
    }
    expect(got.filter((c) => c.usage !== null)).toHaveLength(1);
    expect(got.at(-1)?.usage?.completionTokens).toBe(6);
  });

  it('counts usage itself when the upstream sends no usage chunk', async () => {
    const pieces = ['Counting', ' tokens', ' locally', ' works', '.'];
    ctx.fake.script({ choices: [pieces], usage: 'omit' });
    const messages = [
      { role: 'SYSTEM' as const, content: 'You are terse.' },
      { role: 'USER' as const, content: 'Count for me' },
    ];
    const got = chunks(await subscribe({ model: 'gpt-4o', messages }));
    // OpenAI's chat accounting, computed here independently of the gateway.
    const promptTokens =
      3 + messages.reduce((sum, m) => sum + 3 + encode(m.role.toLowerCase()).length + encode(m.content).length, 0);
    const completionTokens = encode(pieces.join('')).length;
    expect(got.at(-1)?.usage).toMatchObject({ promptTokens, completionTokens, totalTokens: promptTokens + completionTokens });
  });

  it('strips <|im_end|> even when it arrives split across chunks', async () => {
    ctx.fake.script({ choices: [['Hello', ' world', '<|im', '_end', '|>']], finishReason: 'stop' });
    const got = chunks(await subscribe({ prompt: 'Hi' }));
    expect(got.map((c) => c.text).join('')).toBe('Hello world');
    expect(got.at(-1)?.accumulatedText).toBe('Hello world');
    expect(got.some((c) => c.text.includes('<|'))).toBe(false);
  });

  it('keeps a "<|" that turns out not to be a sentinel', async () => {
    ctx.fake.script({ choices: [['a <', '|b', ' c']] });
    const got = chunks(await subscribe({ prompt: 'Hi' }));
    expect(got.at(-1)?.accumulatedText).toBe('a <|b c');
  });

  // Held back in case a sentinel followed; the stream ended instead, so it is text.
  it.each(['<', '<|im', '<|endoftext|'])('keeps the end of the text when it is %j, the start of a sentinel that never came', async (tail) => {
    ctx.fake.script({ choices: [['x ', tail]] });
    const got = chunks(await subscribe({ prompt: 'Hi' }));
    expect(got.map((c) => c.text).join('')).toBe(`x ${tail}`);
    expect(got.at(-1)?.accumulatedText).toBe(`x ${tail}`);
    expect(got.at(-1)?.finishReason).toBe('STOP');
  });

  it('keeps each choice’s own unfinished tail', async () => {
    ctx.fake.script({ choices: [['a', '<|im'], ['b', '<']] });
    const got = chunks(await subscribe({ prompt: 'Hi', n: 2 }));
    const last = (i: number): string | undefined => got.filter((c) => c.index === i).at(-1)?.accumulatedText;
    expect([last(0), last(1)]).toEqual(['a<|im', 'b<']);
  });
});

describe('non-streamed text', () => {
  it('strips <|im_end|> and other end sentinels from the mutation’s text', async () => {
    ctx.fake.script({ choices: [['Answer', '<|im_end|>']] });
    const first = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(first.data?.complete.text).toBe('Answer');
    ctx.fake.script({ choices: [['Llama says hi', '<|eot_id|>']] });
    const second = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(second.data?.complete.choices[0]?.text).toBe('Llama says hi');
  });

  it('counts usage itself when the upstream reports none', async () => {
    ctx.fake.script({ choices: [['Ten', ' apples']], usage: 'omit' });
    const { data } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'gpt-4o', prompt: 'How many apples?' } });
    const promptTokens = encode('How many apples?').length;
    const completionTokens = encode('Ten apples').length;
    expect(data?.complete.usage).toMatchObject({ promptTokens, completionTokens, totalTokens: promptTokens + completionTokens });
  });
});
