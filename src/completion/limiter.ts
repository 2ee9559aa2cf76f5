/**
 * A cap on upstream requests in flight, with a bounded wait list. Without it a burst
 * grows memory and upstream load without limit; with it, excess work waits briefly in
 * order, and beyond the wait list is refused at once with a hint of when to retry.
 */
import { gatewayError, ErrorCode } from '../graphql/errors.js';
import type { GraphQLError } from 'graphql';

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (error: GraphQLError | Error) => void;
  timer: NodeJS.Timeout;
  onAbort: () => void;
  signal: AbortSignal | undefined;
}

export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    /** Slots: requests allowed in flight at once. */
    private readonly capacity: number,
    /** Waiters allowed beyond the slots; more are refused at once. */
    private readonly queueLimit: number,
    /** Longest wait for a slot. */
    private readonly queueTimeoutMs: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a `release` function once a slot is free. Rejects with RATE_LIMITED
   * when the wait list is full or the wait times out, and with `signal`'s reason if the
   * caller gives up first.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.active < this.capacity) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.queueLimit) return Promise.reject(this.busy());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        refuse: reject,
        signal,
        timer: setTimeout(() => this.drop(waiter, this.busy()), this.queueTimeoutMs),
        onAbort: () => this.drop(waiter, signal?.reason as Error),
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        this.settle(next);
        next.grant(this.releaser()); // the slot passes straight on
      } else {
        this.active--;
      }
    };
  }

  private drop(waiter: Waiter, error: GraphQLError | Error): void {
    const at = this.waiting.indexOf(waiter);
    if (at === -1) return;
    this.waiting.splice(at, 1);
    this.settle(waiter);
    waiter.refuse(error);
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  private busy(): GraphQLError {
    return atCapacity();
  }
}

/** The refusal when no upstream slot is free in time (here, or across instances: shared-state/slots.ts). */
export function atCapacity(): GraphQLError {
  return gatewayError(ErrorCode.RATE_LIMITED, 'The gateway is at capacity; retry shortly', {
    retryAfterMs: 1000,
    reason: 'GATEWAY_CAPACITY',
  });
}
