/**
 * The chat surface of the provider contract (issue #14): messages with content parts,
 * tools and tool calls, response formats and reasoning options. Names are the gateway's
 * own (camelCase); upstream/openai/ maps them to OpenAI's wire names.
 */

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

/** One piece of a message's content (OpenAI's content array). */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url: string; detail: ImageDetail | undefined }
  | { type: 'audio'; data: string; format: 'wav' | 'mp3' }
  | { type: 'file'; fileId: string | undefined; fileData: string | undefined; filename: string | undefined };

export type ImageDetail = 'auto' | 'low' | 'high';

/** A call the model made: `arguments` is the raw text the model wrote (JSON, when it is right). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface ChatMessage {
  role: ChatRole;
  /** The text; null when the message has `parts`, or is an ASSISTANT's tool calls only. */
  content: string | null;
  /** Content as parts (text, images, audio, files) instead of `content`. */
  parts?: ContentPart[];
  /** The author's name, to tell participants of the same role apart. */
  name?: string;
  /** An ASSISTANT message's earlier tool calls. */
  toolCalls?: ToolCall[];
  /** A TOOL message: the call it answers. */
  toolCallId?: string;
}

/** A function the model may call. `parameters` is a JSON Schema object. */
export interface ToolDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean;
}

export type ToolChoice = { mode: 'auto' | 'none' | 'required' } | { function: string };

export interface JsonSchemaFormat {
  name: string;
  schema: Record<string, unknown>;
  strict?: boolean;
  description?: string;
}

export type ResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; jsonSchema: JsonSchemaFormat };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
export type Verbosity = 'low' | 'medium' | 'high';

/** The chat-only options of a request (all optional; unset means the upstream's default). */
export interface ChatOptions {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  reasoningEffort?: ReasoningEffort;
  /** Sent as `max_completion_tokens` whenever given (reasoning models count their reasoning in it). */
  maxCompletionTokens?: number;
  verbosity?: Verbosity;
  promptCacheKey?: string;
  safetyIdentifier?: string;
  serviceTier?: string;
}

/**
 * A piece of a streamed tool call: the first piece of a call carries its `id` and `name`
 * (and usually empty arguments), later ones carry fragments of its arguments. Parallel
 * calls of one choice are told apart by `index`.
 */
export interface ToolCallDelta {
  index: number;
  id: string | null;
  name: string | null;
  argumentsDelta: string;
}
