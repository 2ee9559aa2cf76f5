/**
 * The upstream connection pool, in a module of its own so it can be tested as a unit
 * against a real socket server (upstream-client.ts builds requests and retries on it).
 */
import { Client, errors as undiciErrors, type Dispatcher } from 'undici';

/**
 * Keep-alive connections to one origin, one request at a time on each (a stream holds its
 * connection for its whole life: HTTP/1.1 cannot share one), an idle one reused first.
 *
 * Why not undici's `Pool`: it finds a free connection by scanning every connection it
 * has, twice per request once all are busy, so with 10,000 streams open each new stream
 * paid two scans of 10,000; here an idle connection is a pop from a stack. And where a
 * Pool keeps every connection it ever opened, one that closes while idle (the keep-alive
 * timeout) is dropped here, so a burst leaves nothing behind once it is over.
 */
export class Connections {
  private idle: Client[] = [];
  /** Lent out: a request is queued or running on it, and it will say `drain` when done. */
  private readonly busy = new Set<Client>();
  private readonly all = new Set<Client>();
  private dropped = 0;

  constructor(
    private readonly origin: string,
    private readonly options: Client.Options,
  ) {}

  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    // undici refuses an aborted signal before dispatching, so the connection would never
    // say `drain` and never come back.
    if (options.signal instanceof AbortSignal && options.signal.aborted) {
      return Promise.reject(new undiciErrors.RequestAbortedError());
    }
    const client = this.take();
    this.busy.add(client);
    return client.request(options);
  }

  destroy(): Promise<void> {
    const all = [...this.all];
    this.all.clear();
    this.busy.clear();
    this.idle.length = 0;
    return Promise.all(all.map((client) => client.destroy())).then(() => undefined);
  }

  private take(): Client {
    for (let client = this.idle.pop(); client; client = this.idle.pop()) {
      if (this.all.has(client)) return client;
      this.dropped--;
    }
    const client = new Client(this.origin, this.options);
    this.all.add(client);
    client.on('drain', () => {
      if (this.busy.delete(client) && this.all.has(client)) this.idle.push(client);
    });
    client.on('disconnect', () => {
      if (this.busy.has(client) || !this.all.has(client)) return;
      this.all.delete(client);
      void client.close();
      // Dropped connections leave the idle stack lazily; compact it when they are most of it.
      if (++this.dropped > 64 && this.dropped * 2 > this.idle.length) {
        this.idle = this.idle.filter((c) => this.all.has(c));
        this.dropped = 0;
      }
    });
    return client;
  }
}
