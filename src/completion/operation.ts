/**
 * One operation's bookkeeping, whatever the transport: the key's reservation, the upstream
 * slot, one span per upstream call, the crash checkpoint and ledger row, the metrics, and
 * the one log line it ends with.
 */
import { performance } from 'node:perf_hooks';
import { context, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { ApiKey } from '../accounts/keys.js';
import type { Ledger } from '../accounts/ledger.js';
import type { Pricing } from '../accounts/pricing.js';
import type { Quotas, Reservation } from '../accounts/quotas.js';
import { mapUpstreamError, redact, UpstreamTimeout } from '../graphql/errors.js';
import type { Metrics } from '../observability/metrics.js';
import { gatewayTracer } from '../observability/tracing.js';
import { ShuttingDown, shuttingDownError } from '../server/lifecycle.js';
import type { CallEvents, CompletionRequest, Usage } from '../upstream/provider.js';
import type { Admission } from './admission.js';
import type { Budget, Deadline } from './deadline.js';
import { ledgerOutcome, type Ending } from './ending.js';
import { LedgerRow } from './ledger-row.js';
import { LIMITS, outputLimit, type PreparedRequest } from './request.js';
import { FALLBACK_CODES, type Target } from './routing.js';
import { sumUsage, type BilledUsage } from './shapes.js';

/** Who is asking: one per operation. */
export interface Caller {
  /** The caller's gateway key; null when the gateway runs open. */
  key: ApiKey | null;
  requestId: string;
  operationName: string | null;
}

/** What an operation records to and draws on: the same for every operation of the app. */
export interface OperationDeps {
  admission: Admission;
  quotas: Quotas;
  pricing: Pricing;
  ledger: Ledger;
  metrics: Metrics;
  logger: Logger;
  /** Strings that must never reach a client or a log line (the upstream keys). */
  secrets: readonly string[];
  /** RESERVE_COMPLETION_TOKENS: what a request without maxTokens or maxCompletionTokens reserves per choice. */
  reserveCompletionTokens: number;
  /** LOG_PROMPTS: the log line carries the prompt and the text. */
  logPrompts: boolean;
}

/**
 * The state of one operation: the controller of its current upstream call (registered
 * with the lifecycle so a shutdown can cut it), its span, and what its log line says.
 */
export class Operation {
  readonly started = performance.now();
  readonly span: Span;
  private outcome = 'ok';
  private model: string;
  /** The model the current target asked for (the upstream may report another name). */
  private asked: string;
  private firstChunkMs: number | null = null;
  private fallbacks = 0;
  /** Set once an upstream answered (status 200 and headers): from then on it consumed tokens. */
  private responded = false;
  private reservation: Reservation | null = null;
  /** Its ledger row, from the first upstream call on. */
  private readonly row: LedgerRow;
  /** The current attempt's streamed deltas (see `produced`). */
  private deltas = 0;

  constructor(
    private readonly deps: OperationDeps,
    private readonly caller: Caller,
    private readonly type: 'mutation' | 'subscription',
    readonly prepared: PreparedRequest,
  ) {
    this.model = prepared.request.model;
    this.asked = this.model;
    this.span = gatewayTracer().startSpan(type === 'mutation' ? 'gateway.complete' : 'gateway.completionStream', {
      attributes: { 'gateway.request_id': caller.requestId, 'gen_ai.request.model': this.model },
    });
    this.row = new LedgerRow(deps.ledger, deps.pricing, {
      keyId: caller.key?.id ?? null,
      requestId: caller.requestId,
      operation: type === 'mutation' ? 'complete' : 'completionStream',
      modelRequested: prepared.request.model,
      promptTokens: prepared.promptTokens,
    });
  }

  /**
   * Checks the key's limits and budgets and reserves this request's share (prompt tokens
   * plus the completion it may produce). Throws RATE_LIMITED or QUOTA_EXCEEDED. The prompt
   * is priced as uncached: cache hits are known only from the upstream's answer, and a
   * reservation must not be short of what settling may charge.
   */
  async reserve(): Promise<void> {
    const { quotas, pricing, reserveCompletionTokens } = this.deps;
    const { key } = this.caller;
    if (!key) return;
    const { request, promptTokens } = this.prepared;
    const completion = (outputLimit(request) ?? reserveCompletionTokens) * (request.n ?? 1);
    this.reservation = await quotas.admit(key, {
      tokens: promptTokens + completion,
      costUsd: pricing.cost(request.model, promptTokens, completion),
      stream: this.type === 'subscription',
    });
  }

  /** Prices usage (cached prompt tokens at the cached price) for the model that served, or the one asked for when we have no price for that. */
  bill(usage: Usage): BilledUsage {
    const { pricing } = this.deps;
    const cost = pricing.usageCost(this.model, usage) ?? pricing.usageCost(this.asked, usage);
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
  admit(signal: AbortSignal): Promise<() => void> {
    return this.deps.admission.admit(signal);
  }

  /** Runs one upstream call for `target` in its own span. */
  async call<T>(target: Target, run: (request: CompletionRequest) => Promise<T>): Promise<T> {
    const span = gatewayTracer().startSpan(
      'upstream.request',
      { attributes: { 'gateway.upstream': target.upstream, 'gen_ai.request.model': target.model } },
      trace.setSpan(context.active(), this.span),
    );
    const started = performance.now();
    let outcome = 'ok';
    this.model = target.model;
    this.asked = target.model;
    this.row.open(target.model);
    try {
      return await run({ ...this.prepared.request, model: target.model });
    } catch (error) {
      outcome = 'error';
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      const metrics = this.deps.metrics;
      metrics.upstreamDuration.observe({ model: metrics.model(target.model), outcome }, (performance.now() - started) / 1000);
      span.end();
    }
  }

  /** Maps a failed call, logging what the operator needs and the client must not see. */
  failure(error: unknown, signal: AbortSignal, target: Target): GraphQLError {
    if (signal.reason instanceof ShuttingDown) return shuttingDownError();
    const mapped = mapUpstreamError(error, signal, this.deps.secrets);
    const detail = error instanceof Error ? redact(`${error.name}: ${error.message}`, this.deps.secrets) : undefined;
    this.deps.logger.warn(
      {
        requestId: this.caller.requestId,
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

  /** Maps a failure the gateway itself caused (a client too slow to read): no upstream to blame in the log. */
  ownFailure(error: unknown, signal: AbortSignal): GraphQLError {
    return mapUpstreamError(error, signal, this.deps.secrets);
  }

  /** Whether to move on to the next target after `error` (time left), counting the fallback if so. */
  fallBack(error: GraphQLError, from: Target, to: Target | undefined, budget: Budget): boolean {
    const code = error.extensions['code'];
    if (!to || !FALLBACK_CODES.has(code) || budget.left() < 1) return false;
    this.fallbacks++;
    const { metrics } = this.deps;
    metrics.fallbacks.inc({ from: metrics.model(from.model), to: metrics.model(to.model), code: String(code) });
    this.deps.logger.info({ requestId: this.caller.requestId, from: from.model, to: to.model, code }, 'falling back');
    return true;
  }

  /** The model the upstream says served (cut: it reaches the ledger and the logs). */
  servedBy(model: string): void {
    this.model = model.length > LIMITS.maxModelLength ? model.slice(0, LIMITS.maxModelLength) : model;
    this.row.progress({ model: this.model, completionTokens: this.deltas });
  }

  /**
   * A streamed attempt's deltas so far, for the crash checkpoint: one delta is about one
   * token, and counting the text here would put the tokenizer on every chunk's path.
   */
  produced(deltas: number): void {
    this.deltas = deltas;
    this.row.progress({ completionTokens: deltas });
  }

  firstChunk(): void {
    if (this.firstChunkMs !== null) return;
    this.firstChunkMs = performance.now() - this.started;
    const { metrics } = this.deps;
    metrics.timeToFirstChunk.observe({ model: metrics.model(this.model) }, this.firstChunkMs / 1000);
  }

  /**
   * Ends the operation, whatever the outcome: settles the key's reservation, writes the
   * ledger row (if an upstream was reached), one log line, counters and the span.
   * `produced` is what a failed or cancelled operation had consumed by then.
   */
  finish(ending: Ending): void {
    const { metrics, logger } = this.deps;
    let usage: Usage | null;
    let text: string | undefined;
    if (ending.kind === 'ok') {
      usage = ending.usage;
      text = ending.text;
    } else if (ending.kind === 'cancelled') {
      this.outcome = 'cancelled';
      metrics.clientAborts.inc({ type: this.type });
      usage = this.consumed(ending.produced);
    } else {
      const code = ending.error.extensions['code'];
      this.outcome = typeof code === 'string' ? code : 'INTERNAL';
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: this.outcome });
      usage = this.consumed(ending.produced);
    }
    const cost = usage ? this.bill(usage).cost : null;
    this.reservation?.settle({ tokens: usage?.totalTokens ?? 0, costUsd: cost });
    if (usage) {
      const model = metrics.model(this.model);
      metrics.tokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
      metrics.tokens.inc({ model, kind: 'completion' }, usage.completionTokens);
    }
    const durationMs = Math.round(performance.now() - this.started);
    const firstChunkMs = this.firstChunkMs === null ? null : Math.round(this.firstChunkMs);
    this.row.finish({
      model: this.model,
      promptTokens: usage?.promptTokens ?? 0,
      completionTokens: usage?.completionTokens ?? 0,
      cachedPromptTokens: usage?.cachedPromptTokens ?? null,
      reasoningTokens: usage?.reasoningTokens ?? null,
      costUsd: cost,
      outcome: ledgerOutcome(ending),
      timeToFirstChunkMs: firstChunkMs,
      durationMs,
      finishedAt: Date.now(),
    });
    this.span.setAttributes({
      'gen_ai.response.model': this.model,
      'gateway.outcome': this.outcome,
      ...(usage ? { 'gen_ai.usage.input_tokens': usage.promptTokens, 'gen_ai.usage.output_tokens': usage.completionTokens } : {}),
    });
    this.span.end();
    logger.info(
      {
        requestId: this.caller.requestId,
        key: this.caller.key?.prefix,
        operation: this.caller.operationName,
        type: this.type,
        model: this.model,
        outcome: this.outcome,
        promptTokens: usage?.promptTokens,
        completionTokens: usage?.completionTokens,
        costUsd: cost ?? undefined,
        durationMs,
        timeToFirstChunkMs: firstChunkMs ?? undefined,
        fallbacks: this.fallbacks || undefined,
        ...(this.deps.logPrompts ? { prompt: this.prepared.request.messages ?? this.prepared.request.prompt, text } : {}),
      },
      'completion finished',
    );
  }
}
