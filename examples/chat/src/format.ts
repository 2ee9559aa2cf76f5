/** How numbers and JSON are shown. */
import type { Usage } from './conversation';

export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** The text parsed as JSON, or undefined when it is not (yet) valid JSON. */
export function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** USD with enough digits to show what one short answer costs (fractions of a cent). */
export function formatCost(cost: number | null): string {
  if (cost === null) return 'no price for this model';
  if (cost === 0) return '$0';
  return cost < 0.01 ? `$${cost.toFixed(6)}` : `$${cost.toFixed(4)}`;
}

export function formatUsage(usage: Usage): string {
  const parts = [`${usage.promptTokens} prompt + ${usage.completionTokens} completion tokens`];
  if (usage.cachedPromptTokens) parts.push(`${usage.cachedPromptTokens} cached`);
  if (usage.reasoningTokens) parts.push(`${usage.reasoningTokens} reasoning`);
  return `${parts.join(', ')} · ${formatCost(usage.cost)}`;
}
