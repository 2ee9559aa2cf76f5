/**
 * OpenAI's answers in the gateway's terms, at memory speed: the cases the fake upstream
 * does not produce (servers that leave fields out) and what must stay null.
 */
import { describe, expect, it } from 'vitest';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { chatDeltas, chatResult, usage } from '../src/upstream/openai/response.js';
import type { StreamDelta } from '../src/upstream/provider.js';

const HEADER = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' } as const;

function deltasOf(choices: unknown[], extra: Partial<ChatCompletionChunk> = {}): StreamDelta[] {
  const out: StreamDelta[] = [];
  chatDeltas({ ...HEADER, choices, ...extra } as ChatCompletionChunk, out);
  return out;
}

describe('streamed chat chunks', () => {
  it('a text delta has no tool-call pieces and no refusal', () => {
    const [d] = deltasOf([{ index: 0, delta: { content: 'Hi' }, finish_reason: null }]);
    expect(d).toMatchObject({ index: 0, text: 'Hi', toolCallDeltas: null, refusal: null, finishReason: null });
  });

  it('a chunk with only tool-call pieces is kept, its pieces mapped', () => {
    const deltas = deltasOf([
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } },
            { index: 1, function: { arguments: '{"x"' } },
            { index: 2, function: {} },
          ],
        },
        finish_reason: null,
      },
    ]);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]?.text).toBe('');
    expect(deltas[0]?.toolCallDeltas).toEqual([
      { index: 0, id: 'call_a', name: 'f', argumentsDelta: '' },
      { index: 1, id: null, name: null, argumentsDelta: '{"x"' },
      { index: 2, id: null, name: null, argumentsDelta: '' },
    ]);
  });

  it('a call without an index takes its place in the list', () => {
    const [d] = deltasOf([
      {
        index: 0,
        delta: { tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{}' } }, { id: 'b', function: { name: 'g', arguments: '{}' } }] },
        finish_reason: null,
      },
    ]);
    expect(d?.toolCallDeltas?.map((c) => [c.index, c.id])).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
  });

  it('a chunk with only a refusal is kept; the opening chunks (empty content, empty refusal) are not', () => {
    const deltas = deltasOf([
      { index: 0, delta: { role: 'assistant', content: '', refusal: null }, finish_reason: null },
      { index: 1, delta: { role: 'assistant', content: null, refusal: '' }, finish_reason: null },
      { index: 1, delta: { refusal: 'No.' }, finish_reason: null },
      { index: 0, delta: { tool_calls: [] }, finish_reason: null },
    ]);
    expect(deltas.map((d) => [d.index, d.refusal, d.toolCallDeltas])).toEqual([[1, 'No.', null]]);
  });

  it('usage details become cached and reasoning tokens; absent, they stay out', () => {
    const [d] = deltasOf([], {
      usage: {
        prompt_tokens: 10,
        completion_tokens: 4,
        total_tokens: 14,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 3 },
      },
    });
    expect(d).toMatchObject({ index: -1, usage: { promptTokens: 10, completionTokens: 4, totalTokens: 14, cachedPromptTokens: 8, reasoningTokens: 3 } });
    expect(usage({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 })).toStrictEqual({ promptTokens: 1, completionTokens: 2, totalTokens: 3 });
    expect(usage({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: {} })).toStrictEqual({
      promptTokens: 1,
      completionTokens: 2,
      totalTokens: 3,
    });
  });
});

describe('a whole chat completion', () => {
  const completion = (message: Record<string, unknown>): ChatCompletion =>
    ({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message, logprobs: null, finish_reason: 'tool_calls' }] }) as unknown as ChatCompletion;

  it('function calls become toolCalls; custom tool calls, which the gateway never offers, are left out', () => {
    const result = chatResult(
      completion({
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
          { id: 'call_b', type: 'custom', custom: { name: 'g', input: 'free text' } },
        ],
      }),
    );
    expect(result.choices[0]).toMatchObject({ text: '', refusal: null, toolCalls: [{ id: 'call_a', name: 'f', arguments: '{"a":1}' }] });
  });

  it('no calls and an empty list alike are null; a refusal is kept', () => {
    expect(chatResult(completion({ role: 'assistant', content: 'x', refusal: null, tool_calls: [] })).choices[0]?.toolCalls).toBeNull();
    expect(chatResult(completion({ role: 'assistant', content: null, refusal: 'No.' })).choices[0]).toMatchObject({ text: '', refusal: 'No.', toolCalls: null });
  });
});
