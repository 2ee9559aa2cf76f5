/**
 * Graceful shutdown of the REAL process (`node dist/main.js`), SIGTERM sent
 * while three streams run against one fake upstream:
 *
 * - two streams that would outlast the grace: the fake's first two generation requests
 *   get `stallAfter` (two chunks, then silence), one over graphql-ws, one over SSE;
 * - one stream that finishes inside the grace: the third request gets the normal script,
 *   five pieces at 150 ms apart (about 1 s in all, against a 2 s grace).
 *
 * `faultTimes: 2` gives both behaviours from one script, so nothing is re-scripted while
 * streams run; the prompts tell the fake's recorded requests apart.
 *
 * The whole scenario runs once in `beforeAll` and records what every client saw; each
 * `it` then checks one promise of the drain.
 */
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from './fake-upstream.js';
import { eventually, sse, type GraphQLErrorShape, type SseEvent } from './helpers.js';
import { freePort, jsonLines, startMain, type Running } from './process.js';

const GRACE_MS = 2000;
const PROMPT = {
  inGrace: 'shutdown test: the stream that finishes inside the grace',
  stalledWs: 'shutdown test: the graphql-ws stream that stalls',
  stalledSse: 'shutdown test: the SSE stream that stalls',
};
const USAGE = { prompt_tokens: 13, completion_tokens: 5 };

type Payload = ExecutionResult<CompletionStreamSubscription>;

// ---------------------------------------------------------------------------
// The process
// ---------------------------------------------------------------------------


function hasLogLine(run: Running, msg: string): boolean {
  return jsonLines(run.stdout).some((l) => l['msg'] === msg);
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

interface Tracked {
  payloads: Payload[];
  /** What the sink's `error` got: GraphQL errors (refused operation) or a close event. */
  error: unknown;
  completed: boolean;
  /** Settles when the operation completes or errors. */
  done: Promise<void>;
}

function subscribeWs(client: Client, content: string): Tracked {
  let settle: () => void = () => undefined;
  const tracked: Tracked = {
    payloads: [],
    error: undefined,
    completed: false,
    done: new Promise<void>((resolve) => (settle = resolve)),
  };
  client.subscribe<CompletionStreamSubscription>(
    { query: print(CompletionStreamDocument), variables: { input: { messages: [{ role: 'USER', content }] } } },
    {
      next: (payload) => tracked.payloads.push(payload as Payload),
      error: (error) => {
        tracked.error = error;
        settle();
      },
      complete: () => {
        tracked.completed = true;
        settle();
      },
    },
  );
  return tracked;
}

interface TrackedSse {
  events: SseEvent<CompletionStreamSubscription>[];
  error: unknown;
  done: Promise<void>;
}

function subscribeSse(url: string, content: string): TrackedSse {
  const tracked: TrackedSse = { events: [], error: undefined, done: Promise.resolve() };
  tracked.done = (async () => {
    try {
      for await (const event of sse(url, CompletionStreamDocument, { input: { messages: [{ role: 'USER', content }] } })) {
        tracked.events.push(event);
      }
    } catch (error) {
      tracked.error = error;
    }
  })();
  return tracked;
}

type Outcome = { status: number; body: string } | { error: string };

async function attempt(url: string, init?: RequestInit): Promise<Outcome> {
  try {
    const response = await fetch(url, init);
    return { status: response.status, body: await response.text() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? String(error) };
  }
}

function codes(errors: readonly GraphQLErrorShape[] | undefined): (string | undefined)[] {
  return (errors ?? []).map((e) => e.extensions?.code);
}

function contentOf(request: RecordedRequest): unknown {
  const messages = request.body?.['messages'];
  return Array.isArray(messages) ? (messages[0] as { content?: unknown } | undefined)?.content : undefined;
}

// ---------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------

let fake: FakeUpstream;
let run: Running;
let wsCloseCode: number | undefined;
let wsCloseReason: string | undefined;
let inGrace: Tracked;
let stalledWs: Tracked;
let stalledSse: TrackedSse;
let refusedOnSocket: Tracked;
const healthOutcomes: Outcome[] = [];
let mutationOutcome: Outcome;
let exitCode: number | null;
let signalledAt = 0;
let inGraceDoneAt = 0;
let exitedAt = 0;
/** When the fake first saw each upstream request aborted (polled every few ms from the signal to the exit). */
const abortSeenAt = new Map<RecordedRequest, number>();

beforeAll(async () => {
  fake = await startFakeUpstream({
    choices: [['one', ' two', ' three', ' four', ' five']],
    usage: USAGE,
    chunkDelayMs: 150,
    fault: { kind: 'stallAfter', chunks: 2 },
    faultTimes: 2,
  });
  const port = await freePort();
  run = startMain({
    PORT: String(port),
    HOST: '127.0.0.1',
    OPENAI_API_KEY: 'sk-shutdown-test-key',
    OPENAI_BASE_URL: fake.url,
    UPSTREAM_MAX_RETRIES: '0',
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
  });
  await eventually(
    () => hasLogLine(run, 'gateway listening') || run.child.exitCode !== null,
    'the gateway to log "gateway listening"',
    30_000,
  );
  if (!hasLogLine(run, 'gateway listening')) throw new Error(`gateway did not start:\n${run.stdout}\n${run.stderr}`);
  const base = `http://127.0.0.1:${port}`;

  // One socket for all graphql-ws operations, kept open (not lazy) so the server's close code is the one seen.
  let connected = false;
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    on: {
      connected: () => (connected = true),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        wsCloseCode = code;
        wsCloseReason = String(reason);
      },
    },
  });
  try {
    await eventually(() => connected, 'the graphql-ws socket to connect');

    // The two stalling streams: the fake's first two generation requests.
    stalledWs = subscribeWs(client, PROMPT.stalledWs);
    await fake.waitForRequests(1);
    stalledSse = subscribeSse(`${base}/graphql`, PROMPT.stalledSse);
    await eventually(
      () => stalledWs.payloads.length === 2 && stalledSse.events.length === 2,
      'both stalling streams to deliver their two chunks',
    );
    // The stream that finishes in the grace: signal as soon as its first chunk arrives.
    inGrace = subscribeWs(client, PROMPT.inGrace);
    await eventually(() => inGrace.payloads.length >= 1, 'the first chunk of the in-grace stream');
    expect(fake.requests.map(contentOf)).toEqual([PROMPT.stalledWs, PROMPT.stalledSse, PROMPT.inGrace]);

    signalledAt = Date.now();
    const stampAborts = setInterval(() => {
      for (const request of fake.aborted) if (!abortSeenAt.has(request)) abortSeenAt.set(request, Date.now());
    }, 5);
    void run.exit.finally(() => clearInterval(stampAborts));
    run.child.kill('SIGTERM');
    void inGrace.done.then(() => (inGraceDoneAt = Date.now()));
    const exited = run.exit.then((code) => {
      exitedAt = Date.now();
      return code;
    });

    // /health must turn 503 at once: poll it (a first answer may still beat the signal).
    const pollUntil = Date.now() + 1000;
    for (;;) {
      const outcome = await attempt(`${base}/health`);
      healthOutcomes.push(outcome);
      if (('status' in outcome && outcome.status === 503) || Date.now() > pollUntil) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await eventually(() => hasLogLine(run, 'draining'), 'the "draining" log line');

    // New work while draining: an operation on the open socket, a mutation over HTTP.
    refusedOnSocket = subscribeWs(client, 'shutdown test: too late');
    mutationOutcome = await attempt(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation Late { complete(input: { prompt: "too late" }) { text } }' }),
    });
    await refusedOnSocket.done;

    exitCode = await exited;
    await Promise.all([inGrace.done, stalledWs.done, stalledSse.done]);
  } finally {
    await client.dispose();
  }
}, 50_000);

afterAll(async () => {
  await fake?.close();
});

describe('SIGTERM to the real process while streams run', () => {
  // The server keeps listening while it drains, so load balancers see the 503.
  it('answers /health with 503 {status: "draining"} as soon as the drain starts', () => {
    const answer = healthOutcomes.find((o) => 'status' in o && o.status === 503);
    expect(answer, `/health after SIGTERM gave: ${JSON.stringify(healthOutcomes)}`).toBeDefined();
    expect(JSON.parse((answer as { body: string }).body)).toEqual({ status: 'draining' });
  });

  it('refuses a new operation on an already-open socket with SHUTTING_DOWN', () => {
    expect(refusedOnSocket.payloads).toEqual([]);
    expect(Array.isArray(refusedOnSocket.error), String(refusedOnSocket.error)).toBe(true);
    expect(codes(refusedOnSocket.error as GraphQLErrorShape[])).toEqual(['SHUTTING_DOWN']);
  });

  it('refuses a new HTTP mutation with 503 SHUTTING_DOWN', () => {
    expect('error' in mutationOutcome ? mutationOutcome.error : null).toBeNull();
    if ('error' in mutationOutcome) return;
    expect(mutationOutcome.status).toBe(503);
    const body = JSON.parse(mutationOutcome.body) as { errors?: GraphQLErrorShape[] };
    expect(codes(body.errors)).toEqual(['SHUTTING_DOWN']);
  });

  it('lets the stream that fits in the grace finish normally, with its usage', () => {
    expect(inGrace.error).toBeUndefined();
    expect(inGrace.completed).toBe(true);
    expect(inGrace.payloads.every((p) => p.errors === undefined)).toBe(true);
    const last = inGrace.payloads.at(-1)?.data?.completionStream;
    expect(last?.accumulatedText).toBe('one two three four five');
    expect(last?.finishReason).toBe('STOP');
    expect(last?.usage).toMatchObject({ promptTokens: 13, completionTokens: 5, totalTokens: 18 });
    // It ended well before the grace was over, and so before the process exited.
    expect(inGraceDoneAt - signalledAt).toBeLessThan(GRACE_MS);
  });

  it('ends the graphql-ws stream that outlasts the grace with a SHUTTING_DOWN error payload', () => {
    expect(stalledWs.payloads.slice(0, 2).map((p) => p.data?.completionStream.text)).toEqual(['one', ' two']);
    expect(stalledWs.payloads).toHaveLength(3);
    expect(codes(stalledWs.payloads[2]?.errors as GraphQLErrorShape[] | undefined)).toEqual(['SHUTTING_DOWN']);
    expect(stalledWs.completed).toBe(true);
  });

  it('ends the SSE stream that outlasts the grace with a SHUTTING_DOWN error payload', () => {
    expect(stalledSse.error).toBeUndefined();
    const next = stalledSse.events.filter((e) => e.event === 'next');
    expect(next.slice(0, 2).map((e) => e.data?.data?.completionStream.text)).toEqual(['one', ' two']);
    expect(next).toHaveLength(3);
    expect(codes(next[2]?.data?.errors as GraphQLErrorShape[] | undefined)).toEqual(['SHUTTING_DOWN']);
    expect(stalledSse.events.at(-1)?.event).toBe('complete');
  });

  it('aborts the upstream requests of the cut streams, and only those', () => {
    expect(fake.aborted.map(contentOf).sort()).toEqual([PROMPT.stalledSse, PROMPT.stalledWs]);
    // By the drain itself, when the grace ends: not later, when the process closes its
    // sockets (the WebSocket and HTTP connections after the cut wait, or the exit) and the
    // upstream connections would go anyway.
    for (const request of fake.aborted) {
      const seenAt = abortSeenAt.get(request);
      expect(seenAt, `the abort of "${String(contentOf(request))}" was seen before the process exited`).toBeDefined();
      const afterSignal = (seenAt ?? Number.POSITIVE_INFINITY) - signalledAt;
      expect(afterSignal).toBeGreaterThanOrEqual(GRACE_MS - 100);
      expect(afterSignal).toBeLessThan(GRACE_MS + 1000);
    }
  });

  it('closes the WebSocket with 1001 (Going Away)', () => {
    expect(wsCloseCode, `close reason: ${wsCloseReason}`).toBe(1001);
  });

  it('exits with code 0 after the grace, logging "draining", the cut and "stopped"', () => {
    expect(exitCode, run.stderr).toBe(0);
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(GRACE_MS - 100);
    const lines = jsonLines(run.stdout);
    expect(lines.find((l) => l['msg'] === 'shutting down')?.['signal']).toBe('SIGTERM');
    const draining = lines.find((l) => l['msg'] === 'draining');
    expect(draining).toMatchObject({ graceMs: GRACE_MS, operations: 3 });
    expect(lines.find((l) => l['msg'] === 'grace period over: cut the remaining operations')?.['cut']).toBe(2);
    expect(lines.some((l) => l['msg'] === 'stopped')).toBe(true);
    const order = ['draining', 'stopped'].map((msg) => lines.findIndex((l) => l['msg'] === msg));
    expect(order[0]).toBeLessThan(order[1] ?? -1);
  });
});
