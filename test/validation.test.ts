import { describe, expect, it } from 'vitest';
import { CompleteDocument, CompletionStreamDocument, type CompletionInput } from '../src/generated/operations.js';
import { collectSse, collectWs, graphql, wsClient, useGatewayWithFake } from './helpers.js';

const ctx = useGatewayWithFake();

const chat = [{ role: 'USER' as const, content: 'Hi' }];

// [what is wrong, input, the field the message must name]
const badInputs: [string, CompletionInput, string][] = [
  ['temperature above 2', { prompt: 'x', temperature: 2.1 }, 'temperature'],
  ['temperature below 0', { prompt: 'x', temperature: -0.1 }, 'temperature'],
  ['topP above 1', { prompt: 'x', topP: 1.5 }, 'topP'],
  ['topP below 0', { messages: chat, topP: -1 }, 'topP'],
  ['presencePenalty above 2', { prompt: 'x', presencePenalty: 2.5 }, 'presencePenalty'],
  ['frequencyPenalty below -2', { prompt: 'x', frequencyPenalty: -3 }, 'frequencyPenalty'],
  ['maxTokens of 0', { prompt: 'x', maxTokens: 0 }, 'maxTokens'],
  ['negative maxTokens', { messages: chat, maxTokens: -5 }, 'maxTokens'],
  ['n of 0', { prompt: 'x', n: 0 }, 'n'],
  ['n above 128', { prompt: 'x', n: 129 }, 'n'],
  ['five stop sequences', { prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
  ['an empty stop sequence', { prompt: 'x', stop: [''] }, 'stop'],
  ['neither prompt nor messages', { model: 'gpt-4o' }, 'prompt'],
  ['both prompt and messages', { prompt: 'x', messages: chat }, 'prompt'],
  ['an empty messages list', { messages: [] }, 'messages'],
  ['an empty message content', { messages: [{ role: 'USER', content: '  ' }] }, 'messages[0].content'],
  ['suffix with messages', { messages: chat, suffix: 'x' }, 'suffix'],
  ['echo with messages', { messages: chat, echo: true }, 'echo'],
  ['logprobs above 5 for a prompt', { prompt: 'x', logprobs: 6 }, 'logprobs'],
  ['logprobs above 20 for messages', { messages: chat, logprobs: 21 }, 'logprobs'],
  ['a logit bias above 100', { prompt: 'x', logitBias: [{ token: 1, bias: 101 }] }, 'logitBias[0].bias'],
  ['a negative token id in logitBias', { prompt: 'x', logitBias: [{ token: -1, bias: 1 }] }, 'logitBias[0].token'],
  ['an empty model', { prompt: 'x', model: ' ' }, 'model'],
  // Strings that reach logs and the ledger: a 900 KB model name was stored twice per row (issue #12).
  ['a 900 KB model name', { prompt: 'x', model: 'm'.repeat(900_000) }, 'model'],
  ['a model name of 257 characters', { prompt: 'x', model: 'm'.repeat(257) }, 'model'],
  ['a user of 257 characters', { prompt: 'x', user: 'u'.repeat(257) }, 'user'],
  ['a stop sequence of 257 characters', { prompt: 'x', stop: ['ok', 's'.repeat(257)] }, 'stop[1]'],
];

describe('bad input is refused before any upstream call', () => {
  it.each(badInputs)('refuses %s with BAD_USER_INPUT naming the field', async (_what, input, field) => {
    const { data, errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input });
    expect(data).toBeNull();
    expect(errors).toHaveLength(1);
    expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(errors?.[0]?.extensions?.['field']).toBe(field);
    expect(errors?.[0]?.message.startsWith(`${field}:`)).toBe(true);
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('refuses bad input on a graphql-ws subscription with the same error', async () => {
    const client = wsClient(ctx.gw.wsUrl);
    try {
      const results = await collectWs(client, CompletionStreamDocument, { input: { prompt: 'x', temperature: 9 } });
      expect(results).toHaveLength(1);
      expect(results[0]?.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(results[0]?.errors?.[0]?.message).toMatch(/^temperature:/);
    } finally {
      await client.dispose();
    }
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('refuses bad input on an SSE subscription with the same error', async () => {
    const results = await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, { input: { messages: [] } });
    expect(results).toHaveLength(1);
    expect(results[0]?.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('accepts the edges of every range', async () => {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: {
        prompt: 'x',
        temperature: 2,
        topP: 0,
        presencePenalty: -2,
        frequencyPenalty: 2,
        maxTokens: 1,
        n: 128,
        stop: ['a', 'b', 'c', 'd'.repeat(256)],
        logprobs: 5,
        logitBias: [{ token: 0, bias: -100 }],
        user: 'u'.repeat(256),
      },
    });
    expect(errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });
});

describe('context window', () => {
  // "hello" repeated: one token per repetition in every OpenAI encoding.
  const words = (count: number): string => Array.from({ length: count }, () => 'hello').join(' ');

  it('refuses prompt + maxTokens over text-davinci-003’s 4097 tokens with CONTEXT_LENGTH_EXCEEDED', async () => {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { model: 'text-davinci-003', prompt: words(4000), maxTokens: 200 },
    });
    expect(errors?.[0]?.extensions?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(errors?.[0]?.extensions?.['contextWindow']).toBe(4097);
    expect(errors?.[0]?.extensions?.['requestedTokens']).toBe(4200);
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('lets the same prompt through with a maxTokens that fits', async () => {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { model: 'text-davinci-003', prompt: words(4000), maxTokens: 97 },
    });
    expect(errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('counts chat messages with their framing tokens against gpt-4’s 8192', async () => {
    // 8000 content tokens + 3 framing + 1 role token + 3 reply priming = 8007 prompt tokens.
    const messages = [{ role: 'USER' as const, content: words(8000) }];
    const over = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'gpt-4', messages, maxTokens: 186 } });
    expect(over.errors?.[0]?.extensions?.['requestedTokens']).toBe(8193);
    const fits = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'gpt-4', messages, maxTokens: 185 } });
    expect(fits.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('knows dated snapshots of a model', async () => {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { model: 'gpt-4-0613', prompt: words(9000) },
    });
    expect(errors?.[0]?.extensions?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
  });

  it('does not guess for models it does not know (Ollama, vLLM …)', async () => {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, {
      input: { model: 'llama3.1:8b', prompt: words(9000), maxTokens: 100_000 },
    });
    expect(errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses an over-long subscription before calling the upstream', async () => {
    const results = await collectSse(ctx.gw.httpUrl, CompletionStreamDocument, {
      input: { model: 'gpt-3.5-turbo-instruct', prompt: words(5000) },
    });
    expect(results[0]?.errors?.[0]?.extensions?.['code']).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(ctx.fake.requests).toHaveLength(0);
  });
});
