/** What a completion's output tokens are counted over when the upstream reports no usage. */
import type { ToolCall } from '../upstream/provider.js';

/**
 * Adds a choice's output to `texts`: its text, its refusal, and each tool call as its name
 * and its arguments' text, since the model wrote all of them. The few tokens of framing an
 * upstream adds around each call (its id is the upstream's, not the model's) are not
 * counted: the count stays a little under what OpenAI would bill for calls.
 */
export function addOutputTexts(
  texts: string[],
  text: string,
  refusal: string | null,
  toolCalls: Iterable<Pick<ToolCall, 'name' | 'arguments'>> | null | undefined,
): void {
  texts.push(text);
  if (refusal) texts.push(refusal);
  if (toolCalls) for (const call of toolCalls) texts.push(call.name, call.arguments);
}
