/**
 * Any OpenAI-compatible upstream through the official SDK. The only file that knows
 * OpenAI's wire names (snake_case, `choices[].delta`, `stream_options`, …).
 */
import OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionTokenLogprob,
} from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice, CompletionCreateParamsBase } from 'openai/resources/completions';
import type {
  CallEvents,
  CompletionRequest,
  CompletionResult,
  ModelInfo,
  Provider,
  StreamDelta,
  TokenLogprob,
  Usage,
} from './provider.js';

export interface OpenAIProviderOptions {
  /** Sent as `Authorization: Bearer`; servers that need none (Ollama, vLLM) get a placeholder. */
  apiKey: string | undefined;
  /** Default OpenAI's API. */
  baseURL: string | undefined;
  /** Per-attempt wait for response headers; the gateway bounds the rest itself. */
  timeoutMs: number;
  /** SDK retries (429, 5xx, connection errors) before a response has started. */
  maxRetries: number;
  logger: OpenAI['logger'];
}

// Reasoning models refuse `max_tokens` on chat; everything else (and most compatible
// servers) still expects it.
const USES_MAX_COMPLETION_TOKENS = /^(o\d|gpt-5)/;

type SharedParams = Pick<
  CompletionCreateParamsBase,
  'model' | 'temperature' | 'top_p' | 'n' | 'stop' | 'presence_penalty' | 'frequency_penalty' | 'seed' | 'user' | 'logit_bias'
>;

function sharedParams(r: CompletionRequest): SharedParams {
  return {
    model: r.model,
    temperature: r.temperature,
    top_p: r.topP,
    n: r.n,
    stop: r.stop,
    presence_penalty: r.presencePenalty,
    frequency_penalty: r.frequencyPenalty,
    seed: r.seed,
    user: r.user,
    logit_bias: r.logitBias,
  };
}

function textParams(r: CompletionRequest): Omit<CompletionCreateParamsBase, 'stream'> {
  return {
    ...sharedParams(r),
    prompt: r.prompt ?? '',
    suffix: r.suffix,
    max_tokens: r.maxTokens,
    logprobs: r.logprobs,
    echo: r.echo,
  };
}

function chatParams(r: CompletionRequest): Omit<ChatCompletionCreateParamsBase, 'stream'> {
  const params: Omit<ChatCompletionCreateParamsBase, 'stream'> = {
    ...sharedParams(r),
    messages: (r.messages ?? []).map((m) => ({ role: m.role, content: m.content })),
  };
  if (r.maxTokens !== undefined) {
    if (USES_MAX_COMPLETION_TOKENS.test(r.model)) params.max_completion_tokens = r.maxTokens;
    else params.max_tokens = r.maxTokens;
  }
  if (r.logprobs !== undefined) {
    params.logprobs = true;
    params.top_logprobs = r.logprobs;
  }
  return params;
}

function usage(u: OpenAI.CompletionUsage | null | undefined): Usage | null {
  if (!u) return null;
  return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens };
}

function textLogprobs(lp: CompletionChoice.Logprobs | null | undefined): TokenLogprob[] | null {
  if (!lp?.tokens) return null;
  return lp.tokens.map((token, i) => ({
    token,
    logprob: lp.token_logprobs?.[i] ?? 0,
    topLogprobs: Object.entries(lp.top_logprobs?.[i] ?? {}).map(([t, logprob]) => ({ token: t, logprob })),
  }));
}

function chatLogprobs(content: ChatCompletionTokenLogprob[] | null | undefined): TokenLogprob[] | null {
  if (!content) return null;
  return content.map((c) => ({
    token: c.token,
    logprob: c.logprob,
    topLogprobs: (c.top_logprobs ?? []).map((t) => ({ token: t.token, logprob: t.logprob })),
  }));
}

export class OpenAIProvider implements Provider {
  readonly description: string;
  private readonly client: OpenAI;
  private readonly timeoutMs: number;

  constructor(options: OpenAIProviderOptions) {
    this.client = new OpenAI({
      apiKey: options.apiKey ?? 'not-needed',
      baseURL: options.baseURL,
      maxRetries: options.maxRetries,
      timeout: options.timeoutMs,
      logger: options.logger,
      logLevel: 'warn',
    });
    this.timeoutMs = options.timeoutMs;
    this.description = `OpenAI-compatible upstream at ${this.client.baseURL}`;
  }

  // `asResponse()` resolves once the status and headers are in (retries done), so the
  // caller's body timer starts there and never races the SDK's retry-after waits.
  async complete(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<CompletionResult> {
    const options = { signal, timeout: this.timeoutMs };
    if (request.messages) {
      const response = await this.client.chat.completions
        .create({ ...chatParams(request), stream: false }, options)
        .asResponse();
      events.onResponse();
      const res = (await response.json()) as ChatCompletion;
      return {
        id: res.id,
        model: res.model,
        created: res.created,
        usage: usage(res.usage),
        choices: res.choices.map((c) => ({
          index: c.index,
          text: c.message.content ?? '',
          finishReason: c.finish_reason ?? null,
          logprobs: chatLogprobs(c.logprobs?.content),
        })),
      };
    }
    const response = await this.client.completions.create({ ...textParams(request), stream: false }, options).asResponse();
    events.onResponse();
    const res = (await response.json()) as Completion;
    return {
      id: res.id,
      model: res.model,
      created: res.created,
      usage: usage(res.usage),
      choices: res.choices.map((c) => ({
        index: c.index,
        text: c.text,
        finishReason: c.finish_reason ?? null,
        logprobs: textLogprobs(c.logprobs),
      })),
    };
  }

  async *stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): AsyncIterable<StreamDelta> {
    const options = { signal, timeout: this.timeoutMs };
    const stream_options = { include_usage: true };
    if (request.messages) {
      const stream = await this.client.chat.completions.create(
        { ...chatParams(request), stream: true, stream_options },
        options,
      );
      events.onResponse();
      for await (const chunk of stream) yield* chatDeltas(chunk);
      return;
    }
    const stream = await this.client.completions.create({ ...textParams(request), stream: true, stream_options }, options);
    events.onResponse();
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        if (c.text !== '' || c.finish_reason) yield delta(chunk, c.index, c.text, c.finish_reason ?? null, null);
      }
      if (chunk.usage) yield delta(chunk, -1, '', null, usage(chunk.usage));
    }
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const models: ModelInfo[] = [];
    for await (const m of this.client.models.list({ signal, timeout: this.timeoutMs })) {
      models.push({ id: m.id, ownedBy: m.owned_by, created: m.created ?? null });
    }
    return models;
  }
}

interface ChunkHeader {
  id: string;
  model: string;
  created: number;
}

function delta(
  chunk: ChunkHeader,
  index: number,
  text: string,
  finishReason: string | null,
  u: Usage | null,
): StreamDelta {
  return { id: chunk.id, model: chunk.model, created: chunk.created, index, text, finishReason, usage: u };
}

function* chatDeltas(chunk: ChatCompletionChunk): Generator<StreamDelta> {
  for (const c of chunk.choices) {
    const text = c.delta?.content ?? '';
    // The opening `{role: "assistant", content: ""}` chunk carries nothing to show.
    if (text === '' && !c.finish_reason) continue;
    yield delta(chunk, c.index, text, c.finish_reason ?? null, null);
  }
  if (chunk.usage) yield delta(chunk, -1, '', null, usage(chunk.usage));
}
