/** `completionStream`: chunks as the upstream writes them, to a client that may leave at any time. */
import type { GraphQLError } from 'graphql';
import { ClientTooSlow } from '../graphql/errors.js';
import { Channel } from '../lib/channel.js';
import type { Metrics } from '../observability/metrics.js';
import type { Lifecycle } from '../server/lifecycle.js';
import { Budget, Deadline } from './deadline.js';
import { admissionError, ClientGone, isGraphQLError } from './failures.js';
import type { Operation } from './operation.js';
import { relay, StreamProgress, type StreamSettings } from './relay.js';
import type { StreamRecording } from './response-cache.js';
import type { Target } from './routing.js';
import type { ChunkShape } from './shapes.js';

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
export function streamCompletion(
  /** Called when the client starts reading: a subscription nobody iterates starts nothing. */
  start: () => { operation: Operation; targets: readonly Target[] },
  lifecycle: Lifecycle,
  metrics: Metrics,
  settings: StreamSettings,
  /** The response cache's record of this stream, when its answer is to be kept. */
  recording?: StreamRecording,
): Channel<ChunkShape | GraphQLError> {
  return new Channel<ChunkShape | GraphQLError>(async (channel) => {
    const { operation, targets } = start();
    metrics.activeSubscriptions.inc();
    let current = new AbortController();
    let finished = false;
    let clientGone = false;
    void channel.stopped.then(() => {
      clientGone = true;
      if (!finished) current.abort(new ClientGone());
    });
    let sent = 0;
    let release: (() => void) | undefined;
    const untrack = lifecycle.track((reason) => current.abort(reason));
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
        await deliver(channel, refused, settings.clientStallTimeoutMs);
        return;
      }
      const budget = new Budget(settings.upstreamTimeoutMs);
      for (const [i, target] of targets.entries()) {
        if (i > 0) {
          current = new AbortController();
          if (clientGone) current.abort(new ClientGone());
        }
        const controller = current;
        const progress = new StreamProgress(operation.prepared);
        const deadline = new Deadline(controller);
        const events = operation.attempt(deadline, 'first chunk', budget.share(targets.length - i), budget);
        try {
          await operation.call(target, (request) =>
            relay(target.provider, request, controller, deadline, events, progress, operation, settings, (chunk) => {
              // Stamped as it goes out, with the stream's count (not the attempt's): seq is the
              // order the client gets chunks in, over every choice, and costs no allocation.
              chunk.seq = ++sent;
              if (sent === 1) {
                operation.servedBy(chunk.model);
                operation.firstChunk();
              }
              metrics.chunks.inc();
              recording?.chunk(chunk);
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
          // Only now: a stream cancelled, failed or cut on the way is never stored.
          recording?.done();
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
              ? operation.ownFailure(error, controller.signal)
              : operation.failure(error, controller.signal, target);
          if (sent === 0 && operation.fallBack(mapped, target, targets[i + 1], budget)) continue;
          finished = true;
          operation.finish({ kind: 'error', error: mapped, produced: await progress.usage() });
          await deliver(channel, mapped, settings.clientStallTimeoutMs);
          return;
        } finally {
          deadline.clear();
        }
      }
    } finally {
      release?.();
      untrack();
      metrics.activeSubscriptions.dec();
    }
  });
}

/**
 * Pushes a stream's last value (its error). A client that is behind gets up to
 * CLIENT_STALL_TIMEOUT_MS to take it before the operation lets go of its slot: one that
 * stopped reading must not hold an upstream slot, nor its key's stream, for ever.
 */
async function deliver(channel: Channel<ChunkShape | GraphQLError>, value: GraphQLError, stallMs: number): Promise<void> {
  const behind = channel.push(value);
  if (!behind) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([behind, new Promise<void>((resolve) => (timer = setTimeout(resolve, stallMs)))]);
  clearTimeout(timer);
}
