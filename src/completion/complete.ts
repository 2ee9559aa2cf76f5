/** `complete`: one answer, from the first target that gives it. */
import type { Lifecycle } from '../server/lifecycle.js';
import type { CompletionResult, Usage } from '../upstream/provider.js';
import { Budget, Deadline } from './deadline.js';
import { admissionError, ClientGone, clientClosed, isGraphQLError } from './failures.js';
import type { Operation } from './operation.js';
import { addOutputTexts } from './output-text.js';
import type { Target } from './routing.js';
import { stripSentinels } from './sentinels.js';
import { sumUsage, type ChoiceShape, type CompletionShape } from './shapes.js';

/** `complete`: the first target that answers, bounded by the timers, cancelled if the client leaves. */
export async function runCompletion(
  operation: Operation,
  targets: readonly Target[],
  lifecycle: Lifecycle,
  /** UPSTREAM_TIMEOUT_MS: the whole wait, over every target. */
  timeoutMs: number,
  clientSignal: AbortSignal | undefined,
): Promise<CompletionShape> {
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
  const untrack = lifecycle.track((reason) => current.abort(reason));
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
    const budget = new Budget(timeoutMs);
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
        const shaped = await shapeResult(result, operation);
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

async function shapeResult(result: CompletionResult, operation: Operation): Promise<CompletionShape> {
  const { prepared } = operation;
  const format = prepared.request.responseFormat?.type;
  const jsonRequested = format === 'json_object' || format === 'json_schema';
  // Leaked end-of-message markers are a text matter: a refusal and tool calls pass untouched.
  const choices: ChoiceShape[] = result.choices
    .map((c) => ({ ...c, text: stripSentinels(c.text), jsonRequested }))
    .sort((a, b) => a.index - b.index);
  return { ...result, choices, usage: operation.bill(result.usage ?? (await countedUsage(choices, operation))), cached: false };
}

/** Our own count when the upstream sent none: text, refusals and tool calls are all output (see addOutputTexts). */
async function countedUsage(choices: readonly ChoiceShape[], operation: Operation): Promise<Usage> {
  const { prepared } = operation;
  const texts: string[] = [];
  for (const c of choices) addOutputTexts(texts, c.text, c.refusal, c.toolCalls);
  return sumUsage(prepared.promptTokens, await prepared.tokenizer.countAllAsync(texts));
}
