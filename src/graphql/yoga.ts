/**
 * Yoga with the gateway's plugins, one concern each: request ids, compiled subscription
 * events, operation metrics, typed variable errors, Apollo's multipart subscriptions,
 * graphql-sse's single-connection mode, graphql-armor limits, CSRF prevention, trusted documents
 * and introspection off when configured; plus the GraphiQL page, compressed and cached.
 */
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { OperationInfo } from '../server/context.js';
import type { SharedRedis } from '../shared-state/redis.js';
import { corsFor } from '../server/cors.js';
import type { Context } from './builder.js';
import { useSingleConnectionSSE } from './plugins/use-graphql-sse.js';
import { useCompiledSubscriptions } from './plugins/use-compiled-subscriptions.js';
import { useGraphiQLCache } from './plugins/use-graphiql-cache.js';
import { useMultipartSubscriptions } from './plugins/use-multipart-subscriptions.js';
import { useOperationLimits } from './plugins/use-operation-limits.js';
import { useOperationMetrics } from './plugins/use-operation-metrics.js';
import { useRequestId } from './plugins/use-request-id.js';
import { useTrustedDocuments } from './plugins/use-trusted-documents.js';
import { useVariableErrorCodes } from './plugins/use-variable-error-codes.js';
import { schema } from './schema/index.js';
import type { TrustedDocuments } from './trusted-documents.js';

export type GatewayYoga = YogaServerInstance<Record<string, unknown>, Context>;

const EXAMPLE_OPERATION = `# The subscription streams a completion as the model writes it.
# With no OPENAI_API_KEY the gateway answers from its built-in simulator.
subscription Stream {
  completionStream(input: { messages: [{ role: USER, content: "Write a haiku about GraphQL" }], maxTokens: 60 }) {
    accumulatedText
    finishReason
    usage { promptTokens completionTokens totalTokens }
  }
}

mutation Complete {
  complete(input: { messages: [{ role: USER, content: "How are you?" }], temperature: 0 }) {
    model
    text
    usage { totalTokens }
  }
}

# Tools: the model answers with a call (send it back with a TOOL message to finish the round trip).
mutation CallTool {
  complete(input: {
    messages: [{ role: USER, content: "What is the weather in Paris? Use get_weather." }]
    tools: [{
      name: "get_weather"
      description: "Current weather for a city"
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    }]
  }) {
    choices { finishReason }
    toolCalls { id name arguments argumentsJson }
  }
}

# Structured output: JSON valid against a schema, parsed in \`json\`.
mutation StructuredOutput {
  complete(input: {
    messages: [{ role: USER, content: "Ada Lovelace, born 1815" }]
    responseFormat: { type: JSON_SCHEMA, jsonSchema: {
      name: "person"
      schema: { type: "object", properties: { name: { type: "string" }, born: { type: "integer" } }, required: ["name", "born"] }
    } }
  }) {
    json
  }
}
`;

export function createGatewayYoga(
  config: Pick<Config, 'limits' | 'compiledSubscriptions' | 'multipartHeartbeatMs'>,
  context: (initial: YogaInitialContext & OperationInfo) => Promise<Context>,
  metrics: Metrics,
  logger: Logger,
  /** The TRUSTED_DOCUMENTS_FILE manifest, loaded by the app; absent: clients send text only. */
  trustedDocuments?: TrustedDocuments,
  /** The shared state (REDIS_URL): graphql-sse's single-connection streams are found across processes. */
  redis?: SharedRedis,
): GatewayYoga {
  const { limits } = config;
  // The GraphiQL page inlines its ~9 MB bundle from the installed package (no CDN, works
  // offline). It is loaded on the first page view, not at start (it costs ~45 MB), rendered
  // once, and compressed once (to 1.9 MB in brotli, 2.4 MB in gzip).
  const graphiql = limits.graphiql
    ? useGraphiQLCache(
        { title: 'LLM GraphQL Gateway', defaultQuery: EXAMPLE_OPERATION, additionalHeaders: { 'x-graphql-yoga-csrf': 'graphiql' } },
        async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
      )
    : undefined;

  const plugins: Plugin[] = [
    useRequestId(),
    useCompiledSubscriptions(config.compiledSubscriptions),
    useOperationMetrics(metrics),
    useVariableErrorCodes(),
    ...useOperationLimits(limits),
    // Browsers send GET and "simple" POSTs without a CORS preflight: those must carry a
    // custom header (GraphiQL adds it below), JSON requests are preflighted anyway.
    useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'] }),
    useMultipartSubscriptions({ heartbeatMs: config.multipartHeartbeatMs }),
    // graphql-sse's single-connection mode (PUT/DELETE, or a stream token) on the same endpoint.
    useSingleConnectionSSE('/graphql', {
      trustedDocuments,
      redis,
      reserveMs: limits.sseReservationTimeoutMs,
      forwarded: (result) => metrics.sseForwarded.inc({ result }),
    }),
    ...(trustedDocuments ? useTrustedDocuments(trustedDocuments) : []),
  ];
  // A validation rule rather than Yoga's plugin, which only applies to HTTP requests.
  if (!limits.introspection) plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });

  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // http.ts caps the body before Yoga sees it; Yoga's own cap would re-stream every body.
    maxRequestBodySize: false,
    batching: limits.batchLimit > 0 ? { limit: limits.batchLimit } : false,
    cors: corsFor(limits.allowedOrigins),
    graphiql: graphiql?.options ?? false,
    renderGraphiQL: graphiql?.render,
    // Last, so it keeps the headers every other plugin set on the page's response.
    plugins: graphiql ? [...plugins, graphiql.plugin] : plugins,
    logging: {
      debug: (...args: unknown[]) => logger.debug({ args }, 'yoga'),
      info: (...args: unknown[]) => logger.info({ args }, 'yoga'),
      warn: (...args: unknown[]) => logger.warn({ args }, 'yoga'),
      error: (...args: unknown[]) => logger.error({ err: args[0] }, 'yoga'),
    },
    context,
  });
}
