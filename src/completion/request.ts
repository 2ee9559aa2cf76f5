/**
 * Input checks that need no upstream: everything we can know is wrong is refused here,
 * before a request (and a bill) leaves the gateway.
 */
import type { GraphQLError } from 'graphql';
import { badInput, contextLengthExceeded } from '../graphql/errors.js';
import type { CompletionRequest } from '../upstream/provider.js';
import { chatProblem, promptProblem, tooLong } from './chat-checks.js';
import { chatOptions, toMessage, type ChatInputValue } from './chat-request.js';
import { contextWindow, Tokenizer } from './tokens.js';

/** The GraphQL input, as Pothos hands it over (optional fields may be null). */
export interface CompletionInputValue extends ChatInputValue {
  model?: string | null;
  prompt?: string | null;
  suffix?: string | null;
  maxTokens?: number | null;
  temperature?: number | null;
  topP?: number | null;
  n?: number | null;
  stop?: readonly string[] | null;
  presencePenalty?: number | null;
  frequencyPenalty?: number | null;
  logprobs?: number | null;
  echo?: boolean | null;
  seed?: number | null;
  user?: string | null;
  logitBias?: readonly { token: number; bias: number }[] | null;
}

/** A validated request plus what the gateway needs to finish the job without the upstream. */
export interface PreparedRequest {
  request: CompletionRequest;
  tokenizer: Tokenizer;
  /** Prompt tokens by our own count (used when the upstream reports no usage). */
  promptTokens: number;
}

export const LIMITS = {
  maxStopSequences: 4,
  maxN: 128,
  maxTextLogprobs: 5,
  maxChatLogprobs: 20,
  maxLogitBiasEntries: 300,
  /** What the gateway keeps of a model name an upstream reports (ledger, logs). */
  maxModelLength: 256,
} as const;

function range(field: string, value: number | null | undefined, min: number, max: number): GraphQLError | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Number.isFinite(value) || value < min || value > max) return badInput(field, `must be between ${min} and ${max}, got ${value}`);
  return undefined;
}

function firstProblem(input: CompletionInputValue, maxChars: number): GraphQLError | undefined {
  const hasPrompt = input.prompt !== null && input.prompt !== undefined;
  const hasMessages = input.messages !== null && input.messages !== undefined;
  if (hasPrompt === hasMessages) {
    return badInput('prompt', 'give exactly one of prompt (text completion) or messages (chat)');
  }
  if (input.model !== null && input.model !== undefined && input.model.trim() === '') {
    return badInput('model', 'must not be empty');
  }
  // Strings that reach logs, metrics and two ledger columns per row: a 900 KB `model` was
  // stored twice and logged whole (issue #12). Real ones are far shorter.
  const long = tooLong('model', input.model, maxChars) ?? tooLong('user', input.user, maxChars);
  if (long) return long;
  if (hasPrompt) {
    const chatOnly = promptProblem(input);
    if (chatOnly) return chatOnly;
  }
  if (hasMessages) {
    if (input.messages?.length === 0) return badInput('messages', 'must contain at least one message');
    if (input.suffix !== null && input.suffix !== undefined) return badInput('suffix', 'is only supported with prompt, not messages');
    if (input.echo) return badInput('echo', 'is only supported with prompt, not messages');
  }
  const problem =
    range('temperature', input.temperature, 0, 2) ??
    range('topP', input.topP, 0, 1) ??
    range('presencePenalty', input.presencePenalty, -2, 2) ??
    range('frequencyPenalty', input.frequencyPenalty, -2, 2) ??
    range('n', input.n, 1, LIMITS.maxN) ??
    range('logprobs', input.logprobs, 0, hasMessages ? LIMITS.maxChatLogprobs : LIMITS.maxTextLogprobs);
  if (problem) return problem;
  if (input.maxTokens !== null && input.maxTokens !== undefined && input.maxTokens < 1) {
    return badInput('maxTokens', `must be at least 1, got ${input.maxTokens}`);
  }
  const stop = input.stop ?? [];
  if (stop.length > LIMITS.maxStopSequences) {
    return badInput('stop', `at most ${LIMITS.maxStopSequences} sequences, got ${stop.length}`);
  }
  if (stop.some((s) => s === '')) return badInput('stop', 'sequences must not be empty');
  for (const [i, sequence] of stop.entries()) {
    const out = tooLong(`stop[${i}]`, sequence, maxChars);
    if (out) return out;
  }
  const bias = input.logitBias ?? [];
  if (bias.length > LIMITS.maxLogitBiasEntries) {
    return badInput('logitBias', `at most ${LIMITS.maxLogitBiasEntries} entries, got ${bias.length}`);
  }
  for (const [i, entry] of bias.entries()) {
    if (entry.token < 0) return badInput(`logitBias[${i}].token`, `must be a token id (>= 0), got ${entry.token}`);
    const out = range(`logitBias[${i}].bias`, entry.bias, -100, 100);
    if (out) return out;
  }
  // Last: it ends with compiling JSON Schemas, the one costly check.
  return hasMessages ? chatProblem(input, maxChars) : undefined;
}

/** Drops GraphQL nulls so providers see only what the client set. */
function toRequest(input: CompletionInputValue, model: string): CompletionRequest {
  const request: CompletionRequest = { model, ...chatOptions(input) };
  const set = <K extends keyof CompletionRequest>(key: K, value: CompletionRequest[K] | null | undefined): void => {
    if (value !== null && value !== undefined) request[key] = value;
  };
  set('prompt', input.prompt);
  set('messages', input.messages?.map(toMessage));
  set('suffix', input.suffix);
  set('maxTokens', input.maxTokens);
  set('temperature', input.temperature);
  set('topP', input.topP);
  set('n', input.n);
  set('stop', input.stop && input.stop.length > 0 ? [...input.stop] : undefined);
  set('presencePenalty', input.presencePenalty);
  set('frequencyPenalty', input.frequencyPenalty);
  set('logprobs', input.logprobs);
  set('echo', input.echo);
  set('seed', input.seed);
  set('user', input.user);
  set(
    'logitBias',
    input.logitBias && input.logitBias.length > 0
      ? Object.fromEntries(input.logitBias.map((e) => [String(e.token), e.bias]))
      : undefined,
  );
  return request;
}

/**
 * The most tokens a request lets the model write per choice: `maxCompletionTokens` when
 * given (it is what the upstream holds a reasoning model to, reasoning included), else
 * `maxTokens`. The window check, the fallback plan and the key's reservation all use it.
 */
export function outputLimit(request: Pick<CompletionRequest, 'maxTokens' | 'maxCompletionTokens'>): number | undefined {
  return request.maxCompletionTokens ?? request.maxTokens;
}

/** Prompt + the completion asked for (at least one token). */
function tokensNeeded(promptTokens: number, maxTokens: number | undefined): number {
  return promptTokens + (maxTokens ?? 1);
}

/** Whether a request fits `model`'s context window (always, for models whose window is unknown). */
export function fitsWindow(promptTokens: number, maxTokens: number | undefined, model: string): boolean {
  const window = contextWindow(model);
  return window === null || tokensNeeded(promptTokens, maxTokens) <= window;
}

/** Validates the input (cheap, no tokenizer) into a request; throws a typed GraphQLError when it is refused. */
export function checkInput(input: CompletionInputValue, defaultModel: string, maxChars: number): CompletionRequest {
  const problem = firstProblem(input, maxChars);
  if (problem) throw problem;
  return toRequest(input, input.model?.trim() || defaultModel);
}

/**
 * Counts the prompt and checks it against the model's window. The costly step, so it runs
 * after auth and the key's cheap limits (issue #12), and yields to the event loop as it goes.
 */
export async function prepareRequest(request: CompletionRequest): Promise<PreparedRequest> {
  const { model } = request;
  const tokenizer = await Tokenizer.forModel(model);
  const promptTokens = await tokenizer.countPromptAsync(request);
  const window = contextWindow(model);
  const output = outputLimit(request);
  if (window !== null && !fitsWindow(promptTokens, output, model)) {
    throw contextLengthExceeded(model, window, tokensNeeded(promptTokens, output));
  }
  return { request, tokenizer, promptTokens };
}
