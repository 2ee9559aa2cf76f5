/**
 * Spreads the starts of upstream calls over turns of the event loop: up to `perTurn`
 * calls start per turn; the rest wait, in order, for the next turns.
 *
 * Why: starting a call costs the gateway about half a millisecond of CPU (a TCP connect,
 * the request, the response headers). A burst of thousands of subscribes arriving
 * together would otherwise start back to back, in the same turn, and every stream already
 * running would stall until the whole burst had started: seconds between two of its
 * chunks. With starts paced, each turn the event loop also reads the sockets, so running
 * streams keep flowing while the burst is worked through; new streams wait instead.
 */
export class StartPacer {
  private readonly waiting: (() => void)[] = [];
  private head = 0;
  private startedThisTurn = 0;
  private scheduled = false;

  /** @param perTurn starts allowed per turn of the event loop; 0 turns pacing off. */
  constructor(private readonly perTurn: number) {}

  /** Calls waiting for a later turn. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /**
   * Returns undefined when the call may start now (this turn still has room), else a
   * promise that resolves on the turn it may start.
   */
  turn(): Promise<void> | undefined {
    if (this.perTurn <= 0) return undefined;
    this.schedule();
    if (this.queued === 0 && this.startedThisTurn < this.perTurn) {
      this.startedThisTurn++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // The check phase: after this turn's I/O callbacks, before the next poll for I/O.
    setImmediate(this.nextTurn);
  }

  private readonly nextTurn = (): void => {
    this.scheduled = false;
    let started = 0;
    while (this.head < this.waiting.length && started < this.perTurn) {
      (this.waiting[this.head++] as () => void)();
      started++;
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
    this.startedThisTurn = started;
    // Another turn either releases more, or resets the count for starts arriving later.
    if (started > 0) this.schedule();
  };
}
