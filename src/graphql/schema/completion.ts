import type { GraphQLError, GraphQLResolveInfo } from 'graphql';
import { builder } from '../builder.js';
import type { Caller } from '../../completion/operation.js';
import type { BilledUsage, ChunkShape, CompletionShape } from '../../completion/shapes.js';
import type { Context } from '../builder.js';
import type { Choice, TokenLogprob, TopLogprob } from '../../upstream/provider.js';
import { checkInput, prepareRequest } from '../../completion/request.js';

export const ChatRole = builder.enumType('ChatRole', {
  description: 'Who wrote a chat message.',
  values: {
    SYSTEM: { value: 'system', description: 'Instructions that set the assistant’s behaviour.' },
    USER: { value: 'user', description: 'The end user.' },
    ASSISTANT: { value: 'assistant', description: 'The model (earlier turns of the conversation).' },
  } as const,
});

/** Finish reasons the schema names; anything else an upstream sends becomes OTHER. */
const FINISH_REASONS = {
  STOP: { value: 'stop', description: 'The model ended naturally or hit a stop sequence.' },
  LENGTH: { value: 'length', description: 'The output reached maxTokens (or the context window).' },
  CONTENT_FILTER: { value: 'content_filter', description: 'The upstream’s content filter withheld output.' },
  TOOL_CALLS: { value: 'tool_calls', description: 'The model called a tool.' },
  FUNCTION_CALL: { value: 'function_call', description: 'The model called a function (legacy form of TOOL_CALLS).' },
  OTHER: { value: 'other', description: 'A reason this schema does not name yet (the upstream’s own value).' },
} as const;

export const FinishReason = builder.enumType('FinishReason', {
  description: 'Why a choice stopped producing text.',
  values: FINISH_REASONS,
});

type FinishReasonValue = (typeof FINISH_REASONS)[keyof typeof FINISH_REASONS]['value'];
const KNOWN_REASONS = new Set<string>(Object.values(FINISH_REASONS).map((r) => r.value));

function finishReason(raw: string | null): FinishReasonValue | null {
  if (raw === null) return null;
  return (KNOWN_REASONS.has(raw) ? raw : 'other') as FinishReasonValue;
}

const ChatMessageInput = builder.inputType('ChatMessageInput', {
  description: 'One message of a chat conversation.',
  fields: (t) => ({
    role: t.field({ type: ChatRole, required: true, description: 'Who wrote the message.' }),
    content: t.string({ required: true, description: 'The message text; must not be empty.' }),
  }),
});

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
  }),
});

const UsageRef = builder.objectRef<BilledUsage>('Usage').implement({
  description: 'Tokens consumed: as the upstream reported them, or counted by the gateway with the model’s tokenizer when it did not.',
  fields: (t) => ({
    promptTokens: t.exposeInt('promptTokens', { description: 'Tokens in the prompt or messages.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Tokens generated, over all choices.' }),
    totalTokens: t.exposeInt('totalTokens', { description: 'promptTokens + completionTokens.' }),
    cost: t.exposeFloat('cost', {
      nullable: true,
      description: 'What these tokens cost in USD at the model’s price; null when the gateway has no price for the model.',
    }),
  }),
});

const TopLogprobRef = builder.objectRef<TopLogprob>('TopLogprob').implement({
  description: 'One alternative the model considered at a position.',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The alternative token’s text.' }),
    logprob: t.exposeFloat('logprob', { description: 'Its log probability.' }),
  }),
});

const TokenLogprobRef = builder.objectRef<TokenLogprob>('TokenLogprob').implement({
  description: 'Log probability of one output token.',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The token’s text.' }),
    logprob: t.exposeFloat('logprob', { description: 'Log probability of this token.' }),
    topLogprobs: t.field({
      type: [TopLogprobRef],
      description: 'The most likely tokens at this position (as many as `logprobs` asked for).',
      resolve: (l) => l.topLogprobs,
    }),
  }),
});

const ChoiceRef = builder.objectRef<Choice>('Choice').implement({
  description: 'One generated alternative (there are `n`).',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of this choice, from 0.' }),
    text: t.exposeString('text', { description: 'The generated text (with the prompt first when `echo` was set).' }),
    finishReason: t.field({
      type: FinishReason,
      nullable: true,
      description: 'Why generation stopped; null if the upstream did not say.',
      resolve: (c) => finishReason(c.finishReason),
    }),
    logprobs: t.field({
      type: [TokenLogprobRef],
      nullable: true,
      description: 'Per-token log probabilities, when `logprobs` was requested.',
      resolve: (c) => c.logprobs,
    }),
  }),
});

const CompletionRef = builder.objectRef<CompletionShape>('Completion').implement({
  description: 'A finished completion.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The upstream’s id for this completion.' }),
    model: t.exposeString('model', { description: 'The model that produced it, as the upstream reports it.' }),
    created: t.exposeInt('created', { description: 'When it was created, in Unix seconds.' }),
    text: t.string({
      description: 'Text of the first choice (`choices[0].text`), the common case.',
      resolve: (c) => c.choices[0]?.text ?? '',
    }),
    choices: t.field({ type: [ChoiceRef], description: 'All choices, by index.', resolve: (c) => c.choices }),
    usage: t.field({ type: UsageRef, description: 'Tokens consumed.', resolve: (c) => c.usage }),
  }),
});

const CompletionChunkRef = builder.objectRef<ChunkShape>('CompletionChunk').implement({
  description:
    'One streamed piece of a completion. The last chunk of each choice carries its finishReason; the last chunk of the stream also carries usage.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The completion’s id (the same on every chunk of a stream).' }),
    model: t.exposeString('model', { description: 'The model producing the stream.' }),
    created: t.exposeInt('created', { description: 'When the completion was created, in Unix seconds.' }),
    index: t.exposeInt('index', { description: 'Which choice this chunk belongs to (see `n`).' }),
    text: t.exposeString('text', { description: 'The new text in this chunk (may be empty on a final chunk).' }),
    accumulatedText: t.exposeString('accumulatedText', {
      description: 'All text of this choice so far, this chunk included: handy where only the latest event is shown.',
    }),
    finishReason: t.field({
      type: FinishReason,
      nullable: true,
      description: 'Set on the last chunk of a choice.',
      resolve: (c) => finishReason(c.finishReason),
    }),
    usage: t.field({
      type: UsageRef,
      nullable: true,
      description: 'Set on the last chunk of the stream.',
      resolve: (c) => c.usage,
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
      ctx.completions.precheck(request, caller, 'mutation');
      return ctx.completions.complete(await prepareRequest(request), caller, ctx.signal);
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
      ctx.completions.precheck(request, caller, 'subscription');
      return ctx.completions.stream(await prepareRequest(request), caller);
    },
    resolve: (event: ChunkShape | GraphQLError) => {
      if (event instanceof Error) throw event;
      return event;
    },
  }),
);
