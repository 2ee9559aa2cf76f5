/** What a completion returns: the completion, its choices, chunks of a stream, tool calls, usage. */
import type { BilledUsage, ChoiceShape, ChunkShape, CompletionShape } from '../../completion/shapes.js';
import type { TokenLogprob, ToolCall, ToolCallDelta, TopLogprob } from '../../upstream/provider.js';
import { builder } from '../builder.js';
import { JSONScalar } from './scalars.js';

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

/** The parsed value of JSON text, or null when it is not valid JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

const ToolCallRef = builder.objectRef<ToolCall>('ToolCall').implement({
  description: 'A call the model made to one of the offered tools.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The call’s id: send it back as `toolCallId` on the TOOL message that answers it.' }),
    name: t.exposeString('name', { description: 'The function called.' }),
    arguments: t.exposeString('arguments', { description: 'Its arguments as the model wrote them (JSON text, when the model got it right).' }),
    argumentsJson: t.field({
      type: JSONScalar,
      nullable: true,
      description: '`arguments` parsed; null when the text is not valid JSON.',
      resolve: (c) => parseJson(c.arguments),
    }),
  }),
});

const ToolCallDeltaRef = builder.objectRef<ToolCallDelta>('ToolCallDelta').implement({
  description: 'A piece of a streamed tool call. The first piece of a call has its id and name; the rest add to its arguments.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Which of the choice’s parallel calls this piece belongs to.' }),
    id: t.exposeString('id', { nullable: true, description: 'The call’s id (on its first piece).' }),
    name: t.exposeString('name', { nullable: true, description: 'The function called (on its first piece).' }),
    argumentsDelta: t.exposeString('argumentsDelta', { description: 'The next piece of the arguments’ text (may split JSON anywhere).' }),
  }),
});

export const UsageRef = builder.objectRef<BilledUsage>('Usage').implement({
  description: 'Tokens consumed: as the upstream reported them, or counted by the gateway with the model’s tokenizer when it did not.',
  fields: (t) => ({
    promptTokens: t.exposeInt('promptTokens', { description: 'Tokens in the prompt or messages.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Tokens generated, over all choices.' }),
    totalTokens: t.exposeInt('totalTokens', { description: 'promptTokens + completionTokens.' }),
    cachedPromptTokens: t.int({
      nullable: true,
      description: 'Of the prompt tokens, those served from the upstream’s prompt cache (billed at the cached-input price); null when the upstream did not say.',
      resolve: (u) => u.cachedPromptTokens ?? null,
    }),
    reasoningTokens: t.int({
      nullable: true,
      description: 'Of the completion tokens, those the model spent reasoning (billed as output); null when the upstream did not say.',
      resolve: (u) => u.reasoningTokens ?? null,
    }),
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

const ChoiceRef = builder.objectRef<ChoiceShape>('Choice').implement({
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
    toolCalls: t.field({
      type: [ToolCallRef],
      nullable: true,
      description: 'The tool calls the model made (finishReason TOOL_CALLS), or null.',
      resolve: (c) => c.toolCalls,
    }),
    refusal: t.exposeString('refusal', { nullable: true, description: 'The model’s refusal to answer, or null.' }),
    json: t.field({
      type: JSONScalar,
      nullable: true,
      description: 'The text parsed, when a JSON response format was asked for and the text is valid JSON; else null.',
      resolve: (c) => (c.jsonRequested ? parseJson(c.text) : null),
    }),
  }),
});

const CACHED =
  'True when the answer came from the gateway’s response cache (see `CompletionInput.cache`) instead of the upstream: it cost no upstream call, and `usage.cost` is 0 (`usage` still counts the tokens the answer took to make). A hit has a completion id of its own (the stored one’s with `-cached-` and a random suffix), so normalising client caches keep it apart from the original.';

export const CompletionRef = builder.objectRef<CompletionShape>('Completion').implement({
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
    toolCalls: t.field({
      type: [ToolCallRef],
      nullable: true,
      description: 'The first choice’s tool calls (`choices[0].toolCalls`).',
      resolve: (c) => c.choices[0]?.toolCalls ?? null,
    }),
    refusal: t.string({
      nullable: true,
      description: 'The first choice’s refusal (`choices[0].refusal`).',
      resolve: (c) => c.choices[0]?.refusal ?? null,
    }),
    json: t.field({
      type: JSONScalar,
      nullable: true,
      description: 'The first choice’s text parsed (`choices[0].json`).',
      resolve: (c) => {
        const first = c.choices[0];
        return first?.jsonRequested ? parseJson(first.text) : null;
      },
    }),
    cached: t.exposeBoolean('cached', { description: CACHED }),
  }),
});

export const CompletionChunkRef = builder.objectRef<ChunkShape>('CompletionChunk').implement({
  description:
    'One streamed piece of a completion. The last chunk of each choice carries its finishReason; the last chunk of the stream also carries usage.',
  fields: (t) => ({
    // Derived, not stored: only a client that selects `id` pays for the string.
    id: t.string({
      description:
        'This chunk’s own id: `completionId` and `seq` joined by a colon (`chatcmpl-abc:3`), unique per chunk (and across streams, as far as the upstream’s completion ids are), so caches that key objects by id (Apollo’s InMemoryCache, Relay) keep every chunk. Until 2026-12-01 it was the completion’s id, which is `completionId` now.',
      resolve: (c) => `${c.completionId}:${c.seq}`,
    }),
    completionId: t.exposeString('completionId', {
      description: 'The upstream’s id for the completion (what `Completion.id` is for the mutation): the same on every chunk of a stream.',
    }),
    seq: t.exposeInt('seq', {
      description:
        'The chunk’s place in the stream: 1, 2, 3… in the order the gateway sends chunks, over all choices (with `n > 1` they interleave), without gaps.',
    }),
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
    toolCallDeltas: t.field({
      type: [ToolCallDeltaRef],
      nullable: true,
      description: 'Pieces of tool calls in this chunk (a chunk may carry only these), or null.',
      resolve: (c) => c.toolCallDeltas,
    }),
    toolCalls: t.field({
      type: [ToolCallRef],
      nullable: true,
      description: 'On the last chunk of a choice: its tool calls, complete and parsed, so clients need not reassemble the deltas.',
      resolve: (c) => c.toolCalls,
    }),
    refusal: t.exposeString('refusal', { nullable: true, description: 'Refusal text in this chunk, or null.' }),
    cached: t.exposeBoolean('cached', { description: CACHED }),
  }),
});

