/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** One message of a chat conversation. */
export type ChatMessageInput = {
  /** The message text; must not be empty. */
  content: string;
  /** Who wrote the message. */
  role: ChatRole;
};

/** Who wrote a chat message. */
export type ChatRole =
  /** The model (earlier turns of the conversation). */
  | 'ASSISTANT'
  /** Instructions that set the assistant’s behaviour. */
  | 'SYSTEM'
  /** The end user. */
  | 'USER';

/** A completion request. Give `prompt` for a text completion (upstream `/v1/completions`) or `messages` for a chat completion (`/v1/chat/completions`); the result has the same shape either way. Unset parameters take the upstream’s defaults. */
export type CompletionInput = {
  /** Prompt only: include the prompt at the start of each choice’s text. */
  echo?: boolean | null | undefined;
  /** -2 to 2: positive values penalise tokens by how often they already occur. */
  frequencyPenalty?: number | null | undefined;
  /** Per-token biases (at most 300 entries). */
  logitBias?: Array<LogitBiasInput> | null | undefined;
  /** Return log probabilities of the output tokens with this many top alternatives each (0–5 for prompt, 0–20 for messages). */
  logprobs?: number | null | undefined;
  /** Most tokens to generate per choice (>= 1). Prompt tokens + maxTokens must fit the model’s context window. */
  maxTokens?: number | null | undefined;
  /** Chat conversation to answer. Exactly one of `prompt` and `messages`; at least one message. */
  messages?: Array<ChatMessageInput> | null | undefined;
  /** Model id; defaults to the gateway’s DEFAULT_MODEL. */
  model?: string | null | undefined;
  /** How many choices to generate, 1–128. Streams interleave them; each chunk says its `index`. */
  n?: number | null | undefined;
  /** -2 to 2: positive values favour tokens not yet present (new topics). */
  presencePenalty?: number | null | undefined;
  /** Text to complete. Exactly one of `prompt` and `messages`. */
  prompt?: string | null | undefined;
  /** Best-effort reproducible sampling: the same seed and input tend to give the same output. */
  seed?: number | null | undefined;
  /** Up to 4 sequences where generation stops; the sequence is not included. */
  stop?: Array<string> | null | undefined;
  /** Text that comes after the completion (prompt only, models that support insertion). */
  suffix?: string | null | undefined;
  /** Sampling temperature, 0–2: higher is more random, 0 is (nearly) deterministic. */
  temperature?: number | null | undefined;
  /** Nucleus sampling, 0–1: sample only from the tokens making up this probability mass. */
  topP?: number | null | undefined;
  /** An id for your end user, passed to the upstream for abuse monitoring. */
  user?: string | null | undefined;
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

/** Raise or lower the odds of one token (OpenAI `logit_bias`). */
export type LogitBiasInput = {
  /** From -100 (ban the token) to 100 (force it); around ±1 nudges it. */
  bias: number;
  /** Token id in the model’s tokenizer. */
  token: number;
};

export type CompleteMutationVariables = Exact<{
  input: CompletionInput;
}>;


export type CompleteMutation = { complete: { id: string, model: string, created: number, text: string, choices: Array<{ index: number, text: string, finishReason: FinishReason | null, logprobs: Array<{ token: string, logprob: number, topLogprobs: Array<{ token: string, logprob: number }> }> | null }>, usage: { promptTokens: number, completionTokens: number, totalTokens: number } } };

export type CompletionStreamSubscriptionVariables = Exact<{
  input: CompletionInput;
}>;


export type CompletionStreamSubscription = { completionStream: { id: string, model: string, created: number, index: number, text: string, accumulatedText: string, finishReason: FinishReason | null, usage: { promptTokens: number, completionTokens: number, totalTokens: number } | null } };

export type ModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type ModelsQuery = { models: Array<{ id: string, ownedBy: string, created: number | null, contextWindow: number | null }> };


export const CompleteDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Complete"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CompletionInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"complete"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"choices"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"finishReason"}},{"kind":"Field","name":{"kind":"Name","value":"logprobs"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}},{"kind":"Field","name":{"kind":"Name","value":"logprob"}},{"kind":"Field","name":{"kind":"Name","value":"topLogprobs"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}},{"kind":"Field","name":{"kind":"Name","value":"logprob"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"usage"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"totalTokens"}}]}}]}}]}}]} as unknown as DocumentNode<CompleteMutation, CompleteMutationVariables>;
export const CompletionStreamDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"CompletionStream"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CompletionInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"completionStream"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"accumulatedText"}},{"kind":"Field","name":{"kind":"Name","value":"finishReason"}},{"kind":"Field","name":{"kind":"Name","value":"usage"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"totalTokens"}}]}}]}}]}}]} as unknown as DocumentNode<CompletionStreamSubscription, CompletionStreamSubscriptionVariables>;
export const ModelsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"ownedBy"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"contextWindow"}}]}}]}}]} as unknown as DocumentNode<ModelsQuery, ModelsQueryVariables>;