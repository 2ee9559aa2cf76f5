/**
 * The built-in simulator: the gateway's upstream when no OpenAI key or base URL is set,
 * so a newcomer can open GraphiQL and watch a completion stream without any account.
 *
 * Replies are readable, clearly labelled canned English, or the chat surface's other
 * answers: tool calls with arguments valid against the tool's schema (tools.ts), JSON
 * valid against a response format's schema, acknowledgements of tool results and media,
 * cached and reasoning tokens (plan.ts says when). With temperature 0 (or a `seed`) they
 * are a pure function of the request, which makes the simulator usable in tests:
 * `complete()` and `stream()` derive from the same plan, so a joined stream always equals
 * the completion, tool calls, finish reasons and usage included.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  CallEvents,
  CompletionRequest,
  CompletionResult,
  FinishReason,
  ModelInfo,
  Provider,
  StreamDelta,
  ToolCallDelta,
  Usage,
} from '../provider.js';
import { plan, type PlannedChoice } from './plan.js';

export interface SimulatorOptions {
  /** Pause between streamed tokens, in milliseconds, so streaming is visible; 0 for tests and benchmarks. */
  tokenDelayMs: number;
}

const MACROTASK_EVERY = 64;

function abortError(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/**
 * A pause that rejects with `abortError(signal)` the moment `signal` aborts; node's timer
 * clears itself and removes its listener, leaving nothing behind. (It rejects with its own
 * AbortError, the reason only as its `cause`: the reason itself is what callers see.)
 */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch((error: unknown) => {
    throw signal.aborted ? abortError(signal) : error;
  });
}

function newId(): string {
  return `simcmpl-${randomBytes(12).toString('hex')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

type Piece = { text: string } | { call: ToolCallDelta };

/**
 * What a choice streams, one event per token: its text (the echo first), or, like OpenAI,
 * each call's first piece with its id and name and empty arguments, then its arguments.
 */
function piecesOf(choice: PlannedChoice): Piece[] {
  if (choice.calls.length > 0) {
    return choice.calls.flatMap((call, index) => [
      { call: { index, id: call.id, name: call.name, argumentsDelta: '' } },
      ...call.fragments.map((argumentsDelta) => ({ call: { index, id: null, name: null, argumentsDelta } })),
    ]);
  }
  return (choice.echo === '' ? choice.pieces : [choice.echo, ...choice.pieces]).map((text) => ({ text }));
}

export class SimulatorProvider implements Provider {
  readonly description = 'built-in simulator (offline; set OPENAI_API_KEY or OPENAI_BASE_URL to use a real model)';
  private readonly tokenDelayMs: number;

  constructor(options: SimulatorOptions) {
    this.tokenDelayMs = options.tokenDelayMs;
  }

  models(signal: AbortSignal): Promise<ModelInfo[]> {
    throwIfAborted(signal);
    return Promise.resolve([{ id: 'simulator', ownedBy: 'gateway-simulator (offline, deterministic, no upstream)', created: null }]);
  }

  async complete(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<CompletionResult> {
    throwIfAborted(signal);
    events.onResponse();
    const { choices, usage } = await plan(request);
    throwIfAborted(signal);
    return {
      id: newId(),
      model: request.model,
      created: nowSeconds(),
      choices: choices.map((choice, index) => ({
        index,
        text: choice.echo + choice.pieces.join(''),
        finishReason: choice.finishReason,
        logprobs: choice.logprobs,
        toolCalls:
          choice.calls.length === 0
            ? null
            : choice.calls.map((call) => ({ id: call.id, name: call.name, arguments: call.fragments.join('') })),
        refusal: null,
      })),
      usage,
    };
  }

  stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<AsyncIterable<StreamDelta>> {
    return Promise.resolve(this.generate(request, signal, events));
  }

  private async *generate(request: CompletionRequest, signal: AbortSignal, events: CallEvents): AsyncGenerator<StreamDelta> {
    throwIfAborted(signal);
    events.onResponse();
    const { choices, usage } = await plan(request);
    const base = { id: newId(), model: request.model, created: nowSeconds() };
    const delta = (index: number, piece: Piece | null, finishReason: FinishReason | null, u: Usage | null = null): StreamDelta => ({
      ...base,
      index,
      text: piece && 'text' in piece ? piece.text : '',
      finishReason,
      usage: u,
      toolCallDeltas: piece && 'call' in piece ? [piece.call] : null,
      refusal: null,
    });

    // Choices take turns, one event each, as an upstream's parallel choices arrive.
    const queues = choices.map(piecesOf);
    const rounds = Math.max(0, ...queues.map((queue) => queue.length));
    let sent = 0;
    for (let round = 0; round < rounds; round++) {
      for (const [index, queue] of queues.entries()) {
        const piece = queue[round];
        if (piece === undefined) continue;
        await this.pause(sent++, signal);
        yield delta(index, piece, null);
      }
    }
    throwIfAborted(signal);
    for (const [index, choice] of choices.entries()) yield delta(index, null, choice.finishReason);
    yield delta(-1, null, null, usage);
  }

  private async pause(sent: number, signal: AbortSignal): Promise<void> {
    if (sent > 0 && this.tokenDelayMs > 0) return sleep(this.tokenDelayMs, signal);
    // Without a delay a microtask per token keeps the stream cheap; a macrotask now and
    // then lets sockets and timers run, so one large n cannot starve other requests.
    await (sent % MACROTASK_EVERY === MACROTASK_EVERY - 1 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
    throwIfAborted(signal);
  }
}
