/** What the schema exposes of a completion: the shapes the resolvers return. */
import type { Choice, CompletionResult, ToolCall, ToolCallDelta, Usage } from '../upstream/provider.js';

/** Usage with its price: USD, or null when the model has none. */
export interface BilledUsage extends Usage {
  cost: number | null;
}

export interface ChoiceShape extends Choice {
  /** A JSON response format (JSON_OBJECT or JSON_SCHEMA) was asked for: `json` parses the text. */
  jsonRequested: boolean;
}

export interface CompletionShape extends CompletionResult {
  choices: ChoiceShape[];
  usage: BilledUsage;
  /** Served from the response cache, without an upstream call. */
  cached: boolean;
}

/**
 * One event of `completionStream`, as the schema exposes it. Its own `id` is not stored: the
 * schema derives it from `completionId` and `seq`, and only when a client selects it.
 */
export interface ChunkShape {
  /** The upstream's id for the completion: the same on every chunk of a stream. */
  completionId: string;
  /**
   * 1, 2, 3… in the order the stream emits chunks, over every choice: stamped as each chunk
   * goes out (0 until then), so a chunk held back or never sent leaves no gap.
   */
  seq: number;
  model: string;
  created: number;
  index: number;
  text: string;
  accumulatedText: string;
  finishReason: string | null;
  usage: BilledUsage | null;
  /** Pieces of tool calls in this chunk (never dropped, even with no text), or null. */
  toolCallDeltas: ToolCallDelta[] | null;
  /** On a choice's last chunk: its tool calls, complete (reassembled from the deltas), or null. */
  toolCalls: ToolCall[] | null;
  /** Refusal text in this chunk, or null. */
  refusal: string | null;
  /** Replayed from the response cache, without an upstream call. */
  cached: boolean;
}

export function sumUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
