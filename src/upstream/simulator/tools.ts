/**
 * When the simulator calls a tool instead of answering, and with what.
 *
 * With tools offered and a tool choice other than NONE, it calls:
 * - `{ function }`: that tool (a name not offered is refused, as OpenAI refuses it);
 * - REQUIRED: the tools the last user message names, else one picked by the seed;
 * - AUTO (the default): the tools the last user message names, unless the conversation
 *   ends in TOOL answers, which it then answers in text.
 * A tool is named when its name appears in the text (any case, not inside a longer name).
 * Several named tools are all called, in the order they are named, unless
 * `parallelToolCalls` is false (then the first). Ids and arguments are a function of the
 * request's seed key; arguments are valid against the tool's `parameters`.
 */
import { ProviderError, type CompletionRequest, type ToolCall, type ToolDefinition } from '../provider.js';
import { alphanumeric, pick, seeded } from './random.js';
import { lastUserMessage, textOf } from './text.js';
import { asciiJson, validJson } from './valid-json.js';

/** What a tool without `parameters` takes: nothing (OpenAI's arguments are then `{}`). */
const NO_PARAMETERS = { type: 'object', properties: {} };

const isNameCharacter = (c: string | undefined): boolean => c !== undefined && /[a-z0-9_-]/.test(c);

/** Where `name` first appears in `text` as a whole name, or -1. */
function mentionedAt(text: string, name: string): number {
  const haystack = text.toLowerCase();
  const needle = name.toLowerCase();
  if (needle === '') return -1;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) {
    if (!isNameCharacter(haystack[at - 1]) && !isNameCharacter(haystack[at + needle.length])) return at;
  }
  return -1;
}

/** The tools this reply calls, in call order; empty when it answers in text. */
export function toolsToCall(request: CompletionRequest, random: () => number): ToolDefinition[] {
  const tools = request.tools ?? [];
  const choice = request.toolChoice ?? { mode: 'auto' };
  if (tools.length === 0) return [];
  if ('function' in choice) {
    const forced = tools.find((tool) => tool.name === choice.function);
    if (!forced) throw new ProviderError('rejected', `tool_choice names a function that is not among the tools: ${choice.function}`);
    return [forced];
  }
  if (choice.mode === 'none') return [];
  const text = textOf(lastUserMessage(request)) ?? '';
  const named = tools
    .map((tool) => ({ tool, at: mentionedAt(text, tool.name) }))
    .filter(({ at }) => at !== -1)
    .sort((a, b) => a.at - b.at)
    .map(({ tool }) => tool);
  const answered = request.messages?.at(-1)?.role === 'tool';
  let chosen: ToolDefinition[];
  if (choice.mode === 'required') chosen = named.length > 0 ? named : [pick(random, tools)];
  else chosen = answered ? [] : named;
  return request.parallelToolCalls === false ? chosen.slice(0, 1) : chosen;
}

/** The calls to `tools`, with OpenAI-like ids (`call_` and 24 letters and digits) and valid arguments. */
export function callsTo(tools: readonly ToolDefinition[], key: string): ToolCall[] {
  return tools.map((tool, i) => ({
    id: `call_${alphanumeric(seeded(`${key}:call:${i}`), 24)}`,
    name: tool.name,
    arguments: asciiJson(validJson(tool.parameters ?? NO_PARAMETERS, `${key}:arguments:${i}`)),
  }));
}

/** The calls this reply makes (none when it answers in text), a function of `key`. */
export function planCalls(request: CompletionRequest, key: string): ToolCall[] {
  // The key may hold megabytes of prompt: hash it again only when there are tools.
  if (!request.tools || request.tools.length === 0) return [];
  return callsTo(toolsToCall(request, seeded(`${key}:tools`)), key);
}
