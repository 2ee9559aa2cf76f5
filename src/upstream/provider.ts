/**
 * The contract every upstream implements. Names here are the gateway's own (camelCase);
 * a provider translates them to its wire format and back. Nothing outside `upstream/`
 * knows what an upstream's JSON looks like.
 */

import type { ChatMessage, ChatOptions, ToolCall, ToolCallDelta } from './chat.js';

export type * from './chat.js';

/** One request, already validated and with the model resolved. */
export interface CompletionRequest extends ChatOptions {
  model: string;
  /** Exactly one of `prompt` (text completion) and `messages` (chat) is set. */
  prompt?: string;
  messages?: ChatMessage[];
  suffix?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  n?: number;
  stop?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Text completions: how many alternatives per token. Chat: `top_logprobs`. */
  logprobs?: number;
  echo?: boolean;
  seed?: number;
  user?: string;
  /** Token id → bias (-100..100). */
  logitBias?: Record<string, number>;
}

/** Raw finish reason as the upstream sent it (`stop`, `length`, `content_filter`, …). */
export type FinishReason = string;

export interface TopLogprob {
  token: string;
  logprob: number;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  topLogprobs: TopLogprob[];
}

export interface Choice {
  index: number;
  text: string;
  finishReason: FinishReason | null;
  logprobs: TokenLogprob[] | null;
  /** The tool calls the model made, or null. */
  toolCalls: ToolCall[] | null;
  /** The model's refusal to answer, or null. */
  refusal: string | null;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Of the prompt tokens, those the upstream served from its prompt cache (billed at the cached price); undefined when it did not say. */
  cachedPromptTokens?: number;
  /** Of the completion tokens, those spent reasoning (billed as output); undefined when it did not say. */
  reasoningTokens?: number;
}

export interface CompletionResult {
  id: string;
  model: string;
  /** Unix seconds, as upstreams report it. */
  created: number;
  choices: Choice[];
  /** Null when the upstream did not report usage; the gateway then counts it. */
  usage: Usage | null;
}

/**
 * One streamed delta for one choice. Providers emit these in upstream order; a
 * usage-only event (the upstream's final usage chunk) has `index` -1 and empty text.
 */
export interface StreamDelta {
  id: string;
  model: string;
  created: number;
  index: number;
  text: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  /** Pieces of tool calls in this event, or null. */
  toolCallDeltas: ToolCallDelta[] | null;
  /** Refusal text in this event, or null. */
  refusal: string | null;
}

export interface ModelInfo {
  id: string;
  ownedBy: string;
  created: number | null;
}

/** What a call is given besides the request: its deadline, and a hook to tell its caller how it goes. */
export interface CallEvents {
  /**
   * When this attempt's time is up (`performance.now()` clock): the caller aborts the call's
   * signal then. A retry, backoff or retry-after that would end past it is not waited for;
   * the call fails at once with the failure it would have retried (issue #12: the timeout
   * is the whole wait, retries included).
   */
  readonly deadline: number;
  /** The upstream has answered (status and headers in): connecting and retrying are over. */
  onResponse(): void;
}

export interface Provider {
  /** Shown in the start-up log and in `models`: never contains a secret. */
  readonly description: string;
  complete(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<CompletionResult>;
  /**
   * Starts the upstream stream: resolves once the upstream has answered, with its deltas.
   * Iteration ends when the upstream finishes; aborting `signal` must end a pending
   * `next()` promptly (with a rejection, or by ending quietly: callers check the signal).
   */
  stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<AsyncIterable<StreamDelta>>;
  models(signal: AbortSignal): Promise<ModelInfo[]>;
  /** Releases pooled upstream connections (at shutdown, after the drain). */
  close?(): Promise<void>;
}

/**
 * How an upstream call failed, in the gateway's terms:
 * - `unreachable`: no connection could be made;
 * - `timeout`: the transport's own connect or headers timeout;
 * - `auth`: the upstream refused the gateway's credentials (401, 403);
 * - `rate_limited`: 429;
 * - `context_length`: the prompt does not fit the model;
 * - `rejected`: any other refusal of the request (4xx);
 * - `failed`: the upstream's own failure (5xx, or an error event in a stream);
 * - `bad_answer`: the gateway refused what came back (over a size cap, not the kind of
 *   answer asked for); the message is the gateway's own words.
 */
export type ProviderFailure =
  | 'unreachable'
  | 'timeout'
  | 'auth'
  | 'rate_limited'
  | 'context_length'
  | 'rejected'
  | 'failed'
  | 'bad_answer';

/** What the upstream said about a failure, where it said it. */
export interface UpstreamDetail {
  status?: number | null;
  /** The upstream's own short code (`rate_limit_exceeded`). */
  code?: string | null;
  /** How long the upstream asked to wait (429), in ms. */
  retryAfterMs?: number | null;
}

/**
 * What every provider throws for a failed call, so no SDK or transport type leaks out of
 * `upstream/`; `graphql/errors.ts` turns it into a client's `extensions.code`. The message
 * may be upstream text (it is redacted and cut before a client or a log sees it), except
 * for `bad_answer`. Anything else a provider throws (a socket that died mid-body, JSON that
 * does not parse) is a broken answer, whose details are not the client's business.
 */
export class ProviderError extends Error {
  constructor(
    readonly failure: ProviderFailure,
    message: string,
    readonly upstream: UpstreamDetail = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}
