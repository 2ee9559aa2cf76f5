import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

const KEY = 'sk-test-key';
const DEFAULT_TEXT = 'Hello from the fake upstream.';

let fake: FakeUpstream;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeUpstream();
  client = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

const user = [{ role: 'user' as const, content: 'Say hello' }];

/** Raw SSE `data:` payloads of a streamed request, read with plain fetch (to check the exact wire lines). */
async function rawSse(path: string, body: unknown): Promise<{ contentType: string | null; events: string[] }> {
  const res = await fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  const events = text.split('\n\n').filter((e) => e !== '');
  for (const e of events) expect(e.startsWith('data: ')).toBe(true);
  return { contentType: res.headers.get('content-type'), events: events.map((e) => e.slice('data: '.length)) };
}

describe('fake upstream: non-streaming', () => {
  it('answers a chat completion in OpenAI shape with text, usage and finish_reason', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-/);
    expect(res.model).toBe('gpt-4o-mini');
    expect(res).toMatchObject({ system_fingerprint: 'fp_fake' });
    expect(res.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: DEFAULT_TEXT, refusal: null }, logprobs: null, finish_reason: 'stop' },
    ]);
    expect(res.usage).toEqual({ prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 });
  });

  it('answers a text completion with the scripted text, finish reason, model and usage', async () => {
    fake.script({ choices: [['Once', ' upon']], finishReason: 'length', model: 'gpt-3.5-turbo-instruct-0914', usage: { prompt_tokens: 3, completion_tokens: 2 } });
    const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Tell a story', max_tokens: 2 });
    expect(res.object).toBe('text_completion');
    expect(res.id).toMatch(/^cmpl-/);
    expect(res.model).toBe('gpt-3.5-turbo-instruct-0914');
    expect(res.choices).toEqual([{ text: 'Once upon', index: 0, logprobs: null, finish_reason: 'length' }]);
    expect(res.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  it("omits usage from the body when the script says usage: 'omit'", async () => {
    fake.script({ usage: 'omit' });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    expect(res.usage).toBeUndefined();
    expect(res.choices[0]?.message.content).toBe(DEFAULT_TEXT);
  });

  it('returns every choice when n > 1, deriving extra choices from the last scripted one', async () => {
    fake.script({ choices: [['A', 'B']] });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, n: 2 });
    expect(res.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, 'AB'],
      [1, 'AB (choice 1)'],
    ]);
    expect(res.usage?.completion_tokens).toBe(5);
  });

  it('includes completions logprobs (tokens, token_logprobs, top_logprobs, text_offset) when asked', async () => {
    fake.script({ choices: [['Hi', ' there']] });
    const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', logprobs: 2 });
    expect(res.choices[0]?.logprobs).toEqual({
      tokens: ['Hi', ' there'],
      token_logprobs: [-0.25, -0.25],
      top_logprobs: [
        { Hi: -0.25, alt1: -1.75 },
        { ' there': -0.25, alt1: -1.75 },
      ],
      text_offset: [0, 2],
    });
  });

  it('includes chat logprobs with bytes and top_logprobs when asked', async () => {
    fake.script({ choices: [['é']] });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, logprobs: true, top_logprobs: 1 });
    expect(res.choices[0]?.logprobs).toEqual({
      content: [{ token: 'é', logprob: -0.25, bytes: [195, 169], top_logprobs: [{ token: 'é', logprob: -0.25, bytes: [195, 169] }] }],
      refusal: null,
    });
  });

  it('lists the configured models from GET /v1/models', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toContain('gpt-4o-mini');
    expect(ids).toContain('gpt-3.5-turbo-instruct');
    expect(page.data.find((m) => m.id === 'gpt-4o-mini')).toEqual({ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' });

    fake.script({ models: ['only-model'] });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['only-model']);
  });

  it('records requests with lower-cased headers and the body under OpenAI field names', async () => {
    await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi', max_tokens: 5, temperature: 0.5 });
    const [req] = await fake.waitForRequests(1);
    expect(typeof req?.id).toBe('number');
    expect(req).toMatchObject({ method: 'POST', path: '/v1/completions' });
    expect(req?.headers['authorization']).toBe(`Bearer ${KEY}`);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toMatchObject({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi', max_tokens: 5, temperature: 0.5 });
  });
});

describe('fake upstream: streaming', () => {
  it('streams chat pieces as SSE, then a usage chunk with empty choices when include_usage is set', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '', refusal: null });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(DEFAULT_TEXT);
    for (const c of chunks) {
      expect(c).toMatchObject({ object: 'chat.completion.chunk', system_fingerprint: 'fp_fake' });
    }
    const finish = chunks.at(-2);
    expect(finish?.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    expect(finish?.usage).toBeNull();
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('sends no usage at all in a chat stream without include_usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBe(8); // role + 6 pieces + finish
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it("sends no usage chunk even with include_usage when the script says usage: 'omit'", async () => {
    fake.script({ usage: 'omit', finishReason: 'length' });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('length');
  });

  it('interleaves n=2 chat choices round-robin, each chunk carrying its index', async () => {
    fake.script({ choices: [['a0', 'a1'], ['b0', 'b1']] });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, n: 2, stream: true });
    const seen: [number, string][] = [];
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (c?.delta.content) seen.push([c.index, c.delta.content]);
    }
    expect(seen).toEqual([
      [0, 'a0'],
      [1, 'b0'],
      [0, 'a1'],
      [1, 'b1'],
    ]);
  });

  it('streams text completions with a finish chunk and a usage chunk', async () => {
    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Hi',
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(DEFAULT_TEXT);
    expect(chunks.at(-2)?.choices).toEqual([{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }]);
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 });
    for (const c of chunks) expect(c).toMatchObject({ object: 'text_completion' });
  });

  it('spaces streamed chunks by chunkDelayMs', async () => {
    fake.script({ choices: [['a', 'b', 'c', 'd']], chunkDelayMs: 25 });
    const started = Date.now();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('abcd');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100); // 5 gaps between 6 chunks, minus timer slack
  });

  it('writes exact SSE wire lines with text/event-stream and a final [DONE]', async () => {
    fake.script({ choices: [['x']] });
    const { contentType, events } = await rawSse('/chat/completions', { model: 'm', messages: user, stream: true });
    expect(contentType).toBe('text/event-stream');
    expect(events.at(-1)).toBe('[DONE]');
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: { delta: unknown }[] });
    expect(parsed.map((p) => p.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '', refusal: null }, { content: 'x' }, {}]);
  });

  it('streams completions logprobs per piece with running text offsets', async () => {
    fake.script({ choices: [['ab', 'c']] });
    const { events } = await rawSse('/completions', { model: 'm', prompt: 'p', stream: true, logprobs: 1 });
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: { logprobs: unknown }[] });
    expect(parsed.map((p) => p.choices[0]?.logprobs)).toEqual([
      { tokens: ['ab'], token_logprobs: [-0.25], top_logprobs: [{ ab: -0.25 }], text_offset: [0] },
      { tokens: ['c'], token_logprobs: [-0.25], top_logprobs: [{ c: -0.25 }], text_offset: [2] },
      null,
    ]);
  });
});

describe('fake upstream: tool calls, refusals and usage details', () => {
  const weather = { name: 'get_weather', arguments: ['{"city":', '"Par', 'is"}'] };
  const time = { name: 'get_time', arguments: ['{"tz":"Europe/', 'Paris"}'] };
  const tools = [weather, time].map((t) => ({ type: 'function' as const, function: { name: t.name, parameters: { type: 'object' } } }));

  interface WireDelta {
    role?: string;
    content?: string | null;
    refusal?: string | null;
    tool_calls?: { index: number; id?: string; type?: string; function: { name?: string; arguments: string } }[];
  }
  type WireChunk = { choices: { index: number; delta: WireDelta; finish_reason: string | null }[]; usage?: unknown };

  it('answers tool calls in message.tool_calls with content null and finish_reason tool_calls', async () => {
    fake.script({ toolCalls: [[{ ...weather, id: 'call_weather' }, time]] });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, tools });
    const [choice] = res.choices;
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        { id: 'call_weather', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/) as unknown, type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' } },
      ],
    });
    // One token per argument fragment.
    expect(res.usage).toEqual({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
  });

  it('streams parallel tool calls as OpenAI does: id, type and name first, then argument fragments, interleaved by index', async () => {
    fake.script({ toolCalls: [[{ ...weather, id: 'call_a' }, { ...time, id: 'call_b' }]] });
    const { events } = await rawSse('/chat/completions', { model: 'm', messages: user, tools, stream: true, stream_options: { include_usage: true } });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as WireChunk);
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      // The role rides on the first call's first delta: no role chunk of its own.
      { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }], refusal: null },
      { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{"tz":"Europe/' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Par' } }] },
      { tool_calls: [{ index: 1, function: { arguments: 'Paris"}' } }] },
      { tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] },
      {},
      undefined, // the usage chunk has no choices
    ]);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
  });

  it('streams calls the official SDK reassembles, after the text of a choice that has some', async () => {
    fake.script({ choices: [['Let me ', 'check.']], toolCalls: [[weather, time]] });
    const stream = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: user, tools });
    const message = await stream.finalMessage();
    expect(message.content).toBe('Let me check.');
    expect(message.tool_calls?.map((c) => (c.type === 'function' ? [c.function.name, c.function.arguments] : null))).toEqual([
      ['get_weather', '{"city":"Paris"}'],
      ['get_time', '{"tz":"Europe/Paris"}'],
    ]);
    expect((await stream.finalChatCompletion()).choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('gives every choice of n its own calls, with ids of their own', async () => {
    fake.script({ toolCalls: [[weather]] });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, tools, n: 2 });
    const calls = res.choices.map((c) => c.message.tool_calls?.[0]);
    expect(calls.map((c) => (c?.type === 'function' ? c.function.name : null))).toEqual(['get_weather', 'get_weather']);
    expect(calls[0]?.id).not.toBe(calls[1]?.id);
    expect(res.choices.map((c) => [c.message.content, c.finish_reason])).toEqual([
      [null, 'tool_calls'],
      [null, 'tool_calls'],
    ]);
  });

  it('ends a stream without any finish chunk, and says finish_reason null in a body, when finishReason is null', async () => {
    fake.script({ toolCalls: [[{ ...weather, id: 'call_a' }]], finishReason: null });
    const { events } = await rawSse('/chat/completions', { model: 'm', messages: user, tools, stream: true, stream_options: { include_usage: true } });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as WireChunk);
    expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([null, null, null, null, null]);
    expect(chunks.map((c) => c.choices[0]?.delta.tool_calls?.[0]?.function.arguments)).toEqual(['', '{"city":', '"Par', 'is"}', undefined]);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, tools });
    expect(res.choices[0]?.finish_reason).toBeNull();
  });

  it('answers a refusal in message.refusal with content null', async () => {
    fake.script({ refusals: [["I'm sorry, ", 'I cannot help with that.']] });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    expect(res.choices).toEqual([
      { index: 0, message: { role: 'assistant', content: null, refusal: "I'm sorry, I cannot help with that." }, logprobs: null, finish_reason: 'stop' },
    ]);
  });

  it('streams a refusal as refusal deltas after a role chunk with content null', async () => {
    fake.script({ refusals: [["I'm sorry", ', no.']] });
    const { events } = await rawSse('/chat/completions', { model: 'm', messages: user, stream: true });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as WireChunk);
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: null, refusal: '' },
      { refusal: "I'm sorry" },
      { refusal: ', no.' },
      {},
    ]);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    const sdk = await client.chat.completions.stream({ model: 'gpt-4o-mini', messages: user }).finalMessage();
    expect(sdk.refusal).toBe("I'm sorry, no.");
  });

  it('reports cached and reasoning tokens in the body and in the usage chunk', async () => {
    const usage = {
      prompt_tokens: 2006,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 1920 },
      completion_tokens_details: { reasoning_tokens: 256 },
    };
    fake.script({ usage });
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    expect(res.usage).toEqual({ ...usage, total_tokens: 2306 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)?.usage).toEqual({ ...usage, total_tokens: 2306 });
  });

  it('records content arrays, tools and tool answers exactly as the client sent them', async () => {
    const messages = [
      { role: 'developer' as const, content: 'Be brief.' },
      {
        role: 'user' as const,
        name: 'ann',
        content: [
          { type: 'text' as const, text: 'What is this?' },
          { type: 'image_url' as const, image_url: { url: 'https://example.com/a.png', detail: 'low' as const } },
          { type: 'input_audio' as const, input_audio: { data: 'UklGRg==', format: 'wav' as const } },
          { type: 'file' as const, file: { file_id: 'file-1' } },
        ],
      },
      { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool' as const, tool_call_id: 'call_1', content: 'sunny' },
    ];
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools, tool_choice: 'required' });
    expect(res.choices[0]?.message.content).toBe(DEFAULT_TEXT);
    const [req] = await fake.waitForRequests(1);
    expect(req?.body).toEqual({ model: 'gpt-4o-mini', messages, tools, tool_choice: 'required' });
  });
});

describe('fake upstream: faults', () => {
  it('surfaces a 429 as OpenAI.RateLimitError with status 429 and the retry-after header', async () => {
    fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 7 } });
    const err: unknown = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const rl = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rl.status).toBe(429);
    expect(rl.code).toBe('rate_limit_exceeded');
    expect(rl.headers.get('retry-after')).toBe('7');
    expect(rl.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('echoes the full API key in a 401 message', async () => {
    fake.script({ fault: { kind: 'unauthorized' } });
    const err: unknown = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const auth = err as InstanceType<typeof OpenAI.AuthenticationError>;
    expect(auth.status).toBe(401);
    expect(auth.code).toBe('invalid_api_key');
    expect(auth.message).toContain(KEY);
  });

  it('reports a context overflow as a 400 with code context_length_exceeded', async () => {
    fake.script({ fault: { kind: 'contextOverflow' } });
    const err: unknown = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.status).toBe(400);
    expect(bad.code).toBe('context_length_exceeded');
    expect(bad.type).toBe('invalid_request_error');
    expect(bad.param).toBe('messages');
    expect(bad.message).toContain("maximum context length is 4097 tokens");
  });

  it('sends arbitrary statuses with an OpenAI error body, server errors included', async () => {
    fake.script({ fault: { kind: 'serverError' } });
    const err500: unknown = await client.completions.create({ model: 'm', prompt: 'p' }).catch((e: unknown) => e);
    expect(err500).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err500 as InstanceType<typeof OpenAI.InternalServerError>).type).toBe('server_error');

    fake.script({ fault: { kind: 'status', status: 503, headers: { 'x-custom': 'yes' } } });
    const err503: unknown = await client.completions.create({ model: 'm', prompt: 'p' }).catch((e: unknown) => e);
    expect(err503).toMatchObject({ status: 503, type: 'server_error' });
    expect((err503 as InstanceType<typeof OpenAI.APIError>).headers?.get('x-custom')).toBe('yes');

    fake.script({ fault: { kind: 'forbidden' } });
    await expect(client.completions.create({ model: 'm', prompt: 'p' })).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it('makes the SDK stream iteration throw when the socket dies mid-stream (dieAfter)', async () => {
    fake.script({ fault: { kind: 'dieAfter', chunks: 2 } });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true });
    const pieces: string[] = [];
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta.content ?? '');
    };
    await expect(iterate()).rejects.toThrow();
    expect(pieces.join('')).toBe('Hello from');
    expect(fake.aborted).toEqual([]); // the fake closed it, not the client
  });

  it('records a stalled stream as aborted once the client aborts its signal (stallAfter)', async () => {
    fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true }, { signal: controller.signal });
    const pieces: string[] = [];
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta.content;
        if (content) {
          pieces.push(content);
          controller.abort(); // the stream is stalled now: the client gives up
        }
      }
    };
    await iterate().catch(() => undefined); // the SDK may end quietly or throw an abort error
    expect(pieces).toEqual(['Hello']);
    const aborted = await fake.waitForAbort(1000);
    expect(aborted.path).toBe('/v1/chat/completions');
    expect(aborted.body).toMatchObject({ stream: true });
  });

  it('times out a hung request with APIConnectionTimeoutError and records it as aborted (hang)', async () => {
    fake.script({ fault: { kind: 'hang' } });
    const started = Date.now();
    const err: unknown = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }, { timeout: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    const aborted = await fake.waitForAbort(1000);
    expect(aborted.body).toMatchObject({ model: 'gpt-4o-mini' });
    expect(fake.aborted).toHaveLength(1);
  });

  it('rejects waitForAbort with a clear message when nothing was aborted', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    await expect(fake.waitForAbort(50)).rejects.toThrow(/no request was aborted/);
  });

  it('serves the fault only faultTimes times, so the SDK succeeds on its retry', async () => {
    fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, faultTimes: 1 });
    const retrying = new OpenAI({ apiKey: KEY, baseURL: fake.url, maxRetries: 1 });
    const res = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: user });
    expect(res.choices[0]?.message.content).toBe(DEFAULT_TEXT);
    const reqs = await fake.waitForRequests(2);
    expect(reqs).toHaveLength(2);
    expect(reqs.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
  });

  it('does not fault GET /v1/models unless faultOn is "all"', async () => {
    fake.script({ fault: { kind: 'serverError' } });
    expect((await client.models.list()).data.length).toBeGreaterThan(0);
    fake.script({ fault: { kind: 'serverError' }, faultOn: 'all' });
    await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });

  it('close() returns promptly even with a response hung after headers', async () => {
    const other = await startFakeUpstream({ fault: { kind: 'hangAfterHeaders' } });
    const res = await fetch(`${other.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: user, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reading = res.text().catch((e: unknown) => e);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(await reading).toBeInstanceOf(Error);
    expect(other.aborted).toEqual([]); // destroyed by close(), not by the client
  });
});

describe('fake upstream: hostile answers', () => {
  const post = (path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> =>
    fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
      signal,
    });

  /** Reads until at least `bytes` have arrived, then aborts; returns what was read. */
  async function readSome(response: Response, bytes: number, controller: AbortController): Promise<string> {
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    let text = '';
    let size = 0;
    while (size < bytes) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    return text;
  }

  it('stallBody: sends the status and half an OpenAI error body, then stalls until the client goes', async () => {
    fake.script({ fault: { kind: 'stallBody', status: 503 } });
    const controller = new AbortController();
    const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user }, controller.signal);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('content-length')).toBeNull();
    const reader = res.body?.getReader();
    const first = await reader?.read();
    const text = new TextDecoder().decode(first?.value);
    expect(text.startsWith('{"error":{"message":')).toBe(true);
    expect(() => JSON.parse(text) as unknown).toThrow();
    // Nothing more comes: the next read stays pending until the client aborts.
    const next = reader?.read().catch((e: unknown) => e);
    const raced = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve('pending'), 100))]);
    expect(raced).toBe('pending');
    controller.abort();
    expect((await fake.waitForAbort()).path).toBe('/v1/chat/completions');
  });

  it('html: answers an HTML page with text/html, status 200 by default, streaming or not', async () => {
    fake.script({ fault: { kind: 'html' } });
    for (const stream of [false, true]) {
      const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user, stream });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const text = await res.text();
      expect(text).toMatch(/^<!DOCTYPE html><html>.*Bad gateway.*<\/html>\n$/);
    }
    fake.script({ fault: { kind: 'html', status: 502 } });
    expect((await post('/completions', { model: 'm', prompt: 'p' })).status).toBe(502);
  });

  it('htmlAsEventStream: labels an HTML page text/event-stream, then ends', async () => {
    fake.script({ fault: { kind: 'htmlAsEventStream' } });
    const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(await res.text()).toMatch(/^<!DOCTYPE html>.*<\/html>\n$/);
    expect(fake.aborted).toEqual([]);
  });

  it('endlessEvent: streams one event that never ends, as fast as the client reads, until it goes', async () => {
    fake.script({ fault: { kind: 'endlessEvent' } });
    const controller = new AbortController();
    const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user, stream: true }, controller.signal);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await readSome(res, 2 * 1024 * 1024, controller);
    expect(text.length).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(text.startsWith('data: {"choices":[{"delta":{"content":"xxxx')).toBe(true);
    expect(text.includes('\n')).toBe(false);
    expect((await fake.waitForAbort()).body).toMatchObject({ stream: true });
  });

  it('endlessEvent without stream: a JSON answer that never ends', async () => {
    fake.script({ fault: { kind: 'endlessEvent' } });
    const controller = new AbortController();
    const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user }, controller.signal);
    expect(res.headers.get('content-type')).toBe('application/json');
    const text = await readSome(res, 1024 * 1024, controller);
    expect(text).toMatch(/^\{"id":"chatcmpl-[^"]+","object":"chat.completion",.*"content":"xxxx/);
    await fake.waitForAbort();
  });

  it('endlessEvents: valid chunks with chunkText forever, no finish, until the client leaves', async () => {
    fake.script({ fault: { kind: 'endlessEvents', chunkText: 'ab' } });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true }, { signal: controller.signal });
    const texts: string[] = [];
    for await (const chunk of stream) {
      expect(chunk.choices[0]?.finish_reason).toBeNull();
      texts.push(chunk.choices[0]?.delta.content ?? '');
      if (texts.length === 300) break;
    }
    expect(texts[0]).toBe(''); // the role chunk
    expect(new Set(texts.slice(1))).toEqual(new Set(['ab']));
    const aborted = await fake.waitForAbort();
    expect(aborted.eventsSent).toBeGreaterThanOrEqual(300);

    fake.reset();
    fake.script({ fault: { kind: 'endlessEvents' } });
    const text = await client.completions.create({ model: 'm', prompt: 'p', stream: true });
    for await (const chunk of text) {
      expect(chunk.choices[0]?.text).toBe('x'.repeat(64));
      break;
    }
    await fake.waitForAbort();
  });

  it('hugeBody: a valid completion of exactly `bytes` bytes, its text padded', async () => {
    const bytes = 3 * 1024 * 1024 + 7;
    fake.script({ fault: { kind: 'hugeBody', bytes } });
    const res = await post('/chat/completions', { model: 'gpt-4o-mini', messages: user });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const text = await res.text();
    expect(Buffer.byteLength(text)).toBe(bytes);
    const body = JSON.parse(text) as { object: string; choices: { message: { content: string }; finish_reason: string }[] };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message.content).toMatch(/^x+$/);
    expect(body.choices[0]?.finish_reason).toBe('stop');

    const completion = await client.completions.create({ model: 'm', prompt: 'p' });
    expect(completion.choices[0]?.text.length).toBeGreaterThan(bytes - 1000);

    fake.script({ fault: { kind: 'hugeBody', bytes: 100_000 }, faultOn: 'all' });
    const models = await client.models.list();
    expect(models.data[0]?.owned_by).toMatch(/^x{90000,}$/);
  });

  it('reset: sends `chunks` chunks, then resets the connection (not counted as a client abort)', async () => {
    fake.script({ fault: { kind: 'reset', chunks: 2 } });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true });
    const pieces: string[] = [];
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta.content ?? '');
    };
    await expect(iterate()).rejects.toThrow();
    expect(pieces.join('')).toBe('Hello from');

    // On a raw socket, to tell a reset (ECONNRESET) from a clean close.
    fake.script({ fault: { kind: 'reset' } });
    const { port } = new URL(fake.url);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: user });
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    let received = '';
    socket.on('data', (bytes: Buffer) => (received += bytes.toString()));
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      socket.on('error', resolve);
      socket.on('close', () => resolve(undefined));
    });
    expect(received).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(received).toMatch(/\r\n\r\n$/); // the headers, no body
    // A reset that overtakes the data it follows can read as a plain end on loopback.
    expect([undefined, 'ECONNRESET']).toContain(error?.code);
    expect(fake.aborted).toEqual([]);
  });

  it('close() ends endless answers at once', async () => {
    const other = await startFakeUpstream({ fault: { kind: 'endlessEvents' } });
    const res = await fetch(`${other.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: user, stream: true }),
    });
    const reading = res.text().catch((e: unknown) => e);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(await reading).toBeInstanceOf(Error);
  });
});
