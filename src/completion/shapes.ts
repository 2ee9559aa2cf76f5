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
}

/** One event of `completionStream`, as the schema exposes it. */
export interface ChunkShape {
  id: string;
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
}

export function sumUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
