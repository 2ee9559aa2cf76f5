/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** Limits to set. An omitted field is left as it is; null removes that limit. */
export type ApiKeyLimitsInput = {
  /** USD per UTC day (>= 0). */
  dailyBudgetUsd?: number | null | undefined;
  /** Streams open at once (>= 1). */
  maxStreams?: number | null | undefined;
  /** USD per UTC month (>= 0). */
  monthlyBudgetUsd?: number | null | undefined;
  /** Requests per minute (>= 1). */
  rpm?: number | null | undefined;
  /** Tokens per minute (>= 1). */
  tpm?: number | null | undefined;
};

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

/** A new key. */
export type CreateApiKeyInput = {
  /** May manage keys and read all usage (default false). */
  admin?: boolean | null | undefined;
  /** Its limits (default none). */
  limits?: ApiKeyLimitsInput | null | undefined;
  /** What the key is for. */
  name: string;
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

/** How `usage` groups the ledger. */
export type UsageGroupBy =
  /** By UTC day (YYYY-MM-DD). */
  | 'DAY'
  /** By key id (empty for requests made while the gateway ran open). */
  | 'KEY'
  /** By the model that served. */
  | 'MODEL';

export type CompleteMutationVariables = Exact<{
  input: CompletionInput;
}>;


export type CompleteMutation = { complete: { id: string, model: string, created: number, text: string, choices: Array<{ index: number, text: string, finishReason: FinishReason | null, logprobs: Array<{ token: string, logprob: number, topLogprobs: Array<{ token: string, logprob: number }> }> | null }>, usage: { promptTokens: number, completionTokens: number, totalTokens: number, cost: number | null } } };

export type CompletionStreamSubscriptionVariables = Exact<{
  input: CompletionInput;
}>;


export type CompletionStreamSubscription = { completionStream: { id: string, model: string, created: number, index: number, text: string, accumulatedText: string, finishReason: FinishReason | null, usage: { promptTokens: number, completionTokens: number, totalTokens: number, cost: number | null } | null } };

export type ModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type ModelsQuery = { models: Array<{ id: string, ownedBy: string, created: number | null, contextWindow: number | null }> };

export type ApiKeyFieldsFragment = { id: string, name: string, prefix: string, admin: boolean, createdAt: string, revokedAt: string | null, limits: { rpm: number | null, tpm: number | null, maxStreams: number | null, dailyBudgetUsd: number | null, monthlyBudgetUsd: number | null } };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { requestsLastMinute: number, tokensLastMinute: number, openStreams: number, spentTodayUsd: number, spentThisMonthUsd: number, dailyBudgetLeftUsd: number | null, monthlyBudgetLeftUsd: number | null, key: { id: string, name: string, prefix: string, admin: boolean, createdAt: string, revokedAt: string | null, limits: { rpm: number | null, tpm: number | null, maxStreams: number | null, dailyBudgetUsd: number | null, monthlyBudgetUsd: number | null } } } | null };

export type UsageQueryVariables = Exact<{
  from: string;
  to: string;
  groupBy: UsageGroupBy;
  keyId?: string | null | undefined;
}>;


export type UsageQuery = { usage: Array<{ group: string, requests: number, promptTokens: number, completionTokens: number, costUsd: number }> };

export type CreateApiKeyMutationVariables = Exact<{
  input: CreateApiKeyInput;
}>;


export type CreateApiKeyMutation = { createApiKey: { key: string, apiKey: { id: string, name: string, prefix: string, admin: boolean, createdAt: string, revokedAt: string | null, limits: { rpm: number | null, tpm: number | null, maxStreams: number | null, dailyBudgetUsd: number | null, monthlyBudgetUsd: number | null } } } };

export type RevokeApiKeyMutationVariables = Exact<{
  id: string;
}>;


export type RevokeApiKeyMutation = { revokeApiKey: { id: string, name: string, prefix: string, admin: boolean, createdAt: string, revokedAt: string | null, limits: { rpm: number | null, tpm: number | null, maxStreams: number | null, dailyBudgetUsd: number | null, monthlyBudgetUsd: number | null } } };

export type UpdateApiKeyLimitsMutationVariables = Exact<{
  id: string;
  limits: ApiKeyLimitsInput;
}>;


export type UpdateApiKeyLimitsMutation = { updateApiKeyLimits: { id: string, name: string, prefix: string, admin: boolean, createdAt: string, revokedAt: string | null, limits: { rpm: number | null, tpm: number | null, maxStreams: number | null, dailyBudgetUsd: number | null, monthlyBudgetUsd: number | null } } };

export const ApiKeyFieldsFragmentDoc = {"kind":"Document","definitions":[{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ApiKeyFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKey"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"prefix"}},{"kind":"Field","name":{"kind":"Name","value":"admin"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"revokedAt"}},{"kind":"Field","name":{"kind":"Name","value":"limits"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rpm"}},{"kind":"Field","name":{"kind":"Name","value":"tpm"}},{"kind":"Field","name":{"kind":"Name","value":"maxStreams"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetUsd"}}]}}]}}]} as unknown as DocumentNode<ApiKeyFieldsFragment, unknown>;
export const CompleteDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"Complete"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CompletionInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"complete"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"choices"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"finishReason"}},{"kind":"Field","name":{"kind":"Name","value":"logprobs"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}},{"kind":"Field","name":{"kind":"Name","value":"logprob"}},{"kind":"Field","name":{"kind":"Name","value":"topLogprobs"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}},{"kind":"Field","name":{"kind":"Name","value":"logprob"}}]}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"usage"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"totalTokens"}},{"kind":"Field","name":{"kind":"Name","value":"cost"}}]}}]}}]}}]} as unknown as DocumentNode<CompleteMutation, CompleteMutationVariables>;
export const CompletionStreamDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"CompletionStream"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CompletionInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"completionStream"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"index"}},{"kind":"Field","name":{"kind":"Name","value":"text"}},{"kind":"Field","name":{"kind":"Name","value":"accumulatedText"}},{"kind":"Field","name":{"kind":"Name","value":"finishReason"}},{"kind":"Field","name":{"kind":"Name","value":"usage"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"totalTokens"}},{"kind":"Field","name":{"kind":"Name","value":"cost"}}]}}]}}]}}]} as unknown as DocumentNode<CompletionStreamSubscription, CompletionStreamSubscriptionVariables>;
export const ModelsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"models"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"ownedBy"}},{"kind":"Field","name":{"kind":"Name","value":"created"}},{"kind":"Field","name":{"kind":"Name","value":"contextWindow"}}]}}]}}]} as unknown as DocumentNode<ModelsQuery, ModelsQueryVariables>;
export const MeDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Me"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"me"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"key"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ApiKeyFields"}}]}},{"kind":"Field","name":{"kind":"Name","value":"requestsLastMinute"}},{"kind":"Field","name":{"kind":"Name","value":"tokensLastMinute"}},{"kind":"Field","name":{"kind":"Name","value":"openStreams"}},{"kind":"Field","name":{"kind":"Name","value":"spentTodayUsd"}},{"kind":"Field","name":{"kind":"Name","value":"spentThisMonthUsd"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetLeftUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetLeftUsd"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ApiKeyFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKey"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"prefix"}},{"kind":"Field","name":{"kind":"Name","value":"admin"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"revokedAt"}},{"kind":"Field","name":{"kind":"Name","value":"limits"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rpm"}},{"kind":"Field","name":{"kind":"Name","value":"tpm"}},{"kind":"Field","name":{"kind":"Name","value":"maxStreams"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetUsd"}}]}}]}}]} as unknown as DocumentNode<MeQuery, MeQueryVariables>;
export const UsageDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Usage"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"from"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"to"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"groupBy"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"UsageGroupBy"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"keyId"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"usage"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"from"},"value":{"kind":"Variable","name":{"kind":"Name","value":"from"}}},{"kind":"Argument","name":{"kind":"Name","value":"to"},"value":{"kind":"Variable","name":{"kind":"Name","value":"to"}}},{"kind":"Argument","name":{"kind":"Name","value":"groupBy"},"value":{"kind":"Variable","name":{"kind":"Name","value":"groupBy"}}},{"kind":"Argument","name":{"kind":"Name","value":"keyId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"keyId"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"group"}},{"kind":"Field","name":{"kind":"Name","value":"requests"}},{"kind":"Field","name":{"kind":"Name","value":"promptTokens"}},{"kind":"Field","name":{"kind":"Name","value":"completionTokens"}},{"kind":"Field","name":{"kind":"Name","value":"costUsd"}}]}}]}}]} as unknown as DocumentNode<UsageQuery, UsageQueryVariables>;
export const CreateApiKeyDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"CreateApiKey"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateApiKeyInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createApiKey"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"key"}},{"kind":"Field","name":{"kind":"Name","value":"apiKey"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ApiKeyFields"}}]}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ApiKeyFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKey"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"prefix"}},{"kind":"Field","name":{"kind":"Name","value":"admin"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"revokedAt"}},{"kind":"Field","name":{"kind":"Name","value":"limits"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rpm"}},{"kind":"Field","name":{"kind":"Name","value":"tpm"}},{"kind":"Field","name":{"kind":"Name","value":"maxStreams"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetUsd"}}]}}]}}]} as unknown as DocumentNode<CreateApiKeyMutation, CreateApiKeyMutationVariables>;
export const RevokeApiKeyDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"RevokeApiKey"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"revokeApiKey"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ApiKeyFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ApiKeyFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKey"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"prefix"}},{"kind":"Field","name":{"kind":"Name","value":"admin"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"revokedAt"}},{"kind":"Field","name":{"kind":"Name","value":"limits"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rpm"}},{"kind":"Field","name":{"kind":"Name","value":"tpm"}},{"kind":"Field","name":{"kind":"Name","value":"maxStreams"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetUsd"}}]}}]}}]} as unknown as DocumentNode<RevokeApiKeyMutation, RevokeApiKeyMutationVariables>;
export const UpdateApiKeyLimitsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"UpdateApiKeyLimits"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"limits"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKeyLimitsInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"updateApiKeyLimits"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}},{"kind":"Argument","name":{"kind":"Name","value":"limits"},"value":{"kind":"Variable","name":{"kind":"Name","value":"limits"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"ApiKeyFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"ApiKeyFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"ApiKey"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"prefix"}},{"kind":"Field","name":{"kind":"Name","value":"admin"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"revokedAt"}},{"kind":"Field","name":{"kind":"Name","value":"limits"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"rpm"}},{"kind":"Field","name":{"kind":"Name","value":"tpm"}},{"kind":"Field","name":{"kind":"Name","value":"maxStreams"}},{"kind":"Field","name":{"kind":"Name","value":"dailyBudgetUsd"}},{"kind":"Field","name":{"kind":"Name","value":"monthlyBudgetUsd"}}]}}]}}]} as unknown as DocumentNode<UpdateApiKeyLimitsMutation, UpdateApiKeyLimitsMutationVariables>;