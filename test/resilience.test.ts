/**
 * Resilience through the public surface: the fallback chain (other models on the main
 * upstream, then a second upstream), what never falls back, the upstream concurrency cap
 * with its wait list, and SDK retries that must not race the gateway's own timers.
 * Every upstream is a real fake HTTP server; every client is a real GraphQL client.
 */
import { print, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CompleteDocument,
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream, type Script } from './fake-upstream.js';
import {
  collectSse,
  collectWs,
  graphql,
  startGateway,
  useGatewayWithFake,
  wsClient,
  type GraphQLErrorShape,
  type TestGateway,
} from './helpers.js';

// Keys not shaped like OpenAI's (`sk-…`): only the gateway's knowledge of its own secrets can hide them.
const MAIN_KEY = 'main-upstream-key-6c1f0e9a2b7d4853';
const SECOND_KEY = 'second-upstream-key-93a4d27e5f0b18c6';

const REQUESTED = 'gpt-4o-mini'; // DEFAULT_MODEL of a gateway with a real upstream
const FALLBACK = 'gpt-4o-mini-fallback';
const SECOND_MODEL = 'second-upstream-model';
const FAKE_TEXT = 'Hello from the fake upstream.';

const input: CompletionInput = { messages: [{ role: 'USER', content: 'Say hello' }] };

// ---------------------------------------------------------------------------
// Clients: one call, whatever the transport, summed up the same way
// ---------------------------------------------------------------------------

type Transport = 'mutation' | 'graphql-ws' | 'SSE';
const TRANSPORTS: readonly Transport[] = ['mutation', 'graphql-ws', 'SSE'];

interface Outcome {
  /** The models the answer names: `Completion.model`, or every chunk's `model`. */
  models: string[];
  /** The whole text (the last chunk's accumulatedText for streams). */
  text: string | null;
  /** The text of each streamed chunk (none for a mutation). */
  chunks: string[];
  /** The error that ended the operation, if any. */
  error: GraphQLErrorShape | undefined;
  /** Everything the client received, serialised: to look for what must never leak. */
  raw: string;
}

function summarise(results: ExecutionResult<CompletionStreamSubscription>[]): Outcome {
  const chunks = results.flatMap((r) => (r.data?.completionStream ? [r.data.completionStream] : []));
  const failed = results.find((r) => r.errors?.length);
  return {
    models: chunks.map((c) => c.model),
    text: chunks.at(-1)?.accumulatedText ?? null,
    chunks: chunks.map((c) => c.text),
    error: failed?.errors?.[0],
    raw: JSON.stringify(results),
  };
}

async function call(gw: TestGateway, transport: Transport, request: CompletionInput = input): Promise<Outcome> {
  if (transport === 'mutation') {
    const result = await graphql(gw.httpUrl, CompleteDocument, { input: request });
    return {
      models: result.data ? [result.data.complete.model] : [],
      text: result.data?.complete.text ?? null,
      chunks: [],
      error: result.errors?.[0],
      raw: JSON.stringify(result),
    };
  }
  if (transport === 'SSE') return summarise(await collectSse(gw.httpUrl, CompletionStreamDocument, { input: request }));
  const client = wsClient(gw.wsUrl);
  try {
    return summarise(await collectWs(client, CompletionStreamDocument, { input: request }));
  } finally {
    await client.dispose();
  }
}

/** The models a fake was asked for, in order. */
function modelsAsked(fake: FakeUpstream): unknown[] {
  return fake.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.body?.['model']);
}

/** A graphql-ws subscription kept open, for tests that hold upstream slots. */
interface OpenSubscription {
  readonly results: FormattedExecutionResult<CompletionStreamSubscription, unknown>[];
  /** Resolves at the first payload (chunk or error). */
  readonly first: Promise<FormattedExecutionResult<CompletionStreamSubscription, unknown>>;
  /** Resolves when the server completes the subscription. */
  readonly done: Promise<void>;
  /** Unsubscribes (graphql-ws `complete`). */
  leave(): void;
}

function subscribe(gw: TestGateway, clients: Client[]): OpenSubscription {
  const client = wsClient(gw.wsUrl);
  clients.push(client);
  const results: FormattedExecutionResult<CompletionStreamSubscription, unknown>[] = [];
  let onFirst: (r: FormattedExecutionResult<CompletionStreamSubscription, unknown>) => void = () => undefined;
  let onDone: () => void = () => undefined;
  const first = new Promise<FormattedExecutionResult<CompletionStreamSubscription, unknown>>((resolve) => (onFirst = resolve));
  const done = new Promise<void>((resolve) => (onDone = resolve));
  const leave = client.subscribe<CompletionStreamSubscription>(
    { query: print(CompletionStreamDocument), variables: { input } },
    {
      next: (result) => {
        results.push(result);
        if (results.length === 1) onFirst(result);
      },
      error: () => onDone(),
      complete: () => onDone(),
    },
  );
  return { results, first, done, leave };
}

/** Closes the clients' sockets (ending their subscriptions) and empties the list. */
async function disposeAll(clients: Client[]): Promise<void> {
  for (const client of clients.splice(0)) await client.dispose();
}

// ---------------------------------------------------------------------------
// Metrics, parsed from the Prometheus text at GET /metrics
// ---------------------------------------------------------------------------

/** The sum of a metric's samples whose labels include `labels` (0 when there is none yet). */
async function metric(gw: TestGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${gw.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  let total = 0;
  for (const line of (await response.text()).split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!sample || sample[1] !== name) continue;
    const found = new Map([...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) total += Number(sample[3]);
  }
  return total;
}

/** Polls a metric until it equals `value`. */
async function metricReaches(gw: TestGateway, name: string, value: number, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = await metric(gw, name);
  while (last !== value) {
    if (Date.now() > deadline) throw new Error(`timed out: ${name} is ${last}, expected ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    last = await metric(gw, name);
  }
}

const fallbacks = (gw: TestGateway, labels: { from?: string; to?: string; code?: string } = {}): Promise<number> =>
  metric(gw, 'gateway_fallbacks_total', labels);

// ---------------------------------------------------------------------------
// Set-ups with more than one upstream
// ---------------------------------------------------------------------------

interface TwoUpstreams {
  readonly main: FakeUpstream;
  readonly second: FakeUpstream;
  readonly gw: TestGateway;
}

/**
 * A gateway with a main fake upstream (or, with `mainReachable: false`, a closed port)
 * and a second fake upstream behind FALLBACK_OPENAI_BASE_URL.
 */
function useTwoUpstreams(env: Record<string, string>, options: { mainReachable: boolean }): TwoUpstreams {
  let main: FakeUpstream | undefined;
  let second: FakeUpstream | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    main = await startFakeUpstream();
    second = await startFakeUpstream();
    if (!options.mainReachable) await main.close(); // nothing listens there any more: connection refused
    gw = await startGateway({
      OPENAI_API_KEY: MAIN_KEY,
      OPENAI_BASE_URL: main.url,
      FALLBACK_OPENAI_BASE_URL: second.url,
      ...env,
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await main?.close();
    await second?.close();
  });
  beforeEach(() => {
    if (options.mainReachable) main?.reset();
    second?.reset();
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('started in beforeAll');
    return value;
  };
  return {
    get main() {
      return need(main);
    },
    get second() {
      return need(second);
    },
    get gw() {
      return need(gw);
    },
  };
}

// ---------------------------------------------------------------------------
// 1–3, 5, 7: fallback models on the main upstream
// ---------------------------------------------------------------------------

describe('fallback to FALLBACK_MODELS on the main upstream', () => {
  const ctx = useGatewayWithFake({
    OPENAI_API_KEY: MAIN_KEY,
    FALLBACK_MODELS: `${FALLBACK},gpt-4o`,
    UPSTREAM_TIMEOUT_MS: '300',
  });

  const triggers: { name: string; fault: Script['fault']; code: string }[] = [
    { name: 'a 429', fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, code: 'RATE_LIMITED' },
    { name: 'a 500', fault: { kind: 'serverError' }, code: 'UPSTREAM_ERROR' },
    { name: 'a 503 from a proxy (non-JSON body)', fault: { kind: 'status', status: 503, body: 'Service Unavailable' }, code: 'UPSTREAM_ERROR' },
    { name: 'no response headers within UPSTREAM_TIMEOUT_MS', fault: { kind: 'hang' }, code: 'UPSTREAM_TIMEOUT' },
    { name: 'headers but no body / first chunk within UPSTREAM_TIMEOUT_MS', fault: { kind: 'hangAfterHeaders' }, code: 'UPSTREAM_TIMEOUT' },
  ];

  for (const trigger of triggers) {
    for (const transport of TRANSPORTS) {
      it(`serves the ${transport} from the next model after ${trigger.name} (${trigger.code}), naming that model`, async () => {
        ctx.fake.script({ fault: trigger.fault, faultTimes: 1 });
        const before = await fallbacks(ctx.gw, { from: REQUESTED, to: FALLBACK, code: trigger.code });

        const outcome = await call(ctx.gw, transport);

        expect(outcome.error).toBeUndefined();
        expect(outcome.text).toBe(FAKE_TEXT);
        expect(outcome.models.length).toBeGreaterThan(0);
        expect(new Set(outcome.models)).toEqual(new Set([FALLBACK]));
        // The requested model first, then the first fallback; the second fallback never needed.
        expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, FALLBACK]);
        expect(await fallbacks(ctx.gw, { from: REQUESTED, to: FALLBACK, code: trigger.code })).toBe(before + 1);
      });
    }
  }

  for (const transport of ['graphql-ws', 'SSE'] as const) {
    const cuts = [
      { fault: { kind: 'dieAfter', chunks: 0 }, how: 'dies', code: 'UPSTREAM_ERROR' },
      { fault: { kind: 'stallAfter', chunks: 0 }, how: 'goes silent', code: 'UPSTREAM_TIMEOUT' },
    ] as const;
    for (const cut of cuts) {
      it(`falls back when a ${transport} stream ${cut.how} after its opening role chunk but before any text (${cut.code})`, async () => {
        ctx.fake.script({ fault: cut.fault, faultTimes: 1 });
        const before = await fallbacks(ctx.gw, { from: REQUESTED, to: FALLBACK, code: cut.code });
        const outcome = await call(ctx.gw, transport);
        expect(outcome.error).toBeUndefined();
        // Nothing of the failed attempt leaks into the answer.
        expect(outcome.chunks.join('')).toBe(FAKE_TEXT);
        expect(new Set(outcome.models)).toEqual(new Set([FALLBACK]));
        expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, FALLBACK]);
        expect(await fallbacks(ctx.gw, { from: REQUESTED, to: FALLBACK, code: cut.code })).toBe(before + 1);
      });
    }
  }

  it('aborts the upstream request it gave up on when falling back after a timeout', async () => {
    ctx.fake.script({ fault: { kind: 'hangAfterHeaders' }, faultTimes: 1 });
    const outcome = await call(ctx.gw, 'graphql-ws');
    expect(outcome.error).toBeUndefined();
    const aborted = await ctx.fake.waitForAbort();
    expect(aborted.body?.['model']).toBe(REQUESTED);
  });

  it('goes on down the list: the second fallback model serves when the first fallback fails too', async () => {
    for (const transport of TRANSPORTS) {
      ctx.fake.reset();
      ctx.fake.script({ fault: { kind: 'serverError' }, faultTimes: 2 });
      const outcome = await call(ctx.gw, transport);
      expect(outcome.error).toBeUndefined();
      expect(new Set(outcome.models)).toEqual(new Set(['gpt-4o']));
      expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, FALLBACK, 'gpt-4o']);
    }
  });

  it('does not list the requested model twice when it is also a fallback model', async () => {
    ctx.fake.script({ fault: { kind: 'serverError' }, faultTimes: 1 });
    const outcome = await call(ctx.gw, 'mutation', { ...input, model: FALLBACK });
    expect(outcome.error).toBeUndefined();
    expect(modelsAsked(ctx.fake)).toEqual([FALLBACK, 'gpt-4o']);
  });

  describe('never falls back for errors that are the request’s (or the credentials’) fault', () => {
    const cases: { name: string; fault: Script['fault']; code: string; model?: string }[] = [
      { name: '400 context_length_exceeded', fault: { kind: 'contextOverflow' }, code: 'CONTEXT_LENGTH_EXCEEDED', model: 'my-finetune' },
      { name: '401 invalid key', fault: { kind: 'unauthorized' }, code: 'UPSTREAM_AUTH_FAILED' },
      { name: '403 no access', fault: { kind: 'forbidden' }, code: 'UPSTREAM_AUTH_FAILED' },
      { name: 'another 400', fault: { kind: 'status', status: 400 }, code: 'UPSTREAM_REJECTED' },
    ];
    for (const c of cases) {
      for (const transport of TRANSPORTS) {
        it(`answers ${c.name} with ${c.code} over ${transport} after exactly one upstream request`, async () => {
          ctx.fake.script({ fault: c.fault });
          const before = await fallbacks(ctx.gw);
          const outcome = await call(ctx.gw, transport, c.model ? { ...input, model: c.model } : input);
          expect(outcome.error?.extensions?.code).toBe(c.code);
          expect(outcome.chunks).toEqual([]);
          expect(modelsAsked(ctx.fake)).toEqual([c.model ?? REQUESTED]);
          expect(await fallbacks(ctx.gw)).toBe(before);
          expect(outcome.raw).not.toContain(MAIN_KEY);
        });
      }
    }
  });

  describe('never falls back once a chunk has reached the client', () => {
    for (const transport of ['graphql-ws', 'SSE'] as const) {
      it(`ends a ${transport} stream that dies after 2 chunks with those chunks and UPSTREAM_ERROR, after one request`, async () => {
        ctx.fake.script({ fault: { kind: 'dieAfter', chunks: 2 } });
        const before = await fallbacks(ctx.gw);
        const outcome = await call(ctx.gw, transport);
        expect(outcome.chunks).toEqual(['Hello', ' from']);
        expect(outcome.models).toEqual([REQUESTED, REQUESTED]);
        expect(outcome.error?.extensions?.code).toBe('UPSTREAM_ERROR');
        expect(modelsAsked(ctx.fake)).toEqual([REQUESTED]);
        expect(await fallbacks(ctx.gw)).toBe(before);
      });

      it(`ends a ${transport} stream that goes silent after a chunk with UPSTREAM_TIMEOUT, after one request`, async () => {
        ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
        const stalling = await startGateway({
          OPENAI_API_KEY: MAIN_KEY,
          OPENAI_BASE_URL: ctx.fake.url,
          FALLBACK_MODELS: FALLBACK,
          UPSTREAM_IDLE_TIMEOUT_MS: '200',
        });
        try {
          const outcome = await call(stalling, transport);
          expect(outcome.chunks).toEqual(['Hello']);
          expect(outcome.error?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
          expect(modelsAsked(ctx.fake)).toEqual([REQUESTED]);
        } finally {
          await stalling.stop();
        }
      });
    }
  });

  it('returns the last target’s error when every model fails, each tried once', async () => {
    for (const transport of TRANSPORTS) {
      ctx.fake.reset();
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 2 } });
      const outcome = await call(ctx.gw, transport);
      expect(outcome.error?.extensions).toMatchObject({ code: 'RATE_LIMITED', upstreamStatus: 429, retryAfterMs: 2000 });
      expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, FALLBACK, 'gpt-4o']);
    }
  });

  it('counts every step of the chain in gateway_fallbacks_total by from, to and code', async () => {
    const first = { from: REQUESTED, to: FALLBACK, code: 'UPSTREAM_ERROR' };
    const second = { from: FALLBACK, to: 'gpt-4o', code: 'RATE_LIMITED' };
    const [beforeFirst, beforeSecond] = [await fallbacks(ctx.gw, first), await fallbacks(ctx.gw, second)];
    ctx.fake.script({ fault: { kind: 'serverError' }, faultTimes: 1 });
    expect((await call(ctx.gw, 'mutation')).error).toBeUndefined();
    // Now the first fallback is rate limited as well: one answer, two fallbacks.
    ctx.fake.reset();
    ctx.fake.script({ fault: { kind: 'serverError' }, faultTimes: 1 });
    const stream = call(ctx.gw, 'graphql-ws');
    await ctx.fake.waitForRequests(1);
    ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, faultTimes: 1 });
    expect((await stream).error).toBeUndefined();
    expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, FALLBACK, 'gpt-4o']);
    expect(await fallbacks(ctx.gw, first)).toBe(beforeFirst + 2);
    expect(await fallbacks(ctx.gw, second)).toBe(beforeSecond + 1);
  });
});

describe('a client that leaves while the first target is still out', () => {
  const ctx = useGatewayWithFake({
    OPENAI_API_KEY: MAIN_KEY,
    FALLBACK_MODELS: FALLBACK,
    UPSTREAM_TIMEOUT_MS: '60000',
  });
  beforeEach(() => ctx.fake.script({ fault: { kind: 'hang' } }));

  /** After the abort, one normal request: a fallback started for the departed client would show up before it ends. */
  async function expectNoFallbackAfterAbort(fallbacksBefore: number): Promise<void> {
    const aborted = await ctx.fake.waitForAbort();
    expect(aborted.body?.['model']).toBe(REQUESTED);
    ctx.fake.script({});
    expect((await call(ctx.gw, 'mutation')).error).toBeUndefined();
    expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, REQUESTED]);
    // Not even one attempted and cut at once: a departed client is no upstream failure.
    expect(await fallbacks(ctx.gw)).toBe(fallbacksBefore);
  }

  it('aborts the upstream call and tries no fallback when a graphql-ws subscriber leaves', async () => {
    const clients: Client[] = [];
    try {
      const before = await fallbacks(ctx.gw);
      const leaving = subscribe(ctx.gw, clients);
      await ctx.fake.waitForRequests(1);
      leaving.leave();
      await expectNoFallbackAfterAbort(before);
      expect(leaving.results).toEqual([]);
    } finally {
      await disposeAll(clients);
    }
  });

  it('aborts the upstream call and tries no fallback when the client of a mutation disconnects', async () => {
    const before = await fallbacks(ctx.gw);
    const controller = new AbortController();
    const pending = graphql(ctx.gw.httpUrl, CompleteDocument, { input }, { signal: controller.signal });
    await ctx.fake.waitForRequests(1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await expectNoFallbackAfterAbort(before);
  });
});

// ---------------------------------------------------------------------------
// 1 (connection failure) and 4, 5: the second upstream
// ---------------------------------------------------------------------------

describe('fallback to the second upstream when the main one cannot be reached', () => {
  const ctx = useTwoUpstreams({ FALLBACK_MODELS: FALLBACK, FALLBACK_MODEL: SECOND_MODEL }, { mainReachable: false });

  for (const transport of TRANSPORTS) {
    it(`serves the ${transport} from the second upstream after connection failures on the main one`, async () => {
      const before = await fallbacks(ctx.gw, { from: FALLBACK, to: SECOND_MODEL, code: 'UPSTREAM_ERROR' });
      const outcome = await call(ctx.gw, transport);
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(FAKE_TEXT);
      expect(new Set(outcome.models)).toEqual(new Set([SECOND_MODEL]));
      expect(modelsAsked(ctx.second)).toEqual([SECOND_MODEL]);
      expect(ctx.second.requests[0]?.headers['authorization']).not.toContain(MAIN_KEY);
      expect(await fallbacks(ctx.gw, { from: REQUESTED, to: FALLBACK, code: 'UPSTREAM_ERROR' })).toBeGreaterThan(0);
      expect(await fallbacks(ctx.gw, { from: FALLBACK, to: SECOND_MODEL, code: 'UPSTREAM_ERROR' })).toBe(before + 1);
    });
  }
});

describe('the second upstream (FALLBACK_OPENAI_BASE_URL, FALLBACK_OPENAI_API_KEY, FALLBACK_MODEL)', () => {
  const ctx = useTwoUpstreams(
    { FALLBACK_MODELS: FALLBACK, FALLBACK_OPENAI_API_KEY: SECOND_KEY, FALLBACK_MODEL: SECOND_MODEL },
    { mainReachable: true },
  );

  const expectNoKeys = (outcome: Outcome): void => {
    expect(outcome.raw).not.toContain(MAIN_KEY);
    expect(outcome.raw).not.toContain(SECOND_KEY);
  };

  for (const transport of TRANSPORTS) {
    it(`is tried last, with its own key and FALLBACK_MODEL, and serves the ${transport}`, async () => {
      ctx.main.script({ fault: { kind: 'serverError' } });
      const outcome = await call(ctx.gw, transport);

      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(FAKE_TEXT);
      expect(new Set(outcome.models)).toEqual(new Set([SECOND_MODEL]));
      expect(modelsAsked(ctx.main)).toEqual([REQUESTED, FALLBACK]);
      expect(ctx.main.requests.map((r) => r.headers['authorization'])).toEqual([`Bearer ${MAIN_KEY}`, `Bearer ${MAIN_KEY}`]);
      expect(modelsAsked(ctx.second)).toEqual([SECOND_MODEL]);
      expect(ctx.second.requests[0]?.headers['authorization']).toBe(`Bearer ${SECOND_KEY}`);
      expectNoKeys(outcome);
    });

    it(`returns the last error (the second upstream’s RATE_LIMITED) over ${transport} when every target fails, each tried once`, async () => {
      ctx.main.script({ fault: { kind: 'serverError' } });
      ctx.second.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 } });
      const outcome = await call(ctx.gw, transport);

      expect(outcome.error?.extensions).toMatchObject({ code: 'RATE_LIMITED', upstreamStatus: 429 });
      expect(outcome.chunks).toEqual([]);
      expect(modelsAsked(ctx.main)).toEqual([REQUESTED, FALLBACK]);
      expect(modelsAsked(ctx.second)).toEqual([SECOND_MODEL]);
      expectNoKeys(outcome);
    });

    it(`never echoes the second upstream’s key when it refuses it (401) over ${transport}`, async () => {
      ctx.main.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 } });
      ctx.second.script({ fault: { kind: 'unauthorized' } });
      const outcome = await call(ctx.gw, transport);

      expect(outcome.error?.extensions?.code).toBe('UPSTREAM_AUTH_FAILED');
      expect(modelsAsked(ctx.second)).toEqual([SECOND_MODEL]);
      expectNoKeys(outcome);
    });
  }

  it('keeps both keys out of every log line', () => {
    // Runs after the tests above: 500s, 429s and a 401 that quotes the second key.
    expect(ctx.gw.logs.length).toBeGreaterThan(5);
    for (const line of ctx.gw.logs) {
      expect(line).not.toContain(MAIN_KEY);
      expect(line).not.toContain(SECOND_KEY);
    }
  });
});

// ---------------------------------------------------------------------------
// 6: fallback targets whose context window is too small are skipped
// ---------------------------------------------------------------------------

describe('fallback targets that cannot hold the prompt', () => {
  const ctx = useGatewayWithFake({ OPENAI_API_KEY: MAIN_KEY, FALLBACK_MODELS: 'gpt-4,gpt-4o' });
  // ~9000 tokens: over gpt-4's 8192, far under gpt-4o's 128k. The requested model is one
  // the gateway does not know, so it cannot refuse the prompt itself.
  const long: CompletionInput = { model: 'my-finetune', messages: [{ role: 'USER', content: 'hello '.repeat(9000) }] };

  for (const transport of TRANSPORTS) {
    it(`skips gpt-4 (8192 tokens) for a ~9000-token prompt and serves the ${transport} from gpt-4o`, async () => {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, faultTimes: 1 });
      const before = await fallbacks(ctx.gw, { from: 'my-finetune', to: 'gpt-4o', code: 'RATE_LIMITED' });
      const outcome = await call(ctx.gw, transport, long);
      expect(outcome.error).toBeUndefined();
      expect(new Set(outcome.models)).toEqual(new Set(['gpt-4o']));
      expect(modelsAsked(ctx.fake)).toEqual(['my-finetune', 'gpt-4o']);
      expect(await fallbacks(ctx.gw, { from: 'my-finetune', to: 'gpt-4o', code: 'RATE_LIMITED' })).toBe(before + 1);
      expect(await fallbacks(ctx.gw, { to: 'gpt-4' })).toBe(0);
    });
  }

  it('still tries gpt-4 for a prompt that fits it', async () => {
    ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 }, faultTimes: 1 });
    const outcome = await call(ctx.gw, 'mutation', { ...long, messages: [{ role: 'USER', content: 'hello' }] });
    expect(outcome.models).toEqual(['gpt-4']);
    expect(modelsAsked(ctx.fake)).toEqual(['my-finetune', 'gpt-4']);
  });

  it('returns the requested model’s own error when no fallback can hold the prompt', async () => {
    const narrow = await startGateway({ OPENAI_API_KEY: MAIN_KEY, OPENAI_BASE_URL: ctx.fake.url, FALLBACK_MODELS: 'gpt-4' });
    try {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0 } });
      const outcome = await call(narrow, 'mutation', long);
      expect(outcome.error?.extensions?.code).toBe('RATE_LIMITED');
      expect(modelsAsked(ctx.fake)).toEqual(['my-finetune']);
    } finally {
      await narrow.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// 8: the concurrency cap and its wait list
// ---------------------------------------------------------------------------

describe('UPSTREAM_MAX_CONCURRENCY=2 with UPSTREAM_QUEUE_LIMIT=1', () => {
  const ctx = useGatewayWithFake({
    UPSTREAM_MAX_CONCURRENCY: '2',
    UPSTREAM_QUEUE_LIMIT: '1',
    UPSTREAM_QUEUE_TIMEOUT_MS: '60000',
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
  });
  const clients: Client[] = [];
  beforeEach(() => ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } }));
  afterEach(async () => {
    await disposeAll(clients);
    // Every slot and queue place is free again before the next test.
    await metricReaches(ctx.gw, 'gateway_active_subscriptions', 0);
    await metricReaches(ctx.gw, 'gateway_upstream_queue_length', 0);
  });

  const queued = (): Promise<number> => metric(ctx.gw, 'gateway_upstream_queue_length');
  const waitQueued = (n: number): Promise<void> => metricReaches(ctx.gw, 'gateway_upstream_queue_length', n);

  /** Two streams that hold both slots (each got its first chunk, then the upstream stalls). */
  async function fillSlots(): Promise<[OpenSubscription, OpenSubscription]> {
    const a = subscribe(ctx.gw, clients);
    const b = subscribe(ctx.gw, clients);
    await Promise.all([a.first, b.first]);
    expect(ctx.fake.requests).toHaveLength(2);
    return [a, b];
  }

  it('holds a third request back, refuses a fourth at once, and lets the third through when a slot frees', async () => {
    const [a] = await fillSlots();

    const third = subscribe(ctx.gw, clients);
    await waitQueued(1);
    expect(ctx.fake.requests).toHaveLength(2);
    expect(third.results).toEqual([]);

    // The wait list is full: a fourth is refused, over every transport, and never reaches the fake.
    for (const transport of TRANSPORTS) {
      const refused = await call(ctx.gw, transport);
      expect(refused.error?.extensions?.code).toBe('RATE_LIMITED');
      expect(refused.error?.extensions?.['retryAfterMs']).toBeGreaterThan(0);
      expect(refused.chunks).toEqual([]);
    }
    expect(ctx.fake.requests).toHaveLength(2);
    expect(third.results).toEqual([]);

    a.leave();
    await ctx.fake.waitForRequests(3);
    const firstOfThird = await third.first;
    expect(firstOfThird.data?.completionStream.text).toBe('Hello');
    expect(await queued()).toBe(0);
  });

  it('serves requests below the cap without refusing any', async () => {
    ctx.fake.script({});
    const outcomes = await Promise.all([call(ctx.gw, 'mutation'), call(ctx.gw, 'graphql-ws')]);
    expect(outcomes.map((o) => o.error)).toEqual([undefined, undefined]);
    expect(ctx.fake.requests).toHaveLength(2);
  });

  it('frees the queue place of a subscription that leaves while waiting; it never reaches the upstream', async () => {
    await fillSlots();
    const leaving = subscribe(ctx.gw, clients);
    await waitQueued(1);
    leaving.leave();
    await waitQueued(0);

    // The place is free again: the next request waits instead of being refused.
    const next = subscribe(ctx.gw, clients);
    await waitQueued(1);
    expect(next.results).toEqual([]);
    expect(ctx.fake.requests).toHaveLength(2);
    next.leave();
    await waitQueued(0);

    // Free the slots: neither queued client may show up at the upstream afterwards.
    ctx.fake.script({});
    await disposeAll(clients);
    expect((await call(ctx.gw, 'mutation')).error).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(3);
    expect(leaving.results).toEqual([]);
  });

  it('frees the queue place of an HTTP mutation whose client disconnects while waiting; it never reaches the upstream', async () => {
    await fillSlots();
    const controller = new AbortController();
    const pending = graphql(ctx.gw.httpUrl, CompleteDocument, { input }, { signal: controller.signal });
    await waitQueued(1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitQueued(0);

    const next = subscribe(ctx.gw, clients);
    await waitQueued(1);
    expect(next.results).toEqual([]);
    next.leave();
    await waitQueued(0);

    ctx.fake.script({});
    await disposeAll(clients);
    expect((await call(ctx.gw, 'mutation')).error).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(3);
  });
});

describe('requests waiting for a slot when a shutdown cuts the rest', () => {
  it('tells a queued mutation and a queued subscription SHUTTING_DOWN', async () => {
    const fake = await startFakeUpstream({ fault: { kind: 'stallAfter', chunks: 1 } });
    const gw = await startGateway({
      OPENAI_API_KEY: MAIN_KEY,
      OPENAI_BASE_URL: fake.url,
      UPSTREAM_MAX_CONCURRENCY: '1',
      UPSTREAM_QUEUE_LIMIT: '5',
      UPSTREAM_QUEUE_TIMEOUT_MS: '60000',
      UPSTREAM_TIMEOUT_MS: '60000',
      UPSTREAM_IDLE_TIMEOUT_MS: '60000',
      SHUTDOWN_GRACE_MS: '100',
    });
    const clients: Client[] = [];
    try {
      const holder = subscribe(gw, clients);
      await holder.first;
      const queuedStream = subscribe(gw, clients);
      const queuedMutation = call(gw, 'mutation');
      await metricReaches(gw, 'gateway_upstream_queue_length', 2);

      await gw.stop();

      expect(holder.results.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('SHUTTING_DOWN');
      expect((await queuedMutation).error?.extensions?.code).toBe('SHUTTING_DOWN');
      await queuedStream.done;
      expect(queuedStream.results.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('SHUTTING_DOWN');
      expect(fake.requests).toHaveLength(1);
    } finally {
      await disposeAll(clients);
      await gw.stop();
      await fake.close();
    }
  });
});

describe('UPSTREAM_QUEUE_TIMEOUT_MS', () => {
  const ctx = useGatewayWithFake({
    UPSTREAM_MAX_CONCURRENCY: '1',
    UPSTREAM_QUEUE_LIMIT: '1',
    UPSTREAM_QUEUE_TIMEOUT_MS: '150',
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
  });

  it('refuses a request that waited too long for a slot with RATE_LIMITED; it never reaches the upstream', async () => {
    ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const clients: Client[] = [];
    try {
      const holder = subscribe(ctx.gw, clients);
      await holder.first;
      for (const transport of TRANSPORTS) {
        const refused = await call(ctx.gw, transport);
        expect(refused.error?.extensions?.code).toBe('RATE_LIMITED');
        expect(refused.error?.extensions?.['retryAfterMs']).toBeGreaterThan(0);
      }
      expect(ctx.fake.requests).toHaveLength(1);
      expect(await metric(ctx.gw, 'gateway_upstream_queue_length')).toBe(0);
    } finally {
      await disposeAll(clients);
    }
  });
});

// ---------------------------------------------------------------------------
// 9: SDK retries and the gateway's timers
// ---------------------------------------------------------------------------

describe('retries fit in UPSTREAM_TIMEOUT_MS', () => {
  const ctx = useGatewayWithFake({
    UPSTREAM_MAX_RETRIES: '1',
    UPSTREAM_TIMEOUT_MS: '500',
    UPSTREAM_IDLE_TIMEOUT_MS: '500',
  });

  for (const transport of ['mutation', 'graphql-ws'] as const) {
    it(`serves the ${transport} after waiting out a retry-after that fits in the time left`, async () => {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 0.2 }, faultTimes: 1 });
      const outcome = await call(ctx.gw, transport);
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe(FAKE_TEXT);
      expect(modelsAsked(ctx.fake)).toEqual([REQUESTED, REQUESTED]);
    });

    it(`answers the ${transport} RATE_LIMITED with the upstream's retryAfterMs at once when its retry-after is longer than the time left`, async () => {
      ctx.fake.script({ fault: { kind: 'rateLimit', retryAfterSeconds: 1 }, faultTimes: 1 });
      const started = performance.now();
      const outcome = await call(ctx.gw, transport);
      // Not after the 500 ms timer: at once (the margin only absorbs a slow machine).
      expect(performance.now() - started).toBeLessThan(400);
      expect(outcome.error?.extensions?.code).toBe('RATE_LIMITED');
      expect(outcome.error?.extensions?.['retryAfterMs']).toBe(1000);
      expect(modelsAsked(ctx.fake)).toEqual([REQUESTED]);
    });
  }
});
