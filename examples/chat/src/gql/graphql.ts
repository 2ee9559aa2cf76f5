/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** The encoding of inline audio. */
export type AudioFormat =
  /** MP3. */
  | 'MP3'
  /** WAV. */
  | 'WAV';

/** Serve this request from the gateway’s response cache when it holds the answer to the same request (same model, messages or prompt, sampling parameters, tools, response format, n, stop, seed…), and keep the answer if it has to ask the upstream. A hit costs no upstream call and nothing from the key’s budget. */
export type CacheInput = {
  /** How long the answer is kept when this request stores it, in seconds: 1 to 86400. */
  ttlSeconds: number;
};

/** One message of a chat conversation. */
export type ChatMessageInput = {
  /** The message text. Exactly one of `content` and `parts`, except an ASSISTANT message with `toolCalls`, which may have neither. */
  content?: string | null | undefined;
  /** The author’s name, to tell participants of the same role apart. */
  name?: string | null | undefined;
  /** The content as parts: text, images, audio, files (instead of `content`). */
  parts?: Array<ContentPartInput> | null | undefined;
  /** Who wrote the message. */
  role: ChatRole;
  /** TOOL only (and required there): the id of the call this message answers. */
  toolCallId?: string | null | undefined;
  /** ASSISTANT only: the tool calls the model made in this turn. */
  toolCalls?: Array<ToolCallInput> | null | undefined;
};

/** Who wrote a chat message. */
export type ChatRole =
  /** The model (earlier turns of the conversation, with any tool calls it made). */
  | 'ASSISTANT'
  /** Instructions from the app’s developer (what newer models read instead of SYSTEM). */
  | 'DEVELOPER'
  /** Instructions that set the assistant’s behaviour. */
  | 'SYSTEM'
  /** The answer to one of the model’s tool calls (`toolCallId` says which). */
  | 'TOOL'
  /** The end user. */
  | 'USER';

/** A completion request. Give `prompt` for a text completion (upstream `/v1/completions`) or `messages` for a chat completion (`/v1/chat/completions`); the result has the same shape either way. Unset parameters take the upstream’s defaults. */
export type CompletionInput = {
  /** Use the response cache for this request, whatever its temperature and `n`. Without it, only requests at `temperature: 0` with one choice use it, and only when the server sets RESPONSE_CACHE_TTL_SECONDS. */
  cache?: CacheInput | null | undefined;
  /** Prompt only: include the prompt at the start of each choice’s text. */
  echo?: boolean | null | undefined;
  /** -2 to 2: positive values penalise tokens by how often they already occur. */
  frequencyPenalty?: number | null | undefined;
  /** Per-token biases (at most 300 entries). */
  logitBias?: Array<LogitBiasInput> | null | undefined;
  /** Return log probabilities of the output tokens with this many top alternatives each (0–5 for prompt, 0–20 for messages). */
  logprobs?: number | null | undefined;
  /** Chat only: most tokens to generate, reasoning included (sent as `max_completion_tokens`); what reasoning models take instead of maxTokens. */
  maxCompletionTokens?: number | null | undefined;
  /** Most tokens to generate per choice (>= 1). Prompt tokens + maxTokens must fit the model’s context window. */
  maxTokens?: number | null | undefined;
  /** Chat conversation to answer. Exactly one of `prompt` and `messages`; at least one message. */
  messages?: Array<ChatMessageInput> | null | undefined;
  /** Model id; defaults to the gateway’s DEFAULT_MODEL. */
  model?: string | null | undefined;
  /** How many choices to generate, 1–128. Streams interleave them; each chunk says its `index`. */
  n?: number | null | undefined;
  /** Chat only, with `tools`: whether the model may make several tool calls in one turn. */
  parallelToolCalls?: boolean | null | undefined;
  /** -2 to 2: positive values favour tokens not yet present (new topics). */
  presencePenalty?: number | null | undefined;
  /** Text to complete. Exactly one of `prompt` and `messages`. */
  prompt?: string | null | undefined;
  /** Chat only: groups requests that share a prompt prefix, for the upstream’s prompt cache. */
  promptCacheKey?: string | null | undefined;
  /** Chat only, reasoning models: how much to think before answering. */
  reasoningEffort?: ReasoningEffort | null | undefined;
  /** Chat only: ask for JSON (any object, or valid against a schema). */
  responseFormat?: ResponseFormatInput | null | undefined;
  /** Chat only: a stable id for your end user (hashed), for the upstream’s abuse monitoring. */
  safetyIdentifier?: string | null | undefined;
  /** Best-effort reproducible sampling: the same seed and input tend to give the same output. */
  seed?: number | null | undefined;
  /** Chat only: the upstream’s processing tier (`auto`, `default`, `flex`, `priority`). */
  serviceTier?: string | null | undefined;
  /** Up to 4 sequences where generation stops; the sequence is not included. */
  stop?: Array<string> | null | undefined;
  /** Text that comes after the completion (prompt only, models that support insertion). */
  suffix?: string | null | undefined;
  /** Sampling temperature, 0–2: higher is more random, 0 is (nearly) deterministic. */
  temperature?: number | null | undefined;
  /** Chat only, with `tools`: whether the model may, must or must not call a tool, or which one. */
  toolChoice?: ToolChoiceInput | null | undefined;
  /** Chat only: functions the model may call (at most 128). */
  tools?: Array<ToolInput> | null | undefined;
  /** Nucleus sampling, 0–1: sample only from the tokens making up this probability mass. */
  topP?: number | null | undefined;
  /** An id for your end user, passed to the upstream for abuse monitoring. */
  user?: string | null | undefined;
  /** Chat only: how long and detailed the answer is. */
  verbosity?: Verbosity | null | undefined;
};

/** One part of a message’s content: exactly one of text, an image, audio or a file. */
export type ContentPartInput =
  {   /** A file (PDF and the like). */
  file: FileInput; imageUrl?: never; inputAudio?: never; text?: never; }
  |  { file?: never;   /** An image. */
  imageUrl: ImageUrlInput; inputAudio?: never; text?: never; }
  |  { file?: never; imageUrl?: never;   /** Audio. */
  inputAudio: InputAudioInput; text?: never; }
  |  { file?: never; imageUrl?: never; inputAudio?: never;   /** Text. */
  text: string; };

/** A file: an uploaded file’s id, or its contents inline (base64) with a name. */
export type FileInput = {
  /** The file’s contents, base64 (a `data:` URL is accepted too). */
  fileData?: string | null | undefined;
  /** The id of a file uploaded to the upstream. */
  fileId?: string | null | undefined;
  /** Its name, with inline data. */
  filename?: string | null | undefined;
};

/** Why a choice stopped producing text. */
export type FinishReason =
  /** The upstream’s content filter withheld output. */
  | 'CONTENT_FILTER'
  /** The model called a function (legacy form of TOOL_CALLS). */
  | 'FUNCTION_CALL'
  /** The output reached maxTokens (or the context window). */
  | 'LENGTH'
  /** A reason this schema does not name yet (the upstream’s own value). */
  | 'OTHER'
  /** The model ended naturally or hit a stop sequence. */
  | 'STOP'
  /** The model called a tool. */
  | 'TOOL_CALLS';

/** How closely the model looks at an image (and how many tokens it costs). */
export type ImageDetail =
  /** The model decides. */
  | 'AUTO'
  /** Full detail: 85 tokens plus 170 per 512-pixel tile. */
  | 'HIGH'
  /** A 512×512 overview: 85 tokens. */
  | 'LOW';

/** An image: an http(s) URL, or a `data:image/…;base64,` URL. */
export type ImageUrlInput = {
  /** How closely to look; default AUTO. */
  detail?: ImageDetail | null | undefined;
  /** http(s) URL or `data:image/<type>;base64,<data>`. */
  url: string;
};

/** Inline audio, base64-encoded. */
export type InputAudioInput = {
  /** The audio, base64. */
  data: string;
  /** Its encoding. */
  format: AudioFormat;
};

/** The schema a JSON_SCHEMA answer follows. */
export type JsonSchemaFormatInput = {
  /** What the answer is for. */
  description?: string | null | undefined;
  /** A name for the schema. */
  name: string;
  /** A JSON Schema object. */
  schema: Record<string, unknown>;
  /** Follow the schema exactly (structured outputs). */
  strict?: boolean | null | undefined;
};

/** Raise or lower the odds of one token (OpenAI `logit_bias`). */
export type LogitBiasInput = {
  /** From -100 (ban the token) to 100 (force it); around ±1 nudges it. */
  bias: number;
  /** Token id in the model’s tokenizer. */
  token: number;
};

/** How much a reasoning model thinks before it answers (more is slower and costs more output tokens). */
export type ReasoningEffort =
  /** More. */
  | 'HIGH'
  /** Some. */
  | 'LOW'
  /** The usual default. */
  | 'MEDIUM'
  /** As little as the model allows. */
  | 'MINIMAL'
  /** No reasoning (models that allow it). */
  | 'NONE'
  /** The most (models that offer it). */
  | 'XHIGH';

/** Ask for JSON: any object, or one valid against a schema. `Choice.json` then holds it parsed. */
export type ResponseFormatInput = {
  /** Required with JSON_SCHEMA. */
  jsonSchema?: JsonSchemaFormatInput | null | undefined;
  /** TEXT, JSON_OBJECT or JSON_SCHEMA. */
  type: ResponseFormatType;
};

/** The form of the model’s answer. */
export type ResponseFormatType =
  /** Some JSON object (mention JSON in the prompt). */
  | 'JSON_OBJECT'
  /** JSON valid against `jsonSchema.schema`. */
  | 'JSON_SCHEMA'
  /** Free text. */
  | 'TEXT';

/** A tool call the model made earlier, sent back on its ASSISTANT message. */
export type ToolCallInput = {
  /** Its arguments, as the model wrote them (`ToolCall.arguments`). */
  arguments: string;
  /** The call’s id, as the model gave it (`ToolCall.id`). */
  id: string;
  /** The function called. */
  name: string;
};

/** Which tool the model may call: a mode, or one function by name. */
export type ToolChoiceInput =
  {   /** Call this function (one of `tools`). */
  function: string; mode?: never; }
  |  { function?: never;   /** AUTO, NONE or REQUIRED. */
  mode: ToolChoiceMode; };

/** Whether the model may, must or must not call a tool. */
export type ToolChoiceMode =
  /** The model decides. */
  | 'AUTO'
  /** No tool call; answer in text. */
  | 'NONE'
  /** At least one tool call. */
  | 'REQUIRED';

/** A function the model may call (sent as OpenAI’s `{type: "function", function: {…}}`). */
export type ToolInput = {
  /** What it does, for the model to decide when to call it. */
  description?: string | null | undefined;
  /** The function’s name: letters, digits, `_` and `-`, at most 64. */
  name: string;
  /** Its arguments, as a JSON Schema object. */
  parameters?: Record<string, unknown> | null | undefined;
  /** Make the model follow `parameters` exactly (structured outputs). */
  strict?: boolean | null | undefined;
};

/** How long and detailed the answer is. */
export type Verbosity =
  /** Long and detailed. */
  | 'HIGH'
  /** Short. */
  | 'LOW'
  /** The default. */
  | 'MEDIUM';

export type ModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type ModelsQuery = { __typename: 'Query', models: Array<{ __typename: 'Model', id: string, ownedBy: string, contextWindow: number | null }> };

export type ChatStreamSubscriptionVariables = Exact<{
  input: CompletionInput;
}>;


export type ChatStreamSubscription = { completionStream: { __typename: 'CompletionChunk', id: string, seq: number, model: string, index: number, text: string, accumulatedText: string, refusal: string | null, finishReason: FinishReason | null, toolCallDeltas: Array<{ __typename: 'ToolCallDelta', index: number, id: string | null, name: string | null, argumentsDelta: string }> | null, toolCalls: Array<{ __typename: 'ToolCall', id: string, name: string, arguments: string, argumentsJson: unknown }> | null, usage: { __typename: 'Usage', promptTokens: number, completionTokens: number, totalTokens: number, cachedPromptTokens: number | null, reasoningTokens: number | null, cost: number | null } | null } };


export const ModelsDocument = {"__meta__":{"hash":"sha256:c773c3c06d92b9bd402099a0bc40caa7598ec51a856c064e46ded90d2e51e2c5"},"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"ownedBy"}},{"kind":"Field","name":{"kind":"Name","value":"contextWindow"}}]}}]}}]} as unknown as DocumentNode<ModelsQuery, ModelsQueryVariables>;
export const ChatStreamDocument = {"__meta__":{"hash":"sha256:dc10309a600bc78e8806d1484126a3e78c997bc3564974747302f2ff1892370a"},"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"ChatStream"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CompletionInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"completionStream"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"seq"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"accumulatedText"}},{"kind":"Field","name":{"kind":"Name","value":"refusal"}},{"kind":"Field","name":{"kind":"Name","value":"finishReason"}},{"kind":"Field","name":{"kind":"Name","value":"toolCallDeltas"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"argumentsDelta"}}]}},{"kind":"Field","name":{"kind":"Name","value":"toolCalls"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"arguments"}},{"kind":"Field","name":{"kind":"Name","value":"argumentsJson"}}]}},{"kind":"Field","name":{"kind":"Name","value":"usage"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"__typename"}},{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"totalTokens"}},{"kind":"Field","name":{"kind":"Name","value":"cachedPromptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"reasoningTokens"}},{"kind":"Field","name":{"kind":"Name","value":"cost"}}]}}]}}]}}]} as unknown as DocumentNode<ChatStreamSubscription, ChatStreamSubscriptionVariables>;