/**
 * What happens between a validated request and the client: timers that bound the
 * upstream, the error mapping, sentinel stripping, and usage when the upstream gives none.
 * Both transports (HTTP mutation, graphql-ws / SSE subscription) go through here.
 */
import { Repeater } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { mapUpstreamError, redact, UpstreamTimeout } from './errors.js';
import type { Choice, CompletionResult, Provider, Usage } from './providers/provider.js';
import { SentinelFilter, stripSentinels } from './sentinels.js';
import type { PreparedRequest } from './validation.js';

export interface RunOptions {
  provider: Provider;
  logger: Logger;
  secrets: readonly string[];
  /** Bounds the wait for the whole answer (mutation) or for the first chunk (stream). */
  timeoutMs: number;
  /** Bounds the silence between two chunks of a stream. */
  idleTimeoutMs: number;
}

export interface CompletionShape extends CompletionResult {
  usage: Usage;
}

/** One event of `completionStream`, as the schema exposes it. */
export interface ChunkShape {
  id: string;
  model: string;
  created: number;
  index: number;
  text: string;
  accumulatedText: string;
  finishReason: string | null;
  usage: Usage | null;
}

/** Why the gateway aborted an upstream call that a client no longer waits for. */
export class ClientGone extends Error {
  constructor() {
    super('The client went away');
    this.name = 'ClientGone';
  }
}

/** One re-armable timer that aborts the upstream call with an UpstreamTimeout reason. */
class Deadline {
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly controller: AbortController) {}

  arm(phase: UpstreamTimeout['phase'], ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new UpstreamTimeout(phase, ms)), ms);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

function linkedController(parent: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (parent) {
    if (parent.aborted) controller.abort(new ClientGone());
    else parent.addEventListener('abort', () => controller.abort(new ClientGone()), { once: true });
  }
  return controller;
}

function sumUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** `complete`: one upstream call, bounded by `timeoutMs`, cancelled if the client leaves. */
export async function runCompletion(
  prepared: PreparedRequest,
  options: RunOptions,
  clientSignal: AbortSignal | undefined,
): Promise<CompletionShape> {
  const controller = linkedController(clientSignal);
  const deadline = new Deadline(controller);
  deadline.arm('response', options.timeoutMs);
  let result: CompletionResult;
  try {
    result = await options.provider.complete(prepared.request, controller.signal);
  } catch (error) {
    throw failure(error, controller.signal, options);
  } finally {
    deadline.clear();
  }
  const choices: Choice[] = result.choices
    .map((c) => ({ ...c, text: stripSentinels(c.text) }))
    .sort((a, b) => a.index - b.index);
  const usage =
    result.usage ??
    sumUsage(
      prepared.promptTokens,
      choices.reduce((sum, c) => sum + prepared.tokenizer.count(c.text), 0),
    );
  return { ...result, choices, usage };
}

function failure(error: unknown, signal: AbortSignal, options: RunOptions): GraphQLError {
  const mapped = mapUpstreamError(error, signal, options.secrets);
  const detail = error instanceof Error ? redact(`${error.name}: ${error.message}`, options.secrets) : undefined;
  options.logger.warn(
    { code: mapped.extensions['code'], upstreamStatus: mapped.extensions['upstreamStatus'], detail },
    'upstream call failed',
  );
  return mapped;
}

interface ChoiceState {
  filter: SentinelFilter;
  text: string;
}

/**
 * `completionStream`: a Repeater rather than an async generator, because a generator's
 * `return()` waits behind a pending `next()`, so a client leaving while the upstream is
 * silent would not abort anything until the next chunk. The Repeater's `stop` fires at
 * once and aborts the upstream request.
 *
 * A failure is pushed as a GraphQLError value (the resolver throws it) and then the
 * stream ends, so every transport delivers it as a normal error payload instead of
 * tearing down the socket.
 */
export function streamCompletion(prepared: PreparedRequest, options: RunOptions): Repeater<ChunkShape | GraphQLError> {
  return new Repeater<ChunkShape | GraphQLError>(async (push, stop) => {
    const controller = new AbortController();
    let finished = false;
    void stop.then(() => {
      if (!finished) controller.abort(new ClientGone());
    });
    const deadline = new Deadline(controller);
    const choices = new Map<number, ChoiceState>();
    // A choice's last chunk is held until the next event, so the stream's final chunk can
    // carry both a finish reason and the usage that the upstream sends after it.
    let held: ChunkShape | undefined;
    let upstreamUsage: Usage | null = null;
    let header = { id: '', model: prepared.request.model, created: Math.floor(Date.now() / 1000) };

    try {
      deadline.arm('first chunk', options.timeoutMs);
      for await (const delta of options.provider.stream(prepared.request, controller.signal)) {
        deadline.arm('next chunk', options.idleTimeoutMs);
        header = { id: delta.id, model: delta.model, created: delta.created };
        if (delta.usage) upstreamUsage = delta.usage;
        if (delta.index < 0) continue;
        let state = choices.get(delta.index);
        if (!state) {
          state = { filter: new SentinelFilter(), text: '' };
          choices.set(delta.index, state);
        }
        let text = state.filter.push(delta.text);
        if (delta.finishReason) text += state.filter.flush();
        if (text === '' && !delta.finishReason) continue;
        state.text += text;
        const chunk: ChunkShape = {
          ...header,
          index: delta.index,
          text,
          accumulatedText: state.text,
          finishReason: delta.finishReason,
          usage: null,
        };
        if (held) await push(held);
        held = undefined;
        if (delta.finishReason) held = chunk;
        else await push(chunk);
      }
      // The SDK's stream ends quietly, instead of throwing, when its request is aborted.
      if (controller.signal.aborted) throw controller.signal.reason;
      deadline.clear();
      finished = true;
      // An upstream that ends without a finish reason leaves held-back text behind.
      for (const [index, state] of choices) {
        const rest = state.filter.flush();
        if (rest === '') continue;
        state.text += rest;
        if (held) await push(held);
        held = { ...header, index, text: rest, accumulatedText: state.text, finishReason: null, usage: null };
      }
      const usage =
        upstreamUsage ??
        sumUsage(
          prepared.promptTokens,
          [...choices.values()].reduce((sum, c) => sum + prepared.tokenizer.count(c.text), 0),
        );
      const last: ChunkShape = held ?? {
        ...header,
        index: 0,
        text: '',
        accumulatedText: choices.get(0)?.text ?? '',
        finishReason: null,
        usage: null,
      };
      await push({ ...last, usage });
    } catch (error) {
      deadline.clear();
      finished = true;
      if (controller.signal.reason instanceof ClientGone) return;
      if (held) await push(held);
      await push(failure(error, controller.signal, options));
    }
    stop();
  });
}
