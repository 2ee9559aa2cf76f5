/**
 * What is running, so a shutdown can wait for it, then cut what is left. Every upstream
 * call registers here for its lifetime with a way to abort it.
 */
import { gatewayError, ErrorCode } from './errors.js';

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

export class Lifecycle {
  private state: 'running' | 'draining' | 'stopped' = 'running';
  private readonly inFlight = new Set<AbortController>();
  private idle: (() => void) | undefined;

  get draining(): boolean {
    return this.state !== 'running';
  }

  get activeOperations(): number {
    return this.inFlight.size;
  }

  /** Registers work; the returned function unregisters it. */
  track(controller: AbortController): () => void {
    this.inFlight.add(controller);
    return () => {
      this.inFlight.delete(controller);
      if (this.inFlight.size === 0) this.idle?.();
    };
  }

  /**
   * Stops new work, waits up to `graceMs` for what runs to finish, then aborts the rest
   * with a ShuttingDown reason. Resolves with how many operations were cut.
   */
  async drain(graceMs: number): Promise<number> {
    this.state = 'draining';
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.state = 'stopped';
    const cut = this.inFlight.size;
    for (const controller of this.inFlight) controller.abort(new ShuttingDown());
    return cut;
  }
}
