import { PushQueue } from './push-queue.js';

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
 * that matters: a slow client slows the upstream read instead of growing memory. The
 * queue itself is a `PushQueue`, as in `decodeEvents`; this adds the producer's start,
 * its waits past `highWater` and `stopped`.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly queue: PushQueue<T>;
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
    // A waiting producer resumes once the consumer is down to under half of highWater.
    this.queue = new PushQueue<T>(Math.ceil(highWater / 2) - 1, () => this.wake());
  }

  /**
   * Queues a value for the consumer. Returns a promise only when the consumer is
   * `highWater` values behind: it resolves once the consumer has taken them (or left).
   */
  push(value: T): Promise<void> | undefined {
    if (!this.queue.push(value) || this.queue.size < this.highWater) return undefined;
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
    return this.queue.next();
  }

  /** The consumer leaves: buffered values are dropped and `stopped` resolves at once. */
  return(): Promise<IteratorResult<T>> {
    this.stop();
    return this.queue.return();
  }

  throw(): Promise<IteratorResult<T>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private wake(): void {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** Releases a waiting producer and resolves `stopped`. */
  private stop(): void {
    this.wake();
    this.onStop?.();
  }

  /** Ends the channel (after the buffered values), with an error for the consumer if given. */
  private end(error?: Error): void {
    if (this.queue.closed) return;
    this.stop();
    if (error) this.queue.fail(error);
    else this.queue.end();
  }
}
