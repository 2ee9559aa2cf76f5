/**
 * A response-cache hit served: no upstream call and no upstream slot, yet the key's limits
 * hold as for any request (one request per minute, the answer's tokens per minute as used
 * tokens, a stream slot while it replays), and it has its ledger row (outcome `cached`,
 * cost 0) and its log line.
 */
import { performance } from 'node:perf_hooks';
import type { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { Ledger } from '../accounts/ledger.js';
import type { Quotas, Reservation } from '../accounts/quotas.js';
import { ClientTooSlow, ErrorCode, gatewayError } from '../graphql/errors.js';
import { Channel } from '../lib/channel.js';
import type { Metrics } from '../observability/metrics.js';
import { ShuttingDown, shuttingDownError, type Lifecycle } from '../server/lifecycle.js';
import type { CompletionRequest } from '../upstream/provider.js';
import type { CachedAnswer } from './cache-answer.js';
import { hitId, replayChunks, replayCompletion } from './cache-replay.js';
import { abortable, Deadline } from './deadline.js';
import { ClientGone, isGraphQLError } from './failures.js';
import type { Caller } from './operation.js';
import type { ChunkShape, CompletionShape } from './shapes.js';

/** What serving a hit records to and draws on: the same for every hit of the app. */
export interface HitDeps {
  quotas: Quotas;
  ledger: Ledger;
  metrics: Metrics;
  logger: Logger;
  lifecycle: Lifecycle;
  /** CLIENT_STALL_TIMEOUT_MS: how long a replay waits for a client that reads nothing. */
  clientStallTimeoutMs: number;
}

/** One hit's bookkeeping, as Operation is a live one's. */
class Hit {
  readonly id: string;
  private readonly started = performance.now();
  private readonly startedAt = Date.now();
  private reservation: Reservation | null = null;
  private firstChunkMs: number | null = null;

  constructor(
    private readonly deps: HitDeps,
    private readonly caller: Caller,
    private readonly type: 'mutation' | 'subscription',
    private readonly request: CompletionRequest,
    private readonly answer: CachedAnswer,
  ) {
    this.id = hitId(answer);
  }

  /** Counts the hit against the key's limits (RATE_LIMITED as for any request); its cost is 0. */
  async admit(): Promise<void> {
    const { key } = this.caller;
    if (!key) return;
    const stream = this.type === 'subscription';
    this.reservation = await this.deps.quotas.admit(key, { tokens: this.answer.usage.totalTokens, costUsd: 0, stream });
  }

  firstChunk(): void {
    this.firstChunkMs ??= performance.now() - this.started;
  }

  /** A hit the key's limits refused: no ledger row (nothing was served), as for a live request. */
  refused(error: GraphQLError): void {
    this.log(String(error.extensions['code']));
  }

  /** Settles the key's reservation with the answer's tokens and writes the `cached` ledger row. */
  finish(): void {
    const { usage, model } = this.answer;
    this.reservation?.settle({ tokens: usage.totalTokens, costUsd: 0 });
    const durationMs = Math.round(performance.now() - this.started);
    this.deps.ledger.record({
      keyId: this.caller.key?.id ?? null,
      requestId: this.caller.requestId,
      operation: this.type === 'mutation' ? 'complete' : 'completionStream',
      modelRequested: this.request.model,
      model,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      // The upstream's prompt cache and reasoning served the stored answer, not this one.
      cachedPromptTokens: null,
      reasoningTokens: null,
      costUsd: 0,
      outcome: 'cached',
      timeToFirstChunkMs: this.firstChunkMs === null ? null : Math.round(this.firstChunkMs),
      durationMs,
      startedAt: this.startedAt,
      finishedAt: Date.now(),
    });
    this.log('cached', durationMs);
  }

  private log(outcome: string, durationMs = Math.round(performance.now() - this.started)): void {
    const { usage } = this.answer;
    this.deps.logger.info(
      {
        requestId: this.caller.requestId,
        key: this.caller.key?.prefix,
        operation: this.caller.operationName,
        type: this.type,
        model: this.answer.model,
        outcome,
        promptTokens: usage.promptTokens,
        completionTokens: usage.completionTokens,
        costUsd: 0,
        durationMs,
      },
      'completion finished',
    );
  }
}

/** `complete` answered from the cache. */
export async function completeFromCache(deps: HitDeps, answer: CachedAnswer, request: CompletionRequest, caller: Caller): Promise<CompletionShape> {
  const hit = new Hit(deps, caller, 'mutation', request, answer);
  try {
    await hit.admit();
  } catch (error) {
    if (isGraphQLError(error)) hit.refused(error);
    throw error;
  }
  hit.finish();
  return replayCompletion(answer, request, hit.id);
}

/**
 * `completionStream` answered from the cache: the answer replayed as chunks, as fast as the
 * client reads them (no pacing: the model's pace is not worth imitating). Leaving, a
 * shutdown and a client that stops reading end it as they end a live stream.
 */
export function streamFromCache(deps: HitDeps, answer: CachedAnswer, request: CompletionRequest, caller: Caller): Channel<ChunkShape | GraphQLError> {
  return new Channel<ChunkShape | GraphQLError>(async (channel) => {
    const { metrics, clientStallTimeoutMs: stallMs } = deps;
    const hit = new Hit(deps, caller, 'subscription', request, answer);
    const controller = new AbortController();
    void channel.stopped.then(() => controller.abort(new ClientGone()));
    const untrack = deps.lifecycle.track((reason) => controller.abort(reason));
    metrics.activeSubscriptions.inc();
    try {
      try {
        await hit.admit();
      } catch (error) {
        if (!isGraphQLError(error)) throw error;
        hit.refused(error);
        void channel.push(error);
        return;
      }
      const deadline = new Deadline(controller);
      let seq = 0;
      try {
        for (const chunk of replayChunks(answer, hit.id)) {
          if (controller.signal.aborted) break;
          chunk.seq = ++seq;
          if (seq === 1) hit.firstChunk();
          metrics.chunks.inc();
          const behind = channel.push(chunk);
          if (behind) {
            deadline.arm(stallMs, () => new ClientTooSlow(stallMs));
            await abortable(behind, controller.signal);
            deadline.clear();
          }
        }
      } catch {
        // Aborted while the client was behind: the reason says how it ends, below.
      } finally {
        deadline.clear();
      }
      hit.finish();
      // The last value is queued without waiting: a client too slow has had its time already,
      // and a shutdown waits for nobody.
      const reason: unknown = controller.signal.reason;
      if (reason instanceof ShuttingDown) void channel.push(shuttingDownError());
      else if (reason instanceof ClientTooSlow) void channel.push(gatewayError(ErrorCode.CLIENT_TOO_SLOW, reason.message, { timeoutMs: reason.ms }));
    } finally {
      untrack();
      metrics.activeSubscriptions.dec();
    }
  });
}
