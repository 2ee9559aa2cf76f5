/**
 * Everything a simulated call returns, decided up front so `complete` and `stream` cannot
 * disagree: per choice, its text (one decoded token per piece) or its tool calls (their
 * arguments one token per fragment), its finish reason and logprobs; and the usage.
 *
 * Usage, like OpenAI's:
 * - reasoning: with `reasoningEffort` set, each choice first spends a fixed number of
 *   hidden tokens by effort (REASONING_TOKENS; NONE spends 0), counted in `completionTokens` and reported
 *   as `reasoningTokens`; they come out of the budget (`maxCompletionTokens` or `maxTokens`,
 *   the smaller), so a small budget can leave no visible output (finish reason `length`).
 * - prompt cache: the simulator pretends the conversation so far was sent before, so the
 *   tokens of every message but the last count as `cachedPromptTokens`, reported when
 *   `promptCacheKey` is set or the prompt has at least 1024 tokens (OpenAI's minimum for
 *   caching); a single message thus reports 0 cached.
 */
import { randomInt } from 'node:crypto';
import { Tokenizer } from '../../completion/tokens.js';
import type { CompletionRequest, FinishReason, ReasoningEffort, TokenLogprob, ToolCall, Usage } from '../provider.js';
import { seeded } from './random.js';
import { generateJsonObject, generateText, inventLogprobs, truncateAtStop } from './text.js';
import { planCalls } from './tools.js';
import { asciiJson, validJson } from './valid-json.js';

/** Hidden reasoning tokens per choice, by effort. */
export const REASONING_TOKENS: Readonly<Record<ReasoningEffort, number>> = {
  none: 0,
  minimal: 16,
  low: 64,
  medium: 192,
  high: 512,
  xhigh: 1024,
};

/** Below this many prompt tokens, only a `promptCacheKey` turns the simulated cache on. */
export const CACHE_MIN_PROMPT_TOKENS = 1024;

export interface PlannedCall {
  id: string;
  name: string;
  /** The arguments, one decoded token per entry: the stream emits exactly these. */
  fragments: string[];
}

export interface PlannedChoice {
  /** The echoed prompt, or ''; not generated, so it never counts as completion tokens. */
  echo: string;
  /** The generated text, one decoded token per entry: the stream emits exactly these. */
  pieces: string[];
  /** The tool calls made instead of text (then `pieces` is empty). */
  calls: PlannedCall[];
  finishReason: FinishReason;
  logprobs: TokenLogprob[] | null;
}

export interface Plan {
  choices: PlannedChoice[];
  usage: Usage;
}

/**
 * Each choice's seed key. A request without any of the chat surface's additions keys
 * exactly as before it existed, so its replies have not changed.
 */
function keyMaker(request: CompletionRequest, seed: number | null): (index: number) => string {
  const messages =
    request.messages?.map(({ role, content, ...rest }) => {
      const more = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
      return Object.keys(more).length === 0 ? [role, content] : [role, content, more];
    }) ?? null;
  const { tools, toolChoice, parallelToolCalls, responseFormat } = request;
  const chat = Object.fromEntries(Object.entries({ tools, toolChoice, parallelToolCalls, responseFormat }).filter(([, v]) => v !== undefined));
  // Serialised once: the messages may be megabytes, and there may be 128 choices.
  const head = JSON.stringify([request.model, request.prompt ?? null, messages, request.suffix ?? null]).slice(0, -1);
  const tail = `,${JSON.stringify(seed)}${Object.keys(chat).length === 0 ? '' : `,${JSON.stringify(chat)}`}]`;
  return (index) => `${head},${index}${tail}`;
}

function replyText(request: CompletionRequest, key: string, random: () => number): string {
  const format = request.responseFormat;
  if (format?.type === 'json_schema') return asciiJson(validJson(format.jsonSchema.schema, `${key}:json`));
  if (format?.type === 'json_object') return asciiJson(generateJsonObject(request, random));
  return generateText(request, random);
}

/** Cuts the calls' arguments to `budget` tokens; calls left with no room are dropped. */
function withinBudget(calls: PlannedCall[], budget: number): PlannedCall[] {
  const kept: PlannedCall[] = [];
  let room = budget;
  for (const call of calls) {
    if (room <= 0 && kept.length > 0) break;
    kept.push({ ...call, fragments: call.fragments.slice(0, Math.max(0, room)) });
    room -= call.fragments.length;
  }
  return kept;
}

async function cachedTokens(request: CompletionRequest, tokenizer: Tokenizer, promptTokens: number): Promise<number | undefined> {
  const messages = request.messages;
  if (!messages || (request.promptCacheKey === undefined && promptTokens < CACHE_MIN_PROMPT_TOKENS)) return undefined;
  // The earlier messages' share of the count: what the prompt costs beyond its last message alone.
  const alone = messages.length <= 1 ? promptTokens : await tokenizer.countPromptAsync({ ...request, messages: messages.slice(-1) });
  return Math.max(0, Math.min(promptTokens - alone, promptTokens));
}

export async function plan(request: CompletionRequest): Promise<Plan> {
  const tokenizer = await Tokenizer.forModel(request.model);
  const sampled = (request.temperature ?? 0) > 0 && request.seed === undefined;
  // A per-call random seed keeps sampled calls varied while a call's choices stay distinct.
  const seed = sampled ? randomInt(0, 2 ** 32) : (request.seed ?? null);
  const keyFor = keyMaker(request, seed);
  const limits = [request.maxTokens, request.maxCompletionTokens].filter((v): v is number => v !== undefined);
  const budget = limits.length === 0 ? undefined : Math.min(...limits);
  const effort = request.reasoningEffort;
  const reasoning = Math.min(effort === undefined ? 0 : REASONING_TOKENS[effort], budget ?? Infinity);
  const visibleBudget = budget === undefined ? Infinity : budget - reasoning;
  const tokens = (text: string): string[] => tokenizer.encode(text).map((token) => tokenizer.decode([token]));

  const choices: PlannedChoice[] = [];
  let completionTokens = 0;
  for (let index = 0; index < (request.n ?? 1); index++) {
    const key = keyFor(index);
    const calls: PlannedCall[] = planCalls(request, key).map((call: ToolCall) => ({
      id: call.id,
      name: call.name,
      fragments: tokens(call.arguments),
    }));
    if (calls.length > 0) {
      const kept = withinBudget(calls, visibleBudget);
      const cut = kept.reduce((sum, c) => sum + c.fragments.length, 0) < calls.reduce((sum, c) => sum + c.fragments.length, 0);
      completionTokens += reasoning + kept.reduce((sum, c) => sum + c.fragments.length, 0);
      choices.push({
        echo: '',
        pieces: [],
        calls: kept,
        finishReason: cut ? 'length' : 'tool_calls',
        logprobs: request.logprobs === undefined ? null : [],
      });
      continue;
    }
    const generated = truncateAtStop(replyText(request, key, seeded(key)), request.stop);
    // Stop first, then the token budget: a real model stops generating at a stop sequence.
    const all = tokenizer.encode(generated);
    const kept = all.slice(0, Math.max(0, visibleBudget));
    const pieces = kept.map((token) => tokenizer.decode([token]));
    completionTokens += reasoning + kept.length;
    choices.push({
      echo: request.echo && request.prompt !== undefined ? request.prompt : '',
      pieces,
      calls: [],
      finishReason: kept.length < all.length ? 'length' : 'stop',
      // A separate PRNG stream, so asking for logprobs never changes the text.
      logprobs: request.logprobs === undefined ? null : inventLogprobs(pieces, request.logprobs, seeded(`${key}:logprobs`)),
    });
  }

  // Async: a megabyte prompt costs up to a second of counting, which must not hold the loop.
  const promptTokens = await tokenizer.countPromptAsync(request);
  const cached = await cachedTokens(request, tokenizer, promptTokens);
  const usage: Usage = { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
  if (cached !== undefined) usage.cachedPromptTokens = cached;
  if (effort !== undefined) usage.reasoningTokens = reasoning * choices.length;
  return { choices, usage };
}
