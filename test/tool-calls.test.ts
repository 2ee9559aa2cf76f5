/**
 * Tool calls, refusals and usage details end to end: GraphQL over HTTP, graphql-ws and SSE
 * against the fake upstream, which speaks OpenAI's wire (parallel calls interleaved by
 * index, arguments split mid-JSON). The round trip, and the same through a fallback.
 */
import { describe, expect, it } from 'vitest';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import type { CompletionInput } from '../src/generated/operations.js';
import type { FakeUpstream, Script, ScriptedToolCall } from './fake-upstream.js';
import { useGatewayWithFake, type TestGateway } from './helpers.js';
import {
  ask,
  completeOverHttp,
  errorOf,
  STREAMS,
  streamChunks,
  streamResults,
  TRANSPORTS,
  type Answer,
  type ChunkOut,
  type ToolCallOut,
  type Transport,
} from './chat-documents.js';

const ctx = useGatewayWithFake();

const WEATHER: ScriptedToolCall = { id: 'call_weather', name: 'get_weather', arguments: ['{"city":"Pa', 'ris","unit":', '"celsius"}'] };
const TIME: ScriptedToolCall = { id: 'call_time', name: 'get_time', arguments: ['{"tz":', '"Europe/Paris"}'] };

const TOOLS: NonNullable<CompletionInput['tools']> = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
  },
  { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
];

const QUESTION = 'What are the weather and the time in Paris?';
const ASK: CompletionInput = { messages: [{ role: 'USER', content: QUESTION }], tools: TOOLS };

const WEATHER_CALL = { id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}', argumentsJson: { city: 'Paris', unit: 'celsius' } };
const TIME_CALL = { id: 'call_time', name: 'get_time', arguments: '{"tz":"Europe/Paris"}', argumentsJson: { tz: 'Europe/Paris' } };

/** What a chunk says about tool calls and refusals, to compare whole streams at once. */
const outline = (c: ChunkOut): unknown => ({
  text: c.text,
  toolCallDeltas: c.toolCallDeltas,
  toolCalls: c.toolCalls,
  refusal: c.refusal,
  finishReason: c.finishReason,
});

describe('streamed tool calls', () => {
  it.each(STREAMS)('two parallel calls, interleaved and split mid-JSON, arrive as toolCallDeltas, and the last chunk carries TOOL_CALLS and both calls, parsed (%s)', async (transport) => {
    ctx.fake.script({ toolCalls: [[WEATHER, TIME]] });
    const chunks = await streamChunks(ctx.gw, transport, ASK);
    const piece = (index: number, argumentsDelta: string, id: string | null = null, name: string | null = null): unknown => ({
      text: '',
      toolCallDeltas: [{ index, id, name, argumentsDelta }],
      toolCalls: null,
      refusal: null,
      finishReason: null,
    });
    expect(chunks.map(outline)).toEqual([
      piece(0, '', 'call_weather', 'get_weather'),
      piece(1, '', 'call_time', 'get_time'),
      piece(0, '{"city":"Pa'),
      piece(1, '{"tz":'),
      piece(0, 'ris","unit":'),
      piece(1, '"Europe/Paris"}'),
      piece(0, '"celsius"}'),
      { text: '', toolCallDeltas: null, toolCalls: [WEATHER_CALL, TIME_CALL], refusal: null, finishReason: 'TOOL_CALLS' },
    ]);
    // One token per argument fragment, as the fake counts them.
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 7, completionTokens: 5, totalTokens: 12 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it.each(STREAMS)('each of n choices gathers its own calls, and each choice’s last chunk carries them (%s)', async (transport) => {
    ctx.fake.script({ toolCalls: [[WEATHER], [TIME]] });
    const chunks = await streamChunks(ctx.gw, transport, { ...ASK, n: 2 });
    const last = (index: number): ChunkOut | undefined => chunks.filter((c) => c.index === index).at(-1);
    expect(last(0)).toMatchObject({ finishReason: 'TOOL_CALLS', toolCalls: [WEATHER_CALL] });
    expect(last(1)).toMatchObject({ finishReason: 'TOOL_CALLS', toolCalls: [TIME_CALL] });
    expect(chunks.filter((c) => c.toolCalls !== null)).toHaveLength(2);
  });

  it.each(STREAMS)('text before the calls stays text, and the calls still come whole on the last chunk (%s)', async (transport) => {
    ctx.fake.script({ choices: [['Let me ', 'check.']], toolCalls: [[WEATHER]] });
    const chunks = await streamChunks(ctx.gw, transport, ASK);
    expect(chunks.map((c) => c.text).join('')).toBe('Let me check.');
    expect(chunks.at(-1)).toMatchObject({ accumulatedText: 'Let me check.', finishReason: 'TOOL_CALLS', toolCalls: [WEATHER_CALL] });
  });

  it.each(STREAMS)('an upstream that ends without a finish reason still puts the calls on the last chunk (%s)', async (transport) => {
    ctx.fake.script({ toolCalls: [[WEATHER, TIME]], finishReason: null });
    const chunks = await streamChunks(ctx.gw, transport, ASK);
    expect(chunks).toHaveLength(8);
    expect(chunks.slice(0, -1).every((c) => c.toolCalls === null && c.toolCallDeltas !== null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ finishReason: null, toolCallDeltas: null, toolCalls: [WEATHER_CALL, TIME_CALL] });
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(5);
  });

  it.each(STREAMS)('a refusal-only stream delivers its refusal, chunk by chunk (%s)', async (transport) => {
    ctx.fake.script({ refusals: [["I'm sorry, ", "I can't ", 'help with that.']] });
    const chunks = await streamChunks(ctx.gw, transport, { messages: [{ role: 'USER', content: 'Something bad' }] });
    expect(chunks.map(outline)).toEqual([
      ...["I'm sorry, ", "I can't ", 'help with that.'].map((refusal) => ({ text: '', toolCallDeltas: null, toolCalls: null, refusal, finishReason: null })),
      { text: '', toolCallDeltas: null, toolCalls: null, refusal: null, finishReason: 'STOP' },
    ]);
  });
});

describe('tool calls and refusals, not streamed', () => {
  it('the mutation returns the calls, parsed, on the completion and its choice', async () => {
    ctx.fake.script({ toolCalls: [[WEATHER, TIME]] });
    const completion = await completeOverHttp(ctx.gw, ASK);
    expect(completion.toolCalls).toEqual([WEATHER_CALL, TIME_CALL]);
    expect(completion.refusal).toBeNull();
    expect(completion.text).toBe('');
    expect(completion.choices).toEqual([{ index: 0, text: '', finishReason: 'TOOL_CALLS', refusal: null, toolCalls: [WEATHER_CALL, TIME_CALL] }]);
  });

  it('arguments that are not valid JSON come through as written, with argumentsJson null', async () => {
    ctx.fake.script({ toolCalls: [[{ id: 'call_x', name: 'get_weather', arguments: ['{"city": "Par'] }]] });
    const completion = await completeOverHttp(ctx.gw, ASK);
    expect(completion.toolCalls).toEqual([{ id: 'call_x', name: 'get_weather', arguments: '{"city": "Par', argumentsJson: null }]);
  });

  it('the mutation returns a refusal, with no text and no calls', async () => {
    ctx.fake.script({ refusals: [["I'm sorry, ", "I can't help with that."]] });
    const completion = await completeOverHttp(ctx.gw, { messages: [{ role: 'USER', content: 'Something bad' }] });
    expect(completion).toMatchObject({ text: '', refusal: "I'm sorry, I can't help with that.", toolCalls: null });
    expect(completion.choices[0]).toMatchObject({ refusal: "I'm sorry, I can't help with that.", finishReason: 'STOP', toolCalls: null });
  });
});

describe('usage details', () => {
  const usage = {
    prompt_tokens: 2006,
    completion_tokens: 300,
    prompt_tokens_details: { cached_tokens: 1920 },
    completion_tokens_details: { reasoning_tokens: 256 },
  };

  it.each(TRANSPORTS)('cachedPromptTokens and reasoningTokens come from the upstream’s usage details (%s)', async (transport) => {
    ctx.fake.script({ usage });
    const answer = await ask(ctx.gw, transport, { messages: [{ role: 'USER', content: 'Hi' }] });
    expect(answer.usage).toMatchObject({ promptTokens: 2006, completionTokens: 300, totalTokens: 2306, cachedPromptTokens: 1920, reasoningTokens: 256 });
  });

  it.each(TRANSPORTS)('both are null when the upstream does not say (%s)', async (transport) => {
    ctx.fake.script({ usage: { prompt_tokens: 5, completion_tokens: 6 } });
    const answer = await ask(ctx.gw, transport, { messages: [{ role: 'USER', content: 'Hi' }] });
    expect(answer.usage).toMatchObject({ promptTokens: 5, completionTokens: 6, cachedPromptTokens: null, reasoningTokens: null });
  });

  it.each(TRANSPORTS)('with no usage from the upstream, the calls’ names and arguments are counted as completion tokens (%s)', async (transport) => {
    ctx.fake.script({ toolCalls: [[WEATHER, TIME]], usage: 'omit' });
    const answer = await ask(ctx.gw, transport, ASK);
    expect(answer.toolCalls).toEqual([WEATHER_CALL, TIME_CALL]);
    const expected = [WEATHER_CALL, TIME_CALL].reduce((sum, c) => sum + encode(c.name).length + encode(c.arguments).length, 0);
    expect(answer.usage?.completionTokens).toBe(expected);
  });

  it.each(TRANSPORTS)('with no usage from the upstream, a refusal is counted as completion tokens (%s)', async (transport) => {
    const refusal = "I'm sorry, I can't help with that.";
    ctx.fake.script({ refusals: [[refusal]], usage: 'omit' });
    const answer = await ask(ctx.gw, transport, { messages: [{ role: 'USER', content: 'Something bad' }] });
    expect(answer.refusal).toBe(refusal);
    expect(answer.usage?.completionTokens).toBe(encode(refusal).length);
  });
});

const TOOL_RESULT = '{"temperature":18,"unit":"celsius"}';
const ANSWER = ['It is 18 °C', ' in Paris.'];

/**
 * Asks with tools (the fake answers with `WEATHER`), then sends the call back with its
 * answer in a TOOL message (the fake answers with text): the client's half of the loop,
 * built from what the gateway returned. `before` scripts each leg's fake.
 */
async function roundTrip(
  gw: TestGateway,
  transport: Transport,
  before: (leg: Script) => void,
): Promise<{ calls: ToolCallOut[] | null; answer: Answer }> {
  before({ toolCalls: [[WEATHER]] });
  const first = await ask(gw, transport, ASK);
  expect(first.finishReason).toBe('TOOL_CALLS');
  const calls = first.toolCalls;
  before({ choices: [ANSWER] });
  const answer = await ask(gw, transport, {
    messages: [
      { role: 'USER', content: QUESTION },
      { role: 'ASSISTANT', toolCalls: (calls ?? []).map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })) },
      ...(calls ?? []).map((c) => ({ role: 'TOOL' as const, toolCallId: c.id, content: TOOL_RESULT })),
    ],
    tools: TOOLS,
  });
  return { calls, answer };
}

/** The wire body of the round trip's second request, as OpenAI takes it. */
function answerBody(model: string, transport: Transport): Record<string, unknown> {
  return {
    model,
    messages: [
      { role: 'user', content: QUESTION },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_weather', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }],
      },
      { role: 'tool', content: TOOL_RESULT, tool_call_id: 'call_weather' },
    ],
    tools: TOOLS.map((t) => ({ type: 'function', function: t })),
    ...(transport === 'mutation' ? { stream: false } : { stream: true, stream_options: { include_usage: true } }),
  };
}

const chatBodies = (fake: FakeUpstream): (Record<string, unknown> | null)[] =>
  fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.body);

describe('the round trip', () => {
  it.each(TRANSPORTS)('ask, get a call, send it back with its answer, get the answer (%s)', async (transport) => {
    const { calls, answer } = await roundTrip(ctx.gw, transport, (leg) => ctx.fake.script(leg));
    expect(calls).toEqual([WEATHER_CALL]);
    expect(answer).toMatchObject({ text: 'It is 18 °C in Paris.', finishReason: 'STOP', toolCalls: null });
    const bodies = chatBodies(ctx.fake);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(answerBody('gpt-4o-mini', transport));
  });
});

describe('the round trip through a fallback', () => {
  const REQUESTED = 'gpt-4o-mini';
  const FALLBACK = 'gpt-4o-mini-fallback';
  const fallback = useGatewayWithFake({ FALLBACK_MODELS: FALLBACK });

  it.each(TRANSPORTS)('each leg fails with a 500 on the requested model and is served, calls and all, by the fallback model (%s)', async (transport) => {
    const { calls, answer } = await roundTrip(fallback.gw, transport, (leg) =>
      fallback.fake.script({ ...leg, fault: { kind: 'serverError' }, faultTimes: 1 }),
    );
    expect(calls).toEqual([WEATHER_CALL]);
    expect(answer).toMatchObject({ model: FALLBACK, text: 'It is 18 °C in Paris.', finishReason: 'STOP' });
    const bodies = chatBodies(fallback.fake);
    expect(bodies.map((b) => b?.['model'])).toEqual([REQUESTED, FALLBACK, REQUESTED, FALLBACK]);
    // The fallback is asked exactly what the failed model was: tools, calls and answers included.
    expect(bodies[1]).toEqual({ ...bodies[0], model: FALLBACK });
    expect(bodies[2]).toEqual(answerBody(REQUESTED, transport));
    expect(bodies[3]).toEqual(answerBody(FALLBACK, transport));
  });
});

describe('the text cap', () => {
  const capped = useGatewayWithFake({ UPSTREAM_MAX_BODY_BYTES: '2048' });

  it.each(STREAMS)('tool-call arguments count toward UPSTREAM_MAX_BODY_BYTES: past it, UPSTREAM_ERROR (%s)', async (transport) => {
    const fragment = 'a'.repeat(500);
    capped.fake.script({ toolCalls: [[{ id: 'call_big', name: 'get_weather', arguments: ['{"city":"', ...Array<string>(8).fill(fragment), '"}'] }]] });
    const results = await streamResults(capped.gw, transport, ASK);
    const error = errorOf(results);
    expect(error?.extensions?.code).toBe('UPSTREAM_ERROR');
    expect(error?.message).toBe('The upstream sent over UPSTREAM_MAX_BODY_BYTES (2048) of text in one stream');
    // What came before the cut was delivered as ordinary chunks: the call's first piece and
    // the fragments that still fitted.
    const delivered = results.flatMap((r) => (r.data ? [r.data.completionStream] : []));
    expect(delivered.map((c) => c.toolCallDeltas?.[0]?.argumentsDelta)).toEqual(['', '{"city":"', fragment, fragment, fragment]);
  });

  it.each(STREAMS)('under the cap, the same call comes whole (%s)', async (transport) => {
    capped.fake.script({ toolCalls: [[{ id: 'call_big', name: 'get_weather', arguments: ['{"city":"', 'a'.repeat(1500), '"}'] }]] });
    const chunks = await streamChunks(capped.gw, transport, ASK);
    expect(chunks.at(-1)?.toolCalls?.[0]?.argumentsJson).toEqual({ city: 'a'.repeat(1500) });
  });
});
