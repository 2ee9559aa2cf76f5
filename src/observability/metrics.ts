/**
 * Prometheus metrics, one registry per app (tests run several apps in one process).
 * Operation names and model names come from clients: each label keeps the first 200
 * distinct values it sees and files the rest under "other", so no client can grow the
 * registry without bound.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly operations = new Counter({
    name: 'gateway_operations_total',
    help: 'GraphQL operations by name, type and outcome (ok or the error code).',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'gateway_errors_total',
    help: 'Errors returned to clients, by extensions.code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Duration of upstream calls (whole answer or whole stream), by model and outcome.',
    labelNames: ['model', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  readonly timeToFirstChunk = new Histogram({
    name: 'gateway_time_to_first_chunk_seconds',
    help: 'From subscribe to the first chunk sent to the client.',
    labelNames: ['model'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly chunks = new Counter({
    name: 'gateway_stream_chunks_total',
    help: 'Chunks streamed to clients.',
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'gateway_tokens_total',
    help: 'Tokens consumed, by model and kind (prompt or completion).',
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });

  readonly activeSubscriptions = new Gauge({
    name: 'gateway_active_subscriptions',
    help: 'Completion streams in progress.',
    registers: [this.registry],
  });

  readonly activeSockets = new Gauge({
    name: 'gateway_active_websockets',
    help: 'Open graphql-ws sockets.',
    registers: [this.registry],
  });

  readonly fallbacks = new Counter({
    name: 'gateway_fallbacks_total',
    help: 'Moves to the next target after a failure before streaming, by the model that failed, the one tried next, and the error.',
    labelNames: ['from', 'to', 'code'] as const,
    registers: [this.registry],
  });

  readonly clientAborts = new Counter({
    name: 'gateway_client_aborts_total',
    help: 'Upstream requests aborted because the client left.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly queued = new Gauge({
    name: 'gateway_upstream_queue_length',
    help: 'Requests waiting for an upstream slot.',
    registers: [this.registry],
  });

  readonly databaseUp: Gauge = new Gauge({
    name: 'gateway_database_up',
    help: '1 while ledger rows can be written; 0 while the SQLite file is missing or replaced, or writes fail.',
    registers: [this.registry],
    // Summed over cluster workers it would count them; 0 if any worker cannot write.
    aggregator: 'min',
    collect: (): void => this.databaseUp.set(this.ledgerHealth().database === undefined ? 1 : 0),
  });

  readonly ledgerPendingRows: Gauge = new Gauge({
    name: 'gateway_ledger_pending_rows',
    help: 'Ledger rows in memory, not written yet.',
    registers: [this.registry],
    collect: (): void => this.ledgerPendingRows.set(this.ledgerHealth().pendingLedgerRows),
  });

  readonly ledgerRowsDropped = new Counter({
    name: 'gateway_ledger_rows_dropped_total',
    help: 'Ledger rows dropped because LEDGER_MAX_PENDING_ROWS rows were waiting to be written already.',
    registers: [this.registry],
  });

  readonly cacheLookups = new Counter({
    name: 'gateway_response_cache_lookups_total',
    help: 'Response cache lookups, by result: hit (answered without an upstream call) or miss.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly cacheStores = new Counter({
    name: 'gateway_response_cache_stores_total',
    help: 'Answers offered to the response cache, by result: stored, too_large (over RESPONSE_CACHE_MAX_ENTRY_BYTES) or failed (the store refused it or was unreachable).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly sseForwarded = new Counter({
    name: 'gateway_sse_forwarded_total',
    help: 'graphql-sse single-connection requests forwarded to the process holding their stream (REDIS_URL), by result: answered, timeout (503), or gone (that process had stopped).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /**
   * What `GET /metrics` answers: this registry, or in a cluster worker every worker's
   * metrics, summed by the primary (set by observability/cluster-metrics.ts).
   */
  scrape: () => Promise<string> = () => this.registry.metrics();

  /** Read at each scrape; the ledger registers itself (tests build metrics without one). */
  private ledgerHealth: () => { database: string | undefined; pendingLedgerRows: number } = () => ({
    database: undefined,
    pendingLedgerRows: 0,
  });

  observeLedger(health: () => { database: string | undefined; pendingLedgerRows: number }): void {
    this.ledgerHealth = health;
  }

  /** Bounded label values for model names. */
  readonly model = boundedLabel();
  /** Bounded label values for operation names. */
  readonly operationName = boundedLabel();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

const MAX_LABEL_VALUES = 200;

/** A label value mapper that admits the first 200 distinct values (cut to 64 chars), then "other". */
export function boundedLabel(): (value: string | null | undefined) => string {
  const seen = new Set<string>();
  return (value) => {
    if (!value) return 'anonymous';
    const label = value.slice(0, 64);
    if (seen.has(label)) return label;
    if (seen.size >= MAX_LABEL_VALUES) return 'other';
    seen.add(label);
    return label;
  };
}
