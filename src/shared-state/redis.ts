/**
 * The gateway's connection to Redis (REDIS_URL): one client for commands, one for pub/sub,
 * and whether Redis is usable right now. Commands never wait for a connection: with no
 * offline queue, no retries and a command timeout, a dead Redis fails a command at once
 * (or within REDIS_COMMAND_TIMEOUT_MS), and the callers fall back or refuse by
 * REDIS_FAILURE_MODE. ioredis reconnects by itself; each outage is logged once, when it
 * starts, and once more when Redis is back, and `gateway_redis_up` says which it is.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

export interface SharedRedisOptions {
  url: string;
  /** REDIS_KEY_PREFIX: every key and channel starts with it. */
  prefix: string;
  /** REDIS_COMMAND_TIMEOUT_MS. */
  commandTimeoutMs: number;
  /** REDIS_FAILURE_MODE, for the outage's log line. */
  failureMode: 'open' | 'closed';
  logger: Logger;
  /** Where `gateway_redis_up` goes (the app's metrics registry). */
  registry: Registry;
}

/** Reconnection: soon at first, then once a second, for as long as it takes. */
const retryStrategy = (times: number): number => Math.min(times * 100, 1000);

export class SharedRedis {
  readonly client: Redis;
  readonly prefix: string;
  private readonly subscriber: Redis;
  private readonly channels = new Map<string, (message: string) => void>();
  private readonly recovered: (() => void)[] = [];
  private readonly subscriptions: Promise<unknown>[] = [];
  private readonly resubscribed: (() => void)[] = [];
  private subscribedOnce = false;
  private up = false;
  /** Set from the first outage's log line until Redis is back: one line per outage. */
  private outage = false;
  private closing = false;
  private readonly gauge: Gauge;

  constructor(private readonly options: SharedRedisOptions) {
    this.prefix = options.prefix;
    const common: RedisOptions = { retryStrategy, connectTimeout: Math.max(options.commandTimeoutMs, 1000), lazyConnect: false };
    this.client = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
    });
    // The subscriber only ever sends SUBSCRIBE, queued until it is connected and repeated by
    // ioredis after every reconnection.
    this.subscriber = new Redis(options.url, { ...common, maxRetriesPerRequest: null });
    this.subscriber.on('message', (channel: string, message: string) => this.channels.get(channel)?.(message));
    this.subscriber.on('error', () => undefined); // the command client reports outages
    // Messages sent while it was reconnecting are lost: those listening are told to catch up.
    this.subscriber.on('ready', () => {
      if (this.subscribedOnce) for (const listener of this.resubscribed) listener();
      this.subscribedOnce = true;
    });

    this.client.on('ready', () => this.becameReady());
    this.client.on('close', () => this.lost());
    this.client.on('end', () => this.lost());
    this.client.on('error', (error: Error) => this.lost(error));

    this.gauge = new Gauge({
      name: 'gateway_redis_up',
      help: '1 while the shared state (REDIS_URL) answers; 0 while limits are local (REDIS_FAILURE_MODE=open) or refused (closed).',
      registers: [options.registry],
      // With several workers, the gateway is up only if every one of them is.
      aggregator: 'min',
      collect: (): void => this.gauge.set(this.up ? 1 : 0),
    });
  }

  /** Whether commands can be sent now. */
  get available(): boolean {
    return this.up;
  }

  /** Waits up to `ms` for the first connection and subscriptions; a gateway starts either way. */
  async connected(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ready = this.up ? Promise.resolve() : new Promise<void>((resolve) => this.client.once('ready', () => resolve()));
    await Promise.race([
      Promise.all([ready, ...this.subscriptions]),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
    if (!this.up) this.lost(new Error(`no connection within ${ms} ms`));
    return this.up;
  }

  /** Runs `listener` each time Redis is back after an outage (what was missed meanwhile is to be caught up). */
  onRecovered(listener: () => void): void {
    this.recovered.push(listener);
  }

  /**
   * Reports a command that failed. A timeout means the connection answers no more: it is
   * dropped, so that ioredis reconnects and the next commands fail at once instead of each
   * waiting out the timeout.
   */
  failed(error: unknown): void {
    if (error instanceof Error && error.message === 'Command timed out' && this.up) {
      this.lost(error);
      this.client.disconnect(true);
    }
  }

  /** Runs `listener` each time the subscriber connection is back after it was lost (messages may have been missed). */
  onResubscribed(listener: () => void): void {
    this.resubscribed.push(listener);
  }

  key(...parts: string[]): string {
    return `${this.prefix}${parts.join(':')}`;
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.channels.set(channel, handler);
    const subscribed = this.subscriber.subscribe(channel);
    this.subscriptions.push(subscribed.catch(() => undefined));
    await subscribed;
  }

  /** Publishes best-effort: a message lost in an outage is made up for by `onRecovered`. */
  async publish(channel: string, message: string): Promise<boolean> {
    try {
      await this.client.publish(channel, message);
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([this.client, this.subscriber].map((c) => c.quit().catch(() => c.disconnect())));
  }

  private becameReady(): void {
    this.up = true;
    if (!this.outage) return;
    this.outage = false;
    this.options.logger.info('Redis is reachable again: limits are shared across instances again');
    for (const listener of this.recovered) listener();
  }

  private lost(error?: Error): void {
    this.up = this.up && this.client.status === 'ready' && error === undefined;
    if (this.up || this.outage || this.closing) return;
    this.outage = true;
    const { failureMode, logger } = this.options;
    logger.warn(
      { failureMode, detail: error?.message },
      failureMode === 'open'
        ? 'Redis is unreachable: each instance enforces limits on its own (seeded from the ledger) until it is back'
        : 'Redis is unreachable: admission is refused with SERVICE_UNAVAILABLE until it is back (REDIS_FAILURE_MODE=closed)',
    );
  }
}
