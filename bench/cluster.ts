/**
 * The gateway past one process in the benchmark: the Redis its shared limits live in (under a
 * random key prefix, deleted afterwards) and a gateway's whole process tree (the `WORKERS>1`
 * primary and its workers), whose memory and CPU are summed from /proc.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { cpuSecondsOf, memoryOf, sleep } from './procs.js';

/** How the gateways of one measured row are started (the env on top of the bench's own). */
export interface GatewayVariant {
  /** Short name used in results.json and the logs: `single`, `redis`, `workers2`. */
  name: 'single' | 'redis' | 'workers2';
  label: string;
  workers: number;
  env: Record<string, string>;
}

export const SINGLE: GatewayVariant = { name: 'single', label: 'gateway', workers: 1, env: {} };

export interface BenchRedis {
  url: string;
  prefix: string;
  variants: { redis: GatewayVariant; workers2: GatewayVariant };
  /** Deletes every key under the bench's prefix and disconnects. */
  cleanup(): Promise<number>;
}

/**
 * Connects to `BENCH_REDIS_URL` (default redis://127.0.0.1:6379); undefined when it does not
 * answer, so a machine without Redis still runs the single-process rows.
 */
export async function benchRedis(url = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379'): Promise<BenchRedis | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
  } catch {
    client.disconnect();
    return undefined;
  }
  // A prefix of its own: the bench never touches another gateway's (or test's) keys.
  const prefix = `bench-${randomBytes(6).toString('hex')}:`;
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix };
  return {
    url,
    prefix,
    variants: {
      redis: { name: 'redis', label: 'gateway + Redis', workers: 1, env },
      workers2: { name: 'workers2', label: 'WORKERS=2 + Redis', workers: 2, env: { ...env, WORKERS: '2' } },
    },
    async cleanup() {
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await client.unlink(...keys);
      } while (cursor !== '0');
      client.disconnect();
      return deleted;
    },
  };
}

/** The pids a process forked (a cluster primary's workers), from every thread's children file. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // process gone
  }
  return out;
}

/** A process and its children (one level: a cluster's workers fork nothing themselves). */
export function treePids(pid: number): number[] {
  return [pid, ...childPids(pid)];
}

/**
 * Summed VmRSS and VmHWM of the tree. The sum of peaks is an upper bound of the tree's
 * peak (the processes need not peak at once), so a target met by it is met.
 */
export function treeMemory(pid: number): { rss: number; hwm: number; processes: number } {
  let rss = 0;
  let hwm = 0;
  let processes = 0;
  for (const p of treePids(pid)) {
    try {
      const m = memoryOf(p);
      rss += m.rss;
      hwm += m.hwm;
      processes++;
    } catch {
      // exited between the listing and the read
    }
  }
  return { rss, hwm, processes };
}

/** CPU seconds of the tree's current members. */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      total += cpuSecondsOf(p);
    } catch {
      // exited
    }
  }
  return total;
}

/** Samples the tree's summed RSS every `everyMs` until stopped; keeps the peak. */
export function treeRssPoller(pid: number, everyMs = 100): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, treeMemory(pid).rss);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

/**
 * Waits until every worker of a cluster listens: /health answers as soon as the first one
 * does, and a burst that met one worker alone would measure one process, not two. The
 * primary's `gateway_workers` gauge counts the workers whose server listens.
 */
export async function waitForWorkers(port: number, workers: number, timeoutMs = 30_000): Promise<void> {
  if (workers <= 1) return;
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < deadline) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    seen = Number(/^gateway_workers(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    if (seen >= workers) return;
    await sleep(100);
  }
  throw new Error(`${seen} of the gateway's ${workers} workers listen after ${timeoutMs} ms`);
}
