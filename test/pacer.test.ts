/** Starts of upstream calls paced over turns of the event loop, at memory speed. */
import { describe, expect, it } from 'vitest';
import { StartPacer } from '../src/completion/pacer.js';

/** Waits for the end of this turn's check phase, where the pacer releases the next starts. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Asks for `n` starts in this turn; records which started at once and the order of the rest. */
function ask(pacer: StartPacer, n: number, started: number[], from = 0): number[] {
  const atOnce: number[] = [];
  for (let i = from; i < from + n; i++) {
    const wait = pacer.turn();
    if (wait === undefined) atOnce.push(i);
    else void wait.then(() => started.push(i));
  }
  return atOnce;
}

describe('StartPacer', () => {
  it('starts at most perTurn calls per turn, and the rest in order on the following turns', async () => {
    const pacer = new StartPacer(3);
    const later: number[] = [];
    expect(ask(pacer, 10, later)).toEqual([0, 1, 2]);
    expect(pacer.queued).toBe(7);

    await nextTurn();
    expect(later).toEqual([3, 4, 5]);
    await nextTurn();
    expect(later).toEqual([3, 4, 5, 6, 7, 8]);
    await nextTurn();
    expect(later).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(pacer.queued).toBe(0);
  });

  it('puts a call behind the waiting ones even when its turn still has room', async () => {
    const pacer = new StartPacer(2);
    const later: number[] = [];
    ask(pacer, 4, later); // 0, 1 at once; 2, 3 wait
    await nextTurn(); // 2 and 3 start: this turn's two
    expect(later).toEqual([2, 3]);
    expect(ask(pacer, 1, later, 4)).toEqual([]); // no room left in this turn
    await nextTurn();
    expect(later).toEqual([2, 3, 4]);
  });

  it('gives a new turn its whole allowance once the queue is empty', async () => {
    const pacer = new StartPacer(2);
    const later: number[] = [];
    ask(pacer, 3, later);
    await nextTurn();
    await nextTurn();
    await nextTurn();
    expect(later).toEqual([2]);
    expect(ask(pacer, 3, later, 3)).toEqual([3, 4]);
    await nextTurn();
    expect(later).toEqual([2, 5]);
  });

  it('with perTurn 0 starts every call at once', () => {
    const pacer = new StartPacer(0);
    for (let i = 0; i < 1000; i++) expect(pacer.turn()).toBeUndefined();
    expect(pacer.queued).toBe(0);
  });
});
