/** The README's first configuration table: where the gateway listens, its upstream, timeouts, logs. */
import type { DefaultContext, Variable } from './variable.js';
import { SIMULATOR_MODEL } from '../completion/tokens.js';

/** The model asked for when a request names none and the upstream is a real one. */
export const OPENAI_DEFAULT_MODEL = 'gpt-4o-mini';

/** pino's level names; case-sensitive, as pino's are. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const GENERAL = [
  {
    env: 'PORT',
    group: 'general',
    field: 'port',
    type: 'integer',
    min: 0,
    max: 65_535,
    default: 4000,
    doc: 'HTTP port (GraphQL over HTTP, SSE and WebSocket share it).',
  },
  {
    env: 'HOST',
    group: 'general',
    field: 'host',
    type: 'string',
    shown: 'all interfaces',
    doc: 'Address to listen on, e.g. `127.0.0.1` to keep it local.',
  },
  {
    env: 'OPENAI_API_KEY',
    group: 'general',
    type: 'string',
    doc: 'Upstream key. Never logged, never returned to clients.',
  },
  {
    env: 'OPENAI_BASE_URL',
    group: 'general',
    type: 'url',
    shown: "OpenAI's API",
    doc: 'Any OpenAI-compatible base URL (ending in `/v1`).',
  },
  {
    env: 'DEFAULT_MODEL',
    group: 'general',
    field: 'defaultModel',
    type: 'string',
    default: (context: DefaultContext) => (context.simulator ? SIMULATOR_MODEL : OPENAI_DEFAULT_MODEL),
    shown: '`gpt-4o-mini` (`simulator` offline)',
    doc: 'Model used when a request names none.',
  },
  {
    env: 'UPSTREAM_TIMEOUT_MS',
    group: 'general',
    field: 'upstreamTimeoutMs',
    type: 'integer',
    min: 1,
    max: 3_600_000,
    default: 60_000,
    doc: "Longest wait for a mutation's whole answer, or a stream's first chunk: one budget for the whole wait, retries, their backoff and `retry-after`, and fallbacks included.",
  },
  {
    env: 'UPSTREAM_IDLE_TIMEOUT_MS',
    group: 'general',
    field: 'upstreamIdleTimeoutMs',
    type: 'integer',
    min: 1,
    max: 3_600_000,
    default: 30_000,
    doc: 'Longest silence of the upstream between two chunks of a stream (not counted while a slow client holds the stream back).',
  },
  {
    env: 'UPSTREAM_MAX_RETRIES',
    group: 'general',
    field: 'upstreamMaxRetries',
    type: 'integer',
    min: 0,
    max: 10,
    default: 2,
    doc: 'Retries on 429, 5xx and connection errors, honouring `retry-after`; only before a response has started.',
  },
  {
    env: 'SIMULATOR_TOKEN_DELAY_MS',
    group: 'general',
    field: 'simulatorTokenDelayMs',
    type: 'integer',
    min: 0,
    max: 60_000,
    default: 40,
    doc: "The simulator's pause between streamed tokens (0 = as fast as possible).",
  },
  {
    env: 'LOG_LEVEL',
    group: 'general',
    field: 'logLevel',
    type: 'enum',
    values: LOG_LEVELS,
    default: 'info',
    doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON lines on stdout.',
  },
  {
    env: 'CHAT_UI',
    group: 'general',
    field: 'chatUi',
    type: 'boolean',
    default: false,
    doc: 'Serve the example chat app (`examples/chat`) at `/chat`. `npm start` builds it when it is missing or stale; plain `node dist/main.js` refuses to start without a build.',
  },
  {
    env: 'NODE_ENV',
    group: 'general',
    type: 'string',
    doc: '`production` turns on the defaults marked "when `NODE_ENV=production`" (hidden field suggestions, required keys).',
  },
] as const satisfies readonly Variable[];
