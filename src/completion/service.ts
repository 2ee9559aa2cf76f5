/**
 * The completion service the schema's resolvers call: the checks that cost nothing, then
 * `complete` or `completionStream` over the routing's targets. Built once by the app.
 */
import type { GraphQLError } from 'graphql';
import type { Quotas } from '../accounts/quotas.js';
import type { Pricing } from '../accounts/pricing.js';
import type { Config } from '../config/index.js';
import { ErrorCode, gatewayError, mapUpstreamError, UpstreamTimeout } from '../graphql/errors.js';
import type { Channel } from '../lib/channel.js';
import type { Metrics } from '../observability/metrics.js';
import { shuttingDownError, type Lifecycle } from '../server/lifecycle.js';
import type { CompletionRequest, ModelInfo } from '../upstream/provider.js';
import { billable } from './admission.js';
import { answerOfCompletion } from './cache-answer.js';
import { completeFromCache, streamFromCache, type HitDeps } from './cache-hit.js';
import { runCompletion } from './complete.js';
import { Operation, type Caller, type OperationDeps } from './operation.js';
import type { StreamSettings } from './relay.js';
import { prepareRequest, type PreparedRequest } from './request.js';
import type { CacheOption, ResponseCache } from './response-cache.js';
import type { Routing, Target } from './routing.js';
import type { ChunkShape, CompletionShape } from './shapes.js';
import { streamCompletion } from './stream.js';

export interface CompletionSettings extends StreamSettings {
  /** UNPRICED_MODELS: whether a key with a budget may use a model that has no price. */
  unpricedModels: Config['unpricedModels'];
}

export class Completions {
  private readonly quotas: Quotas;
  private readonly pricing: Pricing;
  private readonly metrics: Metrics;
  private readonly hits: HitDeps;

  constructor(
    readonly routing: Routing,
    private readonly operations: OperationDeps,
    private readonly lifecycle: Lifecycle,
    private readonly settings: CompletionSettings,
    /** The response cache; none: every request goes to the upstream. */
    private readonly cache?: ResponseCache,
  ) {
    ({ quotas: this.quotas, pricing: this.pricing, metrics: this.metrics } = operations);
    const { ledger, logger } = operations;
    this.hits = { quotas: this.quotas, ledger, metrics: this.metrics, logger, lifecycle, clientStallTimeoutMs: settings.clientStallTimeoutMs };
  }

  /**
   * The checks that cost nothing, before the prompt is counted: draining, a model the key's
   * budget cannot bill, and the key's requests per minute and streams at once.
   */
  precheck(request: CompletionRequest, caller: Caller, type: 'mutation' | 'subscription'): void {
    if (this.lifecycle.draining) throw shuttingDownError();
    if (!this.billable(request.model, caller)) {
      throw gatewayError(
        ErrorCode.FORBIDDEN,
        `This key has a budget, and the gateway has no price for model "${request.model}", so it cannot hold the key to it. Use a priced model, or ask the operator to add this one to MODEL_PRICES.`,
        { reason: 'UNPRICED_MODEL', model: request.model },
      );
    }
    if (caller.key) this.quotas.check(caller.key, type === 'subscription');
  }

  /**
   * `complete`: the cached answer when there is one (before the prompt is counted: a hit
   * needs no count), else the first target that answers, bounded by the timers, cancelled
   * if the client leaves, and its answer stored when the request is one the cache serves.
   */
  async complete(request: CompletionRequest, caller: Caller, clientSignal: AbortSignal | undefined, cache?: CacheOption): Promise<CompletionShape> {
    if (this.lifecycle.draining) throw shuttingDownError();
    const plan = this.cache?.plan(request, cache, caller.key?.id ?? null);
    const answer = plan && (await this.cache?.lookup(plan));
    if (answer) return completeFromCache(this.hits, answer, request, caller);
    const prepared = await this.prepare(request);
    const operation = new Operation(this.operations, caller, 'mutation', prepared);
    const targets = this.targets(prepared, caller);
    const result = await runCompletion(operation, targets, this.lifecycle, this.settings.upstreamTimeoutMs, clientSignal);
    if (plan) this.cache?.store(plan, answerOfCompletion(result));
    return result;
  }

  /** `completionStream`: the cached answer replayed, or a live stream (stored if it ends well); nothing starts until the client reads. */
  async stream(request: CompletionRequest, caller: Caller, cache?: CacheOption): Promise<Channel<ChunkShape | GraphQLError>> {
    if (this.lifecycle.draining) throw shuttingDownError();
    const plan = this.cache?.plan(request, cache, caller.key?.id ?? null);
    const answer = plan && (await this.cache?.lookup(plan));
    if (answer) return streamFromCache(this.hits, answer, request, caller);
    const prepared = await this.prepare(request);
    const start = (): { operation: Operation; targets: Target[] } => ({
      operation: new Operation(this.operations, caller, 'subscription', prepared),
      targets: this.targets(prepared, caller),
    });
    return streamCompletion(start, this.lifecycle, this.metrics, this.settings, plan && this.cache?.recorder(plan, request));
  }

  /** The main upstream's models, within UPSTREAM_TIMEOUT_MS. */
  async models(): Promise<ModelInfo[]> {
    const controller = new AbortController();
    const ms = this.settings.upstreamTimeoutMs;
    const timer = setTimeout(() => controller.abort(new UpstreamTimeout('response', ms)), ms);
    try {
      return await this.routing.main.models(controller.signal);
    } catch (error) {
      throw mapUpstreamError(error, controller.signal, this.operations.secrets);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Counts the prompt (the costly step, issue #12) and checks the window; a shutdown that began meanwhile refuses it. */
  private async prepare(request: CompletionRequest): Promise<PreparedRequest> {
    const prepared = await prepareRequest(request);
    if (this.lifecycle.draining) throw shuttingDownError();
    return prepared;
  }

  private billable(model: string, caller: Caller): boolean {
    return billable(model, caller.key, this.pricing, this.settings.unpricedModels);
  }

  private targets(prepared: PreparedRequest, caller: Caller): Target[] {
    return this.routing.plan(prepared, (model) => this.billable(model, caller));
  }
}
