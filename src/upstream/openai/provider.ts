/**
 * Any OpenAI-compatible upstream. The only file that knows OpenAI's wire names
 * (snake_case, `choices[].delta`, `stream_options`, …); the wire types are the official
 * SDK's, the HTTP is `UpstreamClient`'s.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionTokenLogprob,
} from 'openai/resources/chat/completions';
import type {
  Completion,
  CompletionChoice,
  CompletionCreateParamsBase,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
} from 'openai/resources/completions';
import type OpenAI from 'openai';
import type {
  CallEvents,
  CompletionRequest,
  CompletionResult,
  ModelInfo,
  Provider,
  StreamDelta,
  TokenLogprob,
  Usage,
} from '../provider.js';
import { ProviderError } from '../provider.js';
import { streamFailure } from './errors.js';
import { readCapped } from './body.js';
import { assertEventStream, decodeEvents } from './sse.js';
import { UpstreamClient, type UpstreamClientOptions, type UpstreamResponse } from './client.js';

export interface OpenAIProviderOptions extends UpstreamClientOptions {
  /** `UPSTREAM_MAX_EVENT_BYTES`: the largest single event of a stream. */
  maxEventBytes: number;
  /** `UPSTREAM_MAX_BODY_BYTES`: the largest non-streamed body (completions, `/models`). */
  maxBodyBytes: number;
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
    messages: (r.messages ?? []).map((m) => ({ role: m.role, content: m.content ?? '' }) as ChatCompletionCreateParamsBase['messages'][number]),
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
  private readonly client: UpstreamClient;

  constructor(private readonly options: OpenAIProviderOptions) {
    this.client = new UpstreamClient(options);
    this.description = `OpenAI-compatible upstream at ${this.client.baseURL}`;
  }

  async complete(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<CompletionResult> {
    if (request.messages) {
      const body: ChatCompletionCreateParamsNonStreaming = { ...chatParams(request), stream: false };
      const response = await this.client.post('/chat/completions', body, signal, false, events.deadline);
      events.onResponse();
      const res = (await this.json(response.body)) as ChatCompletion;
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
          toolCalls: null,
          refusal: null,
        })),
      };
    }
    const body: CompletionCreateParamsNonStreaming = { ...textParams(request), stream: false };
    const response = await this.client.post('/completions', body, signal, false, events.deadline);
    events.onResponse();
    const res = (await this.json(response.body)) as Completion;
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
        toolCalls: null,
        refusal: null,
      })),
    };
  }

  async stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<AsyncIterable<StreamDelta>> {
    const stream_options = { include_usage: true };
    const chat = request.messages !== undefined;
    const body: ChatCompletionCreateParamsStreaming | CompletionCreateParamsStreaming = chat
      ? { ...chatParams(request), stream: true, stream_options }
      : { ...textParams(request), stream: true, stream_options };
    const response = await this.client.post(chat ? '/chat/completions' : '/completions', body, signal, true, events.deadline);
    events.onResponse();
    assertEventStream(response.headers, response.body);
    let done = false;
    // A body that carried no event at all (an empty body, an HTML page labelled as an event
    // stream) is a failure, not an empty completion.
    let seen = false;
    const onEnd = (): void => {
      if (!seen) throw new ProviderError('bad_answer', 'The upstream ended the stream without sending a single event');
    };
    return decodeEvents<StreamDelta>(response.body, (sse, out) => {
      // Anything after `[DONE]` is ignored, as the SDK does.
      if (done) return;
      if (sse.data.startsWith('[DONE]')) {
        done = seen = true;
        return;
      }
      const data = JSON.parse(sse.data) as (ChatCompletionChunk | Completion) & { error?: unknown };
      // An error sent in the stream: read as the SDK reads it, so it maps like any other.
      if (data.error || sse.event === 'error') throw streamFailure(data.error ?? data);
      seen = true;
      if (chat) chatDeltas(data as ChatCompletionChunk, out);
      else textDeltas(data as Completion, out);
    }, { maxEventBytes: this.options.maxEventBytes, onEnd });
  }

  async models(signal: AbortSignal): Promise<ModelInfo[]> {
    const response = await this.client.get('/models', signal);
    const page = (await this.json(response.body)) as { data?: OpenAI.Model[] };
    return (page.data ?? []).map((m) => ({ id: m.id, ownedBy: m.owned_by, created: m.created ?? null }));
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async json(body: UpstreamResponse['body']): Promise<unknown> {
    return JSON.parse(await readCapped(body, this.options.maxBodyBytes));
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
  return { id: chunk.id, model: chunk.model, created: chunk.created, index, text, finishReason, usage: u, toolCallDeltas: null, refusal: null };
}

function chatDeltas(chunk: ChatCompletionChunk, out: StreamDelta[]): void {
  for (const c of chunk.choices) {
    const text = c.delta?.content ?? '';
    // The opening `{role: "assistant", content: ""}` chunk carries nothing to show.
    if (text === '' && !c.finish_reason) continue;
    out.push(delta(chunk, c.index, text, c.finish_reason ?? null, null));
  }
  if (chunk.usage) out.push(delta(chunk, -1, '', null, usage(chunk.usage)));
}

function textDeltas(chunk: Completion, out: StreamDelta[]): void {
  for (const c of chunk.choices) {
    if (c.text !== '' || c.finish_reason) out.push(delta(chunk, c.index, c.text, c.finish_reason ?? null, null));
  }
  if (chunk.usage) out.push(delta(chunk, -1, '', null, usage(chunk.usage)));
}
