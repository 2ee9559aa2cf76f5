/**
 * Starting with WORKERS: how the value is read (`auto` is one per core), what a cluster
 * needs before it starts (REDIS_URL, a shared database) and the real process refusing
 * without it; WORKERS=1 is the server itself, as before; a cluster whose workers cannot
 * start exits 1; and a worker that keeps dying young is replaced after a growing wait.
 */
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { logged, mutation } from './cluster-clients.js';
import { eventually } from './helpers.js';
import { freePort, jsonLines, startMain } from './process.js';

const REDIS = { REDIS_URL: 'redis://127.0.0.1:6379' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('WORKERS', () => {
  it('is 1 by default, a count, or auto: one per core', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ WORKERS: '3', ...REDIS }).workers).toBe(3);
    expect(loadConfig({ WORKERS: 'auto', ...REDIS }).workers).toBe(availableParallelism());
    expect(loadConfig({ WORKERS: 'AUTO', ...REDIS }).workers).toBe(availableParallelism());
  });

  it('refuses what is not a count from 1 to 999 or auto', () => {
    for (const bad of ['0', '-1', '1.5', 'two', '1000']) {
      expect(problems({ WORKERS: bad, ...REDIS }), bad).toEqual([`WORKERS must be an integer from 1 to 999, or auto (one per core), got "${bad}"`]);
    }
  });

  it('above 1, needs REDIS_URL (saying why) and a database the workers share', () => {
    expect(problems({ WORKERS: '1' })).toEqual([]);
    const [redis] = problems({ WORKERS: '2' });
    expect(redis).toMatch(/^WORKERS=2 needs REDIS_URL: .*per-key limits.*2 workers would admit 2 times each limit$/);
    expect(problems({ WORKERS: '2', ...REDIS, DATABASE_URL: 'file::memory:' })).toEqual([
      expect.stringMatching(/^WORKERS=2 needs a database the workers share/),
    ]);
    if (availableParallelism() > 1) expect(problems({ WORKERS: 'auto' })).toEqual([expect.stringContaining(`WORKERS=${availableParallelism()} needs REDIS_URL`)]);
  });
});

describe('the real process', () => {
  it('with WORKERS=2 and no REDIS_URL refuses to start and says why, starting no worker', async () => {
    const run = startMain({ WORKERS: '2', PORT: String(await freePort()), HOST: '127.0.0.1' });
    expect(await run.exit).toBe(1);
    expect(run.stderr).toContain('WORKERS=2 needs REDIS_URL');
    expect(run.stdout).not.toContain('starting workers');
  });

  it('with WORKERS=1 is the server itself, as before: no primary, no worker', async () => {
    const port = await freePort();
    const run = startMain({ WORKERS: '1', PORT: String(port), HOST: '127.0.0.1' });
    const listening = (): Record<string, unknown>[] => jsonLines(run.stdout).filter((l) => String(l['msg']).startsWith('gateway listening'));
    await eventually(() => listening().length > 0 || run.child.exitCode !== null, 'the gateway to listen', 60_000);
    expect((await mutation(`http://127.0.0.1:${port}`, 'Single')).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(logged(run, 'starting workers')).toEqual([]);
    expect(listening()).toHaveLength(1);
    expect(listening()[0]).not.toHaveProperty('worker');
  }, 70_000);

  it('exits 1 when its workers cannot start (the port is taken), after each says why', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const run = startMain({ WORKERS: '2', ...REDIS, PORT: String(port), HOST: '127.0.0.1' });
      expect(await run.exit).toBe(1);
      expect(run.stdout).toMatch(/"worker":\d,"msg":"could not start: [a-z]+ EADDRINUSE/);
      expect(logged(run, 'could not start: a worker exited before the gateway was listening')).toHaveLength(1);
      expect(logged(run, 'worker died; replacing it')).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  }, 70_000);

  it('replaces a worker that keeps dying young after a wait that doubles each time', async () => {
    const port = await freePort();
    const run = startMain({ WORKERS: '2', ...REDIS, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_GRACE_MS: '1000' });
    try {
      await eventually(() => logged(run, 'all workers listening').length > 0 || run.child.exitCode !== null, 'both workers to listen', 110_000);
      for (let kill = 1; kill <= 3; kill++) {
        const newest = logged(run, 'worker listening').at(-1);
        process.kill(Number(newest?.['pid']), 'SIGKILL');
        await eventually(() => logged(run, 'worker listening').length === 2 + kill, `replacement ${kill} to listen`, 60_000);
      }
      expect(logged(run, 'worker died; replacing it').map((l) => [l['signal'], l['restartInMs']])).toEqual([
        ['SIGKILL', 250],
        ['SIGKILL', 500],
        ['SIGKILL', 1000],
      ]);
      expect((await mutation(`http://127.0.0.1:${port}`, 'AfterKills')).status).toBe(200);
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exit, run.stdout + run.stderr).toBe(0);
    }
  }, 200_000);
});
