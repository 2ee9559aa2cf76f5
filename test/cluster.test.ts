/**
 * WORKERS=2, the real process (`node dist/main.js`): a primary and two workers
 * on one port and one database (PostgreSQL, then a SQLite file: several processes writing
 * it), against one fake upstream. In order, on the same cluster: requests spread over both workers and
 * /metrics sums them whichever worker answers; each worker is a ledger instance of its own;
 * a worker killed with SIGKILL is replaced while the port keeps serving, and its running
 * operations become `interrupted` rows, once; SIGTERM to the primary drains both workers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { errorCodes, fresh, logged, mutation, nextPayloads, sample, stream, type Stream } from './cluster-clients.js';
import { postgres, sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually } from './helpers.js';
import { freePort, jsonLines, startMain, type Running } from './process.js';
import { REDIS_URL_TEST, testPrefix } from './redis.js';

const GRACE_MS = 3000;
const TOKEN = `metrics-${randomUUID()}`;
const OPS = 'gateway_operations_total{operation="ClusterHello",type="mutation",outcome="ok"}';
const pieces = (n: number): string[] => Array.from({ length: n }, (_, i) => ` w${i}`);

describe.each([postgres, sqlite])('WORKERS=2 on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }
  let fake: FakeUpstream;
  let run: Running;
  let base: string;
  let db: Db;

  async function scrape(): Promise<string> {
    const answer = await fresh(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(200);
    return answer.body;
  }

  async function ledgerRows(operation: string): Promise<{ outcome: string; id: string }[]> {
    return db.db.selectFrom('usage_ledger').select(['outcome', 'id']).where('operation', '=', operation).execute();
  }

  beforeAll(async () => {
    fake = await startFakeUpstream({ choices: [pieces(50)], chunkDelayMs: 120, usage: { prompt_tokens: 9, completion_tokens: 50 } });
    const url = await backend.create();
    db = await openDatabase(url);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    run = startMain({
      WORKERS: '2',
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: testPrefix(),
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: url,
      OPENAI_API_KEY: 'sk-cluster-test',
      OPENAI_BASE_URL: fake.url,
      UPSTREAM_MAX_RETRIES: '0',
      LEDGER_FLUSH_MS: '100',
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      METRICS_TOKEN: TOKEN,
    });
    await eventually(() => logged(run, 'all workers listening').length > 0 || run.child.exitCode !== null, 'both workers to listen', 110_000);
    if (run.child.exitCode !== null) throw new Error(`the cluster did not start:\n${run.stdout}\n${run.stderr}`);
  }, 120_000);

  afterAll(async () => {
    if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
    await fake?.close();
    await db?.close();
  });

  let served: number;

  it('serves one port from two workers, and /metrics from whichever worker answers sums both (the token still required)', async () => {
    expect(logged(run, 'worker listening').map((l) => l['worker'])).toEqual(expect.arrayContaining([1, 2]));
    for (let i = 0; i < 20; i++) expect((await mutation(base, 'ClusterHello')).status).toBe(200);
    // Connections go round the workers: these scrapes reach both.
    for (let i = 0; i < 4; i++) {
      const text = await scrape();
      expect(sample(text, OPS)).toBe(20);
      expect(sample(text, 'gateway_workers')).toBe(2);
    }
    for (let i = 0; i < 2; i++) expect((await fresh(`${base}/metrics`)).status).toBe(401);
    served = 20;
  });

  const streams: Stream[] = [];
  let victim: Record<string, unknown> | undefined;

  it('runs each worker as a ledger instance of its own: streams on both are checkpointed, and neither takes over the other’s', async () => {
    for (let i = 0; i < 4; i++) streams.push(stream(base, `cluster stream ${i}`));
    await eventually(() => streams.every((s) => nextPayloads(s).length >= 5), 'every stream to have 5 chunks', 30_000);
    // Many sweeps (every 5 flushes of 100 ms, in each worker) while both live.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const running = await db.db.selectFrom('ledger_checkpoints').select(['instance_id']).execute();
    expect(running).toHaveLength(4);
    expect(new Set(running.map((c) => c.instance_id)).size).toBe(2);
    expect(await ledgerRows('completionStream')).toEqual([]);
  });

  it('replaces a worker killed with SIGKILL while the port keeps serving; its streams become interrupted rows, once, and the others complete', async () => {
    victim = logged(run, 'worker listening')[0];
    process.kill(Number(victim?.['pid']), 'SIGKILL');
    await eventually(() => logged(run, 'worker died; replacing it').length > 0, 'the primary to notice', 10_000);
    expect(logged(run, 'worker died; replacing it')[0]).toMatchObject({ worker: victim?.['worker'], signal: 'SIGKILL' });
    for (let i = 0; i < 6; i++) expect((await mutation(base, 'ClusterHello')).status).toBe(200);

    // The killed worker's counters are gone from the sum: both workers had served some.
    const left = (sample(await scrape(), OPS) ?? NaN) - 6;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(served);

    await Promise.all(streams.map((s) => s.done));
    const broken = streams.filter((s) => nextPayloads(s).at(-1)?.finishReason !== 'STOP');
    const finished = streams.filter((s) => nextPayloads(s).at(-1)?.finishReason === 'STOP');
    expect(broken.length).toBeGreaterThan(0);
    expect(finished.length).toBeGreaterThan(0);
    for (const s of finished) expect(nextPayloads(s).at(-1)?.accumulatedText).toBe(pieces(50).join(''));

    await eventually(() => logged(run, 'worker listening').length === 3, 'a new worker to listen', 60_000);
    const text = await scrape();
    expect(sample(text, 'gateway_workers')).toBe(2);
    expect(sample(text, 'gateway_worker_restarts_total')).toBe(1);

    let rows: { outcome: string; id: string }[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      rows = await ledgerRows('completionStream');
      if (rows.length === streams.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(rows.filter((r) => r.outcome === 'interrupted')).toHaveLength(broken.length);
    expect(rows.filter((r) => r.outcome === 'completed')).toHaveLength(finished.length);
    expect(await db.db.selectFrom('ledger_checkpoints').selectAll().execute()).toEqual([]);
    // Every mutation's row, the killed worker's included (written before the kill), once.
    expect(await ledgerRows('complete')).toHaveLength(served + 6);
    const recovered = logged(run, 'recovered operations left running by a stopped gateway: recorded as interrupted');
    expect(recovered.reduce((sum, line) => sum + Number(line['rows']), 0)).toBe(broken.length);
  }, 120_000);

  it('drains both workers on SIGTERM to the primary: a stream that fits the grace finishes, the others end SHUTTING_DOWN, and the primary exits 0', async () => {
    fake.script({ choices: [pieces(8)], chunkDelayMs: 120, fault: { kind: 'stallAfter', chunks: 2 }, faultTimes: 2 });
    const before = fake.requests.length;
    const stalled = [stream(base, 'stalls 1'), stream(base, 'stalls 2')];
    await fake.waitForRequests(before + 2, 20_000);
    const short = [stream(base, 'short 1'), stream(base, 'short 2')];
    await eventually(() => [...stalled, ...short].every((s) => nextPayloads(s).length >= 2), 'two chunks on every stream', 20_000);

    const signalledAt = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exit;
    const tookMs = Date.now() - signalledAt;
    await Promise.all([...stalled, ...short].map((s) => s.done));

    expect(code, run.stdout.slice(-2000)).toBe(0);
    expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(tookMs).toBeLessThan(GRACE_MS + 8000);
    for (const s of short) expect(nextPayloads(s).at(-1)).toMatchObject({ finishReason: 'STOP', accumulatedText: pieces(8).join('') });
    for (const s of stalled) expect(errorCodes(s)).toEqual(['SHUTTING_DOWN']);
    const draining = logged(run, 'draining');
    const alive = logged(run, 'worker listening').map((l) => l['worker']).filter((id) => id !== victim?.['worker']);
    expect(alive).toHaveLength(2);
    expect(new Set(draining.map((l) => l['worker']))).toEqual(new Set(alive));
    expect(draining.reduce((sum, l) => sum + Number(l['operations']), 0)).toBe(4);
    expect(logged(run, 'worker died; replacing it')).toHaveLength(1);
    expect(logged(run, 'stopped').filter((l) => l['worker'] === undefined)).toEqual([expect.objectContaining({ exitCode: 0 })]);
    // Nothing went wrong but the kill: no failed ledger write or sweep (SQLite's "database
    // is locked" among them), in any worker.
    const errors = jsonLines(run.stdout).filter((l) => Number(l['level']) >= 50 && l['msg'] !== 'worker died; replacing it');
    expect(errors).toEqual([]);
  }, 60_000);
});
