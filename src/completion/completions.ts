/**
 * What happens between a validated request and the client: the upstream slot, the
 * fallback chain, timers that bound the upstream, the error mapping, sentinel stripping,
 * usage when the upstream gives none, and the operation's log line, metrics and spans.
 * Both transports (HTTP mutation, graphql-ws / SSE subscription) go through here.
 */
import { performance } from 'node:perf_hooks';
import { context, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { GraphQLError } from 'graphql';
import { Channel } from '../lib/channel.js';
import { abortable, Budget, Deadline } from './deadline.js';
import { ClientTooSlow, ErrorCode, gatewayError, mapUpstreamError, redact, UpstreamAnswerError, UpstreamTimeout } from '../graphql/errors.js';
import type { Services } from '../graphql/builder.js';
import { ShuttingDown, shuttingDownError } from '../server/lifecycle.js';
import type { ApiKey } from '../accounts/keys.js';
import type { LedgerEntry, LedgerOutcome, RunningOperation } from '../accounts/ledger.js';
import type { CallEvents, Choice, CompletionRequest, CompletionResult, Provider, Usage } from '../upstream/provider.js';
import type { Admission } from '../accounts/quotas.js';
import { SentinelFilter, stripSentinels } from './sentinels.js';
import { fitsWindow, LIMITS, type PreparedRequest } from './request.js';

/** One place a request can be served: an upstream and the model to ask it for. */
export interface Target {
  provider: Provider;
  model: string;
  /** `primary` or `fallback`: which upstream, for logs and metrics. */
  upstream: string;
}

/** Everything a completion needs: the app's services and who is asking. */
export interface RunOptions extends Services {
  requestId: string;
  operationName: string | null;
  /** The caller's gateway key; null when the gateway runs open. */
  key: ApiKey | null;
}

/** Usage with its price: USD, or null when the model has none. */
export interface BilledUsage extends Usage {
  cost: number | null;
}

export interface CompletionShape extends CompletionResult {
  usage: BilledUsage;
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
  usage: BilledUsage | null;
}

/** Why the gateway aborted an upstream call that a client no longer waits for. */
export class ClientGone extends Error {
  constructor() {
    super('The client went away');
    this.name = 'ClientGone';
  }
}

// A tracer provider may be installed (or replaced) after this module loads, so the tracer is
// looked up again whenever the global provider changes; otherwise the same one is reused
// (getting a tracer allocates one, which every operation would pay for, traced or not).
let cachedTracer: { provider: TracerProvider; tracer: Tracer } | undefined;
const tracer = (): Tracer => {
  const provider = trace.getTracerProvider();
  if (cachedTracer?.provider !== provider) cachedTracer = { provider, tracer: provider.getTracer('llm-graphql-gateway') };
  return cachedTracer.tracer;
};

/** Failures after which the next target is worth a try: the request itself was fine. */
const FALLBACK_CODES = new Set<unknown>([ErrorCode.RATE_LIMITED, ErrorCode.UPSTREAM_ERROR, ErrorCode.UPSTREAM_TIMEOUT]);

function sumUsage(promptTokens: number, completionTokens: number): Usage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/**
 * The state of one operation: the controller of its current upstream call (registered
 * with the lifecycle so a shutdown can cut it), its span, and what its log line says.
 */
class Operation {
  readonly started = performance.now();
  readonly span: Span;
  private outcome = 'ok';
  private model: string;
  /** The model the current target asked for (the upstream may report another name). */
  private asked: string;
  private firstChunkMs: number | null = null;
  private fallbacks = 0;
  /** Set once a request has gone to an upstream: from then on the operation is in the ledger. */
  private reached = false;
  /** Set once an upstream answered (status 200 and headers): from then on it consumed tokens. */
  private responded = false;
  private admission: Admission | null = null;
  private readonly startedAt = Date.now();
  /** Its checkpoint in the ledger from the first upstream call on, so a crash leaves it `interrupted`. */
  private running: RunningOperation | undefined;
  /** The current attempt's streamed deltas (see `produced`). */
  private deltas = 0;

  constructor(
    private readonly options: RunOptions,
    private readonly type: 'mutation' | 'subscription',
    private readonly prepared: PreparedRequest,
  ) {
    this.model = prepared.request.model;
    this.asked = this.model;
    this.span = tracer().startSpan(type === 'mutation' ? 'gateway.complete' : 'gateway.completionStream', {
      attributes: { 'gateway.request_id': options.requestId, 'gen_ai.request.model': this.model },
    });
  }

  /**
   * Checks the key's limits and budgets and reserves this request's share (prompt tokens
   * plus the completion it may produce). Throws RATE_LIMITED or QUOTA_EXCEEDED.
   */
  async reserve(): Promise<void> {
    const { key, quotas, pricing, config } = this.options;
    const reserveCompletionTokens = config.reserveCompletionTokens;
    if (!key) return;
    const { request, promptTokens } = this.prepared;
    const completion = (request.maxTokens ?? reserveCompletionTokens) * (request.n ?? 1);
    this.admission = await quotas.admit(key, {
      tokens: promptTokens + completion,
      costUsd: pricing.cost(request.model, promptTokens, completion),
      stream: this.type === 'subscription',
    });
  }

  /** Prices usage for the model that served, or the one asked for when the upstream names one we have no price for. */
  bill(usage: Usage): BilledUsage {
    const { pricing } = this.options;
    const cost =
      pricing.cost(this.model, usage.promptTokens, usage.completionTokens) ??
      pricing.cost(this.asked, usage.promptTokens, usage.completionTokens);
    return { ...usage, cost };
  }

  /**
   * Arms `deadline` for one attempt of `ms` (its share of the budget) and returns the call
   * events: the deadline the provider's retries must fit in, and a note that it answered.
   */
  attempt(deadline: Deadline, phase: UpstreamTimeout['phase'], ms: number, budget: Budget): CallEvents {
    deadline.arm(ms, () => new UpstreamTimeout(phase, budget.ms));
    return {
      deadline: performance.now() + ms,
      onResponse: () => {
        this.responded = true;
      },
    };
  }

  /**
   * What a failed or cancelled operation consumed: what it produced if known, else the
   * prompt once an upstream had started answering; a request refused outright (429, 5xx
   * before any answer) consumed nothing.
   */
  private consumed(produced: Usage | null | undefined): Usage | null {
    if (!this.responded) return null;
    return produced ?? sumUsage(this.prepared.promptTokens, 0);
  }

  /**
   * Waits for an upstream slot, held for the whole operation (fallbacks run one after
   * another in it). Refusals are the gateway's own RATE_LIMITED, never a reason to fall back.
   */
  async admit(signal: AbortSignal): Promise<() => void> {
    const paced = this.options.pacer.turn();
    if (paced) await paced;
    this.options.metrics.queued.set(this.options.limiter.queued + 1);
    try {
      return await this.options.limiter.acquire(signal);
    } finally {
      this.options.metrics.queued.set(this.options.limiter.queued);
    }
  }

  /** Runs one upstream call for `target` in its own span. */
  async call<T>(target: Target, run: (request: CompletionRequest) => Promise<T>): Promise<T> {
    const span = tracer().startSpan(
      'upstream.request',
      { attributes: { 'gateway.upstream': target.upstream, 'gen_ai.request.model': target.model } },
      trace.setSpan(context.active(), this.span),
    );
    const started = performance.now();
    let outcome = 'ok';
    this.reached = true;
    this.model = target.model;
    this.asked = target.model;
    const { pricing } = this.options;
    this.running ??= this.options.ledger.start({
      keyId: this.options.key?.id ?? null,
      requestId: this.options.requestId,
      operation: this.type === 'mutation' ? 'complete' : 'completionStream',
      modelRequested: this.prepared.request.model,
      model: target.model,
      promptTokens: this.prepared.promptTokens,
      startedAt: this.startedAt,
      cost: (model, promptTokens, completionTokens) => pricing.cost(model, promptTokens, completionTokens),
    });
    try {
      return await run({ ...this.prepared.request, model: target.model });
    } catch (error) {
      outcome = 'error';
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      const metrics = this.options.metrics;
      metrics.upstreamDuration.observe({ model: metrics.model(target.model), outcome }, (performance.now() - started) / 1000);
      span.end();
    }
  }

  /** Maps a failed call, logging what the operator needs and the client must not see. */
  failure(error: unknown, signal: AbortSignal, target: Target): GraphQLError {
    if (signal.reason instanceof ShuttingDown) return shuttingDownError();
    const mapped = mapUpstreamError(error, signal, this.options.secrets);
    const detail = error instanceof Error ? redact(`${error.name}: ${error.message}`, this.options.secrets) : undefined;
    this.options.logger.warn(
      {
        requestId: this.options.requestId,
        upstream: target.upstream,
        model: target.model,
        code: mapped.extensions['code'],
        upstreamStatus: mapped.extensions['upstreamStatus'],
        detail,
      },
      'upstream call failed',
    );
    return mapped;
  }

  /** Whether to move on to the next target after `error` (time left), counting the fallback if so. */
  fallBack(error: GraphQLError, from: Target, to: Target | undefined, budget: Budget): boolean {
    const code = error.extensions['code'];
    if (!to || !FALLBACK_CODES.has(code) || budget.left() < 1) return false;
    this.fallbacks++;
    const { metrics } = this.options;
    metrics.fallbacks.inc({ from: metrics.model(from.model), to: metrics.model(to.model), code: String(code) });
    this.options.logger.info({ requestId: this.options.requestId, from: from.model, to: to.model, code }, 'falling back');
    return true;
  }

  /** The model the upstream says served (cut: it reaches the ledger and the logs). */
  servedBy(model: string): void {
    this.model = model.length > LIMITS.maxModelLength ? model.slice(0, LIMITS.maxModelLength) : model;
    this.running?.progress({ model: this.model, completionTokens: this.deltas });
  }

  /**
   * A streamed attempt's deltas so far, for the crash checkpoint: one delta is about one
   * token, and counting the text here would put the tokenizer on every chunk's path.
   */
  produced(deltas: number): void {
    this.deltas = deltas;
    this.running?.progress({ completionTokens: deltas });
  }

  firstChunk(): void {
    if (this.firstChunkMs !== null) return;
    this.firstChunkMs = performance.now() - this.started;
    const { metrics } = this.options;
    metrics.timeToFirstChunk.observe({ model: metrics.model(this.model) }, this.firstChunkMs / 1000);
  }

  /**
   * Ends the operation, whatever the outcome: settles the key's reservation, writes the
   * ledger row (if an upstream was reached), one log line, counters and the span.
   * `produced` is what a failed or cancelled operation had consumed by then.
   */
  finish(ending: Ending): void {
    const { metrics, logger } = this.options;
    let usage: Usage | null;
    let text: string | undefined;
    let ledgerOutcome: LedgerOutcome;
    if (ending.kind === 'ok') {
      usage = ending.usage;
      text = ending.text;
      ledgerOutcome = ending.length ? 'length' : 'completed';
    } else if (ending.kind === 'cancelled') {
      this.outcome = 'cancelled';
      metrics.clientAborts.inc({ type: this.type });
      usage = this.consumed(ending.produced);
      ledgerOutcome = 'cancelled';
    } else {
      const code = ending.error.extensions['code'];
      this.outcome = typeof code === 'string' ? code : 'INTERNAL';
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: this.outcome });
      usage = this.consumed(ending.produced);
      ledgerOutcome =
        code === ErrorCode.UPSTREAM_TIMEOUT
          ? 'timeout'
          : code === ErrorCode.SHUTTING_DOWN
            ? 'shutdown'
            : code === ErrorCode.CLIENT_TOO_SLOW
              ? 'client_too_slow'
              : 'upstream_error';
    }
    const cost = usage ? this.bill(usage).cost : null;
    this.admission?.settle({ tokens: usage?.totalTokens ?? 0, costUsd: cost });
    if (usage) {
      const model = metrics.model(this.model);
      metrics.tokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
      metrics.tokens.inc({ model, kind: 'completion' }, usage.completionTokens);
    }
    const durationMs = Math.round(performance.now() - this.started);
    const firstChunkMs = this.firstChunkMs === null ? null : Math.round(this.firstChunkMs);
    if (this.reached) {
      const entry: LedgerEntry = {
        keyId: this.options.key?.id ?? null,
        requestId: this.options.requestId,
        operation: this.type === 'mutation' ? 'complete' : 'completionStream',
        modelRequested: this.prepared.request.model,
        model: this.model,
        promptTokens: usage?.promptTokens ?? 0,
        completionTokens: usage?.completionTokens ?? 0,
        costUsd: cost,
        outcome: ledgerOutcome,
        timeToFirstChunkMs: firstChunkMs,
        durationMs,
        startedAt: this.startedAt,
        finishedAt: Date.now(),
      };
      if (this.running) this.running.finish(entry);
      else this.options.ledger.record(entry);
    }
    this.span.setAttributes({
      'gen_ai.response.model': this.model,
      'gateway.outcome': this.outcome,
      ...(usage ? { 'gen_ai.usage.input_tokens': usage.promptTokens, 'gen_ai.usage.output_tokens': usage.completionTokens } : {}),
    });
    this.span.end();
    logger.info(
      {
        requestId: this.options.requestId,
        key: this.options.key?.prefix,
        operation: this.options.operationName,
        type: this.type,
        model: this.model,
        outcome: this.outcome,
        promptTokens: usage?.promptTokens,
        completionTokens: usage?.completionTokens,
        costUsd: cost ?? undefined,
        durationMs,
        timeToFirstChunkMs: firstChunkMs ?? undefined,
        fallbacks: this.fallbacks || undefined,
        ...(this.options.config.logPrompts ? { prompt: this.prepared.request.messages ?? this.prepared.request.prompt, text } : {}),
      },
      'completion finished',
    );
  }
}

type Ending =
  | { kind: 'ok'; usage: Usage; text: string; length: boolean }
  | { kind: 'error'; error: GraphQLError; produced?: Usage | null }
  | { kind: 'cancelled'; produced?: Usage | null };

/**
 * Whether the key may spend on `model`: a key with a budget cannot be held to it on a model
 * the gateway has no price for (a $0 budget was served o1-pro; issue #12), unless the
 * operator set UNPRICED_MODELS=allow.
 */
function billable(model: string, options: RunOptions): boolean {
  const limits = options.key?.limits;
  if (!limits || (limits.dailyBudgetUsd === null && limits.monthlyBudgetUsd === null)) return true;
  return options.config.unpricedModels === 'allow' || options.pricing.price(model) !== null;
}

/**
 * The checks that cost nothing, before the prompt is counted: draining, a model the key's
 * budget cannot bill, and the key's requests per minute and streams at once.
 */
export function precheck(request: CompletionRequest, options: RunOptions, type: 'mutation' | 'subscription'): void {
  if (options.lifecycle.draining) throw shuttingDownError();
  if (!billable(request.model, options)) {
    throw gatewayError(
      ErrorCode.FORBIDDEN,
      `This key has a budget, and the gateway has no price for model "${request.model}", so it cannot hold the key to it. Use a priced model, or ask the operator to add this one to MODEL_PRICES.`,
      { reason: 'UNPRICED_MODEL', model: request.model },
    );
  }
  if (options.key) options.quotas.check(options.key, type === 'subscription');
}

function targetsFor(prepared: PreparedRequest, options: RunOptions): Target[] {
  const [first, ...rest] = options.targets(prepared.request.model);
  if (!first) throw new Error('no upstream target configured');
  // A fallback is only worth trying if the prompt fits its model's window, and the key's
  // budget can bill it.
  const usable = (t: Target): boolean =>
    fitsWindow(prepared.promptTokens, prepared.request.maxTokens, t.model) && billable(t.model, options);
  return [first, ...rest.filter(usable)];
}

/** `complete`: the first target that answers, bounded by the timers, cancelled if the client leaves. */
export async function runCompletion(
  prepared: PreparedRequest,
  options: RunOptions,
  clientSignal: AbortSignal | undefined,
): Promise<CompletionShape> {
  if (options.lifecycle.draining) throw shuttingDownError();
  const operation = new Operation(options, 'mutation', prepared);
  const targets = targetsFor(prepared, options);
  try {
    await operation.reserve();
  } catch (error) {
    if (isGraphQLError(error)) operation.finish({ kind: 'error', error });
    throw error;
  }
  // The controller of the current attempt: a client leaving or a shutdown aborts it.
  let current = new AbortController();
  const onClientGone = (): void => current.abort(new ClientGone());
  if (clientSignal?.aborted) onClientGone();
  clientSignal?.addEventListener('abort', onClientGone, { once: true });
  const untrack = options.lifecycle.track((reason) => current.abort(reason));
  let release: (() => void) | undefined;
  try {
    try {
      release = await operation.admit(current.signal);
    } catch (error) {
      if (current.signal.reason instanceof ClientGone) {
        operation.finish({ kind: 'cancelled' });
        throw clientClosed();
      }
      const refused = admissionError(error, current.signal);
      operation.finish({ kind: 'error', error: refused });
      throw refused;
    }
    const budget = new Budget(options.config.upstreamTimeoutMs);
    for (const [i, target] of targets.entries()) {
      if (i > 0) {
        current = new AbortController();
        if (clientSignal?.aborted) onClientGone();
      }
      const controller = current;
      const deadline = new Deadline(controller);
      const events = operation.attempt(deadline, 'response', budget.share(targets.length - i), budget);
      try {
        const result = await operation.call(target, (request) =>
          target.provider.complete(request, controller.signal, events),
        );
        deadline.clear();
        operation.servedBy(result.model);
        const shaped = await shapeResult(result, prepared, operation);
        operation.finish({
          kind: 'ok',
          usage: shaped.usage,
          text: shaped.choices[0]?.text ?? '',
          length: shaped.choices.some((c) => c.finishReason === 'length'),
        });
        return shaped;
      } catch (error) {
        if (controller.signal.reason instanceof ClientGone) {
          operation.finish({ kind: 'cancelled' });
          // Typed, so that a client leaving is not logged as an unexpected error with a stack.
          throw clientClosed();
        }
        const mapped = isGraphQLError(error) ? error : operation.failure(error, controller.signal, target);
        if (operation.fallBack(mapped, target, targets[i + 1], budget)) continue;
        operation.finish({ kind: 'error', error: mapped });
        throw mapped;
      } finally {
        deadline.clear();
      }
    }
    throw new Error('unreachable: the last target either answers or throws');
  } finally {
    release?.();
    untrack();
    clientSignal?.removeEventListener('abort', onClientGone);
  }
}

/** What a mutation whose client left ends with: nobody reads it, and it is no server fault. */
function clientClosed(): GraphQLError {
  return gatewayError(ErrorCode.CLIENT_CLOSED, new ClientGone().message);
}

/** Why waiting for a slot failed: the gateway's own RATE_LIMITED, or a shutdown cutting the wait. */
function admissionError(error: unknown, signal: AbortSignal): GraphQLError {
  if (signal.reason instanceof ShuttingDown) return shuttingDownError();
  if (isGraphQLError(error)) return error;
  throw error;
}

/** Errors the gateway raised itself (capacity, limits) pass through unmapped. */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

async function shapeResult(result: CompletionResult, prepared: PreparedRequest, operation: Operation): Promise<CompletionShape> {
  const choices: Choice[] = result.choices
    .map((c) => ({ ...c, text: stripSentinels(c.text) }))
    .sort((a, b) => a.index - b.index);
  const usage =
    result.usage ??
    sumUsage(
      prepared.promptTokens,
      await prepared.tokenizer.countAllAsync(choices.map((c) => c.text)),
    );
  return { ...result, choices, usage: operation.bill(usage) };
}

interface ChoiceState {
  filter: SentinelFilter;
  text: string;
}

/** What one streamed attempt has produced so far: enough to bill a stream that breaks off. */
class StreamProgress {
  readonly choices = new Map<number, ChoiceState>();
  upstreamUsage: Usage | null = null;
  lengthCut = false;
  /** Characters of text produced over all choices. */
  textLength = 0;
  /** Deltas that carried text or a finish reason. */
  deltas = 0;

  constructor(private readonly prepared: PreparedRequest) {}

  choice(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (!state) {
      state = { filter: new SentinelFilter(), text: '' };
      this.choices.set(index, state);
    }
    return state;
  }

  /**
   * The upstream's own count when it sent one, else ours over the text produced (counted
   * without holding the event loop: 80 KB of space-free output once held it 3.7 s).
   */
  async usage(): Promise<Usage> {
    if (this.upstreamUsage) return this.upstreamUsage;
    const texts = [...this.choices.values()].map((c) => c.text);
    // Texts only grow: the same total length is the same texts, counted once (the last
    // chunk and the operation's end both ask).
    const length = texts.reduce((sum, t) => sum + t.length, 0);
    if (this.counted?.length !== length) {
      this.counted = { length, usage: sumUsage(this.prepared.promptTokens, await this.prepared.tokenizer.countAllAsync(texts)) };
    }
    return this.counted.usage;
  }

  private counted: { length: number; usage: Usage } | undefined;
}

/**
 * `completionStream`: a Channel (not an async generator, whose `return()` would wait
 * behind a pending `next()`): when the client leaves, `stopped` resolves at once and
 * aborts the upstream request, even while the upstream is silent.
 *
 * A failure is pushed as a GraphQLError value (the resolver throws it) and then the
 * stream ends, so every transport delivers it as a normal error payload instead of
 * tearing down the socket. Until the first chunk has gone to the client, a failure
 * worth retrying moves on to the next target instead.
 */
export function streamCompletion(prepared: PreparedRequest, options: RunOptions): Channel<ChunkShape | GraphQLError> {
  if (options.lifecycle.draining) throw shuttingDownError();
  return new Channel<ChunkShape | GraphQLError>(async (channel) => {
    const operation = new Operation(options, 'subscription', prepared);
    options.metrics.activeSubscriptions.inc();
    let current = new AbortController();
    let finished = false;
    let clientGone = false;
    void channel.stopped.then(() => {
      clientGone = true;
      if (!finished) current.abort(new ClientGone());
    });
    const targets = targetsFor(prepared, options);
    let sent = 0;
    let release: (() => void) | undefined;
    const untrack = options.lifecycle.track((reason) => current.abort(reason));
    try {
      try {
        await operation.reserve();
        release = await operation.admit(current.signal);
      } catch (error) {
        finished = true;
        if (current.signal.reason instanceof ClientGone) {
          operation.finish({ kind: 'cancelled' });
          return;
        }
        const refused = admissionError(error, current.signal);
        operation.finish({ kind: 'error', error: refused });
        await deliver(channel, refused, options);
        return;
      }
      const budget = new Budget(options.config.upstreamTimeoutMs);
      for (const [i, target] of targets.entries()) {
        if (i > 0) {
          current = new AbortController();
          if (clientGone) current.abort(new ClientGone());
        }
        const controller = current;
        const progress = new StreamProgress(prepared);
        const deadline = new Deadline(controller);
        const events = operation.attempt(deadline, 'first chunk', budget.share(targets.length - i), budget);
        try {
          await operation.call(target, (request) =>
            relay(target.provider, request, controller, deadline, events, progress, operation, (chunk) => {
              if (sent++ === 0) {
                operation.servedBy(chunk.model);
                operation.firstChunk();
              }
              options.metrics.chunks.inc();
              return channel.push(chunk);
            }),
          );
          finished = true;
          operation.finish({
            kind: 'ok',
            usage: await progress.usage(),
            text: progress.choices.get(0)?.text ?? '',
            length: progress.lengthCut,
          });
          return;
        } catch (error) {
          if (controller.signal.reason instanceof ClientGone) {
            finished = true;
            operation.finish({ kind: 'cancelled', produced: await progress.usage() });
            return;
          }
          const mapped = isGraphQLError(error)
            ? error
            : controller.signal.reason instanceof ClientTooSlow
              ? mapUpstreamError(error, controller.signal, options.secrets)
              : operation.failure(error, controller.signal, target);
          if (sent === 0 && operation.fallBack(mapped, target, targets[i + 1], budget)) continue;
          finished = true;
          operation.finish({ kind: 'error', error: mapped, produced: await progress.usage() });
          await deliver(channel, mapped, options);
          return;
        } finally {
          deadline.clear();
        }
      }
    } finally {
      release?.();
      untrack();
      options.metrics.activeSubscriptions.dec();
    }
  });

  /**
   * Streams one upstream call to `emit`, keeping what it produced in `progress`. Throws on
   * any failure (the caller decides between fallback and error).
   */
  async function relay(
    provider: Provider,
    request: CompletionRequest,
    controller: AbortController,
    /** Armed for the first chunk (this attempt's share of UPSTREAM_TIMEOUT_MS) by the caller. */
    deadline: Deadline,
    events: CallEvents,
    progress: StreamProgress,
    operation: Operation,
    /** Returns a promise only when the client is behind: the relay then waits for it. */
    emit: (chunk: ChunkShape) => Promise<void> | undefined,
  ): Promise<void> {
    const { upstreamIdleTimeoutMs: idleMs, clientStallTimeoutMs: stallMs, upstreamMaxBodyBytes: maxText } = options.config;
    const idle = (): Error => new UpstreamTimeout('next chunk', idleMs);
    const stalled = (): Error => new ClientTooSlow(stallMs);
    // While the client is behind, our own back-pressure holds the upstream: its idle timer
    // would measure our silence, not the upstream's (issue #12), so the client's timer runs
    // instead, and the upstream's starts again once the client has caught up.
    let reading = true;
    const catchUp = async (behind: Promise<void>): Promise<void> => {
      deadline.arm(stallMs, stalled);
      await abortable(behind, controller.signal);
      if (reading) deadline.arm(idleMs, idle);
      else deadline.clear();
    };
    // A choice's last chunk is held until the next event, so the stream's final chunk can
    // carry both a finish reason and the usage that the upstream sends after it.
    let held: ChunkShape | undefined;
    let header = { id: '', model: request.model, created: Math.floor(Date.now() / 1000) };
    for await (const delta of await provider.stream(request, controller.signal, events)) {
      deadline.arm(idleMs, idle);
      header = delta;
      if (delta.usage) progress.upstreamUsage = delta.usage;
      if (delta.index < 0) continue;
      const state = progress.choice(delta.index);
      let text = state.filter.push(delta.text);
      if (delta.finishReason) {
        text += state.filter.flush();
        if (delta.finishReason === 'length') progress.lengthCut = true;
      }
      if (text === '' && !delta.finishReason) continue;
      state.text += text;
      operation.produced(++progress.deltas);
      // An upstream that never stops (endless valid events) would grow every choice's text
      // for ever: past the body cap, the stream is the upstream's fault.
      if ((progress.textLength += text.length) > maxText) {
        throw new UpstreamAnswerError(`The upstream sent over UPSTREAM_MAX_BODY_BYTES (${maxText}) of text in one stream`);
      }
      const chunk: ChunkShape = {
        id: delta.id,
        model: delta.model,
        created: delta.created,
        index: delta.index,
        text,
        accumulatedText: state.text,
        finishReason: delta.finishReason,
        usage: null,
      };
      // Awaited only when the client is behind: an `await` per chunk costs a turn.
      let behind = held ? emit(held) : undefined;
      held = undefined;
      if (delta.finishReason) held = chunk;
      else behind = emit(chunk) ?? behind;
      if (behind) await catchUp(behind);
    }
    // A provider may end quietly, instead of throwing, when its request is aborted.
    if (controller.signal.aborted) throw controller.signal.reason;
    // The upstream is done: no silence of its to time from here (counting the text may take a while).
    reading = false;
    deadline.clear();
    // An upstream that ends without a finish reason leaves held-back text behind.
    for (const [index, state] of progress.choices) {
      const rest = state.filter.flush();
      if (rest === '') continue;
      state.text += rest;
      const behind = held ? emit(held) : undefined;
      if (behind) await catchUp(behind);
      held = { ...header, index, text: rest, accumulatedText: state.text, finishReason: null, usage: null };
    }
    const last: ChunkShape = held ?? {
      ...header,
      index: 0,
      text: '',
      accumulatedText: progress.choices.get(0)?.text ?? '',
      finishReason: null,
      usage: null,
    };
    operation.servedBy(header.model);
    const behind = emit({ ...last, usage: operation.bill(await progress.usage()) });
    if (behind) await catchUp(behind);
  }
}

/**
 * Pushes a stream's last value (its error). A client that is behind gets up to
 * CLIENT_STALL_TIMEOUT_MS to take it before the operation lets go of its slot: one that
 * stopped reading must not hold an upstream slot, nor its key's stream, for ever.
 */
async function deliver(channel: Channel<ChunkShape | GraphQLError>, value: GraphQLError, options: RunOptions): Promise<void> {
  const behind = channel.push(value);
  if (!behind) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([behind, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.config.clientStallTimeoutMs)))]);
  clearTimeout(timer);
}
