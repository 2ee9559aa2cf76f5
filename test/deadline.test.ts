/** The operation timers at memory speed: fake clocks, no sockets. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { abortable, Budget, Deadline } from '../src/completion/deadline.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

class Quiet extends Error {}

describe('Deadline', () => {
  it('aborts with the reason it was armed with once the time is up, not before', () => {
    const controller = new AbortController();
    new Deadline(controller).arm(100, () => new Quiet('quiet'));
    vi.advanceTimersByTime(99);
    expect(controller.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(controller.signal.reason).toBeInstanceOf(Quiet);
  });

  it('re-armed with the same time (every chunk) counts from the last arming', () => {
    const controller = new AbortController();
    const deadline = new Deadline(controller);
    const reason = (): Error => new Quiet();
    deadline.arm(100, reason);
    vi.advanceTimersByTime(80);
    deadline.arm(100, reason);
    vi.advanceTimersByTime(80);
    expect(controller.signal.aborted).toBe(false);
    vi.advanceTimersByTime(20);
    expect(controller.signal.aborted).toBe(true);
  });

  it('re-armed with another time and reason uses those (a client’s stall instead of the upstream’s silence)', () => {
    const controller = new AbortController();
    const deadline = new Deadline(controller);
    deadline.arm(100, () => new Error('upstream'));
    vi.advanceTimersByTime(50);
    deadline.arm(1_000, () => new Quiet('client'));
    vi.advanceTimersByTime(999);
    expect(controller.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect((controller.signal.reason as Error).message).toBe('client');
  });

  it('never fires once cleared', () => {
    const controller = new AbortController();
    const deadline = new Deadline(controller);
    deadline.arm(100, () => new Quiet());
    deadline.clear();
    vi.advanceTimersByTime(1_000);
    expect(controller.signal.aborted).toBe(false);
  });
});

describe('Budget', () => {
  it('gives each target still to try an equal share of what is left, the last one all of it', () => {
    const budget = new Budget(900);
    expect(budget.share(3)).toBe(300);
    vi.advanceTimersByTime(100); // the first target failed fast
    expect(budget.share(2)).toBe(400);
    vi.advanceTimersByTime(400);
    expect(budget.share(1)).toBe(400);
    expect(budget.left()).toBe(400);
  });

  it('never hands out less than a millisecond, and says when nothing is left', () => {
    const budget = new Budget(10);
    vi.advanceTimersByTime(50);
    expect(budget.left()).toBeLessThan(1);
    expect(budget.share(2)).toBe(1);
  });
});

describe('abortable', () => {
  it('settles with the promise when it settles first', async () => {
    await expect(abortable(Promise.resolve(), new AbortController().signal)).resolves.toBeUndefined();
  });

  it('rejects with the abort reason while the promise is still pending', async () => {
    const controller = new AbortController();
    const waiting = abortable(new Promise<void>(() => undefined), controller.signal);
    controller.abort(new Quiet('gone'));
    await expect(waiting).rejects.toBeInstanceOf(Quiet);
  });

  it('rejects at once for a signal already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Quiet());
    await expect(abortable(Promise.resolve(), controller.signal)).rejects.toBeInstanceOf(Quiet);
  });
});
