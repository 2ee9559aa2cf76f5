/** What the schema exposes of a completion: the shapes the resolvers return. */
import type { CompletionResult, Usage } from '../upstream/provider.js';

/** Usage with its price: USD, or null when the model has none. */
export interface BilledUsage extends Usage {
  cost: number | null;
}

export interface CompletionShape extends CompletionResult {
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
}

export function sumUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
