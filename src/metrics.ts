/**
 * Prometheus metrics, one registry per app (tests run several apps in one process).
 * Label values are bounded: operation names come from the client, so they are cut to a
 * fixed length; models come from the request and are kept as sent.
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
    help: 'Requests served by a fallback after the first choice failed, by the model tried and the error.',
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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
