/** The queue under Channel and decodeEvents, at memory speed. */
import { describe, expect, it } from 'vitest';
import { PushQueue } from '../src/lib/push-queue.js';

/** Whether `promise` has settled, after the callbacks queued so far have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** What the queue holds internally, to check that taken values are not kept. */
function internals<T>(queue: PushQueue<T>): { values: T[]; head: number } {
  return queue as unknown as { values: T[]; head: number };
}

describe('PushQueue', () => {
  it('delivers values pushed before next() is called, in order', async () => {
    const queue = new PushQueue<number>();
    expect(queue.push(1)).toBe(true);
    expect(queue.push(2)).toBe(true);
    expect(queue.size).toBe(2);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
    expect(queue.size).toBe(0);
  });

  it('hands a value pushed while next() waits straight to it, without buffering', async () => {
    const queue = new PushQueue<string>();
    const pending = queue.next();
    expect(await isSettled(pending)).toBe(false);
    expect(queue.push('a')).toBe(false); // taken by the waiting next()
    expect(queue.size).toBe(0);
    expect(queue.push('b')).toBe(true); // nobody waits: buffered
    expect(await pending).toEqual({ value: 'a', done: false });
    expect(await queue.next()).toEqual({ value: 'b', done: false });
  });

  it('keeps the order across values buffered and values handed over, for many values', async () => {
    const queue = new PushQueue<number>();
    const seen: number[] = [];
    let pushed = 0;
    for (let round = 0; round < 50; round++) {
      const pending = queue.next(); // waits: the first push goes straight to it
      for (let i = 0; i <= round; i++) queue.push(pushed++);
      seen.push((await pending).value as number);
      while (queue.size > 0) seen.push((await queue.next()).value as number);
    }
    expect(seen).toEqual(Array.from({ length: pushed }, (_, i) => i));
  });

  it('on end(): delivers the values buffered, then done, and drops pushes after it', async () => {
    const queue = new PushQueue<number>();
    queue.push(1);
    queue.end();
    expect(queue.closed).toBe(true);
    expect(queue.push(2)).toBe(false);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('on end() while next() waits: resolves it done', async () => {
    const queue = new PushQueue<number>();
    const pending = queue.next();
    queue.end();
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('on fail() after values: delivers them, then the error once, then done', async () => {
    const queue = new PushQueue<string>();
    const failure = new Error('broke');
    queue.push('a');
    queue.push('b');
    queue.fail(failure);
    expect(queue.push('c')).toBe(false);
    expect(await queue.next()).toEqual({ value: 'a', done: false });
    expect(await queue.next()).toEqual({ value: 'b', done: false });
    await expect(queue.next()).rejects.toBe(failure);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('on fail() while next() waits: rejects it, and keeps the first ending', async () => {
    const queue = new PushQueue<number>();
    const pending = queue.next();
    const failure = new Error('gone');
    queue.fail(failure);
    queue.fail(new Error('later'));
    queue.end();
    await expect(pending).rejects.toBe(failure);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('on return() while next() is pending: resolves that next() done', async () => {
    const queue = new PushQueue<number>();
    const pending = queue.next();
    expect(await isSettled(pending)).toBe(false);
    expect(await queue.return()).toEqual({ value: undefined, done: true });
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(queue.closed).toBe(true);
  });

  it('on return(): drops the values buffered and a failure not yet seen', async () => {
    const queue = new PushQueue<number>();
    queue.push(1);
    queue.push(2);
    queue.fail(new Error('unseen'));
    await queue.return();
    expect(queue.size).toBe(0);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });

  it('takes values appended to buffer in bulk, and hands the first to a waiting next() on flush()', async () => {
    const queue = new PushQueue<number>();
    const pending = queue.next();
    queue.buffer.push(1, 2, 3);
    expect(await isSettled(pending)).toBe(false); // not before flush()
    queue.push(4); // behind the values appended, not ahead of them
    queue.flush();
    expect(await pending).toEqual({ value: 1, done: false });
    const rest: number[] = [];
    while (queue.size > 0) rest.push((await queue.next()).value as number);
    expect(rest).toEqual([2, 3, 4]);
  });

  it('on fail() with values appended but not flushed while next() waits: hands it the first value, the error after the rest', async () => {
    const queue = new PushQueue<string>();
    const pending = queue.next();
    const failure = new Error('bad event');
    queue.buffer.push('a', 'b');
    queue.fail(failure);
    expect(await pending).toEqual({ value: 'a', done: false });
    expect(await queue.next()).toEqual({ value: 'b', done: false });
    await expect(queue.next()).rejects.toBe(failure);
  });

  it('calls onDrain each time a next() leaves exactly lowWater values', async () => {
    let drains = 0;
    const queue = new PushQueue<number>(1, () => drains++);
    for (let i = 0; i < 4; i++) queue.push(i);
    await queue.next(); // 3 left
    await queue.next(); // 2 left
    expect(drains).toBe(0);
    await queue.next(); // 1 left
    expect(drains).toBe(1);
    await queue.next(); // 0 left: under lowWater, not at it
    expect(drains).toBe(1);
    queue.push(4);
    queue.push(5);
    await queue.next(); // 1 left again
    expect(drains).toBe(2);
  });

  it('calls onDrain with lowWater 0 when the consumer has taken everything', async () => {
    let drains = 0;
    const queue = new PushQueue<number>(0, () => drains++);
    queue.push(1);
    queue.push(2);
    await queue.next();
    expect(drains).toBe(0);
    await queue.next();
    expect(drains).toBe(1);
    void queue.next(); // waits; a value handed over directly was never buffered
    queue.push(3);
    expect(drains).toBe(1);
  });

  it('keeps no taken value, and empties its array whenever the consumer catches up', async () => {
    const queue = new PushQueue<object>();
    const held = internals(queue);
    queue.push({});
    queue.push({});
    queue.push({});
    await queue.next();
    expect(held.head).toBe(1);
    expect(held.values[0]).toBeUndefined(); // the taken value is not kept alive
    await queue.next();
    await queue.next();
    expect(held.head).toBe(0);
    expect(held.values.length).toBe(0);
  });

  it('compacts its array when a consumer a little behind never empties it', async () => {
    const queue = new PushQueue<number>();
    const held = internals(queue);
    queue.push(-1); // always one value ahead of the consumer
    let outOfOrder = 0;
    for (let i = 0; i < 10_000; i++) {
      queue.push(i);
      if ((await queue.next()).value !== i - 1 || queue.size !== 1) outOfOrder++;
    }
    expect(outOfOrder).toBe(0);
    expect(held.values.length).toBeLessThanOrEqual(2048); // not 10,001
    expect(await queue.next()).toEqual({ value: 9_999, done: false });
  });

  it('drops buffered values on return() without keeping them', async () => {
    const queue = new PushQueue<object>();
    const held = internals(queue);
    queue.push({});
    queue.push({});
    await queue.next();
    await queue.return();
    expect(held.values.length).toBe(0);
    expect(held.head).toBe(0);
  });
});
