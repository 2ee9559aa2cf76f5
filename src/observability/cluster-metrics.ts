/**
 * `/metrics` with WORKERS>1: whichever worker gets the request answers with every worker's
 * metrics. The worker asks the primary over cluster IPC; the primary asks each listening
 * worker for its registry as JSON, merges them with prom-client's
 * `AggregatorRegistry.aggregate` (each metric by its `aggregator`: counters and histograms
 * summed, `gateway_database_up` the minimum, …) together with its own metrics, and answers.
 *
 * Not `AggregatorRegistry.clusterMetrics()`: it asks every connected worker, a just-forked
 * one too, whose listener is not there yet — the message is lost, and the scrape waits for
 * its 5 s timeout and fails. Here only workers that are listening are asked, and one that
 * dies or stalls mid-scrape is left out of that answer (`gateway_workers` says how many are
 * in it) instead of failing it.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Metrics } from './metrics.js';

/** How long the primary waits for one worker's metrics before leaving it out. */
const COLLECT_TIMEOUT_MS = 2_000;
/** How long a worker waits for the primary's answer (longer: it includes the collection). */
const ASK_TIMEOUT_MS = 5_000;

type Message =
  | { type: 'gateway:metrics:ask'; id: number }
  | { type: 'gateway:metrics:answer'; id: number; text?: string; error?: string }
  | { type: 'gateway:metrics:collect'; id: number }
  | { type: 'gateway:metrics:collected'; id: number; metrics: object[] };

function isMessage(value: unknown): value is Message {
  const type = (value as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type.startsWith('gateway:metrics:');
}

/** The primary's side: its own metrics, and the answers to the workers' requests. */
export class PrimaryMetrics {
  private readonly registry = new Registry();
  private readonly workers = new Gauge({
    name: 'gateway_workers',
    help: 'Worker processes whose metrics are in this answer (WORKERS>1).',
    registers: [this.registry],
  });
  /** Workers replaced after they died. */
  readonly restarts = new Counter({
    name: 'gateway_worker_restarts_total',
    help: 'Workers replaced after they died (WORKERS>1).',
    registers: [this.registry],
  });
  private next = 0;
  private readonly waiting = new Map<string, (metrics: object[] | undefined) => void>();

  /** `listening`: the workers to ask (those whose server listens: their handler is installed). */
  constructor(private readonly listening: () => Worker[]) {
    cluster.on('message', (worker, message: unknown) => {
      if (!isMessage(message)) return;
      if (message.type === 'gateway:metrics:collected') this.waiting.get(`${worker.id}:${message.id}`)?.(message.metrics);
      if (message.type !== 'gateway:metrics:ask') return;
      this.collect().then(
        (text) => send(worker, { type: 'gateway:metrics:answer', id: message.id, text }),
        (error: unknown) => send(worker, { type: 'gateway:metrics:answer', id: message.id, error: String(error) }),
      );
    });
    cluster.on('exit', (worker) => {
      for (const [key, settle] of this.waiting) if (key.startsWith(`${worker.id}:`)) settle(undefined);
    });
  }

  private async collect(): Promise<string> {
    const id = this.next++;
    const answers = await Promise.all(this.listening().map((worker) => this.ask(worker, id)));
    const present = answers.filter((metrics): metrics is object[] => metrics !== undefined);
    this.workers.set(present.length);
    return AggregatorRegistry.aggregate([...present, await this.registry.getMetricsAsJSON()]).metrics();
  }

  private ask(worker: Worker, id: number): Promise<object[] | undefined> {
    const key = `${worker.id}:${id}`;
    return new Promise((resolve) => {
      const settle = (metrics: object[] | undefined): void => {
        clearTimeout(timer);
        this.waiting.delete(key);
        resolve(metrics);
      };
      const timer = setTimeout(() => settle(undefined), COLLECT_TIMEOUT_MS);
      this.waiting.set(key, settle);
      send(worker, { type: 'gateway:metrics:collect', id }, () => settle(undefined));
    });
  }
}

/** Sends over IPC; a closed channel (a worker that just died) is `failed`, not an 'error' event. */
function send(target: Worker | NodeJS.Process, message: Message, failed: () => void = () => undefined): void {
  const callback = (error: Error | null): void => {
    if (error) failed();
  };
  if ('process' in target) target.send(message, callback);
  else if (target.send) target.send(message, undefined, undefined, callback);
  else failed();
}

/**
 * A worker's side: answers the primary's collections with this worker's registry, and makes
 * `metrics.scrape()` ask the primary for everyone's.
 */
export function joinClusterMetrics(metrics: Metrics): void {
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === 'gateway:metrics:collect') {
      void metrics.registry.getMetricsAsJSON().then((json) => send(process, { type: 'gateway:metrics:collected', id: message.id, metrics: json }));
    } else if (message.type === 'gateway:metrics:answer') {
      const pending = waiting.get(message.id);
      if (message.text !== undefined) pending?.resolve(message.text);
      else pending?.reject(new Error(message.error ?? 'no metrics'));
    }
  });
  metrics.scrape = () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const done = (): void => {
        clearTimeout(timer);
        waiting.delete(id);
      };
      const fail = (error: Error): void => {
        done();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error('the cluster primary did not answer')), ASK_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (text) => {
          done();
          resolve(text);
        },
        reject: fail,
      });
      send(process, { type: 'gateway:metrics:ask', id }, () => fail(new Error('no channel to the cluster primary')));
    });
}
