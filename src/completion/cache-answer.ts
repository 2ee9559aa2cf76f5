/**
 * What the response cache keeps of an answer: the completion as the client got it (choices
 * after the gateway's own clean-up, the usage the upstream reported or the gateway counted),
 * whether it came from `complete` or from a stream; and how it is taken from each.
 */
import type { Choice, Usage } from '../upstream/provider.js';
import type { ChunkShape, CompletionShape } from './shapes.js';

/** Bumped when the shape changes: part of every key, so old entries are never read as new ones. */
export const ANSWER_FORMAT = 1;

export interface CachedAnswer {
  format: typeof ANSWER_FORMAT;
  /** The upstream's id of the completion that was stored. */
  id: string;
  /** The model that served it. */
  model: string;
  created: number;
  /** By index. */
  choices: Choice[];
  /** What producing it took (no price: a hit costs nothing). */
  usage: Usage;
}

/** The stored answer of a finished `complete`. */
export function answerOfCompletion(completion: CompletionShape): CachedAnswer {
  return {
    format: ANSWER_FORMAT,
    id: completion.id,
    model: completion.model,
    created: completion.created,
    choices: completion.choices.map((c) => ({
      index: c.index,
      text: c.text,
      finishReason: c.finishReason,
      logprobs: c.logprobs,
      toolCalls: c.toolCalls,
      refusal: c.refusal,
    })),
    usage: withoutCost(completion.usage),
  };
}

function withoutCost(usage: Usage & { cost?: unknown }): Usage {
  const out: Usage = { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, totalTokens: usage.totalTokens };
  if (usage.cachedPromptTokens !== undefined) out.cachedPromptTokens = usage.cachedPromptTokens;
  if (usage.reasoningTokens !== undefined) out.reasoningTokens = usage.reasoningTokens;
  return out;
}

/**
 * Rebuilds a stream's answer from the chunks it sent, as they go out: the latest
 * `accumulatedText` of each choice (no copy of the text is made per chunk), its refusal
 * pieces, its finish reason and tool calls from its last chunk, and the usage from the
 * stream's last. Only a stream that ended normally is stored (see `answer`).
 */
export class StreamRecorder {
  private readonly choices = new Map<number, Choice>();
  private last: ChunkShape | undefined;

  chunk(chunk: ChunkShape): void {
    let choice = this.choices.get(chunk.index);
    if (!choice) {
      choice = { index: chunk.index, text: '', finishReason: null, logprobs: null, toolCalls: null, refusal: null };
      this.choices.set(chunk.index, choice);
    }
    choice.text = chunk.accumulatedText;
    if (chunk.refusal !== null) choice.refusal = (choice.refusal ?? '') + chunk.refusal;
    if (chunk.finishReason !== null) choice.finishReason = chunk.finishReason;
    if (chunk.toolCalls !== null) choice.toolCalls = chunk.toolCalls;
    this.last = chunk;
  }

  /** The whole answer, once the stream has ended normally; undefined if it sent no usage (it always does when it ends normally). */
  answer(): CachedAnswer | undefined {
    const last = this.last;
    if (!last?.usage) return undefined;
    return {
      format: ANSWER_FORMAT,
      id: last.completionId,
      model: last.model,
      created: last.created,
      choices: [...this.choices.values()].sort((a, b) => a.index - b.index),
      usage: withoutCost(last.usage),
    };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * A stored answer read back, or undefined when it is not one this gateway wrote (a Redis
 * shared with another version, a damaged value): that is a miss, not an error.
 */
export function parseAnswer(text: string): CachedAnswer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || value['format'] !== ANSWER_FORMAT) return undefined;
  const { id, model, created, choices, usage } = value;
  if (typeof id !== 'string' || typeof model !== 'string' || typeof created !== 'number') return undefined;
  if (!Array.isArray(choices) || !choices.every((c) => isObject(c) && typeof c['index'] === 'number' && typeof c['text'] === 'string')) {
    return undefined;
  }
  if (!isObject(usage) || typeof usage['promptTokens'] !== 'number' || typeof usage['completionTokens'] !== 'number') return undefined;
  return value as unknown as CachedAnswer;
}
