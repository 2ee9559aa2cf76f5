/**
 * The chat surface's input rules (issue #14), through GraphQL over HTTP against a gateway
 * whose upstream is the fake: a refused request names its bad field and never reaches the
 * upstream; every valid kind of input does.
 */
import { print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CHAT_ONLY_FIELDS } from '../src/completion/chat-request.js';
import {
  ChatDocument,
  ChatStreamDocument,
  type ChatMessageInput,
  type CompletionInput,
  type ContentPartInput,
  type ResponseFormatInput,
  type ToolCallInput,
  type ToolInput,
} from '../src/generated/operations.js';
import { collectSse, graphql, subscribeOverWs, takeSseEvents, useGatewayWithFake, wsClient } from './helpers.js';

const ctx = useGatewayWithFake();

const user = (content: string): ChatMessageInput => ({ role: 'USER', content });
const ask: ChatMessageInput[] = [user('What is the weather in Paris?')];
const weather: ToolInput = {
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const withParts = (...parts: ContentPartInput[]): CompletionInput => ({ messages: [{ role: 'USER', parts }] });
/** Base64 of "hello world": valid in every payload field. */
const b64 = 'aGVsbG8gd29ybGQ=';
const long = 'x'.repeat(257);
/** Asked for weather, the model called the tool; `answers` are the TOOL messages that follow. */
const roundTrip = (...answers: ChatMessageInput[]): ChatMessageInput[] => [
  ...ask,
  { role: 'ASSISTANT', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
  ...answers,
];
const answer = (toolCallId: string | undefined, content?: string): ChatMessageInput => ({ role: 'TOOL', toolCallId, content });
/** An ASSISTANT turn of tool calls only, with these ids, after the question. */
const calls = (...ids: string[]): CompletionInput => ({
  messages: [...ask, { role: 'ASSISTANT', toolCalls: ids.map((id) => ({ id, name: 'get_weather', arguments: '{}' })) }],
});
const withParameters = (parameters: Record<string, unknown>): CompletionInput => ({ messages: ask, tools: [{ name: 'f', parameters }] });
const withProperty = (schema: Record<string, unknown>): CompletionInput => withParameters({ type: 'object', properties: { a: schema } });
const withFormat = (responseFormat: ResponseFormatInput): CompletionInput => ({ messages: ask, responseFormat });

// [what is wrong, input, the field the error must name]
const refused: [string, CompletionInput, string][] = [
  // tools
  ['a tool name with a space', { messages: ask, tools: [weather, { name: 'get weather' }] }, 'tools[1].name'],
  ['a tool name of 65 characters', { messages: ask, tools: [{ name: 'f'.repeat(65) }] }, 'tools[0].name'],
  ['an empty tool name', { messages: ask, tools: [{ name: '' }] }, 'tools[0].name'],
  ['129 tools', { messages: ask, tools: Array.from({ length: 129 }, (_, i) => ({ name: `f${i}` })) }, 'tools'],
  ['two tools of the same name', { messages: ask, tools: [weather, { ...weather, description: 'again' }] }, 'tools[1].name'],
  ['parameters with an unknown type', withProperty({ type: 'strng' }), 'tools[0].parameters'],
  ['parameters whose $ref resolves nowhere', withProperty({ $ref: '#/$defs/nowhere' }), 'tools[0].parameters'],
  ['parameters with a pattern that is no regular expression', withProperty({ type: 'string', pattern: '(' }), 'tools[0].parameters'],
  ['parameters that describe a string', withParameters({ type: 'string' }), 'tools[0].parameters'],
  ['toolChoice naming a tool not offered', { messages: ask, tools: [weather], toolChoice: { function: 'get_time' } }, 'toolChoice.function'],
  ['toolChoice without tools', { messages: ask, toolChoice: { mode: 'REQUIRED' } }, 'toolChoice'],
  ['toolChoice NONE without tools', { messages: ask, toolChoice: { mode: 'NONE' } }, 'toolChoice'],
  ['parallelToolCalls without tools', { messages: ask, parallelToolCalls: false }, 'parallelToolCalls'],
  // content and parts
  ['both content and parts', { messages: [{ role: 'USER', content: 'Hi', parts: [{ text: 'Hi' }] }] }, 'messages[0].parts'],
  ['neither content nor parts', { messages: [{ role: 'USER' }] }, 'messages[0].content'],
  ['an ASSISTANT message without content, parts or toolCalls', { messages: [...ask, { role: 'ASSISTANT' }, user('?')] }, 'messages[1].content'],
  ['an empty parts list', withParts(), 'messages[0].parts'],
  ['an empty text part', withParts({ text: 'Look:' }, { text: ' ' }), 'messages[0].parts[1].text'],
  [
    'an image on a SYSTEM message',
    { messages: [{ role: 'SYSTEM', parts: [{ imageUrl: { url: 'https://example.com/a.png' } }] }, ...ask] },
    'messages[0].parts[0]',
  ],
  // tool calls and their answers
  ['a TOOL message without toolCallId', { messages: roundTrip(answer(undefined, '18°C')) }, 'messages[2].toolCallId'],
  ['a TOOL message without content', { messages: roundTrip(answer('call_1')) }, 'messages[2].content'],
  ['toolCallId on a USER message', { messages: [{ role: 'USER', content: 'Hi', toolCallId: 'call_1' }] }, 'messages[0].toolCallId'],
  [
    'toolCalls on a USER message',
    { messages: [{ role: 'USER', content: 'Hi', toolCalls: [{ id: 'c', name: 'f', arguments: '{}' }] }] },
    'messages[0].toolCalls',
  ],
  ['a call answered twice', { messages: roundTrip(answer('call_1', '18°C'), answer('call_1', '19°C')) }, 'messages[3].toolCallId'],
  ['an answer to a call never made', { messages: roundTrip(answer('call_2', '18°C')) }, 'messages[2].toolCallId'],
  [
    'an answer to a call of an earlier turn',
    { messages: [...roundTrip(answer('call_1', '18°C')), { role: 'ASSISTANT', content: 'It is 18°C.' }, answer('call_1', '18°C')] },
    'messages[4].toolCallId',
  ],
  ['two calls with the same id in one ASSISTANT message', calls('c', 'c'), 'messages[1].toolCalls[1].id'],
  ['an empty toolCalls list', calls(), 'messages[1].toolCalls'],
  ['an empty tool-call id', calls(''), 'messages[1].toolCalls[0].id'],
  // response formats
  ['JSON_SCHEMA without jsonSchema', withFormat({ type: 'JSON_SCHEMA' }), 'responseFormat.jsonSchema'],
  ['jsonSchema with JSON_OBJECT', withFormat({ type: 'JSON_OBJECT', jsonSchema: { name: 'w', schema: { type: 'object' } } }), 'responseFormat.jsonSchema'],
  [
    'a schema that is no JSON Schema',
    withFormat({ type: 'JSON_SCHEMA', jsonSchema: { name: 'w', schema: { type: 'object', required: 'city' } } }),
    'responseFormat.jsonSchema.schema',
  ],
  [
    'a schema name with a dot',
    withFormat({ type: 'JSON_SCHEMA', jsonSchema: { name: 'weather.v1', schema: { type: 'object' } } }),
    'responseFormat.jsonSchema.name',
  ],
  // images, audio, files
  ['an ftp image URL', withParts({ text: 'Look:' }, { imageUrl: { url: 'ftp://example.com/a.png' } }), 'messages[0].parts[1].imageUrl.url'],
  ['an image URL that is no URL', withParts({ imageUrl: { url: 'cat.png' } }), 'messages[0].parts[0].imageUrl.url'],
  ['a data: URL that is no image', withParts({ imageUrl: { url: `data:text/plain;base64,${b64}` } }), 'messages[0].parts[0].imageUrl.url'],
  ['a data:image URL that is not base64', withParts({ imageUrl: { url: 'data:image/png;base64,not base64!' } }), 'messages[0].parts[0].imageUrl.url'],
  ['a data:image URL without ;base64', withParts({ imageUrl: { url: `data:image/png,${b64}` } }), 'messages[0].parts[0].imageUrl.url'],
  ['audio that is not base64', withParts({ inputAudio: { data: 'RIFF….WAVE', format: 'WAV' } }), 'messages[0].parts[0].inputAudio.data'],
  ['audio with bad padding', withParts({ inputAudio: { data: 'aGVsbG8=x', format: 'MP3' } }), 'messages[0].parts[0].inputAudio.data'],
  ['empty audio', withParts({ inputAudio: { data: '', format: 'MP3' } }), 'messages[0].parts[0].inputAudio.data'],
  ['a file with neither fileId nor fileData', withParts({ file: { filename: 'a.pdf' } }), 'messages[0].parts[0].file'],
  ['file data that is not base64', withParts({ file: { fileData: '%PDF-1.7', filename: 'a.pdf' } }), 'messages[0].parts[0].file.fileData'],
  [
    'a file data: URL that is not base64',
    withParts({ file: { fileData: 'data:application/pdf;base64,%PDF', filename: 'a.pdf' } }),
    'messages[0].parts[0].file.fileData',
  ],
  // numbers and lengths
  ['maxCompletionTokens of 0', { messages: ask, maxCompletionTokens: 0 }, 'maxCompletionTokens'],
  ['a promptCacheKey of 257 characters', { messages: ask, promptCacheKey: long }, 'promptCacheKey'],
  ['a safetyIdentifier of 257 characters', { messages: ask, safetyIdentifier: long }, 'safetyIdentifier'],
  ['a serviceTier of 257 characters', { messages: ask, serviceTier: long }, 'serviceTier'],
  ['a message name of 257 characters', { messages: [{ role: 'USER', content: 'Hi', name: long }] }, 'messages[0].name'],
  ['a tool-call id of 257 characters', calls(long), 'messages[1].toolCalls[0].id'],
  ['a toolCallId of 257 characters', { messages: roundTrip(answer(long, '18°C')) }, 'messages[2].toolCallId'],
];

// One value per chat-only field, each sent with `prompt`.
const chatOnly: Record<(typeof CHAT_ONLY_FIELDS)[number], CompletionInput> = {
  tools: { tools: [weather] },
  toolChoice: { toolChoice: { mode: 'AUTO' } },
  parallelToolCalls: { parallelToolCalls: true },
  responseFormat: { responseFormat: { type: 'JSON_OBJECT' } },
  reasoningEffort: { reasoningEffort: 'LOW' },
  maxCompletionTokens: { maxCompletionTokens: 10 },
  verbosity: { verbosity: 'LOW' },
  promptCacheKey: { promptCacheKey: 'k' },
  safetyIdentifier: { safetyIdentifier: 's' },
  serviceTier: { serviceTier: 'flex' },
};

async function expectRefused(input: CompletionInput, field: string): Promise<string | undefined> {
  const { data, errors } = await graphql(ctx.gw.httpUrl, ChatDocument, { input });
  expect(data).toBeNull();
  expect(errors).toHaveLength(1);
  expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  expect(errors?.[0]?.extensions?.['field']).toBe(field);
  expect(errors?.[0]?.message.startsWith(`${field}:`)).toBe(true);
  expect(ctx.fake.requests).toHaveLength(0);
  return errors?.[0]?.message;
}

describe('bad chat input is refused before any upstream call', () => {
  it.each(refused)('refuses %s, naming the field', async (_what, input, field) => {
    await expectRefused(input, field);
  });

  it.each(Object.entries(chatOnly))('refuses %s with prompt', async (field, input) => {
    await expectRefused({ prompt: 'Hi', ...input }, field);
  });

  it('has a case for every chat-only field', () => {
    expect(Object.keys(chatOnly).sort()).toEqual([...CHAT_ONLY_FIELDS].sort());
  });

  it("quotes ajv's reason, cut short", async () => {
    const parameters = { type: 'object', properties: { ['p'.repeat(10_000)]: { type: 'strng' } } };
    const message = await expectRefused({ messages: ask, tools: [{ name: 'f', parameters }] }, 'tools[0].parameters');
    expect(message).toMatch(/^tools\[0\]\.parameters: is not a valid JSON Schema: schema\/properties\/ppp/);
    expect(message?.length).toBeLessThan(400);
  });

  it('refuses on a subscription too (SSE)', async () => {
    const input = { messages: ask, tools: [weather], toolChoice: { function: 'f' } };
    const results = await collectSse(ctx.gw.httpUrl, ChatStreamDocument, { input });
    expect(results).toHaveLength(1);
    expect(results[0]?.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(results[0]?.errors?.[0]?.extensions?.['field']).toBe('toolChoice.function');
    expect(ctx.fake.requests).toHaveLength(0);
  });
});

describe('@oneOf content parts (GraphQL itself)', () => {
  it('refuses a part with two members set in variables: HTTP 400 with BAD_USER_INPUT', async () => {
    // The document as text: its generated types rightly forbid such a part.
    const { status, data, errors } = await graphql(ctx.gw.httpUrl, print(ChatDocument), {
      input: { messages: [{ role: 'USER', parts: [{ text: 'Look:', imageUrl: { url: 'https://example.com/a.png' } }] }] },
    });
    expect(status).toBe(400);
    expect(data).toBeUndefined();
    expect(errors?.[0]?.message).toContain('Exactly one key must be specified for OneOf type "ContentPartInput"');
    expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('refuses it with BAD_USER_INPUT over graphql-ws and SSE too, before the upstream', async () => {
    const input = { messages: [{ role: 'USER' as const, parts: [{ text: 'Look:', imageUrl: { url: 'https://example.com/a.png' } }] }] };
    // The document as text again: its generated types rightly forbid such a part.
    const client = wsClient(ctx.gw.wsUrl);
    const overWs: { message: string; extensions?: Record<string, unknown> }[] = [];
    try {
      for await (const result of client.iterate({ query: print(ChatStreamDocument), variables: { input } })) overWs.push(...(result.errors ?? []));
    } finally {
      await client.dispose();
    }
    // Over SSE the stream answers with status 400 and the errors as its one `next` event.
    const response = await fetch(ctx.gw.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: print(ChatStreamDocument), variables: { input } }),
    });
    expect(response.status).toBe(400);
    const next = takeSseEvents(await response.text()).events.find((e) => e.event === 'next');
    const overSse = (JSON.parse(next?.data ?? '{}') as { errors?: { message: string; extensions?: Record<string, unknown> }[] }).errors ?? [];
    for (const errors of [overWs, overSse]) {
      expect(errors[0]?.message).toContain('Exactly one key must be specified for OneOf type "ContentPartInput"');
      expect(errors[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    }
    expect(ctx.fake.requests).toHaveLength(0);
  });

  it('refuses the same part written in the document with GRAPHQL_VALIDATION_FAILED', async () => {
    const part = '{ text: "Look:", imageUrl: { url: "https://example.com/a.png" } }';
    const query = `mutation { complete(input: { messages: [{ role: USER, parts: [${part}] }] }) { text } }`;
    const { status, errors } = await graphql(ctx.gw.httpUrl, query);
    expect(status).toBe(400);
    expect(errors?.[0]?.message).toBe('OneOf Input Object "ContentPartInput" must specify exactly one key.');
    expect(errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(ctx.fake.requests).toHaveLength(0);
  });
});

const call = (id: string, city: string): ToolCallInput => ({ id, name: 'get_weather', arguments: JSON.stringify({ city }) });

// [what, input]: each must pass every check and reach the upstream.
const accepted: [string, CompletionInput][] = [
  [
    'a tool round trip: the call on an ASSISTANT message without content, its answer on a TOOL message',
    { messages: roundTrip(answer('call_1', '{"celsius":18}')), tools: [weather], toolChoice: { function: 'get_weather' }, parallelToolCalls: false },
  ],
  [
    'parallel calls answered in any order, as parts or empty',
    {
      messages: [
        ...ask,
        { role: 'ASSISTANT', content: '', toolCalls: [call('a', 'Paris'), call('b', 'Lyon')] },
        { role: 'TOOL', toolCallId: 'b', parts: [{ text: '20°C' }] },
        answer('a', ''),
      ],
      tools: [weather],
      toolChoice: { mode: 'REQUIRED' },
    },
  ],
  [
    'call ids numbered afresh each turn (call_0 twice)',
    {
      messages: [
        ...ask,
        { role: 'ASSISTANT', toolCalls: [call('call_0', 'Paris')] },
        answer('call_0', '18°C'),
        { role: 'ASSISTANT', content: '18°C. Lyon too?' },
        user('Yes'),
        { role: 'ASSISTANT', toolCalls: [call('call_0', 'Lyon')] },
        answer('call_0', '20°C'),
      ],
      tools: [weather],
    },
  ],
  ['128 tools, one with a 64-character name', { messages: ask, tools: Array.from({ length: 128 }, (_, i) => ({ name: i ? `t-${i}` : 'f'.repeat(64) })) }],
  [
    'two tools whose schemas share an $id, with $defs and $ref',
    {
      messages: ask,
      tools: [
        {
          name: 'a',
          parameters: { $id: 'https://example.com/args', type: 'object', $defs: { c: { type: 'string' } }, properties: { c: { $ref: '#/$defs/c' } } },
        },
        { name: 'b', parameters: { $id: 'https://example.com/args', type: 'object', properties: { when: { type: 'string', format: 'date-time' } } } },
      ],
    },
  ],
  ['a tool without parameters', { messages: ask, tools: [{ name: 'now' }] }],
  ['parts: text and an https image', withParts({ text: 'What is this?' }, { imageUrl: { url: 'https://example.com/cat.png?size=large', detail: 'LOW' } })],
  ['a data:image URL', withParts({ imageUrl: { url: `data:image/png;base64,${b64}`, detail: 'HIGH' } })],
  ['unpadded base64 audio', withParts({ text: 'Transcribe:' }, { inputAudio: { data: 'aGVsbG8gd29ybGQ', format: 'WAV' } })],
  ['a file by id', withParts({ file: { fileId: 'file-abc123' } })],
  [
    'a file inline, as base64 and as a data: URL',
    withParts({ file: { fileData: b64, filename: 'a.txt' } }, { file: { fileData: `data:application/pdf;base64,${b64}`, filename: 'a.pdf' } }),
  ],
  ['a named DEVELOPER message with text parts', { messages: [{ role: 'DEVELOPER', name: 'ops', parts: [{ text: 'Be brief.' }] }, ...ask] }],
  [
    'JSON_SCHEMA with a 2020-12 schema',
    withFormat({
      type: 'JSON_SCHEMA',
      jsonSchema: {
        name: 'weather',
        strict: true,
        schema: { type: 'object', properties: { celsius: { type: 'number' } }, required: ['celsius'], additionalProperties: false },
      },
    }),
  ],
  [
    'JSON_SCHEMA with a draft-07 schema and its tuple items',
    withFormat({
      type: 'JSON_SCHEMA',
      jsonSchema: {
        name: 'pair',
        schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { p: { type: 'array', items: [{ type: 'string' }] } } },
      },
    }),
  ],
  ['JSON_OBJECT', withFormat({ type: 'JSON_OBJECT' })],
  [
    'every reasoning and caching option at its edge',
    {
      messages: ask,
      reasoningEffort: 'HIGH',
      maxCompletionTokens: 1,
      verbosity: 'LOW',
      promptCacheKey: 'k'.repeat(256),
      safetyIdentifier: 'user-1',
      serviceTier: 'flex',
    },
  ],
];

describe('valid chat input reaches the upstream', () => {
  it.each(accepted)('accepts %s', async (_what, input) => {
    const { errors } = await graphql(ctx.gw.httpUrl, ChatDocument, { input });
    expect(errors).toBeUndefined();
    expect(ctx.fake.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
  });

  it('streams a tool round trip with ChatStream over graphql-ws', async () => {
    const input = { messages: roundTrip(answer('call_1', '{"celsius":18}')), tools: [weather], toolChoice: { mode: 'AUTO' as const } };
    const results = await subscribeOverWs(ctx.gw.wsUrl, ChatStreamDocument, { input });
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const chunks = results.map((r) => r.data?.completionStream);
    expect(chunks.at(-1)?.finishReason).toBe('STOP');
    expect(chunks.at(-1)?.accumulatedText).toBe('Hello from the fake upstream.');
    expect(ctx.fake.requests.map((r) => [r.path, r.body?.['stream']])).toEqual([['/v1/chat/completions', true]]);
  });
});
