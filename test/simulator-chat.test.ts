/**
 * The simulator shows the whole chat surface offline (issue #14): tool calls, streamed like
 * OpenAI's; answers to tool results; JSON valid against a response schema; media parts
 * acknowledged; cached and reasoning tokens. At memory speed against SimulatorProvider,
 * and a few through GraphQL over HTTP and SSE with the default gateway (no upstream).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { Ajv } from 'ajv';
import type { CompletionInput } from '../src/generated/operations.js';
import { SimulatorProvider } from '../src/upstream/simulator/index.js';
import {
  ProviderError,
  type CallEvents,
  type ChatMessage,
  type CompletionRequest,
  type CompletionResult,
  type StreamDelta,
  type ToolDefinition,
} from '../src/upstream/provider.js';
import { collectSse, graphql, startGateway, type TestGateway } from './helpers.js';

const ajv = new Ajv({ strict: false, logger: false });
const simulator = new SimulatorProvider({ tokenDelayMs: 0 });
const EVENTS: CallEvents = { deadline: Number.POSITIVE_INFINITY, onResponse: () => undefined };

const WEATHER: ToolDefinition = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: {
      city: { type: 'string', minLength: 2 },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      days: { type: 'integer', minimum: 1, maximum: 7 },
    },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
};
const TIME: ToolDefinition = {
  name: 'get_time',
  parameters: {
    type: 'object',
    properties: { zone: { type: 'string', pattern: '^[A-Z][a-z]+/[A-Z][a-z]+$' }, format: { enum: ['12h', '24h'] } },
    required: ['zone', 'format'],
  },
};
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    born: { type: 'integer', minimum: 1800, maximum: 1900 },
    fields: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 },
  },
  required: ['name', 'born', 'fields'],
  additionalProperties: false,
};

const user = (content: string): ChatMessage => ({ role: 'user', content });

function complete(request: Omit<CompletionRequest, 'model'>): Promise<CompletionResult> {
  return simulator.complete({ model: 'gpt-4o', ...request }, new AbortController().signal, EVENTS);
}

async function stream(request: Omit<CompletionRequest, 'model'>): Promise<StreamDelta[]> {
  const deltas: StreamDelta[] = [];
  for await (const delta of await simulator.stream({ model: 'gpt-4o', ...request }, new AbortController().signal, EVENTS)) deltas.push(delta);
  return deltas;
}

function validAgainst(schema: object | undefined, json: string): boolean {
  const validate = ajv.compile(schema ?? {});
  const ok = validate(JSON.parse(json));
  if (!ok) console.error(json, ajv.errorsText(validate.errors));
  return ok;
}

describe('tool calls (provider)', () => {
  it('calls the tool the last user message names, instead of answering, with arguments valid against its parameters', async () => {
    const result = await complete({ messages: [user('What is the weather in Paris? Use get_weather.')], tools: [TIME, WEATHER] });
    const [choice] = result.choices;
    expect(choice?.finishReason).toBe('tool_calls');
    expect(choice?.text).toBe('');
    expect(choice?.toolCalls).toHaveLength(1);
    const call = choice?.toolCalls?.[0];
    expect(call?.name).toBe('get_weather');
    expect(call?.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(validAgainst(WEATHER.parameters, call?.arguments ?? '')).toBe(true);
  });

  it('gives the same ids and arguments for the same input, and others for another input', async () => {
    const request = { messages: [user('get_time and get_weather, please')], tools: [WEATHER, TIME] };
    const first = await complete(request);
    const again = await new SimulatorProvider({ tokenDelayMs: 0 }).complete({ model: 'gpt-4o', ...request }, new AbortController().signal, EVENTS);
    expect(again.choices[0]?.toolCalls).toEqual(first.choices[0]?.toolCalls);
    const other = await complete({ ...request, messages: [user('get_time and get_weather, now')] });
    expect(other.choices[0]?.toolCalls?.[0]?.id).not.toBe(first.choices[0]?.toolCalls?.[0]?.id);
  });

  it('streams each call as OpenAI does: id and name with empty arguments first, then fragments that join to the same calls', async () => {
    const request = { messages: [user('Call get_time, then get_weather for Lisbon.')], tools: [WEATHER, TIME] };
    const completed = (await complete(request)).choices[0]?.toolCalls ?? [];
    const deltas = await stream(request);
    const pieces = deltas.flatMap((d) => d.toolCallDeltas ?? []);
    expect(deltas.every((d) => d.text === '')).toBe(true);
    // One delta per event, the calls one after the other.
    expect(deltas.every((d) => (d.toolCallDeltas?.length ?? 0) <= 1)).toBe(true);
    expect(pieces.map((p) => p.index)).toEqual([...pieces.map((p) => p.index)].sort());
    expect(completed.map((c) => c.name)).toEqual(['get_time', 'get_weather']);
    for (const [index, call] of completed.entries()) {
      const [head, ...fragments] = pieces.filter((p) => p.index === index);
      expect(head).toEqual({ index, id: call.id, name: call.name, argumentsDelta: '' });
      expect(fragments.length).toBeGreaterThan(3);
      for (const fragment of fragments) {
        expect(fragment.id).toBeNull();
        expect(fragment.name).toBeNull();
        expect(fragment.argumentsDelta.length).toBeGreaterThan(0);
        expect(fragment.argumentsDelta.length).toBeLessThanOrEqual(12);
      }
      expect(fragments.map((f) => f.argumentsDelta).join('')).toBe(call.arguments);
      expect(validAgainst(index === 0 ? TIME.parameters : WEATHER.parameters, call.arguments)).toBe(true);
    }
    const finish = deltas.find((d) => d.finishReason !== null);
    expect(finish).toMatchObject({ index: 0, finishReason: 'tool_calls', toolCallDeltas: null });
    expect(deltas.at(-1)?.usage).toEqual((await complete(request)).usage);
  });

  it('calls every named tool in the order named, or only the first with parallelToolCalls false', async () => {
    const messages = [user('First GET_WEATHER, then get_time; not get_timezone.')];
    const both = await complete({ messages, tools: [TIME, WEATHER] });
    expect(both.choices[0]?.toolCalls?.map((c) => c.name)).toEqual(['get_weather', 'get_time']);
    const one = await complete({ messages, tools: [TIME, WEATHER], parallelToolCalls: false });
    expect(one.choices[0]?.toolCalls?.map((c) => c.name)).toEqual(['get_weather']);
    // A longer name is not a mention of the shorter one inside it.
    const longer = await complete({ messages: [user('What does get_timezone say?')], tools: [TIME] });
    expect(longer.choices[0]?.toolCalls).toBeNull();
  });

  it('follows toolChoice: NONE answers in text, REQUIRED calls an unnamed tool, a forced function wins, AUTO needs a mention', async () => {
    const named = [user('Use get_weather.')];
    const none = await complete({ messages: named, tools: [WEATHER], toolChoice: { mode: 'none' } });
    expect(none.choices[0]).toMatchObject({ finishReason: 'stop', toolCalls: null });
    expect(none.choices[0]?.text).toMatch(/^Simulated reply to "Use get_weather\."/);

    const required = await complete({ messages: [user('Hello')], tools: [WEATHER], toolChoice: { mode: 'required' } });
    expect(required.choices[0]?.toolCalls?.map((c) => c.name)).toEqual(['get_weather']);

    const forced = await complete({ messages: named, tools: [WEATHER, TIME], toolChoice: { function: 'get_time' } });
    expect(forced.choices[0]?.toolCalls?.map((c) => c.name)).toEqual(['get_time']);

    const auto = await complete({ messages: [user('Hello')], tools: [WEATHER] });
    expect(auto.choices[0]).toMatchObject({ finishReason: 'stop', toolCalls: null });
  });

  it('refuses a forced function that is not offered, as OpenAI does', async () => {
    const failure = complete({ messages: [user('Hi')], tools: [WEATHER], toolChoice: { function: 'get_time' } });
    await expect(failure).rejects.toBeInstanceOf(ProviderError);
    await expect(failure).rejects.toMatchObject({ failure: 'rejected' });
  });

  it('answers TOOL messages in text that names the tool and quotes its result', async () => {
    const call = { id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' };
    const messages: ChatMessage[] = [
      user('Weather in Paris? get_weather'),
      { role: 'assistant', content: null, toolCalls: [call] },
      { role: 'tool', content: '{"temperature": 18, "sky": "clear"}', toolCallId: 'call_abc' },
    ];
    const answer = await complete({ messages, tools: [WEATHER] });
    expect(answer.choices[0]).toMatchObject({ finishReason: 'stop', toolCalls: null });
    expect(answer.choices[0]?.text).toMatch(/^Simulated answer from the tool results: get_weather returned "\{"temperature": 18, "sky": "clear"\}"\. /);
    // A required tool choice calls again, as OpenAI's does.
    const again = await complete({ messages, tools: [WEATHER], toolChoice: { mode: 'required' } });
    expect(again.choices[0]?.finishReason).toBe('tool_calls');
  });

  it('cuts the arguments at maxTokens, with finish reason length', async () => {
    const request = { messages: [user('get_weather')], tools: [WEATHER] };
    const full = (await complete(request)).choices[0]?.toolCalls?.[0]?.arguments ?? '';
    const cut = await complete({ ...request, maxTokens: 3 });
    expect(cut.choices[0]?.finishReason).toBe('length');
    expect(cut.usage?.completionTokens).toBe(3);
    const partial = cut.choices[0]?.toolCalls?.[0]?.arguments ?? '';
    expect(partial.length).toBeGreaterThan(0);
    expect(full.startsWith(partial) && partial !== full).toBe(true);
  });

  it('makes different calls in each of n choices', async () => {
    const result = await complete({ messages: [user('get_weather')], tools: [WEATHER], n: 2 });
    const [a, b] = result.choices.map((c) => c.toolCalls?.[0]);
    expect(a?.id).not.toBe(b?.id);
    expect(validAgainst(WEATHER.parameters, a?.arguments ?? '') && validAgainst(WEATHER.parameters, b?.arguments ?? '')).toBe(true);
  });
});

describe('structured output, media and usage (provider)', () => {
  it('JSON_SCHEMA: the text is JSON valid against the schema, and the stream joins to the same', async () => {
    const request: Omit<CompletionRequest, 'model'> = {
      messages: [user('Ada Lovelace')],
      responseFormat: { type: 'json_schema', jsonSchema: { name: 'person', schema: PERSON, strict: true } },
    };
    const text = (await complete(request)).choices[0]?.text ?? '';
    expect(validAgainst(PERSON, text)).toBe(true);
    expect((await stream(request)).map((d) => d.text).join('')).toBe(text);
  });

  it('JSON_OBJECT: the text is a JSON object', async () => {
    const text = (await complete({ messages: [user('Ada')], responseFormat: { type: 'json_object' } })).choices[0]?.text ?? '';
    const value: unknown = JSON.parse(text);
    expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  });

  it('acknowledges images, audio and files by kind and count, without decoding them', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const wav = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=';
    const result = await complete({
      messages: [
        {
          role: 'user',
          content: null,
          parts: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', url: 'https://example.com/cat.png', detail: 'low' },
            { type: 'image', url: `data:image/png;base64,${png}`, detail: undefined },
            { type: 'audio', data: wav, format: 'wav' },
            { type: 'file', fileId: undefined, fileData: undefined, filename: 'report.pdf' },
          ],
        },
      ],
    });
    const text = result.choices[0]?.text ?? '';
    const bytes = (base64: string): number => Buffer.from(base64, 'base64').length;
    expect(text).toContain('Simulated reply to "What is in these?".');
    expect(text).toContain(
      `I see 2 images (example.com/cat.png, low detail; inline image/png, ${bytes(png)} bytes), ` +
        `1 audio clip (wav, ${bytes(wav)} bytes) and 1 file (report.pdf)`,
    );
    expect(text).not.toContain(png.slice(0, 12));
  });

  it('counts reasoning tokens by effort inside completionTokens, and spends the budget on them first', async () => {
    const request = { messages: [user('Think about it')] };
    const plain = await complete(request);
    // Without the options, usage is what it always was: no reasoning or cache counts.
    expect(Object.keys(plain.usage ?? {}).sort()).toEqual(['completionTokens', 'promptTokens', 'totalTokens']);
    const counts: number[] = [];
    for (const reasoningEffort of ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const) {
      const result = await complete({ ...request, reasoningEffort });
      expect(result.choices[0]?.text).toBe(plain.choices[0]?.text);
      const reasoning = result.usage?.reasoningTokens ?? -1;
      expect(result.usage?.completionTokens).toBe((plain.usage?.completionTokens ?? 0) + reasoning);
      expect(result.usage?.totalTokens).toBe((result.usage?.promptTokens ?? 0) + (result.usage?.completionTokens ?? 0));
      counts.push(reasoning);
    }
    expect(counts[0]).toBe(0);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1] ?? 0);

    const starved = await complete({ ...request, reasoningEffort: 'high', maxCompletionTokens: 10 });
    expect(starved.choices[0]).toMatchObject({ text: '', finishReason: 'length' });
    expect(starved.usage).toMatchObject({ completionTokens: 10, reasoningTokens: 10 });
  });

  it('reports cached prompt tokens: the earlier messages with a promptCacheKey or a prompt of 1024 tokens or more', async () => {
    const system: ChatMessage = { role: 'system', content: 'You answer questions about the weather, briefly and politely.' };
    const last = user('Is it sunny?');
    const keyed = await complete({ messages: [system, last], promptCacheKey: 'weather-app' });
    const alone = await complete({ messages: [last], promptCacheKey: 'weather-app' });
    expect(alone.usage?.cachedPromptTokens).toBe(0);
    expect(keyed.usage?.cachedPromptTokens).toBe((keyed.usage?.promptTokens ?? 0) - (alone.usage?.promptTokens ?? 0));
    expect(keyed.usage?.cachedPromptTokens).toBeGreaterThan(0);

    expect((await complete({ messages: [system, last] })).usage?.cachedPromptTokens).toBeUndefined();
    const long = await complete({ messages: [{ role: 'system', content: 'weather '.repeat(1100) }, last] });
    expect(long.usage?.promptTokens).toBeGreaterThanOrEqual(1024);
    expect(long.usage?.cachedPromptTokens).toBe((long.usage?.promptTokens ?? 0) - (alone.usage?.promptTokens ?? 0));
  });
});

const CHAT = parse(`
  mutation Chat($input: CompletionInput!) {
    complete(input: $input) {
      text
      json
      choices { finishReason }
      toolCalls { id name arguments argumentsJson }
      usage { promptTokens completionTokens totalTokens cachedPromptTokens reasoningTokens }
    }
  }
`) as TypedDocumentNode<{ complete: ChatCompletion }, { input: CompletionInput }>;

const CHAT_STREAM = parse(`
  subscription ChatStream($input: CompletionInput!) {
    completionStream(input: $input) {
      index
      text
      finishReason
      usage { promptTokens completionTokens totalTokens cachedPromptTokens reasoningTokens }
    }
  }
`) as TypedDocumentNode<{ completionStream: { index: number; text: string; finishReason: string | null; usage: ChatUsage | null } }, { input: CompletionInput }>;

interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedPromptTokens: number | null;
  reasoningTokens: number | null;
}

interface ChatCompletion {
  text: string;
  json: unknown;
  choices: { finishReason: string | null }[];
  toolCalls: { id: string; name: string; arguments: string; argumentsJson: unknown }[] | null;
  usage: ChatUsage;
}

const WEATHER_INPUT = { name: WEATHER.name, description: WEATHER.description, parameters: WEATHER.parameters };

describe('through GraphQL with the default gateway (no upstream)', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    await gw.stop();
  });

  async function chat(input: CompletionInput): Promise<ChatCompletion> {
    const result = await graphql(gw.httpUrl, CHAT, { input });
    expect(result.errors).toBeUndefined();
    if (!result.data) throw new Error('complete returned no data');
    return result.data.complete;
  }

  it('a tool call: TOOL_CALLS, and argumentsJson valid against the parameters; the same twice', async () => {
    const input: CompletionInput = { messages: [{ role: 'USER', content: 'Weather in Oslo? get_weather' }], tools: [WEATHER_INPUT] };
    const first = await chat(input);
    expect(first.choices[0]?.finishReason).toBe('TOOL_CALLS');
    expect(first.toolCalls).toHaveLength(1);
    const [call] = first.toolCalls ?? [];
    expect(call?.name).toBe('get_weather');
    expect(call?.argumentsJson).toEqual(JSON.parse(call?.arguments ?? ''));
    expect(ajv.validate(WEATHER.parameters ?? {}, call?.argumentsJson)).toBe(true);
    expect((await chat(input)).toolCalls).toEqual(first.toolCalls);
  });

  it('the round trip: the call sent back with its answer gets a text answer that quotes it', async () => {
    const ask: CompletionInput = { messages: [{ role: 'USER', content: 'Weather in Oslo? get_weather' }], tools: [WEATHER_INPUT] };
    const [call] = (await chat(ask)).toolCalls ?? [];
    if (!call) throw new Error('no tool call');
    const answer = await chat({
      ...ask,
      messages: [
        ...(ask.messages ?? []),
        { role: 'ASSISTANT', toolCalls: [{ id: call.id, name: call.name, arguments: call.arguments }] },
        { role: 'TOOL', toolCallId: call.id, content: 'Oslo: 4 degrees, snow' },
      ],
    });
    expect(answer.choices[0]?.finishReason).toBe('STOP');
    expect(answer.toolCalls).toBeNull();
    expect(answer.text).toContain('get_weather returned "Oslo: 4 degrees, snow"');
  });

  it('JSON_SCHEMA: json is valid against the schema; image parts acknowledged; reasoning and cached tokens in usage', async () => {
    const structured = await chat({
      messages: [{ role: 'USER', content: 'Ada Lovelace' }],
      responseFormat: { type: 'JSON_SCHEMA', jsonSchema: { name: 'person', schema: PERSON, strict: true } },
    });
    expect(ajv.validate(PERSON, structured.json)).toBe(true);
    expect(structured.json).toEqual(JSON.parse(structured.text));

    const seen = await chat({
      messages: [
        { role: 'SYSTEM', content: 'Describe pictures.' },
        { role: 'USER', parts: [{ text: 'What is this?' }, { imageUrl: { url: 'https://example.com/cat.png', detail: 'HIGH' } }] },
      ],
      reasoningEffort: 'LOW',
      promptCacheKey: 'pictures',
    });
    expect(seen.text).toContain('I see 1 image (example.com/cat.png, high detail)');
    const { usage } = seen;
    expect(usage.reasoningTokens).toBeGreaterThan(0);
    expect(usage.cachedPromptTokens).toBeGreaterThan(0);
    expect(usage.cachedPromptTokens).toBeLessThan(usage.promptTokens);
    expect(usage.completionTokens).toBeGreaterThan(usage.reasoningTokens ?? 0);
  });

  it('streamed over SSE, a tool call ends with TOOL_CALLS and the mutation’s usage', async () => {
    const input: CompletionInput = { messages: [{ role: 'USER', content: 'get_weather for Lima' }], tools: [WEATHER_INPUT], reasoningEffort: 'MINIMAL' };
    const chunks = (await collectSse(gw.httpUrl, CHAT_STREAM, { input })).map((r) => r.data?.completionStream);
    const last = chunks.at(-1);
    expect(last?.finishReason).toBe('TOOL_CALLS');
    expect(chunks.every((c) => c?.text === '')).toBe(true);
    expect(last?.usage).toEqual((await chat(input)).usage);
  });
});
