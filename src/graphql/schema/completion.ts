import type { GraphQLError, GraphQLResolveInfo } from 'graphql';
import { builder } from '../builder.js';
import type { Caller } from '../../completion/operation.js';
import type { ChunkShape } from '../../completion/shapes.js';
import type { Context } from '../builder.js';
import { checkInput } from '../../completion/request.js';
import { cacheOption, MAX_CACHE_TTL_SECONDS } from '../../completion/response-cache.js';
import {
  ChatMessageInput,
  ReasoningEffort,
  ResponseFormatInput,
  ToolChoiceInput,
  ToolInput,
  Verbosity,
} from './chat-inputs.js';
import { CompletionChunkRef, CompletionRef } from './completion-types.js';

const LogitBiasInput = builder.inputType('LogitBiasInput', {
  description: 'Raise or lower the odds of one token (OpenAI `logit_bias`).',
  fields: (t) => ({
    token: t.int({ required: true, description: 'Token id in the model’s tokenizer.' }),
    bias: t.float({
      required: true,
      description: 'From -100 (ban the token) to 100 (force it); around ±1 nudges it.',
    }),
  }),
});

const CacheInput = builder.inputType('CacheInput', {
  description:
    'Serve this request from the gateway’s response cache when it holds the answer to the same request (same model, messages or prompt, sampling parameters, tools, response format, n, stop, seed…), and keep the answer if it has to ask the upstream. A hit costs no upstream call and nothing from the key’s budget.',
  fields: (t) => ({
    ttlSeconds: t.int({
      required: true,
      description: `How long the answer is kept when this request stores it, in seconds: 1 to ${MAX_CACHE_TTL_SECONDS}.`,
    }),
  }),
});

const CompletionInput = builder.inputType('CompletionInput', {
  description:
    'A completion request. Give `prompt` for a text completion (upstream `/v1/completions`) or `messages` for a chat completion (`/v1/chat/completions`); the result has the same shape either way. Unset parameters take the upstream’s defaults.',
  fields: (t) => ({
    model: t.string({ description: 'Model id; defaults to the gateway’s DEFAULT_MODEL.' }),
    prompt: t.string({ description: 'Text to complete. Exactly one of `prompt` and `messages`.' }),
    messages: t.field({
      type: [ChatMessageInput],
      description: 'Chat conversation to answer. Exactly one of `prompt` and `messages`; at least one message.',
    }),
    suffix: t.string({ description: 'Text that comes after the completion (prompt only, models that support insertion).' }),
    maxTokens: t.int({
      description: 'Most tokens to generate per choice (>= 1). Prompt tokens + maxTokens must fit the model’s context window.',
    }),
    temperature: t.float({ description: 'Sampling temperature, 0–2: higher is more random, 0 is (nearly) deterministic.' }),
    topP: t.float({ description: 'Nucleus sampling, 0–1: sample only from the tokens making up this probability mass.' }),
    n: t.int({ description: 'How many choices to generate, 1–128. Streams interleave them; each chunk says its `index`.' }),
    stop: t.stringList({ description: 'Up to 4 sequences where generation stops; the sequence is not included.' }),
    presencePenalty: t.float({ description: '-2 to 2: positive values favour tokens not yet present (new topics).' }),
    frequencyPenalty: t.float({ description: '-2 to 2: positive values penalise tokens by how often they already occur.' }),
    logprobs: t.int({
      description:
        'Return log probabilities of the output tokens with this many top alternatives each (0–5 for prompt, 0–20 for messages).',
    }),
    echo: t.boolean({ description: 'Prompt only: include the prompt at the start of each choice’s text.' }),
    seed: t.int({ description: 'Best-effort reproducible sampling: the same seed and input tend to give the same output.' }),
    user: t.string({ description: 'An id for your end user, passed to the upstream for abuse monitoring.' }),
    logitBias: t.field({ type: [LogitBiasInput], description: 'Per-token biases (at most 300 entries).' }),
    tools: t.field({ type: [ToolInput], description: 'Chat only: functions the model may call (at most 128).' }),
    toolChoice: t.field({ type: ToolChoiceInput, description: 'Chat only, with `tools`: whether the model may, must or must not call a tool, or which one.' }),
    parallelToolCalls: t.boolean({ description: 'Chat only, with `tools`: whether the model may make several tool calls in one turn.' }),
    responseFormat: t.field({ type: ResponseFormatInput, description: 'Chat only: ask for JSON (any object, or valid against a schema).' }),
    reasoningEffort: t.field({ type: ReasoningEffort, description: 'Chat only, reasoning models: how much to think before answering.' }),
    maxCompletionTokens: t.int({
      description: 'Chat only: most tokens to generate, reasoning included (sent as `max_completion_tokens`); what reasoning models take instead of maxTokens.',
    }),
    verbosity: t.field({ type: Verbosity, description: 'Chat only: how long and detailed the answer is.' }),
    promptCacheKey: t.string({ description: 'Chat only: groups requests that share a prompt prefix, for the upstream’s prompt cache.' }),
    safetyIdentifier: t.string({ description: 'Chat only: a stable id for your end user (hashed), for the upstream’s abuse monitoring.' }),
    serviceTier: t.string({ description: 'Chat only: the upstream’s processing tier (`auto`, `default`, `flex`, `priority`).' }),
    cache: t.field({
      type: CacheInput,
      description:
        'Use the response cache for this request, whatever its temperature and `n`. Without it, only requests at `temperature: 0` with one choice use it, and only when the server sets RESPONSE_CACHE_TTL_SECONDS.',
    }),
  }),
});

function callerOf(ctx: Context, info: GraphQLResolveInfo): Caller {
  return {
    key: ctx.apiKey,
    requestId: ctx.requestId,
    // Clients often send a named operation without `operationName`: the document knows it.
    // A GraphQL name has no length limit, and this one reaches every log line: cut it.
    operationName: (ctx.operationName ?? info.operation.name?.value ?? null)?.slice(0, 128) ?? null,
  };
}

builder.mutationType({ description: 'Operations that call the model.' });
builder.subscriptionType({ description: 'Streams.' });

builder.mutationField('complete', (t) =>
  t.field({
    type: CompletionRef,
    description: 'Runs a completion and returns it whole.',
    args: { input: t.arg({ type: CompletionInput, required: true, description: 'What to complete, and how.' }) },
    resolve: async (_root, { input }, ctx, info) => {
      const caller = callerOf(ctx, info);
      const request = checkInput(input, ctx.input.defaultModel, ctx.input.maxIdentifierChars);
      const cache = cacheOption(input.cache);
      ctx.completions.precheck(request, caller, 'mutation');
      return ctx.completions.complete(request, caller, ctx.signal, cache);
    },
  }),
);

builder.subscriptionField('completionStream', (t) =>
  t.field({
    type: CompletionChunkRef,
    description:
      'Runs a completion and streams it as the model writes it. Leaving the subscription cancels the upstream request at once.',
    args: { input: t.arg({ type: CompletionInput, required: true, description: 'What to complete, and how.' }) },
    subscribe: async (_root, { input }, ctx, info) => {
      const caller = callerOf(ctx, info);
      const request = checkInput(input, ctx.input.defaultModel, ctx.input.maxIdentifierChars);
      const cache = cacheOption(input.cache);
      ctx.completions.precheck(request, caller, 'subscription');
      return ctx.completions.stream(request, caller, cache);
    },
    resolve: (event: ChunkShape | GraphQLError) => {
      if (event instanceof Error) throw event;
      return event;
    },
  }),
);
