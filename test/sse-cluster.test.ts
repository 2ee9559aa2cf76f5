/**
 * graphql-sse's single-connection mode on a WORKERS=2 gateway (the real process): the real
 * graphql-sse client, every request of it on a new connection, so that cluster's
 * round-robin, which hands out connections, spreads one client's PUT, GET and POSTs over
 * both workers. Each stream is served where its GET landed; the operations that land on
 * the other worker are forwarded to it over Redis.
 */
import { randomUUID } from 'node:crypto';
import { print, type ExecutionResult } from 'graphql';
import { createClient } from 'graphql-sse';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { fresh, logged, sample } from './cluster-clients.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually } from './helpers.js';
import { freePort, startMain, type Running } from './process.js';
import { REDIS_URL_TEST, redisSkip, testPrefix } from './redis.js';

type Payload = ExecutionResult<CompletionStreamSubscription>;
const TOKEN = `metrics-${randomUUID()}`;

describe.skipIf(redisSkip !== undefined)('graphql-sse single-connection mode with WORKERS=2', () => {
  let fake: FakeUpstream;
  let run: Running;
  let base: string;
  const agents: Agent[] = [];

  beforeAll(async () => {
    fake = await startFakeUpstream({ chunkDelayMs: 20 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    run = startMain({
      WORKERS: '2',
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: testPrefix(),
      PORT: String(port),
      HOST: '127.0.0.1',
      OPENAI_API_KEY: 'sk-cluster-test',
      OPENAI_BASE_URL: fake.url,
      UPSTREAM_MAX_RETRIES: '0',
      METRICS_TOKEN: TOKEN,
    });
    await eventually(() => logged(run, 'all workers listening').length > 0 || run.child.exitCode !== null, 'both workers to listen', 110_000);
    if (run.child.exitCode !== null) throw new Error(`the cluster did not start:\n${run.stdout}\n${run.stderr}`);
  }, 120_000);

  afterAll(async () => {
    if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.close()));
    await fake?.close();
  });

  /** fetch on a connection of its own: the cluster's round-robin picks a worker per request. */
  const fetchFn = ((input: string, init: Parameters<typeof undiciFetch>[1]) => {
    const dispatcher = new Agent();
    agents.push(dispatcher);
    return undiciFetch(input, { ...init, dispatcher });
  }) as unknown as typeof fetch;

  async function collect(events: AsyncIterable<Payload>): Promise<Payload[]> {
    const results: Payload[] = [];
    for await (const result of events) results.push(result);
    return results;
  }

  it('streams several subscriptions of one client to the end, round after round, with its requests spread over both workers', async () => {
    for (let round = 0; round < 10; round++) {
      const client = createClient({ url: `${base}/graphql`, singleConnection: true, retryAttempts: 0, fetchFn });
      try {
        const results = await Promise.all(
          ['a', 'b', 'c'].map((content) =>
            collect(
              client.iterate<CompletionStreamSubscription>({
                query: print(CompletionStreamDocument),
                variables: { input: { messages: [{ role: 'USER', content: `${content}${round}` }] } },
              }) as AsyncIterable<Payload>,
            ),
          ),
        );
        for (const r of results) {
          for (const payload of r) expect(payload.errors).toBeUndefined();
          expect(r.at(-1)?.data?.completionStream).toMatchObject({ accumulatedText: 'Hello from the fake upstream.', finishReason: 'STOP' });
        }
      } finally {
        client.dispose();
      }
    }
    expect(fake.requests).toHaveLength(30);
    // Streams were held by both workers (each runs the operations of the streams it holds)...
    const finished = (): Record<string, unknown>[] => logged(run, 'completion finished').filter((l) => l['type'] === 'subscription');
    // The last lines may still be on their way through the pipe.
    await eventually(() => finished().length === 30, 'a log line for each of the 30 streams', 5000);
    expect(new Set(finished().map((l) => l['worker']))).toEqual(new Set([1, 2]));
    // ...and operations that reached the worker without their stream were forwarded to it.
    const metrics = await fresh(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(sample(metrics.body, 'gateway_sse_forwarded_total{result="answered"}')).toBeGreaterThan(0);
    expect(sample(metrics.body, 'gateway_sse_forwarded_total{result="timeout"}') ?? 0).toBe(0);
  }, 120_000);
});
