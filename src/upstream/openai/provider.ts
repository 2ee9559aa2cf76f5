/**
 * Any OpenAI-compatible upstream: the client glue. What a request looks like on the wire is
 * request-body.ts's, what an answer means is response.ts's (both with the official SDK's
 * wire types); the HTTP is `UpstreamClient`'s, the event stream sse.ts's.
 */
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { Completion, CompletionCreateParamsNonStreaming, CompletionCreateParamsStreaming } from 'openai/resources/completions';
import type OpenAI from 'openai';
import type { CallEvents, CompletionRequest, CompletionResult, ModelInfo, Provider, StreamDelta } from '../provider.js';
import { ProviderError } from '../provider.js';
import { streamFailure } from './errors.js';
import { readCapped } from './body.js';
import { chatBody, textBody } from './request-body.js';
import { chatDeltas, chatResult, textDeltas, textResult } from './response.js';
import { assertEventStream, decodeEvents } from './sse.js';
import { UpstreamClient, type UpstreamClientOptions, type UpstreamResponse } from './client.js';

export interface OpenAIProviderOptions extends UpstreamClientOptions {
  /** `UPSTREAM_MAX_EVENT_BYTES`: the largest single event of a stream. */
  maxEventBytes: number;
  /** `UPSTREAM_MAX_BODY_BYTES`: the largest non-streamed body (completions, `/models`). */
  maxBodyBytes: number;
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
      const body: ChatCompletionCreateParamsNonStreaming = { ...chatBody(request), stream: false };
      const response = await this.client.post('/chat/completions', body, signal, false, events.deadline);
      events.onResponse();
      return chatResult((await this.json(response.body)) as ChatCompletion);
    }
    const body: CompletionCreateParamsNonStreaming = { ...textBody(request), stream: false };
    const response = await this.client.post('/completions', body, signal, false, events.deadline);
    events.onResponse();
    return textResult((await this.json(response.body)) as Completion);
  }

  async stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<AsyncIterable<StreamDelta>> {
    const stream_options = { include_usage: true };
    const chat = request.messages !== undefined;
    const body: ChatCompletionCreateParamsStreaming | CompletionCreateParamsStreaming = chat
      ? { ...chatBody(request), stream: true, stream_options }
      : { ...textBody(request), stream: true, stream_options };
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
