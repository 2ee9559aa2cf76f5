/**
 * The pieces a chat request's prompt is counted from (Tokenizer counts them, sync or async).
 *
 * How the gateway counts a chat prompt for the context-window check. It is an
 * approximation: what the upstream reports is what gets billed.
 * - Messages: 3 tokens of framing each, plus the role and the text (`content` or text
 *   parts). A `name` adds 1 token plus the name. 3 more tokens prime the reply. These are
 *   the numbers in OpenAI's cookbook ("How to count tokens with tiktoken").
 * - Tool calls in an ASSISTANT message: 3 tokens each, plus the name and the arguments.
 *   A TOOL message's `toolCallId` counts as text.
 * - Images follow OpenAI's rule for GPT-4o-class models. `LOW` detail costs 85 tokens.
 *   `HIGH` or `AUTO` costs 85 + 170 per 512×512 tile: the image is first fitted into
 *   2048×2048, then its shorter side is scaled to 768 (images are scaled down, never up).
 *   So 1024×1024 costs 765 tokens and 2048×4096 costs 1105.
 *   The gateway downloads nothing. For a `data:` URL it reads the size from the first
 *   256 KiB of the image (PNG, JPEG, GIF, WebP headers). An http(s) URL, or a size it
 *   cannot read, is counted at the most any image costs: 1445 tokens (8 tiles).
 *   Some models count images differently (gpt-4o-mini, and the models that count 32-px
 *   patches); the check uses this one rule for all of them.
 * - Audio counts 10 tokens per second. OpenAI documents no rate; this is what its gpt-4o
 *   audio models are seen to report. The length comes from the size: for WAV at the byte
 *   rate in its header, for MP3 at 32 kbit/s. That is a low rate, so MP3 errs long.
 * - Inline file data counts 1 token per 32 bytes. OpenAI gives the model each PDF page's
 *   text and an image of the page: about 1,000–2,000 tokens for a typical page of tens of
 *   KB. A scanned PDF is counted high and a dense text PDF low. A file given by `fileId`
 *   counts as its id only: the gateway never sees it.
 * - Tools use OpenAI's cookbook approximation (`num_tokens_for_tools`). Each function
 *   costs 7 tokens (10 on cl100k models such as gpt-4), plus `name:description`. Its
 *   properties cost 3, and each property costs 3 plus `name:type:description`. An enum
 *   costs 3 per value plus the value, less 3 for the enum. The list costs 12 once.
 *   The cookbook stops at the first level of properties. Below that (nested objects,
 *   `items`, `anyOf`, `$defs` and other keywords), the rest of the schema counts as its
 *   JSON text, which errs high.
 * - A `JSON_SCHEMA` response format counts like one more function; OpenAI documents
 *   nothing for it.
 * Where it is unsure, the count errs high (files aside). So the check rarely refuses a
 * request that would fit, and lets nothing pass that is far over the window. The
 * upstream's own check still has the last word.
 */
import type { ChatMessage, ResponseFormat, ToolDefinition } from '../upstream/provider.js';
import { mediaTokens } from './media-tokens.js';

/** Text to count with the model's tokenizer, or a number of tokens already known. */
export type Piece = string | number;

/** The chat options that add to the prompt. */
export interface PromptExtras {
  tools?: readonly ToolDefinition[] | undefined;
  responseFormat?: ResponseFormat | undefined;
}

const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
const PER_NAME = 1;
const PER_TOOL_CALL = 3;

/** The cookbook's function constants: `func_init` is 7 for gpt-4o, 10 for gpt-4 and gpt-3.5. */
export const FUNCTION_START = { o200k: 7, older: 10 } as const;
const PROPERTIES_START = 3;
const PER_PROPERTY = 3;
const ENUM_START = -3;
const PER_ENUM_VALUE = 3;
const FUNCTIONS_END = 12;

/** Keywords the property walk accounts for; any other keyword is counted as JSON. */
const WALKED = new Set(['type', 'description', 'enum', 'properties', 'required', 'additionalProperties']);

/** How deep the walk follows nested `properties` before counting a subtree as JSON. */
const MAX_WALK_DEPTH = 16;

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Everything that counts toward a chat request's prompt, in order. */
export function* chatPieces(messages: readonly ChatMessage[], extras: PromptExtras, functionStart: number): Generator<Piece, void, undefined> {
  yield REPLY_PRIMING;
  for (const message of messages) yield* messagePieces(message);
  const functions = [...(extras.tools ?? [])];
  const format = extras.responseFormat;
  if (format?.type === 'json_schema') {
    const { name, description, schema } = format.jsonSchema;
    functions.push({ name, description, parameters: schema });
  }
  if (functions.length === 0) return;
  for (const f of functions) yield* functionPieces(f, functionStart);
  yield FUNCTIONS_END;
}

function* messagePieces(message: ChatMessage): Generator<Piece, void, undefined> {
  yield PER_MESSAGE;
  yield message.role;
  if (message.content !== null) yield message.content;
  for (const part of message.parts ?? []) {
    if (part.type === 'text') {
      yield part.text;
      continue;
    }
    yield mediaTokens(part);
    if (part.type === 'file') {
      if (part.filename !== undefined) yield part.filename;
      if (part.fileId !== undefined) yield part.fileId;
    }
  }
  if (message.name !== undefined) {
    yield PER_NAME;
    yield message.name;
  }
  for (const call of message.toolCalls ?? []) {
    yield PER_TOOL_CALL;
    yield call.name;
    yield call.arguments;
  }
  if (message.toolCallId !== undefined) yield message.toolCallId;
}

const withoutFinalPeriod = (text: string): string => (text.endsWith('.') ? text.slice(0, -1) : text);

function* functionPieces(f: ToolDefinition, functionStart: number): Generator<Piece, void, undefined> {
  yield functionStart;
  yield `${f.name}:${withoutFinalPeriod(f.description ?? '')}`;
  if (f.parameters) yield* schemaPieces(f.parameters, 0);
}

/** A schema's properties by the cookbook's rule, and its other keywords as JSON. */
function* schemaPieces(schema: Schema, depth: number): Generator<Piece, void, undefined> {
  const properties = isSchema(schema['properties']) ? schema['properties'] : {};
  // Object.keys, not entries: entries took 200 ms, in one turn, on 40,000 properties.
  const keys = Object.keys(properties);
  if (keys.length > 0) yield PROPERTIES_START;
  for (const key of keys) {
    const value = properties[key];
    yield PER_PROPERTY;
    if (!isSchema(value)) {
      yield `${key}::${JSON.stringify(value)}`;
      continue;
    }
    const type = value['type'];
    const description = value['description'];
    const typeText = typeof type === 'string' ? type : type === undefined ? '' : JSON.stringify(type);
    yield `${key}:${typeText}:${typeof description === 'string' ? withoutFinalPeriod(description) : ''}`;
    const values = value['enum'];
    if (Array.isArray(values)) {
      yield ENUM_START;
      for (const item of values) {
        yield PER_ENUM_VALUE;
        yield typeof item === 'string' ? item : JSON.stringify(item);
      }
    }
    if (depth < MAX_WALK_DEPTH) yield* schemaPieces(value, depth + 1);
    else yield JSON.stringify(value);
  }
  // A property's own description is in its line; only the whole schema's is not.
  if (depth === 0 && typeof schema['description'] === 'string') yield schema['description'];
  const rest = Object.keys(schema).filter((keyword) => !WALKED.has(keyword));
  if (rest.length === 0) return;
  const others: Schema = {};
  for (const keyword of rest) others[keyword] = schema[keyword];
  yield JSON.stringify(others);
}
