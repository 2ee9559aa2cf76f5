/**
 * The timers that bound an operation: a re-armable deadline on one upstream call, the
 * UPSTREAM_TIMEOUT_MS budget its attempts share, and an abortable wait.
 */
import { UpstreamTimeout } from '../graphql/errors.js';

/**
 * One re-armable deadline that aborts the upstream call with the reason it was armed with
 * (an UpstreamTimeout, or ClientTooSlow while the client holds the stream back).
 * Re-arming with the same duration (every chunk of a stream) only notes the time: when
 * the timer fires it checks how long the call has really been quiet and, if less than the
 * limit, sleeps for the rest. No timer is touched per chunk.
 */
export class Deadline {
  private timer: NodeJS.Timeout | undefined;
  private reason: () => Error = () => new UpstreamTimeout('response', 0);
  private ms = 0;
  private armedAt = 0;
  constructor(private readonly controller: AbortController) {}

  /** `reason` builds the abort reason when the timer fires; pass the same function each chunk. */
  arm(ms: number, reason: () => Error): void {
    this.reason = reason;
    this.armedAt = performance.now();
    if (this.timer && this.ms === ms) return;
    clearTimeout(this.timer);
    this.ms = ms;
    this.timer = setTimeout(this.fire, ms);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly fire = (): void => {
    const quiet = performance.now() - this.armedAt;
    if (quiet < this.ms) {
      this.timer = setTimeout(this.fire, this.ms - quiet);
      return;
    }
    this.timer = undefined;
    this.controller.abort(this.reason());
  };
}

/**
 * UPSTREAM_TIMEOUT_MS as one budget for the whole wait for an answer (mutation) or a first
 * chunk (stream), shared by every attempt: retries, their backoff and retry-after, and the
 * fallbacks. Issue #12 measured the old per-attempt timer at 12 s with 2 retries and 36 s
 * with 2 fallbacks for a 3 s setting.
 */
export class Budget {
  private readonly until: number;
  constructor(readonly ms: number) {
    this.until = performance.now() + ms;
  }

  left(): number {
    return this.until - performance.now();
  }

  /**
   * The next attempt's time: an equal share of what is left for each target still to try,
   * so a target that hangs leaves time for the fallbacks; the last target gets all of it.
   */
  share(targetsLeft: number): number {
    return Math.max(1, this.left() / Math.max(1, targetsLeft));
  }
}

/** `promise`, or the signal's reason as soon as it aborts (a stalled client never resolves it). */
export function abortable(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
