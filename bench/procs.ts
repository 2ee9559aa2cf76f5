/**
 * The processes of the benchmark: the fake upstream, the gateway as deployed
 * (`node dist/main.js`), the Portkey peer, and their memory and CPU as /proc reports them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`) and waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Proc>();

function track(name: string, child: ChildProcess, port: number): Proc {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    port,
    async stop(graceMs = 5000) {
      running.delete(proc);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

/** Kills whatever is still running (on error or Ctrl-C). */
export function killAll(): void {
  for (const proc of running) {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  }
  running.clear();
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The fake upstream: `node --import tsx bench/upstream.ts`, which prints its port. */
export async function startUpstream(): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/upstream.ts'), '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (part: string) => {
      text += part;
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  return track('upstream', child, port);
}

export interface GatewayOptions {
  upstreamPort: number;
  databaseUrl: string;
  logFile: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Settings over the bench's own (e.g. UPSTREAM_STARTS_PER_TURN), from `--gateway-env`. */
  env?: Record<string, string>;
}

/** The gateway as deployed: `node dist/main.js`, configured by environment only. */
export async function startGateway(options: GatewayOptions): Promise<Proc> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Nothing of the caller's own gateway or upstream settings leaks in.
    if (/^(OPENAI_|FALLBACK_|OTEL_|UPSTREAM_|WS_|GRAPHQL_|LOG_|LEDGER_|DATABASE_URL|GATEWAY_|MODEL_PRICES|NODE_OPTIONS|REDIS_|WORKERS|RESPONSE_CACHE_|CACHE_)/.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    OPENAI_BASE_URL: `http://127.0.0.1:${options.upstreamPort}/v1`,
    OPENAI_API_KEY: 'sk-bench-upstream',
    DEFAULT_MODEL: 'bench-c1-d0',
    DATABASE_URL: options.databaseUrl,
    GATEWAY_REQUIRE_AUTH: 'true',
    METRICS: 'true',
    LOG_LEVEL: 'warn',
    UPSTREAM_MAX_RETRIES: '0',
    UPSTREAM_TIMEOUT_MS: '600000',
    UPSTREAM_IDLE_TIMEOUT_MS: '600000',
    UPSTREAM_MAX_CONCURRENCY: '20000',
    UPSTREAM_QUEUE_LIMIT: '20000',
    UPSTREAM_QUEUE_TIMEOUT_MS: '600000',
    WS_MAX_SOCKETS_PER_CLIENT: '1000',
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '100',
    WS_CONNECTION_INIT_TIMEOUT_MS: '60000',
    SHUTDOWN_GRACE_MS: '3000',
  });
  Object.assign(env, options.env ?? {});
  const out = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(ROOT, 'dist/main.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const proc = track('gateway', child, port);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200,
    `gateway (log: ${options.logFile})`,
    30_000,
    child,
  );
  return proc;
}

/**
 * The peer: Portkey's open-source gateway from npm (its bin, build/start-server.js), with
 * `--port=N --headless` and NODE_ENV=production (no UI, no log streaming to it), pinned to
 * 127.0.0.1 by bench/loopback.mjs since it would otherwise listen on every interface.
 */
export async function startPeer(logFile: string): Promise<Proc> {
  const port = await freePort();
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [
      '--import',
      join(ROOT, 'bench/loopback.mjs'),
      join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js'),
      `--port=${port}`,
      '--headless',
    ],
    { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production', NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const proc = track('peer', child, port);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/`)).status < 500,
    `peer (log: ${logFile})`,
    30_000,
    child,
  );
  return proc;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 'NaN') * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const CLOCK_TICKS = 100;

/** User + system CPU seconds a process has used. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Samples RSS every `everyMs` until stopped; keeps the peak. */
export function rssPoller(pid: number, everyMs = 100): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    try {
      peak = Math.max(peak, memoryOf(pid).rss);
    } catch {
      // process gone
    }
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

/** A few gauges from the gateway's Prometheus metrics (heap, external memory, sockets). */
export async function scrapeMetrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const wanted = [
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_external_memory_bytes',
    'process_resident_memory_bytes',
    'gateway_active_websockets',
    'gateway_active_subscriptions',
  ];
  const out: Record<string, number> = {};
  for (const name of wanted) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'm').exec(text);
    if (match?.[1]) out[name] = Number(match[1]);
  }
  return out;
}
