/**
 * The chat surface's input checks (issue #14): what OpenAI would refuse with a 400, and
 * what it would take but cannot mean, refused here with the path of the bad field before
 * the request is admitted, counted or sent. Cheap checks first; schemas are compiled last.
 */
import type { GraphQLError } from 'graphql';
import { badInput } from '../graphql/errors.js';
import { CHAT_ONLY_FIELDS, type ChatInputValue, type ChatMessageValue, type ContentPartValue } from './chat-request.js';
import { schemaProblem } from './json-schema.js';

type Problem = GraphQLError | undefined;

export const CHAT_LIMITS = {
  /** OpenAI's limit on `tools`. */
  maxTools: 128,
} as const;

/** OpenAI's rule for function and schema names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** RFC 4648 base64 (standard alphabet); padding may be left off, whitespace may not. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_IMAGE = /^data:image\/[a-z0-9.+-]+;base64,/i;
const DATA_ANY = /^data:[a-z0-9.+-]+\/[a-z0-9.+-]+;base64,/i;

const given = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined;

/** A client's string inside our message, cut: it may be a megabyte long. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/** Refuses a string over `max` characters, naming the field. */
export function tooLong(field: string, value: string | null | undefined, max: number): Problem {
  if (value === null || value === undefined || value.length <= max) return undefined;
  return badInput(field, `at most ${max} characters, got ${value.length}`);
}

function isBase64(value: string): boolean {
  if (value.length === 0 || !BASE64.test(value)) return false;
  // Padded, the length is a multiple of 4; unpadded, a remainder of 1 cannot be decoded.
  return value.endsWith('=') ? value.length % 4 === 0 : value.length % 4 !== 1;
}

/** Chat-only fields sent with `prompt`: the text completion endpoint has no use for them. */
export function promptProblem(input: ChatInputValue): Problem {
  const field = CHAT_ONLY_FIELDS.find((name) => given(input[name]));
  return field && badInput(field, 'is only supported with messages, not prompt');
}

function imageUrlProblem(field: string, url: string): Problem {
  const data = DATA_IMAGE.exec(url);
  if (data) return isBase64(url.slice(data[0].length)) ? undefined : badInput(field, 'the data of a data:image URL is not base64');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if ((parsed?.protocol === 'http:' || parsed?.protocol === 'https:') && parsed.hostname !== '') return undefined;
  return badInput(field, 'must be an http(s) URL or a data:image/<type>;base64,<data> URL');
}

function partProblem(at: string, part: ContentPartValue, role: ChatMessageValue['role']): Problem {
  if (given(part.text)) return part.text.trim() === '' ? badInput(`${at}.text`, 'must not be empty') : undefined;
  // Images, audio and files are what a user shows the model; OpenAI takes them nowhere else.
  if (role !== 'user') return badInput(at, `only USER messages take images, audio and files, not ${role.toUpperCase()}`);
  if (given(part.imageUrl)) return imageUrlProblem(`${at}.imageUrl.url`, part.imageUrl.url);
  if (given(part.inputAudio)) {
    return isBase64(part.inputAudio.data) ? undefined : badInput(`${at}.inputAudio.data`, 'must be base64');
  }
  const file = part.file ?? {};
  const fileData = file.fileData ?? '';
  if ((file.fileId ?? '') === '' && fileData === '') return badInput(`${at}.file`, 'needs fileId or fileData');
  if (fileData === '') return undefined;
  const prefix = fileData.startsWith('data:') ? DATA_ANY.exec(fileData)?.[0] : '';
  if (prefix === undefined || !isBase64(fileData.slice(prefix.length))) {
    return badInput(`${at}.file.fileData`, 'must be base64, or a data:<type>;base64,<data> URL');
  }
  return undefined;
}

/** The message's own fields: who may carry what, and content or parts. */
function messageProblem(at: string, m: ChatMessageValue, maxChars: number): Problem {
  const long = tooLong(`${at}.name`, m.name, maxChars) ?? tooLong(`${at}.toolCallId`, m.toolCallId, maxChars);
  if (long) return long;
  if (given(m.toolCalls) && m.role !== 'assistant') return badInput(`${at}.toolCalls`, 'only an ASSISTANT message has toolCalls');
  if (given(m.toolCallId) && m.role !== 'tool') return badInput(`${at}.toolCallId`, 'only a TOOL message has toolCallId');
  if (m.role === 'tool' && (m.toolCallId ?? '') === '') {
    return badInput(`${at}.toolCallId`, 'a TOOL message needs the id of the tool call it answers');
  }
  const calls = m.toolCalls ?? [];
  if (given(m.toolCalls) && calls.length === 0) return badInput(`${at}.toolCalls`, 'must contain at least one call (or be left out)');
  const ids = new Set<string>();
  for (const [j, call] of calls.entries()) {
    const field = `${at}.toolCalls[${j}].id`;
    if (call.id === '') return badInput(field, 'must not be empty');
    const out = tooLong(field, call.id, maxChars);
    if (out) return out;
    if (ids.has(call.id)) return badInput(field, `${quote(call.id)} is the id of an earlier call of this message`);
    ids.add(call.id);
  }
  if (given(m.content) && given(m.parts)) return badInput(`${at}.parts`, 'give content or parts, not both');
  if (given(m.parts)) {
    if (m.parts.length === 0) return badInput(`${at}.parts`, 'must contain at least one part');
    for (const [j, part] of m.parts.entries()) {
      const out = partProblem(`${at}.parts[${j}]`, part, m.role);
      if (out) return out;
    }
    return undefined;
  }
  // An ASSISTANT turn may be tool calls alone, and a tool may answer with nothing; any
  // other message without text is a mistake that the upstream would bill for.
  if (calls.length > 0) return undefined;
  if (!given(m.content)) return badInput(`${at}.content`, 'give content or parts');
  if (m.role !== 'tool' && m.content.trim() === '') return badInput(`${at}.content`, 'must not be empty');
  return undefined;
}

/**
 * Each TOOL message answers one call of the nearest ASSISTANT message before it, once.
 * Scoped per turn: some upstreams number calls `call_0`, `call_1`, … afresh each turn.
 */
function answersProblem(messages: readonly ChatMessageValue[]): Problem {
  let open = new Set<string>();
  const answered = new Set<string>();
  for (const [i, m] of messages.entries()) {
    if (m.role === 'assistant') {
      open = new Set((m.toolCalls ?? []).map((c) => c.id));
      answered.clear();
    }
    if (m.role !== 'tool' || !given(m.toolCallId)) continue;
    const id = m.toolCallId;
    const field = `messages[${i}].toolCallId`;
    if (answered.has(id)) return badInput(field, `call ${quote(id)} is already answered by an earlier TOOL message`);
    if (!open.has(id)) return badInput(field, `${quote(id)} is not a call of the ASSISTANT message before it`);
    answered.add(id);
  }
  return undefined;
}

function messagesProblem(messages: readonly ChatMessageValue[], maxChars: number): Problem {
  for (const [i, m] of messages.entries()) {
    const out = messageProblem(`messages[${i}]`, m, maxChars);
    if (out) return out;
  }
  return answersProblem(messages);
}

function toolsProblem(input: ChatInputValue): Problem {
  const tools = input.tools ?? [];
  if (tools.length > CHAT_LIMITS.maxTools) return badInput('tools', `at most ${CHAT_LIMITS.maxTools} tools, got ${tools.length}`);
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    const field = `tools[${i}].name`;
    if (!NAME.test(tool.name)) return badInput(field, `letters, digits, _ and - only, 1 to 64 of them; got ${quote(tool.name)}`);
    if (names.has(tool.name)) return badInput(field, `${quote(tool.name)} is offered twice`);
    names.add(tool.name);
    // A call's arguments are a JSON object: a schema of another type cannot describe them.
    const type = tool.parameters?.['type'];
    if (given(type) && type !== 'object') return badInput(`tools[${i}].parameters`, 'must describe an object (type "object")');
  }
  // OpenAI refuses `tool_choice` and `parallel_tool_calls` without tools; so do we, rather
  // than drop an option the client meant.
  const choice = input.toolChoice;
  if (given(choice) && tools.length === 0) return badInput('toolChoice', 'needs tools to choose from');
  if (given(input.parallelToolCalls) && tools.length === 0) return badInput('parallelToolCalls', 'needs tools');
  if (given(choice?.function) && !names.has(choice.function)) {
    return badInput('toolChoice.function', `${quote(choice.function)} is not one of the tools offered`);
  }
  return undefined;
}

function optionsProblem(input: ChatInputValue, maxChars: number): Problem {
  const format = input.responseFormat;
  if (given(format)) {
    const schema = format.jsonSchema;
    if (format.type === 'json_schema' && !given(schema)) return badInput('responseFormat.jsonSchema', 'is required with JSON_SCHEMA');
    if (format.type !== 'json_schema' && given(schema)) return badInput('responseFormat.jsonSchema', 'goes only with JSON_SCHEMA');
    if (given(schema) && !NAME.test(schema.name)) {
      return badInput('responseFormat.jsonSchema.name', `letters, digits, _ and - only, 1 to 64 of them; got ${quote(schema.name)}`);
    }
  }
  if (given(input.maxCompletionTokens) && input.maxCompletionTokens < 1) {
    return badInput('maxCompletionTokens', `must be at least 1, got ${input.maxCompletionTokens}`);
  }
  return (
    tooLong('promptCacheKey', input.promptCacheKey, maxChars) ??
    tooLong('safetyIdentifier', input.safetyIdentifier, maxChars) ??
    tooLong('serviceTier', input.serviceTier, maxChars)
  );
}

/** The costly part: compiling each schema (cached by json-schema.ts). */
function schemasProblem(input: ChatInputValue): Problem {
  for (const [i, tool] of (input.tools ?? []).entries()) {
    const problem = given(tool.parameters) ? schemaProblem(tool.parameters) : undefined;
    if (problem) return badInput(`tools[${i}].parameters`, `is not a valid JSON Schema: ${problem}`);
  }
  const schema = input.responseFormat?.jsonSchema?.schema;
  const problem = given(schema) ? schemaProblem(schema) : undefined;
  return problem ? badInput('responseFormat.jsonSchema.schema', `is not a valid JSON Schema: ${problem}`) : undefined;
}

/** The first problem of a chat request's chat surface (messages given, at least one). */
export function chatProblem(input: ChatInputValue, maxChars: number): Problem {
  return (
    messagesProblem(input.messages ?? [], maxChars) ??
    toolsProblem(input) ??
    optionsProblem(input, maxChars) ??
    schemasProblem(input)
  );
}
