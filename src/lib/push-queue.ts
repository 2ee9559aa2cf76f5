/** Taken slots at the head of the array before it is compacted. */
const COMPACT_AT = 1024;

/**
 * The core of a push-driven async iterator: a producer pushes values (or ends, or fails),
 * a consumer pulls them with `next()`, and leaves with `return()`. Used by `Channel` (the
 * subscription streams) and by `decodeEvents` (an upstream's event stream), which add
 * their own back-pressure on top: `size`, and `onDrain` when the consumer has caught up.
 *
 * Allocation-light, as it is on the per-chunk path: a push the consumer is not waiting for
 * is an array append (no promise, no closure); a `next()` with a value buffered is one
 * resolved promise. Only a consumer that waits gets a pending promise, which the next push
 * settles directly. The array is a queue with a head index (`shift()` would copy it each
 * time); it is emptied whenever the consumer catches up, and compacted when it never does.
 */
export class PushQueue<T> implements AsyncIterator<T> {
  private readonly values: T[] = [];
  private head = 0;
  // The waiting consumer's promise, as two fields: no object per wait.
  private resolve: ((result: IteratorResult<T>) => void) | undefined;
  private reject: ((error: Error) => void) | undefined;
  private failure: Error | undefined;
  private ended = false;

  /**
   * @param lowWater `onDrain` runs when a `next()` leaves exactly this many values buffered.
   * @param onDrain tells the producer the consumer has caught up (to resume a paused read).
   */
  constructor(
    private readonly lowWater = 0,
    private readonly onDrain?: () => void,
  ) {}

  /** Values buffered, not yet taken. */
  get size(): number {
    return this.values.length - this.head;
  }

  /** Ended, failed or left: pushes are dropped (buffered values and a failure are still delivered). */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Hands `value` to the waiting consumer, or buffers it. Returns whether it was buffered:
   * false when a waiting `next()` took it, or the queue is closed and it was dropped.
   */
  push(value: T): boolean {
    if (this.ended) return false;
    const resolve = this.resolve;
    // A consumer waits only on an empty buffer (unless values appended to `buffer` are not flushed yet).
    if (resolve !== undefined && this.head === this.values.length) {
      this.resolve = this.reject = undefined;
      resolve({ value, done: false });
      return false;
    }
    this.values.push(value);
    return true;
  }

  /**
   * The buffer itself, for a producer that appends values in bulk (`decodeEvents`, whose
   * `decode` fills an array): append to it while the queue is open, then call `flush()`.
   */
  get buffer(): T[] {
    return this.values;
  }

  /** Hands a waiting consumer what is due to it: the first value buffered, else the failure, else the end. */
  flush(): void {
    const resolve = this.resolve;
    if (resolve === undefined) return;
    if (this.head < this.values.length) {
      this.resolve = this.reject = undefined;
      resolve({ value: this.take(), done: false });
    } else if (this.failure) {
      const reject = this.reject as (error: Error) => void;
      const failure = this.failure;
      this.resolve = this.reject = this.failure = undefined;
      reject(failure);
    } else if (this.ended) {
      this.resolve = this.reject = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  /** Ends the queue: the consumer gets the values buffered so far, then done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
  }

  /** Ends the queue with an error: the consumer gets the values buffered so far, then the error (once), then done. */
  fail(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.flush();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.values.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    // Only here is the buffer empty, so a push finds either a waiting consumer or none.
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The consumer leaves: buffered values (and a failure not yet seen) are dropped, a pending `next()` is done. */
  return(): Promise<IteratorResult<T>> {
    this.values.length = 0;
    this.head = 0;
    this.failure = undefined;
    this.ended = true;
    this.flush();
    return Promise.resolve({ value: undefined, done: true });
  }

  private take(): T {
    const values = this.values;
    const value = values[this.head] as T;
    values[this.head++] = undefined as T; // not kept alive by the queue
    if (this.head === values.length) {
      values.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= values.length) {
      // A consumer always a little behind never empties the queue: drop the dead slots
      // (at most half the array is copied, so this costs O(1) per value, amortized).
      values.copyWithin(0, this.head);
      values.length -= this.head;
      this.head = 0;
    }
    if (this.onDrain !== undefined && values.length - this.head === this.lowWater) this.onDrain();
    return value;
  }
}
