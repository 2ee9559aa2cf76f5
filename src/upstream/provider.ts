/**
 * The contract every upstream implements. Names here are the gateway's own (camelCase);
 * a provider translates them to its wire format and back. Nothing outside `upstream/`
 * knows what an upstream's JSON looks like.
 */

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One request, already validated and with the model resolved. */
export interface CompletionRequest {
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
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
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
