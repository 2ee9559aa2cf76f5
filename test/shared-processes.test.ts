/**
 * Shared limits across real gateway processes (`node src/main.ts`, as operators run them):
 * three instances on one SQLite ledger and one Redis, each on its own port, the second a
 * cluster of two workers (WORKERS=2), so four processes share the limits. A burst spread over them
 * is admitted exactly to the limit, and a process killed with SIGKILL while it holds a
 * stream slot loses it when its lease lapses (REDIS_LEASE_MS), while the live processes'
 * leases are renewed for as long as their streams run.
 */
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { KeyStore, type KeyLimits } from '../src/accounts/keys.js';
import { CompleteDocument, CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually, graphql } from './helpers.js';
import { freePort, jsonLines, startMain, type Running } from './process.js';
import { bearer, expectRateLimited, generations, holdOpen, input, until } from './quota-cases.js';
import { REDIS_URL_TEST, redisSkip, testPrefix } from './redis.js';

const LEASE_MS = 1500;

interface Instance {
  run: Running;
  url: string;
}

describe.skipIf(redisSkip !== undefined)('three gateway instances (one of them two workers) on one Redis', () => {
  let fake: FakeUpstream;
  let database: Db;
  let keys: KeyStore;
  const instances: Instance[] = [];

  async function start(env: Record<string, string>): Promise<Instance> {
    const port = await freePort();
    const run = startMain({ ...env, PORT: String(port), HOST: '127.0.0.1' });
    await eventually(
      // A cluster's primary says so once every worker listens.
      () => jsonLines(run.stdout).some((l) => String(l['msg']).includes(env['WORKERS'] ? 'all workers listening' : 'listening')) || run.child.exitCode !== null,
      'the process listening',
      // Three processes starting at once on two shared cores (each a whole gateway).
      100_000,
    );
    expect(run.child.exitCode, run.stdout + run.stderr).toBeNull();
    return { run, url: `http://127.0.0.1:${port}/graphql` };
  }

  beforeAll(async () => {
    fake = await startFakeUpstream();
    const databaseUrl = await sqlite.create();
    database = await openDatabase(databaseUrl); // migrated here, before the processes open it
    keys = new KeyStore(database);
    const env = {
      OPENAI_API_KEY: 'sk-test-gateway-key',
      OPENAI_BASE_URL: fake.url,
      DATABASE_URL: databaseUrl,
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: testPrefix(),
      REDIS_LEASE_MS: String(LEASE_MS),
      UPSTREAM_IDLE_TIMEOUT_MS: '60000',
    };
    instances.push(...(await Promise.all([start(env), start({ ...env, WORKERS: '2' }), start(env)])));
  }, 200_000);

  afterAll(async () => {
    for (const { run } of instances) {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
      await run.exit;
    }
    await database?.close();
    await fake?.close();
  });

  async function createKey(limits: Partial<KeyLimits>): Promise<string> {
    return (await keys.create({ name: 'processes', limits })).key;
  }

  const at = (i: number): Instance => instances[i % instances.length] as Instance;

  it('admits exactly 10 of a burst of 50 against rpm 10 spread over the three instances and the cluster’s two workers', async () => {
    fake.reset();
    const key = await createKey({ rpm: 10 });
    const { hold, release } = holdOpen();
    fake.script({ holdUntil: hold });
    let answered = 0;
    const pending = Array.from({ length: 50 }, (_, i) => graphql(at(i).url, CompleteDocument, { input: input() }, bearer(key)).finally(() => answered++));
    try {
      await until(() => Promise.resolve(answered === 40), 'the 40 refusals while the admitted ten are held', 30_000);
      await fake.waitForRequests(10);
    } finally {
      release();
    }
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(10);
    for (const r of results.filter((r) => r.errors !== undefined)) expectRateLimited(r, 'rpm');
    expect(generations(fake)).toBe(10);
  });

  it('frees the stream slot of a process killed mid-stream once its lease lapses, and only that one', async () => {
    fake.reset();
    const key = await createKey({ maxStreams: 3 });
    fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
    const clients = instances.map((instance) =>
      createClient({
        url: instance.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        connectionParams: { authorization: `Bearer ${key}` },
        // The killed process's socket dies with it: expected here, not worth a log.
        onNonLazyError: () => undefined,
      }),
    );
    type Result = ExecutionResult<CompletionStreamSubscription>;
    const first = async (client: Client): Promise<Result> => {
      const stream = client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: { input: input({ maxTokens: 50 }) } });
      return (await stream.next()).value as Result;
    };
    try {
      // One stream on each process: the key's three slots.
      for (const client of clients) expect((await first(client)).errors).toBeUndefined();
      expect((await first(clients[0] as Client)).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'streams' });

      const killed = at(2);
      killed.run.child.kill('SIGKILL');
      await killed.run.exit;
      // No one settles the killed process's stream: its slot comes back when its lease lapses.
      let admitted: Result | undefined;
      await until(async () => {
        admitted = await first(clients[0] as Client);
        return admitted.errors === undefined;
      }, 'the dead process’s slot freed by its lease', 20_000);
      // The live streams are older than several leases by now, renewed all along: still held.
      await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS));
      expect((await first(clients[1] as Client)).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'streams' });
      expect(generations(fake)).toBe(4);
    } finally {
      for (const client of clients.slice(0, 2)) await client.dispose();
      void clients[2]?.dispose();
    }
  });
});
