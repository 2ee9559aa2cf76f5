/**
 * A thin mapping iterator over a subscription's stream, for plugins that touch every event.
 * Envelop's own helpers (`mapAsyncIterator`, `onNext`/`onEnd`) stack an iterator layer and
 * several promises per hook on every event of every stream; this is one `then` per event.
 */

/** A promise, as graphql-tools tells one apart; checked without a property lookup on every string. */
export function isPromise(value: unknown): value is Promise<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export interface MapStreamOptions {
  /** Runs once when the stream ends: done, left (`return`/`throw`), or failed (with its error). */
  onEnd?: (error?: unknown) => void;
  /** What a failure of the source is rethrown as. Default: the failure itself. */
  mapError?: (error: unknown) => unknown;
}

export function mapStream<T, U>(
  source: AsyncIterable<T>,
  map: (value: T) => U | Promise<U>,
  { onEnd, mapError }: MapStreamOptions = {},
): AsyncIterableIterator<U> {
  const events = source[Symbol.asyncIterator]();
  let ended = false;
  const end = (error?: unknown): void => {
    if (ended) return;
    ended = true;
    onEnd?.(error);
  };
  const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
  const mapped: AsyncIterableIterator<U> = {
    [Symbol.asyncIterator]: () => mapped,
    next: () =>
      events.next().then(
        (result): IteratorResult<U> | Promise<IteratorResult<U>> => {
          if (result.done) {
            end();
            return done;
          }
          const value = map(result.value);
          return isPromise(value) ? value.then((settled) => ({ value: settled, done: false })) : { value, done: false };
        },
        (error: unknown) => {
          end(error);
          throw mapError ? mapError(error) : error;
        },
      ),
    // Leaving passes straight to the source, so a stream's upstream is aborted at once.
    return: () => {
      end();
      return events.return ? events.return().then(() => done) : Promise.resolve(done);
    },
    throw: (error: unknown) => {
      end(error);
      return events.throw
        ? events.throw(error).then(() => done)
        : Promise.reject(error instanceof Error ? error : new Error(String(error)));
    },
  };
  return mapped;
}
