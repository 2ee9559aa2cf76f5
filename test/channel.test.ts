/** The push-driven async iterator every subscription streams through, at memory speed. */
import { describe, expect, it } from 'vitest';
import { Channel } from '../src/lib/channel.js';

/** Lets every promise callback queued so far run. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** A producer the test drives from outside: it ends when `finish` or `fail` is called. */
function controlled<T>(highWater?: number): {
  channel: Channel<T>;
  finish: () => void;
  fail: (error: Error) => void;
} {
  let finish: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const channel = new Channel<T>(
    () =>
      new Promise<void>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      }),
    highWater,
  );
  return { channel, finish: () => finish(), fail: (error) => fail(error) };
}

/** Whether `promise` has settled, after the queued callbacks have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  return settled;
}

describe('Channel', () => {
  it('delivers pushed values in order, then ends when the producer resolves', async () => {
    const channel = new Channel<number>(async (c) => {
      for (let i = 1; i <= 5; i++) await c.push(i);
    });
    const seen: number[] = [];
    for await (const value of channel) seen.push(value);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('delivers values pushed while the consumer waits and values buffered ahead of it alike, in order', async () => {
    const { channel, finish } = controlled<string>();
    const first = channel.next(); // starts the producer, and waits
    void channel.push('a'); // straight to the waiting consumer
    void channel.push('b');
    void channel.push('c'); // buffered
    finish();
    expect(await first).toEqual({ value: 'a', done: false });
    expect(await channel.next()).toEqual({ value: 'b', done: false });
    expect(await channel.next()).toEqual({ value: 'c', done: false });
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it('runs the producer on the first next() only, never before and never again', async () => {
    let runs = 0;
    const channel = new Channel<number>(async (c) => {
      runs++;
      void c.push(1);
      void c.push(2);
      await Promise.resolve();
    });
    await settle();
    expect(runs).toBe(0); // a subscription nobody iterates starts nothing
    expect(await channel.next()).toEqual({ value: 1, done: false });
    expect(await channel.next()).toEqual({ value: 2, done: false });
    expect(await channel.next()).toEqual({ value: undefined, done: true });
    expect(runs).toBe(1);
  });

  it('makes push wait only once highWater values are buffered, until the consumer is down to half', async () => {
    const { channel } = controlled<number>(4);
    void channel.next().then(() => undefined); // start the producer; the first value goes to this waiter
    await settle();
    expect(channel.push(0)).toBeUndefined(); // taken by the waiting next()
    expect(channel.push(1)).toBeUndefined();
    expect(channel.push(2)).toBeUndefined();
    expect(channel.push(3)).toBeUndefined();
    const full = channel.push(4); // the fourth buffered value
    expect(full).toBeInstanceOf(Promise);
    if (!full) return;

    expect((await channel.next()).value).toBe(1); // 3 left
    expect(await isSettled(full)).toBe(false);
    expect((await channel.next()).value).toBe(2); // 2 left: half, not under it
    expect(await isSettled(full)).toBe(false);
    expect((await channel.next()).value).toBe(3); // 1 left
    expect(await isSettled(full)).toBe(true);
    expect((await channel.next()).value).toBe(4);
  });

  it('releases a waiting push when the consumer leaves', async () => {
    const { channel } = controlled<number>(2);
    void channel.next().then(() => undefined);
    await settle();
    void channel.push(0);
    void channel.push(1);
    const full = channel.push(2);
    expect(full).toBeInstanceOf(Promise);
    if (!full) return;
    expect(await isSettled(full)).toBe(false);
    await channel.return();
    expect(await isSettled(full)).toBe(true);
  });

  it('on return() while a next() is pending: resolves stopped at once and ends that next()', async () => {
    const { channel } = controlled<number>();
    const pending = channel.next();
    await settle();
    expect(await isSettled(channel.stopped)).toBe(false);
    await channel.return();
    // Not a turn later: the upstream is aborted as soon as the client leaves.
    expect(await isSettled(channel.stopped)).toBe(true);
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('on throw() leaves as return() does: stopped resolves and iteration is done', async () => {
    const { channel } = controlled<number>();
    const pending = channel.next();
    await settle();
    expect(await channel.throw()).toEqual({ value: undefined, done: true });
    expect(await isSettled(channel.stopped)).toBe(true);
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it('on return() drops the values still buffered, and ignores pushes after it', async () => {
    const { channel } = controlled<number>();
    expect(await isSettled(channel.next())).toBe(false);
    void channel.push(0);
    void channel.push(1);
    void channel.push(2);
    await channel.return();
    expect(channel.push(3)).toBeUndefined();
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it('delivers the values buffered before a producer failed, then the failure, then the end', async () => {
    const failure = new Error('upstream broke');
    const channel = new Channel<string>(async (c) => {
      void c.push('a');
      void c.push('b');
      await Promise.resolve();
      throw failure;
    });
    expect(await channel.next()).toEqual({ value: 'a', done: false });
    await settle(); // the producer has failed by now
    expect(await channel.next()).toEqual({ value: 'b', done: false });
    await expect(channel.next()).rejects.toBe(failure);
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it('rejects a pending next() when the producer fails while the consumer waits, and resolves stopped', async () => {
    const { channel, fail } = controlled<number>();
    const pending = channel.next();
    await settle();
    fail(new Error('gone'));
    await expect(pending).rejects.toThrow('gone');
    expect(await isSettled(channel.stopped)).toBe(true);
  });

  it('turns a producer that throws a non-Error into an Error for the consumer', async () => {
    const odd = new Channel<number>(async () => {
      await Promise.resolve();
      // A dependency can throw anything; the consumer still gets an Error with its text.
      throw 'a string'; // eslint-disable-line @typescript-eslint/only-throw-error
    });
    const failure: unknown = await odd.next().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe('a string');
  });

  it('ignores pushes after the producer has ended', async () => {
    const { channel, finish } = controlled<number>(1);
    const first = channel.next();
    void channel.push(1);
    finish();
    expect(await first).toEqual({ value: 1, done: false });
    await settle();
    expect(await isSettled(channel.stopped)).toBe(true);
    // Past highWater, but the channel is over: no buffering, no waiting.
    expect(channel.push(2)).toBeUndefined();
    expect(channel.push(3)).toBeUndefined();
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });
});
