/**
 * WORKERS>1: this process is node:cluster's primary, and serves nothing itself. It forks the
 * workers, each the whole gateway as with WORKERS=1 (main.ts → app.ts: its own database
 * pool, ledger instance with its own heartbeat, and metrics), sharing the port through
 * cluster's round-robin. It replaces a worker that dies (backing off while replacements die
 * young, so a worker that cannot start does not spin), answers the workers' /metrics
 * requests with everyone's (observability/cluster-metrics.ts), and on SIGTERM/SIGINT drains
 * every worker — each runs its own graceful stop within SHUTDOWN_GRACE_MS — then exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { PrimaryMetrics } from '../observability/cluster-metrics.js';

/** A worker that lived this long had started fine: its death starts the backoff over. */
const STABLE_MS = 30_000;
/** The wait before replacing a worker that died young, doubling with each such death in a row. */
const BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/**
 * Past SHUTDOWN_GRACE_MS, what a worker's stop may still take (telling cut streams, closing
 * sockets, the last ledger flush) before the primary kills it.
 */
const STOP_MARGIN_MS = 10_000;

interface Slot {
  startedAt: number;
  listening: boolean;
  /** Workers of this slot in a row that died within STABLE_MS of starting. */
  youngDeaths: number;
}

export type PrimaryConfig = Pick<Config, 'workers' | 'shutdownGraceMs'>;

export class Primary {
  private readonly slots = new Map<Worker, Slot>();
  private readonly restarts = new Set<NodeJS.Timeout>();
  private readonly metrics: PrimaryMetrics;
  /** All the first workers have listened: from then on, a dead worker is replaced. */
  private started = false;
  private stopping = false;
  private exitCode = 0;

  constructor(
    private readonly config: PrimaryConfig,
    private readonly logger: Logger,
  ) {
    this.metrics = new PrimaryMetrics(() => [...this.slots].filter(([, slot]) => slot.listening).map(([worker]) => worker));
    cluster.on('listening', (worker) => this.listened(worker));
    cluster.on('exit', (worker, code, signal) => this.exited(worker, code, signal));
  }

  start(): void {
    this.logger.info({ workers: this.config.workers, pid: process.pid }, 'starting workers');
    for (let i = 0; i < this.config.workers; i++) this.fork(0);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => this.stop(signal));
  }

  private fork(youngDeaths: number): void {
    this.slots.set(cluster.fork(), { startedAt: Date.now(), listening: false, youngDeaths });
  }

  private listened(worker: Worker): void {
    const slot = this.slots.get(worker);
    if (!slot || slot.listening) return;
    slot.listening = true;
    this.logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker listening');
    if (this.started || this.slots.size < this.config.workers || [...this.slots.values()].some((s) => !s.listening)) return;
    this.started = true;
    this.logger.info({ workers: this.config.workers, pids: [...this.slots.keys()].map((w) => w.process.pid) }, 'all workers listening');
  }

  private exited(worker: Worker, code: number, signal: string | null): void {
    const slot = this.slots.get(worker);
    this.slots.delete(worker);
    if (!slot) return;
    if (this.stopping) {
      // Killed by the drain's signal itself: it came before the worker had set its handler,
      // so there was nothing to drain.
      const drained = code === 0 || (code === null && (signal === 'SIGTERM' || signal === 'SIGINT'));
      if (!drained) this.exitCode = 1;
      if (this.slots.size === 0) this.finish();
      return;
    }
    if (!this.started) {
      // Same configuration, port and database for all: the others will not start either.
      // The worker logged why.
      this.logger.error({ worker: worker.id, code, signal }, 'could not start: a worker exited before the gateway was listening');
      this.exitCode = 1;
      this.stop();
      return;
    }
    const livedMs = Date.now() - slot.startedAt;
    const youngDeaths = livedMs < STABLE_MS ? slot.youngDeaths + 1 : 1;
    const restartInMs = Math.min(BACKOFF_MS * 2 ** (youngDeaths - 1), MAX_BACKOFF_MS);
    this.logger.error({ worker: worker.id, pid: worker.process.pid, code, signal, livedMs, restartInMs }, 'worker died; replacing it');
    this.metrics.restarts.inc();
    const timer = setTimeout(() => {
      this.restarts.delete(timer);
      this.fork(youngDeaths);
    }, restartInMs);
    this.restarts.add(timer);
  }

  /** Drains every worker (SIGTERM: each runs its graceful stop); a second signal kills them. */
  private stop(signal?: NodeJS.Signals): void {
    if (this.stopping) {
      if (signal === undefined) return;
      this.logger.warn({ signal }, 'second signal: killing the workers');
      for (const worker of this.slots.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    this.stopping = true;
    for (const timer of this.restarts) clearTimeout(timer);
    this.logger.info({ signal, workers: this.slots.size, graceMs: this.config.shutdownGraceMs }, 'shutting down');
    if (this.slots.size === 0) {
      this.finish();
      return;
    }
    for (const worker of this.slots.keys()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      this.logger.error({ pids: [...this.slots.keys()].map((w) => w.process.pid) }, 'workers still running after the grace and the margin: killed');
      this.exitCode = 1;
      for (const worker of this.slots.keys()) worker.process.kill('SIGKILL');
    }, this.config.shutdownGraceMs + STOP_MARGIN_MS).unref();
  }

  private finish(): void {
    this.logger.info({ exitCode: this.exitCode }, 'stopped');
    process.exit(this.exitCode);
  }
}
