/**
 * Where a request can be served, in order: the requested model on the main upstream, then
 * FALLBACK_MODELS on it, then the second upstream. A failure moves on to the next target
 * only when the request itself was fine (FALLBACK_CODES) and, for a stream, before its
 * first chunk has gone to the client.
 */
import { ErrorCode } from '../graphql/errors.js';
import type { Provider } from '../upstream/provider.js';
import type { Upstreams } from '../upstream/from-config.js';
import { fitsWindow, outputLimit, type PreparedRequest } from './request.js';

/** One place a request can be served: an upstream and the model to ask it for. */
export interface Target {
  provider: Provider;
  model: string;
  /** `primary`, `fallback` or `simulator`: which upstream, for logs and metrics. */
  upstream: string;
}

/** Failures after which the next target is worth a try: the request itself was fine. */
export const FALLBACK_CODES = new Set<unknown>([ErrorCode.RATE_LIMITED, ErrorCode.UPSTREAM_ERROR, ErrorCode.UPSTREAM_TIMEOUT]);

export class Routing {
  constructor(
    private readonly upstreams: Pick<Upstreams, 'main' | 'mainName' | 'second'>,
    /** FALLBACK_MODELS: other models to try on the main upstream, in order. */
    private readonly fallbackModels: readonly string[],
  ) {}

  /** The main upstream: what `models` lists. */
  get main(): Provider {
    return this.upstreams.main;
  }

  /** Every target for `model`, in the order they are tried. */
  targets(model: string): Target[] {
    const { main, mainName, second } = this.upstreams;
    const targets: Target[] = [{ provider: main, model, upstream: mainName }];
    for (const fallback of this.fallbackModels) if (fallback !== model) targets.push({ provider: main, model: fallback, upstream: mainName });
    if (second) targets.push({ provider: second.provider, model: second.model ?? model, upstream: 'fallback' });
    return targets;
  }

  /**
   * The targets for a prepared request: the first always; a fallback only if the prompt
   * fits its model's window and `billable` says the key's budget can bill its model.
   */
  plan(prepared: PreparedRequest, billable: (model: string) => boolean): Target[] {
    const [first, ...rest] = this.targets(prepared.request.model);
    if (!first) throw new Error('no upstream target configured');
    const usable = (t: Target): boolean => fitsWindow(prepared.promptTokens, outputLimit(prepared.request), t.model) && billable(t.model);
    return [first, ...rest.filter(usable)];
  }
}
