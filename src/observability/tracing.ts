/**
 * Optional OpenTelemetry tracing: off unless an OTLP endpoint is configured, so the
 * default costs nothing (the API's no-op tracer). With it, each operation and each
 * upstream call become spans exported over OTLP/HTTP (JSON).
 */
import { trace, type Tracer, type TracerProvider as ApiTracerProvider } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export interface Tracing {
  /** Sends what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

export function startTracing(endpoint: string, serviceName = 'llm-graphql-gateway'): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint }), scheduledDelayMillis: 500 })],
  });
  trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}

// A tracer provider may be installed (or replaced) after this module loads, so the tracer is
// looked up again whenever the global provider changes; otherwise the same one is reused
// (getting a tracer allocates one, which every operation would pay for, traced or not).
let cachedTracer: { provider: ApiTracerProvider; tracer: Tracer } | undefined;
export const gatewayTracer = (): Tracer => {
  const provider = trace.getTracerProvider();
  if (cachedTracer?.provider !== provider) cachedTracer = { provider, tracer: provider.getTracer('llm-graphql-gateway') };
  return cachedTracer.tracer;
};
