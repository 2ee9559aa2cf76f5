/**
 * A push-driven async iterator for one subscription: the producer pushes values, the
 * GraphQL executor pulls them, and the producer hears at once when the consumer leaves.
 *
 * Why not an async generator: its `return()` waits behind a pending `next()`, so a client
 * leaving while the upstream is silent would abort nothing until the next chunk. Why not a
 * Repeater (which solves that): every value costs it several promises, and `await push()`
 * puts the producer in lockstep with the consumer, a promise turn per chunk on both
 * sides. Here a push is an array append, and the producer waits only when the consumer
 * falls `highWater` values behind (then for it to catch up), which is the back-pressure
 * that matters: a slow client slows the upstream read instead of growing memory.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  private head = 0;
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private ended = false;
  private started = false;
  private resume: (() => void) | undefined;
  private onStop: (() => void) | undefined;

  /** Resolves when the consumer leaves (`return()`), or the producer has ended the channel. */
  readonly stopped: Promise<void>;

  /**
   * @param produce runs on the first `next()` (as a Repeater's executor does, so a
   * subscription nobody iterates starts nothing); the channel ends when it settles, with
   * its rejection if it rejects.
   * @param highWater values buffered before `push` asks the producer to wait. Default 16.
   */
  constructor(
    private readonly produce: (channel: Channel<T>) => Promise<void>,
    private readonly highWater = 16,
  ) {
    this.stopped = new Promise<void>((resolve) => (this.onStop = resolve));
  }

  /**
   * Queues a value for the consumer. Returns a promise only when the consumer is
   * `highWater` values behind: it resolves once the consumer has taken them (or left).
   */
  push(value: T): Promise<void> | undefined {
    if (this.ended) return undefined;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting.resolve({ value, done: false });
      return undefined;
    }
    this.values.push(value);
    if (this.values.length - this.head < this.highWater) return undefined;
    return new Promise<void>((resolve) => (this.resume = resolve));
  }

  next(): Promise<IteratorResult<T>> {
    if (!this.started) {
      this.started = true;
      this.produce(this).then(
        () => this.end(),
        (error: unknown) => this.end(error instanceof Error ? error : new Error(String(error))),
      );
    }
    if (this.head < this.values.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The consumer leaves: buffered values are dropped and `stopped` resolves at once. */
  return(): Promise<IteratorResult<T>> {
    this.values.length = 0;
    this.head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<IteratorResult<T>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private take(): T {
    const value = this.values[this.head] as T;
    this.values[this.head++] = undefined as T;
    if (this.head === this.values.length) {
      this.values.length = 0;
      this.head = 0;
    }
    if (this.resume && this.values.length - this.head < this.highWater / 2) this.wake();
    return value;
  }

  private wake(): void {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** Ends the channel (after the buffered values), with an error for the consumer if given. */
  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    this.onStop?.();
    const waiting = this.waiting;
    if (!waiting) {
      if (error) this.failure = error;
      return;
    }
    this.waiting = undefined;
    if (error) waiting.reject(error);
    else waiting.resolve({ value: undefined, done: true });
  }
}
