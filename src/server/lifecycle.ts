/**
 * What is running, so a shutdown can wait for it, then cut what is left. Every
 * completion registers here for its lifetime with a way to abort its upstream call.
 */
import { gatewayError, ErrorCode } from '../graphql/errors.js';

/** The abort reason of work cut by a shutdown; mapped to SHUTTING_DOWN for the client. */
export class ShuttingDown extends Error {
  constructor() {
    super('The server is shutting down; retry on another instance');
    this.name = 'ShuttingDown';
  }
}

export function shuttingDownError() {
  return gatewayError(ErrorCode.SHUTTING_DOWN, new ShuttingDown().message);
}

type Abort = (reason: Error) => void;

export class Lifecycle {
  private state: 'running' | 'draining' | 'stopped' = 'running';
  private readonly inFlight = new Set<Abort>();
  private onIdle: (() => void) | undefined;

  get draining(): boolean {
    return this.state !== 'running';
  }

  get activeOperations(): number {
    return this.inFlight.size;
  }

  /**
   * Registers an operation until the returned function is called, which it must be once
   * the client has been told how it ended (so a shutdown never closes the socket first).
   */
  track(abort: Abort): () => void {
    const entry: Abort = (reason) => abort(reason);
    this.inFlight.add(entry);
    return () => {
      this.inFlight.delete(entry);
      if (this.inFlight.size === 0) this.onIdle?.();
    };
  }

  /**
   * Stops new work, waits up to `graceMs` for what runs to finish, then aborts the rest
   * with a ShuttingDown reason and waits (up to `cutWaitMs`) for them to tell their
   * clients. Resolves with how many operations were cut.
   */
  async drain(graceMs: number, cutWaitMs = 2000): Promise<number> {
    this.state = 'draining';
    await this.idle(graceMs);
    this.state = 'stopped';
    const cut = this.inFlight.size;
    for (const abort of this.inFlight) abort(new ShuttingDown());
    await this.idle(cutWaitMs);
    return cut;
  }

  private idle(ms: number): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      this.onIdle = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
