/**
 * A CompletionRequest as OpenAI's request body: the gateway's camelCase names become the
 * wire's snake_case ones. Only what the request has is set (an undefined field is left out
 * of the JSON), so an upstream's own defaults apply to everything else.
 */
import type {
  ChatCompletionContentPart,
  ChatCompletionCreateParamsBase,
  ChatCompletionFunctionTool,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { CompletionCreateParamsBase } from 'openai/resources/completions';
import type { ResponseFormatJSONObject, ResponseFormatJSONSchema, ResponseFormatText } from 'openai/resources/shared';
import type {
  ChatMessage,
  ChatRole,
  CompletionRequest,
  ContentPart,
  ResponseFormat,
  ToolChoice,
  ToolDefinition,
} from '../provider.js';

export type ChatBody = Omit<ChatCompletionCreateParamsBase, 'stream'>;
export type TextBody = Omit<CompletionCreateParamsBase, 'stream'>;

// Reasoning models refuse `max_tokens` on chat; everything else (and most compatible
// servers) still expects it.
const USES_MAX_COMPLETION_TOKENS = /^(o\d|gpt-5)/;

type SharedParams = Pick<
  CompletionCreateParamsBase,
  'model' | 'temperature' | 'top_p' | 'n' | 'stop' | 'presence_penalty' | 'frequency_penalty' | 'seed' | 'user' | 'logit_bias'
>;

function sharedParams(r: CompletionRequest): SharedParams {
  return {
    model: r.model,
    temperature: r.temperature,
    top_p: r.topP,
    n: r.n,
    stop: r.stop,
    presence_penalty: r.presencePenalty,
    frequency_penalty: r.frequencyPenalty,
    seed: r.seed,
    user: r.user,
    logit_bias: r.logitBias,
  };
}

export function textBody(r: CompletionRequest): TextBody {
  return {
    ...sharedParams(r),
    prompt: r.prompt ?? '',
    suffix: r.suffix,
    max_tokens: r.maxTokens,
    logprobs: r.logprobs,
    echo: r.echo,
  };
}

export function chatBody(r: CompletionRequest): ChatBody {
  const body: ChatBody = { ...sharedParams(r), messages: (r.messages ?? []).map(wireMessage) };
  if (r.maxTokens !== undefined) {
    if (USES_MAX_COMPLETION_TOKENS.test(r.model)) body.max_completion_tokens = r.maxTokens;
    else body.max_tokens = r.maxTokens;
  }
  // Asked for by name: sent as such whatever the model, and over `maxTokens` when both map to it.
  if (r.maxCompletionTokens !== undefined) body.max_completion_tokens = r.maxCompletionTokens;
  if (r.logprobs !== undefined) {
    body.logprobs = true;
    body.top_logprobs = r.logprobs;
  }
  if (r.tools) body.tools = r.tools.map(wireTool);
  if (r.toolChoice) body.tool_choice = wireToolChoice(r.toolChoice);
  if (r.parallelToolCalls !== undefined) body.parallel_tool_calls = r.parallelToolCalls;
  if (r.responseFormat) body.response_format = wireResponseFormat(r.responseFormat);
  if (r.reasoningEffort !== undefined) body.reasoning_effort = r.reasoningEffort;
  if (r.verbosity !== undefined) body.verbosity = r.verbosity;
  if (r.promptCacheKey !== undefined) body.prompt_cache_key = r.promptCacheKey;
  if (r.safetyIdentifier !== undefined) body.safety_identifier = r.safetyIdentifier;
  // Passed through as given: compatible servers have tiers of their own beyond the SDK's list.
  if (r.serviceTier !== undefined) body.service_tier = r.serviceTier as ChatBody['service_tier'];
  return body;
}

/** One message as the wire has it, before the SDK's per-role union narrows it. */
interface WireMessage {
  role: ChatRole;
  content: string | ChatCompletionContentPart[] | null;
  name?: string;
  tool_calls?: ChatCompletionMessageFunctionToolCall[];
  tool_call_id?: string;
}

function wireMessage(m: ChatMessage): ChatCompletionMessageParam {
  const wire: WireMessage = {
    role: m.role,
    // An ASSISTANT message that only calls tools has no content, which OpenAI takes as null;
    // any other message without text keeps the empty string it always had.
    content: m.parts ? m.parts.map(wirePart) : (m.content ?? (m.toolCalls ? null : '')),
  };
  if (m.name !== undefined) wire.name = m.name;
  if (m.toolCalls) {
    wire.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }
  if (m.toolCallId !== undefined) wire.tool_call_id = m.toolCallId;
  // The roles' combinations (parts on a TOOL message, say) are the validation's business, not the wire's.
  return wire as ChatCompletionMessageParam;
}

function wirePart(p: ContentPart): ChatCompletionContentPart {
  switch (p.type) {
    case 'text':
      return { type: 'text', text: p.text };
    case 'image':
      return { type: 'image_url', image_url: { url: p.url, detail: p.detail } };
    case 'audio':
      return { type: 'input_audio', input_audio: { data: p.data, format: p.format } };
    case 'file':
      return { type: 'file', file: { file_id: p.fileId, file_data: p.fileData, filename: p.filename } };
  }
}

function wireTool(t: ToolDefinition): ChatCompletionFunctionTool {
  return { type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters, strict: t.strict } };
}

function wireToolChoice(choice: ToolChoice): ChatCompletionToolChoiceOption {
  return 'function' in choice ? { type: 'function', function: { name: choice.function } } : choice.mode;
}

function wireResponseFormat(format: ResponseFormat): ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema {
  if (format.type !== 'json_schema') return { type: format.type };
  const { name, schema, strict, description } = format.jsonSchema;
  return { type: 'json_schema', json_schema: { name, schema, strict, description } };
}
