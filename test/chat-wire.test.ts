/**
 * The chat surface's inputs on OpenAI's wire: what the fake upstream received for each,
 * under OpenAI's names, over HTTP, graphql-ws and SSE. Only what the client set is sent.
 */
import { describe, expect, it } from 'vitest';
import type { CompletionInput } from '../src/generated/operations.js';
import { ask, completeOverHttp, STREAMS, type Transport } from './chat-documents.js';
import { useGatewayWithFake } from './helpers.js';

const ctx = useGatewayWithFake();

const USER = { role: 'USER', content: 'Hi' } as const;
const WIRE_USER = { role: 'user', content: 'Hi' };

const PNG = 'data:image/png;base64,iVBORw0KGgo=';

/** A request that sets every chat input, and the body OpenAI should get for it. */
const FULL: CompletionInput = {
  model: 'gpt-4o',
  messages: [
    { role: 'DEVELOPER', content: 'Answer in French.' },
    { role: 'SYSTEM', content: 'Be brief.', name: 'policy' },
    {
      role: 'USER',
      name: 'ann',
      parts: [
        { text: 'What is in these?' },
        { imageUrl: { url: 'https://example.com/cat.png', detail: 'HIGH' } },
        { imageUrl: { url: PNG } },
        { inputAudio: { data: 'UklGRiQAAABXQVZF', format: 'WAV' } },
        { inputAudio: { data: 'SUQzBAAAAAAA', format: 'MP3' } },
        { file: { fileId: 'file-abc123' } },
        { file: { fileData: 'data:application/pdf;base64,JVBERi0xLjQ=', filename: 'report.pdf' } },
      ],
    },
    {
      role: 'ASSISTANT',
      toolCalls: [
        { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'call_2', name: 'get_time', arguments: '{}' },
      ],
    },
    { role: 'TOOL', toolCallId: 'call_1', content: '18 °C' },
    { role: 'TOOL', toolCallId: 'call_2', content: '14:00' },
    { role: 'ASSISTANT', content: 'Il fait 18 °C.', name: 'bot' },
    { role: 'USER', parts: [{ text: 'Merci.' }] },
  ],
  tools: [
    {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
      strict: true,
    },
    { name: 'get_time' },
  ],
  toolChoice: { function: 'get_weather' },
  parallelToolCalls: false,
  responseFormat: {
    type: 'JSON_SCHEMA',
    jsonSchema: {
      name: 'answer',
      description: 'The answer and its confidence',
      schema: { type: 'object', properties: { answer: { type: 'string' }, confidence: { type: 'number' } }, required: ['answer', 'confidence'] },
      strict: true,
    },
  },
  reasoningEffort: 'HIGH',
  maxCompletionTokens: 256,
  verbosity: 'LOW',
  promptCacheKey: 'tenant-42:faq',
  safetyIdentifier: 'user-7f3a',
  serviceTier: 'flex',
};

const FULL_WIRE = {
  model: 'gpt-4o',
  messages: [
    { role: 'developer', content: 'Answer in French.' },
    { role: 'system', content: 'Be brief.', name: 'policy' },
    {
      role: 'user',
      name: 'ann',
      content: [
        { type: 'text', text: 'What is in these?' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
        { type: 'image_url', image_url: { url: PNG } },
        { type: 'input_audio', input_audio: { data: 'UklGRiQAAABXQVZF', format: 'wav' } },
        { type: 'input_audio', input_audio: { data: 'SUQzBAAAAAAA', format: 'mp3' } },
        { type: 'file', file: { file_id: 'file-abc123' } },
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQ=', filename: 'report.pdf' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ],
    },
    { role: 'tool', content: '18 °C', tool_call_id: 'call_1' },
    { role: 'tool', content: '14:00', tool_call_id: 'call_2' },
    { role: 'assistant', content: 'Il fait 18 °C.', name: 'bot' },
    { role: 'user', content: [{ type: 'text', text: 'Merci.' }] },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
        strict: true,
      },
    },
    { type: 'function', function: { name: 'get_time' } },
  ],
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
  parallel_tool_calls: false,
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'answer',
      description: 'The answer and its confidence',
      schema: { type: 'object', properties: { answer: { type: 'string' }, confidence: { type: 'number' } }, required: ['answer', 'confidence'] },
      strict: true,
    },
  },
  reasoning_effort: 'high',
  max_completion_tokens: 256,
  verbosity: 'low',
  prompt_cache_key: 'tenant-42:faq',
  safety_identifier: 'user-7f3a',
  service_tier: 'flex',
};

/** The body of the only chat request the fake received. */
function sentBody(): Record<string, unknown> | null | undefined {
  const chat = ctx.fake.requests.filter((r) => r.path === '/v1/chat/completions');
  expect(chat).toHaveLength(1);
  return chat[0]?.body;
}

/** Runs `input` over `transport` and returns the body the upstream got, stream flags removed. */
async function wireOf(input: CompletionInput, transport: Transport = 'mutation'): Promise<Record<string, unknown>> {
  await ask(ctx.gw, transport, input);
  const { stream, stream_options, ...body } = sentBody() ?? {};
  expect([stream, stream_options]).toEqual(transport === 'mutation' ? [false, undefined] : [true, { include_usage: true }]);
  return body;
}

describe('every chat input under its OpenAI name', () => {
  it.each(['mutation', ...STREAMS] as const)('a request that sets them all gets exactly the body OpenAI documents (%s)', async (transport) => {
    expect(await wireOf(FULL, transport)).toEqual(FULL_WIRE);
  });

  it('a request that sets none of them sends none of them', async () => {
    expect(await wireOf({ messages: [USER] })).toEqual({ model: 'gpt-4o-mini', messages: [WIRE_USER] });
  });
});

describe('tools and tool choice', () => {
  it.each([
    ['AUTO', 'auto'],
    ['NONE', 'none'],
    ['REQUIRED', 'required'],
  ] as const)('toolChoice { mode: %s } is tool_choice "%s"', async (mode, wire) => {
    const body = await wireOf({ messages: [USER], tools: [{ name: 'get_time' }], toolChoice: { mode } });
    expect(body).toEqual({ model: 'gpt-4o-mini', messages: [WIRE_USER], tools: [{ type: 'function', function: { name: 'get_time' } }], tool_choice: wire });
  });

  it('toolChoice { function } is tool_choice { type: "function", function: { name } }', async () => {
    const body = await wireOf({ messages: [USER], tools: [{ name: 'get_time' }], toolChoice: { function: 'get_time' } });
    expect(body['tool_choice']).toEqual({ type: 'function', function: { name: 'get_time' } });
  });

  it.each([true, false])('parallelToolCalls %s is sent as parallel_tool_calls, false included', async (parallel) => {
    const body = await wireOf({ messages: [USER], tools: [{ name: 'get_time' }], parallelToolCalls: parallel });
    expect(body['parallel_tool_calls']).toBe(parallel);
  });
});

describe('response formats', () => {
  it.each([
    ['TEXT', { type: 'text' }],
    ['JSON_OBJECT', { type: 'json_object' }],
  ] as const)('%s is response_format %j', async (type, wire) => {
    expect((await wireOf({ messages: [USER], responseFormat: { type } }))['response_format']).toEqual(wire);
  });

  it('JSON_SCHEMA with only a name and a schema sends only those', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' } } };
    const body = await wireOf({ messages: [USER], responseFormat: { type: 'JSON_SCHEMA', jsonSchema: { name: 'count', schema } } });
    expect(body['response_format']).toEqual({ type: 'json_schema', json_schema: { name: 'count', schema } });
  });
});

describe('reasoning and output options', () => {
  it('every reasoningEffort is reasoning_effort in lower case', async () => {
    const efforts = ['NONE', 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH', 'XHIGH'] as const;
    for (const reasoningEffort of efforts) await completeOverHttp(ctx.gw, { model: 'o3-mini', messages: [USER], reasoningEffort });
    expect(ctx.fake.requests.map((r) => r.body?.['reasoning_effort'])).toEqual(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
  });

  it('every verbosity is verbosity in lower case', async () => {
    for (const verbosity of ['LOW', 'MEDIUM', 'HIGH'] as const) await completeOverHttp(ctx.gw, { messages: [USER], verbosity });
    expect(ctx.fake.requests.map((r) => r.body?.['verbosity'])).toEqual(['low', 'medium', 'high']);
  });

  it('maxCompletionTokens is max_completion_tokens whatever the model', async () => {
    expect(await wireOf({ model: 'gpt-4o', messages: [USER], maxCompletionTokens: 64 })).toEqual({
      model: 'gpt-4o',
      messages: [WIRE_USER],
      max_completion_tokens: 64,
    });
  });

  it('with maxTokens too, maxTokens keeps its own mapping: max_tokens for a chat model', async () => {
    const body = await wireOf({ model: 'gpt-4o', messages: [USER], maxTokens: 32, maxCompletionTokens: 64 });
    expect([body['max_tokens'], body['max_completion_tokens']]).toEqual([32, 64]);
  });

  it('with maxTokens too, on a reasoning model (where maxTokens is max_completion_tokens), maxCompletionTokens wins', async () => {
    const body = await wireOf({ model: 'o3-mini', messages: [USER], maxTokens: 32, maxCompletionTokens: 64 });
    expect(body).not.toHaveProperty('max_tokens');
    expect(body['max_completion_tokens']).toBe(64);
  });

  it('promptCacheKey, safetyIdentifier and serviceTier pass through as given', async () => {
    const body = await wireOf({ messages: [USER], promptCacheKey: 'k1', safetyIdentifier: 's1', serviceTier: 'priority' });
    expect(body).toEqual({ model: 'gpt-4o-mini', messages: [WIRE_USER], prompt_cache_key: 'k1', safety_identifier: 's1', service_tier: 'priority' });
  });
});

describe('messages', () => {
  it('a message with parts sends a content array, even of one text part; without an image detail, none is sent', async () => {
    const body = await wireOf({ messages: [{ role: 'USER', parts: [{ text: 'Look' }, { imageUrl: { url: 'https://example.com/a.jpg' } }] }] });
    expect(body['messages']).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } }] },
    ]);
  });

  it('every image detail is image_url.detail in lower case', async () => {
    const parts = (['AUTO', 'LOW', 'HIGH'] as const).map((detail) => ({ imageUrl: { url: PNG, detail } }));
    const body = await wireOf({ messages: [{ role: 'USER', parts }] });
    expect(body['messages']).toEqual([{ role: 'user', content: ['auto', 'low', 'high'].map((detail) => ({ type: 'image_url', image_url: { url: PNG, detail } })) }]);
  });

  it('an ASSISTANT message with tool calls and text keeps its text', async () => {
    const body = await wireOf({
      messages: [
        USER,
        { role: 'ASSISTANT', content: 'Checking.', toolCalls: [{ id: 'call_9', name: 'get_time', arguments: '{}' }] },
        { role: 'TOOL', toolCallId: 'call_9', content: 'noon' },
      ],
      tools: [{ name: 'get_time' }],
    });
    expect(body['messages']).toEqual([
      WIRE_USER,
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
      { role: 'tool', content: 'noon', tool_call_id: 'call_9' },
    ]);
  });
});
