/**
 * The built-in simulator, seen only through the gateway's public surface: GraphQL over
 * HTTP, graphql-ws and SSE against a gateway started with no OPENAI_API_KEY and no
 * OPENAI_BASE_URL. Token counts are checked against gpt-tokenizer, called here directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print, type ExecutionResult } from 'graphql';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as encodeP50k } from 'gpt-tokenizer/encoding/p50k_base';
import WebSocket from 'ws';
import {
  CompleteDocument,
  CompletionStreamDocument,
  ModelsDocument,
  type CompleteMutation,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { collectSse, collectWs, eventually, graphql, sse, startGateway, wsClient, type TestGateway } from './helpers.js';

type Completion = CompleteMutation['complete'];
type Chunk = CompletionStreamSubscription['completionStream'];

const QUESTION = [{ role: 'USER' as const, content: 'What is a GraphQL subscription?' }];

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway();
});

afterAll(async () => {
  await gw.stop();
});

/** Runs the `complete` mutation and fails the test on any GraphQL error. */
async function complete(input: CompletionInput, url = gw.httpUrl): Promise<Completion> {
  const result = await graphql(url, CompleteDocument, { input });
  expect(result.errors).toBeUndefined();
  if (!result.data) throw new Error('complete returned no data');
  return result.data.complete;
}

/** The error code of a `complete` that is expected to fail. */
async function completeErrorCode(input: CompletionInput): Promise<{ code: unknown; extensions: Record<string, unknown> }> {
  const result = await graphql(gw.httpUrl, CompleteDocument, { input });
  expect(result.data ?? null).toBeNull();
  const error = result.errors?.[0];
  expect(error).toBeDefined();
  return { code: error?.extensions?.code, extensions: error?.extensions ?? {} };
}

function chunksOf(results: ExecutionResult<CompletionStreamSubscription>[]): Chunk[] {
  return results.map((result) => {
    expect(result.errors).toBeUndefined();
    if (!result.data) throw new Error('stream payload without data');
    return result.data.completionStream;
  });
}

async function streamWs(input: CompletionInput, url = gw.wsUrl): Promise<Chunk[]> {
  const client = wsClient(url);
  try {
    return chunksOf(await collectWs(client, CompletionStreamDocument, { input }));
  } finally {
    await client.dispose();
  }
}

async function streamSse(input: CompletionInput): Promise<Chunk[]> {
  return chunksOf(await collectSse(gw.httpUrl, CompletionStreamDocument, { input }));
}

interface JoinedChoice {
  joined: string;
  lastAccumulated: string;
  finishReason: Chunk['finishReason'];
}

/** Per choice: the chunks' texts joined, the last chunk's accumulatedText, and the finish reason seen. */
function joinByChoice(chunks: Chunk[]): Map<number, JoinedChoice> {
  const choices = new Map<number, JoinedChoice>();
  for (const chunk of chunks) {
    const choice = choices.get(chunk.index) ?? { joined: '', lastAccumulated: '', finishReason: null };
    choice.joined += chunk.text;
    choice.lastAccumulated = chunk.accumulatedText;
    if (chunk.finishReason !== null) {
      // A choice finishes once.
      expect(choice.finishReason).toBeNull();
      choice.finishReason = chunk.finishReason;
    }
    choices.set(chunk.index, choice);
  }
  return choices;
}

describe('simulator as the offline upstream', () => {
  it('lists the simulator model, owned by something that says it is a simulator, with its 4097-token window', async () => {
    const result = await graphql(gw.httpUrl, ModelsDocument);
    expect(result.errors).toBeUndefined();
    const models = result.data?.models ?? [];
    expect(models.map((m) => m.id)).toEqual(['simulator']);
    expect(models[0]?.ownedBy).toMatch(/simulator/i);
    expect(models[0]?.contextWindow).toBe(4097);
  });

  it('logs at start-up that answers come from the SIMULATOR', () => {
    const lines = gw.logs.map((line) => JSON.parse(line) as { msg?: string; upstream?: string; defaultModel?: string });
    const listening = lines.find((line) => line.msg?.startsWith('gateway listening'));
    expect(listening?.msg).toContain('SIMULATOR');
    expect(listening?.upstream).toMatch(/simulator/i);
    expect(listening?.defaultModel).toBe('simulator');
  });

  it('labels its completions as simulated and defaults to the simulator model', async () => {
    const result = await complete({ messages: QUESTION });
    expect(result.model).toBe('simulator');
    expect(result.text).toMatch(/^Simulated reply/);
    expect(result.choices).toHaveLength(1);
    expect(result.choices[0]?.text).toBe(result.text);
    expect(result.id).not.toBe('');
  });
});

describe('determinism', () => {
  it('gives the same text for the same input at temperature 0, across calls and across separately started gateways', async () => {
    const input: CompletionInput = { messages: QUESTION, temperature: 0 };
    const first = await complete(input);
    const second = await complete(input);
    expect(second.text).toBe(first.text);
    expect(second.id).not.toBe(first.id);

    const other = await startGateway();
    try {
      expect((await complete(input, other.httpUrl)).text).toBe(first.text);
    } finally {
      await other.stop();
    }
    // A different input gives a different answer: the text depends on the request.
    const different = await complete({ messages: [{ role: 'USER', content: 'Something else entirely' }], temperature: 0 });
    expect(different.text).not.toBe(first.text);
  });

  it('gives the same text for the same seed at temperature 1.2, and a different text for a different seed', async () => {
    const seeded = (seed: number): CompletionInput => ({ messages: QUESTION, temperature: 1.2, seed });
    const a1 = await complete(seeded(42));
    const a2 = await complete(seeded(42));
    const b = await complete(seeded(7));
    expect(a2.text).toBe(a1.text);
    expect(b.text).not.toBe(a1.text);
  });

  it('varies the text between calls at temperature 1 without a seed', async () => {
    const input: CompletionInput = { messages: QUESTION, temperature: 1 };
    const texts = await Promise.all([complete(input), complete(input), complete(input), complete(input)]);
    // Two identical sampled answers are possible but rare; three of four alike would mean no sampling.
    expect(new Set(texts.map((t) => t.text)).size).toBeGreaterThanOrEqual(3);
  });
});

describe('generation parameters', () => {
  it('stops at maxTokens with finish reason LENGTH and exactly maxTokens completion tokens', async () => {
    const limited = await complete({ messages: QUESTION, maxTokens: 5 });
    expect(limited.choices[0]?.finishReason).toBe('LENGTH');
    expect(limited.usage.completionTokens).toBe(5);

    const free = await complete({ messages: QUESTION });
    expect(free.choices[0]?.finishReason).toBe('STOP');
    expect(free.usage.completionTokens).toBeGreaterThan(5);
    // The cut text is the beginning of the free answer.
    expect(free.text.startsWith(limited.text)).toBe(true);
    expect(limited.text.length).toBeLessThan(free.text.length);
  });

  it('ends the text just before a stop sequence taken from an unconstrained answer, with finish reason STOP', async () => {
    const free = await complete({ messages: QUESTION });
    // A word from after the first sentence (so not from the echoed question).
    const rest = free.text.slice(free.text.indexOf('.') + 1);
    const words = rest.match(/[A-Za-z]{5,}/g) ?? [];
    const word = words[Math.floor(words.length / 2)];
    if (word === undefined) throw new Error(`no word to stop at in ${JSON.stringify(free.text)}`);
    const at = free.text.indexOf(word);
    expect(at).toBeGreaterThan(0);

    const stopped = await complete({ messages: QUESTION, stop: [word] });
    expect(stopped.text).toBe(free.text.slice(0, at));
    expect(stopped.text).not.toContain(word);
    expect(stopped.choices[0]?.finishReason).toBe('STOP');
    expect(stopped.usage.completionTokens).toBe(encodeCl100k(stopped.text).length);

    // A token budget the full answer would exceed: the stop sequence comes first, so STOP, not LENGTH.
    const budget = free.usage.completionTokens - 1;
    expect((await complete({ messages: QUESTION, maxTokens: budget })).choices[0]?.finishReason).toBe('LENGTH');
    const both = await complete({ messages: QUESTION, maxTokens: budget, stop: [word] });
    expect(both.text).toBe(stopped.text);
    expect(both.choices[0]?.finishReason).toBe('STOP');
  });

  it('returns n = 3 different choices with indexes 0..2', async () => {
    const result = await complete({ messages: QUESTION, n: 3 });
    expect(result.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const texts = result.choices.map((c) => c.text);
    expect(new Set(texts).size).toBe(3);
    expect(result.text).toBe(texts[0]);
    for (const choice of result.choices) expect(choice.finishReason).toBe('STOP');
    // Usage counts every choice's tokens.
    expect(result.usage.completionTokens).toBe(texts.reduce((sum, text) => sum + encodeCl100k(text).length, 0));
  });

  it('streams n = 3 as chunks tagged with index 0..2 whose joined texts equal the mutation choices', async () => {
    const input: CompletionInput = { messages: QUESTION, n: 3, maxTokens: 12 };
    const [result, chunks] = await Promise.all([complete(input), streamWs(input)]);
    const joined = joinByChoice(chunks);
    expect([...joined.keys()].sort()).toEqual([0, 1, 2]);
    // The choices are interleaved, not sent one after another.
    expect(chunks.slice(0, 3).map((c) => c.index)).toEqual([0, 1, 2]);
    for (const choice of result.choices) {
      expect(joined.get(choice.index)?.joined).toBe(choice.text);
      expect(joined.get(choice.index)?.finishReason).toBe(choice.finishReason);
    }
  });

  it('puts the prompt in front of the text with echo', async () => {
    const prompt = 'The three primary colours are';
    const plain = await complete({ prompt });
    const echoed = await complete({ prompt, echo: true });
    expect(echoed.text.startsWith(prompt)).toBe(true);
    expect(echoed.text).toBe(prompt + plain.text);
    // The echo is not generated, so it is not counted as completion tokens.
    expect(echoed.usage).toEqual(plain.usage);
  });
});

describe('usage from the real tokenizer', () => {
  it("counts chat prompt tokens by OpenAI's formula with o200k_base for gpt-4o, and completion tokens of the text", async () => {
    const messages = [
      { role: 'SYSTEM' as const, content: 'You are a terse assistant. Answer in one sentence.' },
      { role: 'USER' as const, content: 'Why is the sky blue? Explain Rayleigh scattering.' },
      { role: 'ASSISTANT' as const, content: 'Short wavelengths scatter more.' },
      { role: 'USER' as const, content: 'And sunsets — why are they red? ✨' },
    ];
    const result = await complete({ model: 'gpt-4o', messages });
    const chatFormula = (encode: (text: string) => number[]): number =>
      messages.reduce((sum, m) => sum + 3 + encode(m.role.toLowerCase()).length + encode(m.content).length, 3);
    const expectedPrompt = chatFormula(encodeO200k);
    // These messages count differently in cl100k_base, so the count really is o200k's.
    expect(chatFormula(encodeCl100k)).not.toBe(expectedPrompt);
    expect(result.model).toBe('gpt-4o');
    expect(result.usage.promptTokens).toBe(expectedPrompt);
    expect(result.usage.completionTokens).toBe(encodeO200k(result.text).length);
    expect(result.usage.totalTokens).toBe(result.usage.promptTokens + result.usage.completionTokens);
  });

  it('counts prompt tokens with cl100k_base for gpt-3.5-turbo-instruct and excludes the echo from completion tokens', async () => {
    const prompt = 'Écris un limerick sur un tokenizer nommé Bob — qui comptait tout deux fois :';
    // This prompt counts differently in o200k_base (the estimate for unknown models), so the count really is cl100k's.
    expect(encodeO200k(prompt).length).not.toBe(encodeCl100k(prompt).length);
    const result = await complete({ model: 'gpt-3.5-turbo-instruct', prompt, echo: true });
    expect(result.text.startsWith(prompt)).toBe(true);
    const generated = result.text.slice(prompt.length);
    expect(generated.length).toBeGreaterThan(0);
    expect(result.usage.promptTokens).toBe(encodeCl100k(prompt).length);
    expect(result.usage.completionTokens).toBe(encodeCl100k(generated).length);
    expect(result.usage.totalTokens).toBe(encodeCl100k(prompt).length + encodeCl100k(generated).length);
  });
});

describe.each([
  { transport: 'graphql-ws', stream: (input: CompletionInput) => streamWs(input) },
  { transport: 'SSE', stream: (input: CompletionInput) => streamSse(input) },
])('stream equals mutation over $transport', ({ stream }) => {
  it.each<{ name: string; input: CompletionInput }>([
    { name: 'chat', input: { messages: QUESTION } },
    { name: 'chat cut by maxTokens', input: { model: 'gpt-4o', messages: QUESTION, maxTokens: 7 } },
    { name: 'prompt with echo and stop', input: { prompt: 'Tell me about streaming', echo: true, stop: ['GraphiQL', 'token'] } },
    { name: 'two seeded choices', input: { messages: QUESTION, n: 2, temperature: 1.5, seed: 1234 } },
  ])('$name: joined chunks, accumulatedText, finish reasons and usage match', async ({ input }) => {
    const [result, chunks] = await Promise.all([complete(input), stream(input)]);
    const joined = joinByChoice(chunks);
    expect(joined.size).toBe(result.choices.length);
    for (const choice of result.choices) {
      const streamed = joined.get(choice.index);
      expect(streamed?.joined).toBe(choice.text);
      expect(streamed?.lastAccumulated).toBe(choice.text);
      expect(streamed?.finishReason).toBe(choice.finishReason);
    }
    // One completion: one completion id and model on every chunk.
    expect(new Set(chunks.map((c) => c.completionId)).size).toBe(1);
    expect(new Set(chunks.map((c) => c.model))).toEqual(new Set([result.model]));
    // Usage only on the final chunk, equal to the mutation's.
    const last = chunks.at(-1);
    expect(last?.usage).toEqual(result.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(last?.finishReason).not.toBeNull();
  });
});

describe('context window check, offline', () => {
  // ' word' is one token in cl100k_base and p50k_base alike.
  const longPrompt = `word${' word'.repeat(4999)}`;

  it('refuses a ~5000-token prompt for the simulator model (window 4097) with CONTEXT_LENGTH_EXCEEDED', async () => {
    const tokens = encodeCl100k(longPrompt).length;
    expect(tokens).toBeGreaterThan(4097);
    const { code, extensions } = await completeErrorCode({ model: 'simulator', prompt: longPrompt, maxTokens: 16 });
    expect(code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(extensions).toMatchObject({ model: 'simulator', contextWindow: 4097, requestedTokens: tokens + 16 });
  });

  it('refuses it for text-davinci-003, counted with p50k_base', async () => {
    const tokens = encodeP50k(longPrompt).length;
    const { code, extensions } = await completeErrorCode({ model: 'text-davinci-003', prompt: longPrompt });
    expect(code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(extensions).toMatchObject({ model: 'text-davinci-003', contextWindow: 4097, requestedTokens: tokens + 1 });
  });

  it('refuses it on the subscription too, as an error payload', async () => {
    const client = wsClient(gw.wsUrl);
    try {
      const results = await collectWs(client, CompletionStreamDocument, { input: { model: 'simulator', prompt: longPrompt } });
      expect(results).toHaveLength(1);
      expect(results[0]?.errors?.[0]?.extensions?.['code']).toBe('CONTEXT_LENGTH_EXCEEDED');
    } finally {
      await client.dispose();
    }
  });

  it('accepts a prompt that fits the window', async () => {
    const fits = `word${' word'.repeat(2999)}`;
    const result = await complete({ model: 'simulator', prompt: fits, maxTokens: 4 });
    expect(result.usage.promptTokens).toBe(encodeCl100k(fits).length);
    expect(result.choices[0]?.finishReason).toBe('LENGTH');
  });
});

describe('pacing and cancellation with SIMULATOR_TOKEN_DELAY_MS=30', () => {
  let paced: TestGateway;
  const TEN_TOKENS: CompletionInput = { messages: QUESTION, maxTokens: 10 };

  beforeAll(async () => {
    paced = await startGateway({ SIMULATOR_TOKEN_DELAY_MS: '30' });
  });

  afterAll(async () => {
    await paced.stop();
  });

  it('spreads the chunks over time instead of sending them at once', async () => {
    const client = wsClient(paced.wsUrl);
    const arrivals: number[] = [];
    const chunks: Chunk[] = [];
    try {
      for await (const result of client.iterate<CompletionStreamSubscription>({
        query: print(CompletionStreamDocument),
        variables: { input: TEN_TOKENS },
      })) {
        arrivals.push(performance.now());
        if (result.data) chunks.push(result.data.completionStream);
      }
    } finally {
      await client.dispose();
    }
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(10);
    const span = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
    // Nine 30 ms pauses between ten tokens: pacing exists (not a speed benchmark).
    expect(span).toBeGreaterThanOrEqual(200);
  });

  it('stops sending chunks as soon as a graphql-ws client completes the subscription, and the socket stays usable', async () => {
    const logsBefore = paced.logs.length;
    const socket = new WebSocket(paced.wsUrl, 'graphql-transport-ws');
    const messages: { id?: string; type: string; payload?: unknown }[] = [];
    const of = (id: string, type: string): number => messages.filter((m) => m.id === id && m.type === type).length;
    let cancelled = false;
    socket.on('message', (data: Buffer) => {
      messages.push(JSON.parse(data.toString('utf8')) as (typeof messages)[number]);
      // Leave right in the handler, as soon as the second chunk is in.
      if (!cancelled && of('a', 'next') === 2) {
        cancelled = true;
        socket.send(JSON.stringify({ id: 'a', type: 'complete' }));
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await eventually(() => messages.some((m) => m.type === 'connection_ack'), 'connection_ack');

      const query = print(CompletionStreamDocument);
      socket.send(JSON.stringify({ id: 'a', type: 'subscribe', payload: { query, variables: { input: TEN_TOKENS } } }));
      await eventually(() => cancelled, 'two chunks, then complete');
      // Longer than the remaining eight tokens would take (8 × 30 ms): nothing more arrives.
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(of('a', 'next')).toBe(2);
      expect(of('a', 'error')).toBe(0);

      // The same connection still runs a new operation to its end.
      socket.send(JSON.stringify({ id: 'b', type: 'subscribe', payload: { query, variables: { input: { messages: QUESTION, maxTokens: 2 } } } }));
      await eventually(() => of('b', 'complete') === 1, 'second subscription completes');
      expect(of('b', 'next')).toBeGreaterThanOrEqual(2);
    } finally {
      socket.close();
    }
    // Leaving is not an upstream failure: nothing logged at warn or above.
    const levels = paced.logs.slice(logsBefore).map((line) => (JSON.parse(line) as { level: number }).level);
    expect(levels.filter((level) => level >= 40)).toEqual([]);
  });

  it('ends the stream when a client breaks out of client.iterate, without waiting for the rest; a new client still works', async () => {
    const client = wsClient(paced.wsUrl);
    const started = performance.now();
    let received = 0;
    try {
      for await (const result of client.iterate<CompletionStreamSubscription>({
        query: print(CompletionStreamDocument),
        variables: { input: { messages: QUESTION, maxTokens: 40 } },
      })) {
        expect(result.errors).toBeUndefined();
        if (++received === 2) break;
      }
    } finally {
      await client.dispose();
    }
    expect(received).toBe(2);
    // The full stream would take 39 × 30 ms ≈ 1.2 s.
    expect(performance.now() - started).toBeLessThan(900);

    const chunks = await streamWs({ messages: QUESTION, maxTokens: 3 }, paced.wsUrl);
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(3);
  });

  it('ends an SSE stream when the client closes the connection; a new request still works', async () => {
    const logsBefore = paced.logs.length;
    let received = 0;
    for await (const event of sse(paced.httpUrl, CompletionStreamDocument, { input: { messages: QUESTION, maxTokens: 40 } })) {
      if (event.event === 'next' && ++received === 2) break;
    }
    expect(received).toBe(2);
    const result = await complete({ messages: QUESTION, maxTokens: 3 }, paced.httpUrl);
    expect(result.usage.completionTokens).toBe(3);
    const levels = paced.logs.slice(logsBefore).map((line) => (JSON.parse(line) as { level: number }).level);
    expect(levels.filter((level) => level >= 40)).toEqual([]);
  });
});
