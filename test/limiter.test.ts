/** The cap on upstream requests in flight and its wait list, at memory speed on a fake clock. */
import { GraphQLError } from 'graphql';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConcurrencyLimiter } from '../src/completion/limiter.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

type Outcome = { granted: () => void } | { refused: unknown } | 'waiting';

/** Acquires and records how it ended, so a test can look at it without awaiting. */
function track(limiter: ConcurrencyLimiter, signal?: AbortSignal): { outcome: Outcome } {
  const tracked: { outcome: Outcome } = { outcome: 'waiting' };
  limiter.acquire(signal).then(
    (release) => (tracked.outcome = { granted: release }),
    (error: unknown) => (tracked.outcome = { refused: error }),
  );
  return tracked;
}

/** Lets the promise callbacks queued so far run (fake timers leave these alone). */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function release(tracked: { outcome: Outcome }): void {
  if (typeof tracked.outcome !== 'object' || !('granted' in tracked.outcome)) throw new Error('not granted');
  tracked.outcome.granted();
}

function expectRateLimited(tracked: { outcome: Outcome }): void {
  const outcome = tracked.outcome;
  if (typeof outcome !== 'object' || !('refused' in outcome)) throw new Error(`not refused: ${JSON.stringify(outcome)}`);
  expect(outcome.refused).toBeInstanceOf(GraphQLError);
  const { extensions } = outcome.refused as GraphQLError;
  expect(extensions['code']).toBe('RATE_LIMITED');
  expect(extensions['retryAfterMs']).toBe(1000);
  expect(extensions['reason']).toBe('GATEWAY_CAPACITY');
}

describe('ConcurrencyLimiter', () => {
  it('grants up to its capacity at once and makes the next caller wait', async () => {
    const limiter = new ConcurrencyLimiter(2, 10, 5000);
    const [a, b, c] = [track(limiter), track(limiter), track(limiter)];
    await flush();
    expect(typeof a.outcome).toBe('object');
    expect(typeof b.outcome).toBe('object');
    expect(c.outcome).toBe('waiting');
    expect(limiter.inFlight).toBe(2);
    expect(limiter.queued).toBe(1);
  });

  it('lets the next waiter in when a slot is released, and a second release of the same slot frees nothing', async () => {
    const limiter = new ConcurrencyLimiter(1, 10, 5000);
    const [a, b, c] = [track(limiter), track(limiter), track(limiter)];
    await flush();
    release(a);
    await flush();
    expect(typeof b.outcome).toBe('object');
    expect(c.outcome).toBe('waiting');
    release(a); // already released: must not let c in beside b
    await flush();
    expect(c.outcome).toBe('waiting');
    expect(limiter.inFlight).toBe(1);
    release(b);
    await flush();
    expect(typeof c.outcome).toBe('object');
    release(c);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('refuses at once with RATE_LIMITED and retryAfterMs once the wait list is full', async () => {
    const limiter = new ConcurrencyLimiter(1, 2, 5000);
    const waiting = [track(limiter), track(limiter), track(limiter)];
    const refused = track(limiter);
    await flush(); // no time passes: refused without waiting
    expectRateLimited(refused);
    expect(waiting.map((w) => typeof w.outcome)).toEqual(['object', 'string', 'string']);
    expect(limiter.queued).toBe(2);
  });

  it('refuses a waiter with RATE_LIMITED when its wait reaches the queue timeout, not before', async () => {
    const limiter = new ConcurrencyLimiter(1, 5, 300);
    const first = track(limiter);
    const waiter = track(limiter);
    await flush();
    vi.advanceTimersByTime(299);
    await flush();
    expect(waiter.outcome).toBe('waiting');
    vi.advanceTimersByTime(1);
    await flush();
    expectRateLimited(waiter);
    expect(limiter.queued).toBe(0);
    // The slot holder is not affected by its waiter's timeout.
    release(first);
    expect(limiter.inFlight).toBe(0);
  });

  it('does not refuse a waiter granted before its timeout when the time comes', async () => {
    const limiter = new ConcurrencyLimiter(1, 5, 300);
    const first = track(limiter);
    const waiter = track(limiter);
    await flush();
    vi.advanceTimersByTime(200);
    release(first);
    await flush();
    vi.advanceTimersByTime(1000);
    await flush();
    expect(typeof waiter.outcome === 'object' && 'granted' in waiter.outcome).toBe(true);
    expect(limiter.inFlight).toBe(1);
  });

  it('grants waiters in the order they came', async () => {
    const limiter = new ConcurrencyLimiter(1, 10, 5000);
    const order: number[] = [];
    const holder = track(limiter);
    const waiters = [1, 2, 3, 4].map((n) =>
      limiter.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    await flush();
    release(holder);
    for (const waiter of waiters) (await waiter)();
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('takes an aborted waiter off the list: it is refused with the abort reason and its place goes to a newcomer', async () => {
    const limiter = new ConcurrencyLimiter(1, 1, 5000);
    const holder = track(limiter);
    const controller = new AbortController();
    const aborted = track(limiter, controller.signal);
    await flush();
    const turnedAway = track(limiter);
    await flush();
    expectRateLimited(turnedAway); // the list (of one) is full

    const reason = new Error('client left');
    controller.abort(reason);
    await flush();
    expect(aborted.outcome).toEqual({ refused: reason });
    expect(limiter.queued).toBe(0);

    const newcomer = track(limiter);
    await flush();
    expect(newcomer.outcome).toBe('waiting');
    release(holder);
    await flush();
    // The slot went to the newcomer, not to the waiter that left.
    expect(typeof newcomer.outcome === 'object' && 'granted' in newcomer.outcome).toBe(true);
    expect(limiter.inFlight).toBe(1);
    // And the aborted waiter's timer is gone: nothing fires for it later.
    vi.advanceTimersByTime(10_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses a caller whose signal is already aborted without taking a slot', async () => {
    const limiter = new ConcurrencyLimiter(1, 1, 5000);
    const controller = new AbortController();
    const reason = new Error('gone already');
    controller.abort(reason);
    const tracked = track(limiter, controller.signal);
    await flush();
    expect(tracked.outcome).toEqual({ refused: reason });
    expect(limiter.inFlight).toBe(0);
  });
});
