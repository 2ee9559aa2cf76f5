/**
 * The schema as a contract: what the gateway serves is exactly the committed SDL, every
 * element is documented, and the names clients depend on exist with the expected types.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildClientSchema,
  getIntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
  lexicographicSortSchema,
  printSchema,
  type GraphQLField,
  type GraphQLObjectType,
  type IntrospectionQuery,
} from 'graphql';
import { schema } from '../src/graphql/schema/index.js';
import { graphql, startGateway, type TestGateway } from './helpers.js';

const committedSdl = (await readFile(new URL('../schema/schema.graphql', import.meta.url), 'utf8')).trim();

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway();
});

afterAll(async () => {
  await gw?.stop();
});

function objectType(name: string): GraphQLObjectType {
  const type = schema.getType(name);
  if (!isObjectType(type)) throw new Error(`${name} is not an object type in the schema`);
  return type;
}

function field(typeName: string, fieldName: string): GraphQLField<unknown, unknown> {
  const found = objectType(typeName).getFields()[fieldName];
  if (!found) throw new Error(`${typeName}.${fieldName} is missing from the schema`);
  return found;
}

function enumValues(name: string): string[] {
  const type = schema.getType(name);
  if (!isEnumType(type)) throw new Error(`${name} is not an enum type in the schema`);
  return type.getValues().map((v) => v.name);
}

function inputFieldTypes(name: string): Record<string, string> {
  const type = schema.getType(name);
  if (!isInputObjectType(type)) throw new Error(`${name} is not an input type in the schema`);
  return Object.fromEntries(Object.values(type.getFields()).map((f) => [f.name, String(f.type)]));
}

describe('served schema', () => {
  it('introspected over HTTP, prints exactly as the committed schema/schema.graphql', async () => {
    const result = await graphql<IntrospectionQuery, undefined>(gw.httpUrl, getIntrospectionQuery({ oneOf: true, specifiedByUrl: true }));

    expect(result.errors).toBeUndefined();
    expect(result.status).toBe(200);
    if (!result.data) throw new Error('introspection returned no data');
    const served = printSchema(lexicographicSortSchema(buildClientSchema(result.data)));
    expect(served).toBe(committedSdl);
  });

  it('the committed SDL is up to date with the code (what `npm run schema` prints)', () => {
    expect(printSchema(lexicographicSortSchema(schema))).toBe(committedSdl);
  });
});

describe('schema documentation', () => {
  it('gives every type, field, argument, input field and enum value a description', () => {
    const missing: string[] = [];
    const check = (what: string, description: string | null | undefined): void => {
      if (!description?.trim()) missing.push(what);
    };

    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
      check(type.name, type.description);
      if (isObjectType(type) || isInterfaceType(type)) {
        for (const f of Object.values(type.getFields())) {
          check(`${type.name}.${f.name}`, f.description);
          for (const arg of f.args) check(`${type.name}.${f.name}(${arg.name})`, arg.description);
        }
      } else if (isInputObjectType(type)) {
        for (const f of Object.values(type.getFields())) check(`${type.name}.${f.name}`, f.description);
      } else if (isEnumType(type)) {
        for (const v of type.getValues()) check(`${type.name}.${v.name}`, v.description);
      }
    }
    for (const directive of schema.getDirectives()) {
      if (isSpecifiedDirective(directive)) continue;
      check(`@${directive.name}`, directive.description);
      for (const arg of directive.args) check(`@${directive.name}(${arg.name})`, arg.description);
    }

    expect(missing, `undocumented schema elements: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('schema contract', () => {
  it('has Mutation.complete(input: CompletionInput!): Completion!', () => {
    const complete = field('Mutation', 'complete');
    expect(String(complete.type)).toBe('Completion!');
    expect(complete.args.map((a) => `${a.name}: ${String(a.type)}`)).toEqual(['input: CompletionInput!']);
    expect(schema.getMutationType()?.name).toBe('Mutation');
  });

  it('has Subscription.completionStream(input: CompletionInput!): CompletionChunk!', () => {
    const stream = field('Subscription', 'completionStream');
    expect(String(stream.type)).toBe('CompletionChunk!');
    expect(stream.args.map((a) => `${a.name}: ${String(a.type)}`)).toEqual(['input: CompletionInput!']);
    expect(schema.getSubscriptionType()?.name).toBe('Subscription');
  });

  it('has Query.models: [Model!]! without arguments', () => {
    const models = field('Query', 'models');
    expect(String(models.type)).toBe('[Model!]!');
    expect(models.args).toEqual([]);
    expect(schema.getQueryType()?.name).toBe('Query');
  });

  it('names the finish reasons STOP, LENGTH and CONTENT_FILTER', () => {
    expect(enumValues('FinishReason')).toEqual(expect.arrayContaining(['STOP', 'LENGTH', 'CONTENT_FILTER']));
  });

  it('has exactly the chat roles SYSTEM, DEVELOPER, USER, ASSISTANT and TOOL', () => {
    expect(enumValues('ChatRole').sort()).toEqual(['ASSISTANT', 'DEVELOPER', 'SYSTEM', 'TOOL', 'USER']);
  });

  it('has CompletionInput with the OpenAI parameters, all optional, typed as clients expect', () => {
    expect(inputFieldTypes('CompletionInput')).toEqual({
      model: 'String',
      prompt: 'String',
      messages: '[ChatMessageInput!]',
      suffix: 'String',
      maxTokens: 'Int',
      temperature: 'Float',
      topP: 'Float',
      n: 'Int',
      stop: '[String!]',
      presencePenalty: 'Float',
      frequencyPenalty: 'Float',
      logprobs: 'Int',
      echo: 'Boolean',
      seed: 'Int',
      user: 'String',
      logitBias: '[LogitBiasInput!]',
      tools: '[ToolInput!]',
      toolChoice: 'ToolChoiceInput',
      parallelToolCalls: 'Boolean',
      responseFormat: 'ResponseFormatInput',
      reasoningEffort: 'ReasoningEffort',
      maxCompletionTokens: 'Int',
      verbosity: 'Verbosity',
      promptCacheKey: 'String',
      safetyIdentifier: 'String',
      serviceTier: 'String',
      cache: 'CacheInput',
    });
    expect(inputFieldTypes('CacheInput')).toEqual({ ttlSeconds: 'Int!' });
    expect(inputFieldTypes('ChatMessageInput')).toEqual({
      role: 'ChatRole!',
      content: 'String',
      parts: '[ContentPartInput!]',
      name: 'String',
      toolCalls: '[ToolCallInput!]',
      toolCallId: 'String',
    });
    expect(inputFieldTypes('LogitBiasInput')).toEqual({ token: 'Int!', bias: 'Float!' });
  });

  it('types the result fields clients select: Completion, CompletionChunk and Usage', () => {
    const types = (name: string): Record<string, string> =>
      Object.fromEntries(Object.values(objectType(name).getFields()).map((f) => [f.name, String(f.type)]));
    expect(types('Completion')).toMatchObject({ text: 'String!', choices: '[Choice!]!', usage: 'Usage!', model: 'String!', cached: 'Boolean!' });
    expect(types('CompletionChunk')).toMatchObject({
      id: 'String!',
      completionId: 'String!',
      seq: 'Int!',
      text: 'String!',
      accumulatedText: 'String!',
      index: 'Int!',
      finishReason: 'FinishReason',
      usage: 'Usage',
      cached: 'Boolean!',
    });
    expect(types('Usage')).toEqual({
      promptTokens: 'Int!',
      completionTokens: 'Int!',
      totalTokens: 'Int!',
      cachedPromptTokens: 'Int',
      reasoningTokens: 'Int',
      cost: 'Float',
    });
  });

  it('has the chat surface of issue #14 under the names clients rely on', () => {
    const types = (name: string): Record<string, string> =>
      Object.fromEntries(Object.values(objectType(name).getFields()).map((f) => [f.name, String(f.type)]));
    expect(inputFieldTypes('ToolInput')).toEqual({ name: 'String!', description: 'String', parameters: 'JSONObject', strict: 'Boolean' });
    expect(inputFieldTypes('ToolChoiceInput')).toEqual({ mode: 'ToolChoiceMode', function: 'String' });
    expect(inputFieldTypes('ResponseFormatInput')).toEqual({ type: 'ResponseFormatType!', jsonSchema: 'JsonSchemaFormatInput' });
    expect(inputFieldTypes('JsonSchemaFormatInput')).toEqual({ name: 'String!', schema: 'JSONObject!', strict: 'Boolean', description: 'String' });
    expect(inputFieldTypes('ContentPartInput')).toEqual({ text: 'String', imageUrl: 'ImageUrlInput', inputAudio: 'InputAudioInput', file: 'FileInput' });
    expect(inputFieldTypes('ImageUrlInput')).toEqual({ url: 'String!', detail: 'ImageDetail' });
    expect(inputFieldTypes('InputAudioInput')).toEqual({ data: 'String!', format: 'AudioFormat!' });
    expect(inputFieldTypes('FileInput')).toEqual({ fileId: 'String', fileData: 'String', filename: 'String' });
    expect(inputFieldTypes('ToolCallInput')).toEqual({ id: 'String!', name: 'String!', arguments: 'String!' });
    for (const oneOf of ['ContentPartInput', 'ToolChoiceInput']) {
      const type = schema.getType(oneOf);
      expect(isInputObjectType(type) && type.isOneOf, `${oneOf} is @oneOf`).toBe(true);
    }
    expect(enumValues('ToolChoiceMode').sort()).toEqual(['AUTO', 'NONE', 'REQUIRED']);
    expect(enumValues('ResponseFormatType').sort()).toEqual(['JSON_OBJECT', 'JSON_SCHEMA', 'TEXT']);
    expect(enumValues('ReasoningEffort').sort()).toEqual(['HIGH', 'LOW', 'MEDIUM', 'MINIMAL', 'NONE', 'XHIGH']);
    expect(enumValues('Verbosity').sort()).toEqual(['HIGH', 'LOW', 'MEDIUM']);
    expect(enumValues('ImageDetail').sort()).toEqual(['AUTO', 'HIGH', 'LOW']);
    expect(enumValues('AudioFormat').sort()).toEqual(['MP3', 'WAV']);
    expect(types('ToolCall')).toEqual({ id: 'String!', name: 'String!', arguments: 'String!', argumentsJson: 'JSON' });
    expect(types('ToolCallDelta')).toEqual({ index: 'Int!', id: 'String', name: 'String', argumentsDelta: 'String!' });
    expect(types('Choice')).toMatchObject({ toolCalls: '[ToolCall!]', refusal: 'String', json: 'JSON' });
    expect(types('Completion')).toMatchObject({ toolCalls: '[ToolCall!]', refusal: 'String', json: 'JSON' });
    expect(types('CompletionChunk')).toMatchObject({ toolCallDeltas: '[ToolCallDelta!]', toolCalls: '[ToolCall!]', refusal: 'String' });
  });
});
