/**
 * The chat surface's input (issue #14), as Pothos hands it over (optional fields may be
 * null), and its mapping into the provider contract with GraphQL nulls dropped. The checks
 * that refuse bad chat input are in chat-checks.ts (JSON Schemas in json-schema.ts).
 */
import type { JsonObject } from '../graphql/builder.js';
import type {
  ChatMessage,
  ChatOptions,
  ChatRole,
  ContentPart,
  ImageDetail,
  ReasoningEffort,
  ResponseFormat,
  ToolChoice,
  ToolDefinition,
  Verbosity,
} from '../upstream/provider.js';

type Maybe<T> = T | null | undefined;

export interface ContentPartValue {
  text?: Maybe<string>;
  imageUrl?: Maybe<{ url: string; detail?: Maybe<ImageDetail> }>;
  inputAudio?: Maybe<{ data: string; format: 'wav' | 'mp3' }>;
  file?: Maybe<{ fileId?: Maybe<string>; fileData?: Maybe<string>; filename?: Maybe<string> }>;
}

export interface ToolCallValue {
  id: string;
  name: string;
  arguments: string;
}

export interface ChatMessageValue {
  role: ChatRole;
  content?: Maybe<string>;
  parts?: Maybe<readonly ContentPartValue[]>;
  name?: Maybe<string>;
  toolCalls?: Maybe<readonly ToolCallValue[]>;
  toolCallId?: Maybe<string>;
}

export interface ToolValue {
  name: string;
  description?: Maybe<string>;
  parameters?: Maybe<JsonObject>;
  strict?: Maybe<boolean>;
}

export interface ChatInputValue {
  messages?: Maybe<readonly ChatMessageValue[]>;
  tools?: Maybe<readonly ToolValue[]>;
  toolChoice?: Maybe<{ mode?: Maybe<'auto' | 'none' | 'required'>; function?: Maybe<string> }>;
  parallelToolCalls?: Maybe<boolean>;
  responseFormat?: Maybe<{
    type: ResponseFormat['type'];
    jsonSchema?: Maybe<{ name: string; schema: JsonObject; strict?: Maybe<boolean>; description?: Maybe<string> }>;
  }>;
  reasoningEffort?: Maybe<ReasoningEffort>;
  maxCompletionTokens?: Maybe<number>;
  verbosity?: Maybe<Verbosity>;
  promptCacheKey?: Maybe<string>;
  safetyIdentifier?: Maybe<string>;
  serviceTier?: Maybe<string>;
}

/** The chat-only fields, by name: none of them may come with `prompt`. */
export const CHAT_ONLY_FIELDS = [
  'tools',
  'toolChoice',
  'parallelToolCalls',
  'responseFormat',
  'reasoningEffort',
  'maxCompletionTokens',
  'verbosity',
  'promptCacheKey',
  'safetyIdentifier',
  'serviceTier',
] as const satisfies readonly (keyof ChatInputValue)[];

const given = <T>(value: Maybe<T>): value is T => value !== null && value !== undefined;

/** Copies `value` under `key` unless it is null or undefined. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: Maybe<T[K]>): void {
  if (given(value)) target[key] = value;
}

function toPart(part: ContentPartValue): ContentPart {
  if (given(part.text)) return { type: 'text', text: part.text };
  if (given(part.imageUrl)) return { type: 'image', url: part.imageUrl.url, detail: part.imageUrl.detail ?? undefined };
  if (given(part.inputAudio)) return { type: 'audio', data: part.inputAudio.data, format: part.inputAudio.format };
  // `@oneOf` leaves `file` as the only possibility.
  const file = part.file ?? {};
  return { type: 'file', fileId: file.fileId ?? undefined, fileData: file.fileData ?? undefined, filename: file.filename ?? undefined };
}

export function toMessage(m: ChatMessageValue): ChatMessage {
  const message: ChatMessage = { role: m.role, content: m.content ?? null };
  if (given(m.parts)) message.parts = m.parts.map(toPart);
  put(message, 'name', m.name);
  if (given(m.toolCalls)) message.toolCalls = m.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments }));
  put(message, 'toolCallId', m.toolCallId);
  return message;
}

function toTool(tool: ToolValue): ToolDefinition {
  const out: ToolDefinition = { name: tool.name };
  put(out, 'description', tool.description);
  put(out, 'parameters', tool.parameters);
  put(out, 'strict', tool.strict);
  return out;
}

function toToolChoice(choice: NonNullable<ChatInputValue['toolChoice']>): ToolChoice {
  // `@oneOf`: exactly one is set.
  return given(choice.function) ? { function: choice.function } : { mode: choice.mode ?? 'auto' };
}

/** The response format; undefined for JSON_SCHEMA without its schema, which the checks refuse first. */
function toResponseFormat(format: NonNullable<ChatInputValue['responseFormat']>): ResponseFormat | undefined {
  if (format.type !== 'json_schema') return { type: format.type };
  const schema = format.jsonSchema;
  if (!given(schema)) return undefined;
  const jsonSchema: Extract<ResponseFormat, { type: 'json_schema' }>['jsonSchema'] = { name: schema.name, schema: schema.schema };
  put(jsonSchema, 'strict', schema.strict);
  put(jsonSchema, 'description', schema.description);
  return { type: 'json_schema', jsonSchema };
}

/** The chat options the client set. */
export function chatOptions(input: ChatInputValue): ChatOptions {
  const options: ChatOptions = {};
  if (given(input.tools) && input.tools.length > 0) options.tools = input.tools.map(toTool);
  if (given(input.toolChoice)) options.toolChoice = toToolChoice(input.toolChoice);
  put(options, 'parallelToolCalls', input.parallelToolCalls);
  if (given(input.responseFormat)) put(options, 'responseFormat', toResponseFormat(input.responseFormat));
  put(options, 'reasoningEffort', input.reasoningEffort);
  put(options, 'maxCompletionTokens', input.maxCompletionTokens);
  put(options, 'verbosity', input.verbosity);
  put(options, 'promptCacheKey', input.promptCacheKey);
  put(options, 'safetyIdentifier', input.safetyIdentifier);
  put(options, 'serviceTier', input.serviceTier);
  return options;
}
