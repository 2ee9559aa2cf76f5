import { describe, expect, it } from 'vitest';
import { CompleteDocument, CompletionStreamDocument, ModelsDocument } from '../src/generated/operations.js';
import { collectWs, graphql, wsClient, useGatewayWithFake } from './helpers.js';

const ctx = useGatewayWithFake();

describe('complete with a prompt', () => {
  it('sends every parameter to /v1/completions under its OpenAI name', async () => {
    const result = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: {
        model: 'gpt-3.5-turbo-instruct',
        prompt: 'Say this is a test',
        suffix: ' -- end',
        maxTokens: 7,
        temperature: 0.5,
        topP: 0.9,
        n: 2,
        stop: ['\n', 'END'],
        presencePenalty: 0.3,
        frequencyPenalty: -0.4,
        logprobs: 2,
        echo: true,
        seed: 42,
        user: 'user-123',
        logitBias: [
          { token: 50256, bias: -100 },
          { token: 1234, bias: 2.5 },
        ],
      },
    });
    expect(result.errors).toBeUndefined();
    const [request] = ctx.fake.requests;
    expect(request?.path).toBe('/v1/completions');
    expect(request?.body).toEqual({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Say this is a test',
      suffix: ' -- end',
      max_tokens: 7,
      temperature: 0.5,
      top_p: 0.9,
      n: 2,
      stop: ['\n', 'END'],
      presence_penalty: 0.3,
      frequency_penalty: -0.4,
      logprobs: 2,
      echo: true,
      seed: 42,
      user: 'user-123',
      logit_bias: { '50256': -100, '1234': 2.5 },
      stream: false,
    });
  });

  it('sends only what the client set, and the default model when none is given', async () => {
    await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(ctx.fake.requests[0]?.body).toEqual({ model: 'gpt-4o-mini', prompt: 'Hi', stream: false });
  });

  it('returns text, choices, finish reasons, logprobs and usage from the upstream', async () => {
    ctx.fake.script({ choices: [['Once', ' upon'], ['A', ' long', ' time']], finishReason: 'length', usage: { prompt_tokens: 11, completion_tokens: 5 } });
    const { data } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Tell me', n: 2, logprobs: 1 } });
    const completion = data?.complete;
    expect(completion?.text).toBe('Once upon');
    expect(completion?.choices.map((c) => [c.index, c.text, c.finishReason])).toEqual([
      [0, 'Once upon', 'LENGTH'],
      [1, 'A long time', 'LENGTH'],
    ]);
    expect(completion?.choices[1]?.logprobs?.map((l) => l.token)).toEqual(['A', ' long', ' time']);
    expect(completion?.choices[1]?.logprobs?.[0]?.topLogprobs).toHaveLength(1);
    expect(completion?.usage).toMatchObject({ promptTokens: 11, completionTokens: 5, totalTokens: 16 });
    expect(completion?.id).toMatch(/^cmpl-/);
    expect(completion?.model).toBe('gpt-4o-mini');
  });
});

describe('complete with messages', () => {
  it('sends messages and parameters to /v1/chat/completions under their OpenAI names', async () => {
    await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: {
        model: 'gpt-4o',
        messages: [
          { role: 'SYSTEM', content: 'Be brief.' },
          { role: 'USER', content: 'Hello?' },
          { role: 'ASSISTANT', content: 'Hi.' },
          { role: 'USER', content: 'How are you?' },
        ],
        maxTokens: 50,
        temperature: 0,
        topP: 1,
        n: 1,
        stop: ['.'],
        presencePenalty: 1,
        frequencyPenalty: 1,
        logprobs: 3,
        seed: 7,
        user: 'u',
        logitBias: [{ token: 10, bias: 1 }],
      },
    });
    const [request] = ctx.fake.requests;
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.body).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello?' },
        { role: 'assistant', content: 'Hi.' },
        { role: 'user', content: 'How are you?' },
      ],
      max_tokens: 50,
      temperature: 0,
      top_p: 1,
      n: 1,
      stop: ['.'],
      presence_penalty: 1,
      frequency_penalty: 1,
      logprobs: true,
      top_logprobs: 3,
      seed: 7,
      user: 'u',
      logit_bias: { '10': 1 },
      stream: false,
    });
  });

  it('uses max_completion_tokens for reasoning models, which refuse max_tokens', async () => {
    await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { model: 'o3-mini', messages: [{ role: 'USER', content: 'Hi' }], maxTokens: 100 },
    });
    expect(ctx.fake.requests[0]?.body).toMatchObject({ max_completion_tokens: 100 });
    expect(ctx.fake.requests[0]?.body).not.toHaveProperty('max_tokens');
  });

  it('returns the same shape as a text completion', async () => {
    ctx.fake.script({ choices: [['Fine', ', thanks']], usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const { data } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { messages: [{ role: 'USER', content: 'How are you?' }], logprobs: 2 },
    });
    expect(data?.complete.text).toBe('Fine, thanks');
    expect(data?.complete.choices).toHaveLength(1);
    expect(data?.complete.choices[0]?.finishReason).toBe('STOP');
    expect(data?.complete.choices[0]?.logprobs?.map((l) => l.token)).toEqual(['Fine', ', thanks']);
    expect(data?.complete.usage).toMatchObject({ promptTokens: 9, completionTokens: 2, totalTokens: 11 });
    expect(data?.complete.id).toMatch(/^chatcmpl-/);
  });
});

describe('streams', () => {
  it('asks the upstream for streamed usage and sends the same parameters', async () => {
    const client = wsClient(ctx.gw.wsUrl);
    try {
      await collectWs(client, CompletionStreamDocument, {
        input: { prompt: 'Hi', maxTokens: 3, temperature: 0.2, stop: ['x'], n: 1 },
      });
      await collectWs(client, CompletionStreamDocument, {
        input: { messages: [{ role: 'USER', content: 'Hi' }], maxTokens: 3 },
      });
    } finally {
      await client.dispose();
    }
    expect(ctx.fake.requests.map((r) => [r.path, r.body?.['stream'], r.body?.['stream_options']])).toEqual([
      ['/v1/completions', true, { include_usage: true }],
      ['/v1/chat/completions', true, { include_usage: true }],
    ]);
    expect(ctx.fake.requests[0]?.body).toMatchObject({ prompt: 'Hi', max_tokens: 3, temperature: 0.2, stop: ['x'], n: 1 });
    expect(ctx.fake.requests[1]?.body).toMatchObject({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
  });
});

describe('finish reasons', () => {
  it.each([
    ['stop', 'STOP'],
    ['length', 'LENGTH'],
    ['content_filter', 'CONTENT_FILTER'],
    ['tool_calls', 'TOOL_CALLS'],
    ['eos_token', 'OTHER'],
  ])('maps the upstream reason %s to %s, never dropping it', async (raw, mapped) => {
    ctx.fake.script({ finishReason: raw });
    const { data } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { prompt: 'Hi' } });
    expect(data?.complete.choices[0]?.finishReason).toBe(mapped);
  });
});

describe('models', () => {
  it("lists the upstream's models with the context window the gateway knows", async () => {
    ctx.fake.script({ models: ['gpt-4o-mini', 'text-davinci-003', 'llama3.1:8b'] });
    const { data } = await graphql(ctx.gw.httpUrl, ModelsDocument, {});
    expect(data?.models.map((m) => [m.id, m.contextWindow])).toEqual([
      ['gpt-4o-mini', 128000],
      ['text-davinci-003', 4097],
      ['llama3.1:8b', null],
    ]);
    expect(ctx.fake.requests[0]?.path).toBe('/v1/models');
  });
});
