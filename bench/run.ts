/**
 * `npm run bench`: direct vs the gateway vs a peer (Portkey), on loopback, against the
 * zero-latency fake upstream in bench/upstream.ts. Writes bench/RESULTS.md and
 * bench/results.json (a `--quick` run writes to its temp dir instead).
 *
 * Flags: --quick (smoke test), --no-profile (skip the CPU profiles), --profiles-only (only
 * the CPU profiles, printed; nothing written), --streams-only N[,N…] (only the concurrent
 * streams runs, printed), --gateway-env KEY=VALUE (a setting for every gateway started,
 * repeatable), --gateway-node-arg FLAG (a node flag for every gateway, repeatable),
 * --warm-up K (before each concurrent-streams burst, K short streams through the fresh
 * gateway; default 0: the burst meets a cold gateway), --keep (keep the temp dir with logs
 * and profiles), --out DIR (where to write the results), --throughput-only (only the
 * throughput at c=32 of every variant, printed).
 *
 * Past one process: when Redis answers (BENCH_REDIS_URL, default redis://127.0.0.1:6379),
 * the throughput rounds also run the single-process gateway with REDIS_URL and WORKERS=2
 * with REDIS_URL, and the largest N-streams run is repeated with each (every N in
 * --streams-only), under a random REDIS_KEY_PREFIX whose keys are deleted at the end.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { openDatabase } from '../src/accounts/db/index.js';
import { KeyStore, NO_LIMITS } from '../src/accounts/keys.js';
import {
  agent,
  connectWs,
  gatewayEndpoint,
  openaiEndpoint,
  post,
  replyOk,
  sseStream,
  wsStream,
  type Endpoint,
  type StreamTiming,
} from './clients.js';
import type { DirectStreamsCommand, IdleCommand, StreamsCommand, StreamsResult } from './load.js';
import { readHeapSnapshot, summarizeHeap, type HeapEntry } from './heap.js';
import { formatSummary, readProfile, summarizeProfile } from './profile.js';
import {
  cpuSecondsOf,
  killAll,
  log,
  memoryOf,
  ROOT,
  scrapeMetrics,
  sleep,
  startGateway,
  startPeer,
  startUpstream,
  type Proc,
} from './procs.js';
import {
  renderMarkdown,
  type HeapFigure,
  type IdleFigure,
  type ProfileFigure,
  type Results,
  type DirectStreamsRow,
  type StreamsRow,
  type ThroughputFigure,
} from './report.js';
import { gaps, summarize } from './stats.js';
import { benchRedis, SINGLE, treeCpuSeconds, treeMemory, treeRssPoller, waitForWorkers, type BenchRedis, type GatewayVariant } from './cluster.js';
import { clusterTargets, met, targets, throughputLine } from './targets.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const PROFILE = !args.includes('--no-profile');
const PROFILES_ONLY = args.includes('--profiles-only');
/** `--warm-up 500`: short streams through each fresh gateway before its burst (default none). */
const WARM_UP = args.includes('--warm-up') ? Number(args[args.indexOf('--warm-up') + 1]) : 0;
/** `--streams-only 5000,10000`: only the concurrent-streams runs, for these N, printed. */
const STREAMS_ONLY = args.includes('--streams-only') ? (args[args.indexOf('--streams-only') + 1] ?? '').split(',').map(Number) : undefined;
/** `--gateway-node-arg FLAG` (repeatable): a node flag for every gateway the bench starts. */
const GATEWAY_NODE_ARGS = args.flatMap((a, i) => (a === '--gateway-node-arg' && args[i + 1] ? [args[i + 1] ?? ''] : []));
/** `--gateway-env KEY=VALUE` (repeatable): a setting for every gateway the bench starts. */
const GATEWAY_ENV = Object.fromEntries(
  args.flatMap((a, i) => (a === '--gateway-env' && args[i + 1]?.includes('=') ? [args[i + 1]?.split(/=(.*)/s).slice(0, 2) ?? []] : [])),
) as Record<string, string>;
const KEEP = args.includes('--keep');
const THROUGHPUT_ONLY = args.includes('--throughput-only');
const outIndex = args.indexOf('--out');
const OUT_ARG = outIndex !== -1 ? args[outIndex + 1] : undefined;

const PLAN = QUICK
  ? {
      latency: { warmup: 100, rounds: 300 },
      ttfc: { warmup: 30, rounds: 150 },
      gap: { rounds: 2 },
      throughput: { rounds: 1, seconds: 1.5, warmupSeconds: 0.5 },
      streams: [1_000],
      idle: { k: 500, addresses: ['127.0.0.1'] },
      profileSeconds: 2,
    }
  : {
      latency: { warmup: 300, rounds: 2_000 },
      ttfc: { warmup: 80, rounds: 500 },
      gap: { rounds: 8 },
      throughput: { rounds: 3, seconds: 3, warmupSeconds: 1 },
      streams: [1_000, 5_000, 10_000],
      idle: { k: 4_000, addresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'] },
      profileSeconds: 5,
    };

const CONCURRENCY = 32;
const ONE_SHOT = 'bench-c1-d0';
const GAP_CHUNKS = 64;
const GAP_MS = 20;
const N_CHUNKS = 20;
const N_GAP_MS = 1000;

type Variant = 'direct' | 'gateway' | 'peer';
const VARIANTS: readonly Variant[] = ['direct', 'gateway', 'peer'];
type StreamVariant = 'direct' | 'ws' | 'sse' | 'peer';
const STREAM_VARIANTS: readonly StreamVariant[] = ['direct', 'ws', 'sse', 'peer'];

/** Each round runs every variant once, starting one further along each round. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

interface Rig {
  tmp: string;
  upstream: Proc;
  key: string;
  databaseUrl: string;
  gateway: Proc | undefined;
  peer: Proc | undefined;
  gatewayLogs: string[];
  /** Where the shared-state variants keep their limits; undefined: Redis did not answer. */
  redis: BenchRedis | undefined;
}

const notes: string[] = [];
/** What must run at the end however the run ends (deleting the bench's Redis keys). */
const cleanups: (() => Promise<unknown>)[] = [];

async function createKey(databaseUrl: string): Promise<string> {
  const db = await openDatabase(databaseUrl);
  try {
    const { key } = await new KeyStore(db).create({ name: 'bench', limits: NO_LIMITS });
    return key;
  } finally {
    await db.close();
  }
}

let gatewayRun = 0;
/** A gateway of the given variant, all its workers listening. */
async function launchGateway(rig: Rig, variant: GatewayVariant, nodeArgs: string[] = []): Promise<Proc> {
  const logFile = join(rig.tmp, `gateway-${++gatewayRun}-${variant.name}.log`);
  rig.gatewayLogs.push(logFile);
  const env = { ...GATEWAY_ENV, ...variant.env };
  const gw = await startGateway({ upstreamPort: rig.upstream.port, databaseUrl: rig.databaseUrl, logFile, nodeArgs: [...GATEWAY_NODE_ARGS, ...nodeArgs], env });
  // `--gateway-env WORKERS=2` makes a cluster of any variant (e.g. for --profiles-only).
  await waitForWorkers(gw.port, Number(env['WORKERS'] ?? variant.workers) || 1);
  return gw;
}

async function freshGateway(rig: Rig, nodeArgs: string[] = [], variant: GatewayVariant = SINGLE): Promise<Proc> {
  if (rig.gateway) await rig.gateway.stop();
  rig.gateway = await launchGateway(rig, variant, nodeArgs);
  return rig.gateway;
}

/** The gateways past one process this run measures beside the single one (none without Redis). */
function clusterVariants(rig: Rig): GatewayVariant[] {
  return rig.redis ? [rig.redis.variants.redis, rig.redis.variants.workers2] : [];
}

function peerHeaders(upstreamPort: number): Record<string, string> {
  return {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`,
    authorization: 'Bearer dummy',
  };
}

/** The non-streamed request of each variant. */
function unaryEndpoints(rig: Rig, model: string): Record<Variant, Endpoint> {
  const gw = rig.gateway;
  const peer = rig.peer;
  if (!gw || !peer) throw new Error('gateway and peer must be running');
  return {
    direct: openaiEndpoint(rig.upstream.port, model, false),
    gateway: gatewayEndpoint(gw.port, rig.key, model, false),
    peer: openaiEndpoint(peer.port, model, false, peerHeaders(rig.upstream.port)),
  };
}

/** Runs one stream of a variant; graphql-ws uses the given warm client. */
function streamRunner(rig: Rig, model: string, ws: Client, agents: Record<StreamVariant, http.Agent>): Record<StreamVariant, () => Promise<StreamTiming>> {
  const gw = rig.gateway;
  const peer = rig.peer;
  if (!gw || !peer) throw new Error('gateway and peer must be running');
  const direct = openaiEndpoint(rig.upstream.port, model, true);
  const sse = gatewayEndpoint(gw.port, rig.key, model, true);
  const viaPeer = openaiEndpoint(peer.port, model, true, peerHeaders(rig.upstream.port));
  return {
    direct: () => sseStream(agents.direct, direct, 'openai'),
    ws: () => wsStream(ws, model),
    sse: () => sseStream(agents.sse, sse, 'graphql'),
    peer: () => sseStream(agents.peer, viaPeer, 'openai'),
  };
}

function streamAgents(): Record<StreamVariant, http.Agent> {
  return { direct: agent(1), ws: agent(1), sse: agent(1), peer: agent(1) };
}

function destroyAgents(agents: Record<string, http.Agent>): void {
  for (const a of Object.values(agents)) a.destroy();
}

/** Checks that every path answers correctly before anything is measured. */
async function verify(rig: Rig, ws: Client): Promise<{ ok: boolean; note: string }> {
  const agents = { direct: agent(1), gateway: agent(1), peer: agent(1) };
  const unary = unaryEndpoints(rig, 'bench-c3-d0');
  for (const v of VARIANTS) {
    const reply = await post(agents[v], unary[v]);
    if (!replyOk(reply) || !reply.text.includes(' tok tok tok')) {
      throw new Error(`${v}: non-streamed completion failed: HTTP ${reply.status} ${reply.text.slice(0, 300)}`);
    }
  }
  destroyAgents(agents);
  const sAgents = streamAgents();
  const run = streamRunner(rig, 'bench-c4-d20', ws, sAgents);
  let peerNote = 'verified: 4 of 4 chunks paced 20 ms apart arrive separately, with the usage chunk';
  let peerOk = true;
  for (const v of STREAM_VARIANTS) {
    const timing = await run[v]();
    const spread = (timing.arrivals[3] ?? 0) - (timing.arrivals[0] ?? 0);
    const problem =
      timing.error ??
      (timing.arrivals.length !== 4
        ? `${timing.arrivals.length} of 4 chunks`
        : !timing.usage
          ? 'no usage chunk'
          : spread < 30
            ? `chunks arrived together (${spread.toFixed(1)} ms apart): buffered, not streamed`
            : undefined);
    if (problem === undefined) continue;
    if (v !== 'peer') throw new Error(`${v}: streaming failed: ${problem}`);
    peerOk = false;
    peerNote = `streaming check failed: ${problem}`;
    notes.push(`The peer's streaming check failed (${problem}); its streaming figures are shown but not compared.`);
  }
  destroyAgents(sAgents);
  return { ok: peerOk, note: peerNote };
}

async function latencyScenario(rig: Rig): Promise<Results['latency']> {
  const { warmup, rounds } = PLAN.latency;
  log(`latency c=1: ${warmup} warm-up + ${rounds} rounds × direct/gateway/peer`);
  const agents = { direct: agent(1), gateway: agent(1), peer: agent(1) };
  const endpoints = unaryEndpoints(rig, ONE_SHOT);
  const samples: Record<Variant, number[]> = { direct: [], gateway: [], peer: [] };
  const failures: Record<string, number> = {};
  for (let r = 0; r < warmup + rounds; r++) {
    for (const v of rotated(VARIANTS, r)) {
      const start = performance.now();
      const reply = await post(agents[v], endpoints[v]);
      const ms = performance.now() - start;
      if (!replyOk(reply)) failures[v] = (failures[v] ?? 0) + 1;
      else if (r >= warmup) samples[v].push(ms);
    }
  }
  destroyAgents(agents);
  const result = { rounds, direct: summarize(samples.direct), gateway: summarize(samples.gateway), peer: summarize(samples.peer), failures };
  log(`  p50 direct ${result.direct.p50.toFixed(3)} gateway ${result.gateway.p50.toFixed(3)} peer ${result.peer.p50.toFixed(3)} ms`);
  return result;
}

async function ttfcScenario(rig: Rig, ws: Client): Promise<Results['ttfc']> {
  const { warmup, rounds } = PLAN.ttfc;
  log(`time to first chunk: ${warmup} warm-up + ${rounds} rounds × direct/ws/sse/peer`);
  const agents = streamAgents();
  const run = streamRunner(rig, ONE_SHOT, ws, agents);
  const samples: Record<StreamVariant, number[]> = { direct: [], ws: [], sse: [], peer: [] };
  const failures: Record<string, number> = {};
  for (let r = 0; r < warmup + rounds; r++) {
    for (const v of rotated(STREAM_VARIANTS, r)) {
      const timing = await run[v]();
      const first = timing.arrivals[0];
      if (timing.error !== undefined || first === undefined) failures[v] = (failures[v] ?? 0) + 1;
      else if (r >= warmup) samples[v].push(first - timing.start);
    }
  }
  destroyAgents(agents);
  const result = {
    rounds,
    direct: summarize(samples.direct),
    ws: summarize(samples.ws),
    sse: summarize(samples.sse),
    peer: summarize(samples.peer),
    failures,
  };
  log(
    `  p50 direct ${result.direct.p50.toFixed(3)} ws ${result.ws.p50.toFixed(3)} sse ${result.sse.p50.toFixed(3)} peer ${result.peer.p50.toFixed(3)} ms`,
  );
  return result;
}

async function gapScenario(rig: Rig, ws: Client): Promise<Results['gap']> {
  const { rounds } = PLAN.gap;
  const model = `bench-c${GAP_CHUNKS}-d${GAP_MS}`;
  log(`gaps between chunks: ${rounds} rounds × direct/ws/sse/peer, ${model}`);
  const agents = streamAgents();
  const run = streamRunner(rig, model, ws, agents);
  const samples: Record<StreamVariant, number[]> = { direct: [], ws: [], sse: [], peer: [] };
  const failures: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const v of rotated(STREAM_VARIANTS, r)) {
      const timing = await run[v]();
      if (timing.error !== undefined || timing.arrivals.length !== GAP_CHUNKS) {
        failures[v] = (failures[v] ?? 0) + 1;
        continue;
      }
      samples[v].push(...gaps(timing.arrivals));
    }
  }
  destroyAgents(agents);
  const result = {
    rounds,
    nominalMs: GAP_MS,
    chunks: GAP_CHUNKS,
    direct: summarize(samples.direct),
    ws: summarize(samples.ws),
    sse: summarize(samples.sse),
    peer: summarize(samples.peer),
    failures,
  };
  log(
    `  p99 direct ${result.direct.p99.toFixed(3)} ws ${result.ws.p99.toFixed(3)} sse ${result.sse.p99.toFixed(3)} peer ${result.peer.p99.toFixed(3)} ms`,
  );
  return result;
}

/** `concurrency` closed-loop workers for `seconds`. */
async function closedLoop(via: http.Agent, endpoint: Endpoint, concurrency: number, seconds: number): Promise<{ completions: number; failures: number; elapsed: number; latencies: number[] }> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let completions = 0;
  let failures = 0;
  const latencies: number[] = [];
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        const reply = await post(via, endpoint);
        if (replyOk(reply)) {
          completions++;
          latencies.push(performance.now() - t);
        } else failures++;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completions, failures, elapsed: (performance.now() - start) / 1000, latencies };
}

type ThroughputVariant = Variant | 'gatewayRedis' | 'workers2';
interface Tally {
  completions: number;
  failures: number;
  elapsed: number;
  latencies: number[];
  /** CPU seconds of the gateway's processes during its rounds. */
  cpu: number;
}

/**
 * Closed-loop throughput of every variant, interleaved: direct, the single-process gateway,
 * the peer and, when Redis answers, the single-process gateway with REDIS_URL (what the
 * shared limits cost) and WORKERS=2 with REDIS_URL (what the second process gains), the
 * latter two started for this scenario alone.
 */
async function throughputScenario(rig: Rig): Promise<Results['throughput']> {
  const { rounds, seconds, warmupSeconds } = PLAN.throughput;
  const endpoints: Partial<Record<ThroughputVariant, Endpoint>> = unaryEndpoints(rig, ONE_SHOT);
  const gateways: Partial<Record<ThroughputVariant, Proc>> = { gateway: rig.gateway };
  if (rig.redis) {
    for (const [v, variant] of [
      ['gatewayRedis', rig.redis.variants.redis],
      ['workers2', rig.redis.variants.workers2],
    ] as const) {
      const gw = await launchGateway(rig, variant);
      gateways[v] = gw;
      endpoints[v] = gatewayEndpoint(gw.port, rig.key, ONE_SHOT, false);
    }
  }
  const variants = (['direct', 'gateway', 'gatewayRedis', 'workers2', 'peer'] as const).filter((v) => endpoints[v] !== undefined);
  log(`throughput c=${CONCURRENCY}: ${rounds} rounds × ${seconds} s × ${variants.join('/')}`);
  const agents = Object.fromEntries(variants.map((v) => [v, agent(CONCURRENCY)])) as Record<ThroughputVariant, http.Agent>;
  const endpointOf = (v: ThroughputVariant): Endpoint => {
    const endpoint = endpoints[v];
    if (!endpoint) throw new Error(`no endpoint for ${v}`);
    return endpoint;
  };
  for (const v of variants) await closedLoop(agents[v], endpointOf(v), CONCURRENCY, warmupSeconds);
  const totals = Object.fromEntries(variants.map((v) => [v, { completions: 0, failures: 0, elapsed: 0, latencies: [], cpu: 0 }])) as unknown as Record<ThroughputVariant, Tally>;
  for (let r = 0; r < rounds; r++) {
    for (const v of rotated(variants, r)) {
      const gw = gateways[v];
      const cpu0 = gw ? treeCpuSeconds(gw.pid) : 0;
      const run = await closedLoop(agents[v], endpointOf(v), CONCURRENCY, seconds);
      const total = totals[v];
      if (gw) total.cpu += treeCpuSeconds(gw.pid) - cpu0;
      total.completions += run.completions;
      total.failures += run.failures;
      total.elapsed += run.elapsed;
      for (const l of run.latencies) total.latencies.push(l);
      await sleep(200);
    }
  }
  destroyAgents(agents);
  const figure = (v: ThroughputVariant): ThroughputFigure => {
    const gw = gateways[v];
    return {
      rate: totals[v].completions / totals[v].elapsed,
      completions: totals[v].completions,
      failures: totals[v].failures,
      latency: summarize(totals[v].latencies),
      ...(gw ? { rssBytes: treeMemory(gw.pid).hwm, cpuMsPerCompletion: (totals[v].cpu * 1000) / totals[v].completions } : {}),
    };
  };
  const result: Results['throughput'] = {
    concurrency: CONCURRENCY,
    rounds,
    seconds,
    direct: figure('direct'),
    gateway: figure('gateway'),
    ...(totals.gatewayRedis ? { gatewayRedis: figure('gatewayRedis') } : {}),
    ...(totals.workers2 ? { workers2: figure('workers2') } : {}),
    peer: figure('peer'),
  };
  for (const v of ['gatewayRedis', 'workers2'] as const) await gateways[v]?.stop();
  log(
    `  /s direct ${result.direct.rate.toFixed(0)}; ${[
      throughputLine('gateway', result.gateway, result.peer),
      throughputLine('gateway + Redis', result.gatewayRedis, result.peer),
      throughputLine('WORKERS=2 + Redis', result.workers2, result.peer),
    ].join('; ')}; peer ${result.peer.rate.toFixed(0)}`,
  );
  return result;
}

interface LoadChild {
  child: ChildProcess;
  next<T>(type: string): Promise<T>;
  exited: Promise<void>;
}

function forkLoad(): LoadChild {
  const child = fork(join(ROOT, 'bench/load.ts'), [], { execArgv: ['--import', 'tsx'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: { type: string; [k: string]: unknown }[] = [];
  const waiters: ((m: { type: string; [k: string]: unknown }) => void)[] = [];
  child.on('message', (m) => {
    const message = m as { type: string; [k: string]: unknown };
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    exited,
    next<T>(type: string): Promise<T> {
      const take = (message: { type: string; [k: string]: unknown }): T => {
        if (message.type === 'error') throw new Error(`load generator: ${String(message['message'])}`);
        if (message.type !== type) throw new Error(`load generator sent ${message.type}, expected ${type}`);
        return message as T;
      };
      const queued = queue.shift();
      if (queued) return Promise.resolve(take(queued));
      return new Promise<T>((resolve, reject) => {
        const onExit = (): void => reject(new Error(`load generator exited while waiting for ${type}`));
        child.once('exit', onExit);
        waiters.push((message) => {
          child.off('exit', onExit);
          try {
            resolve(take(message));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      });
    },
  };
}

async function upstreamStats(rig: Rig, reset = false): Promise<{ maxLateMs: number; meanLateMs: number; maxBurstMs: number }> {
  const response = await fetch(`http://127.0.0.1:${rig.upstream.port}/bench/${reset ? 'reset' : 'stats'}`);
  if (reset) return { maxLateMs: 0, meanLateMs: 0, maxBurstMs: 0 };
  return (await response.json()) as { maxLateMs: number; meanLateMs: number; maxBurstMs: number };
}

/** N streams of N_CHUNKS chunks paced N_GAP_MS apart, 100 per socket. */
function streamsCommand(rig: Rig, port: number, n: number): StreamsCommand {
  return {
    type: 'streams',
    port,
    key: rig.key,
    n,
    perSocket: 100,
    model: `bench-c${N_CHUNKS}-d${N_GAP_MS}`,
    chunks: N_CHUNKS,
    nominalGapMs: N_GAP_MS,
    timeoutMs: N_CHUNKS * N_GAP_MS + 120_000,
  };
}

/**
 * The same burst with no gateway: the load generator asks the fake upstream for N streams
 * at once, one connection each. What it shows is the rig's own share of the first-chunk
 * and gap figures (both processes share the cores with it).
 */
async function directStreams(rig: Rig, n: number): Promise<DirectStreamsRow> {
  log(`concurrent streams, direct: N = ${n} straight to the fake upstream`);
  await upstreamStats(rig, true);
  const load = forkLoad();
  const loadPid = load.child.pid ?? 0;
  const cpu0 = { upstream: cpuSecondsOf(rig.upstream.pid), load: cpuSecondsOf(loadPid) };
  const t0 = performance.now();
  const command: DirectStreamsCommand = { type: 'direct', port: rig.upstream.port, n, model: `bench-c${N_CHUNKS}-d${N_GAP_MS}`, chunks: N_CHUNKS, nominalGapMs: N_GAP_MS };
  load.child.send(command);
  const result = await load.next<StreamsResult>('result');
  const wall = (performance.now() - t0) / 1000;
  const cpu = { upstream: (cpuSecondsOf(rig.upstream.pid) - cpu0.upstream) / wall, load: (cpuSecondsOf(loadPid) - cpu0.load) / wall };
  const timers = await upstreamStats(rig);
  await load.exited;
  log(
    `  delivered ${result.deliveredChunks}/${result.expectedChunks}, ttfc p50 ${result.ttfc.p50.toFixed(0)} / p99 ${result.ttfc.p99.toFixed(0)} ms, added gap p99 ${result.addedGap.p99.toFixed(1)} ms, CPU upstream ${cpu.upstream.toFixed(2)} / load gen ${cpu.load.toFixed(2)}`,
  );
  return { ...result, cpu, upstreamTimers: timers };
}

/** Runs `n` short streams through a gateway, so the code a burst runs is compiled and loaded. */
async function warmUp(rig: Rig, port: number, n: number): Promise<void> {
  const warm = forkLoad();
  warm.child.send({ ...streamsCommand(rig, port, n), model: 'bench-c2-d10', chunks: 2, nominalGapMs: 10 } satisfies StreamsCommand);
  await warm.next('ready');
  warm.child.send({ type: 'go' });
  await warm.next('result');
  await warm.exited;
}

/**
 * N streams through a fresh gateway of `variant`, just after the same burst with no gateway
 * (or, given `direct`, compared with that one: the quick run shares one direct burst among
 * its variants to stay short). A cluster's memory and CPU are its processes' summed.
 */
async function streamsScenario(rig: Rig, n: number, variant: GatewayVariant = SINGLE, given?: DirectStreamsRow): Promise<StreamsRow> {
  const direct = given ?? (await directStreams(rig, n));
  log(`concurrent streams: N = ${n} over ${Math.ceil(n / 100)} graphql-ws sockets, ${N_CHUNKS} chunks × ${N_GAP_MS} ms, ${variant.label}`);
  const gw = await freshGateway(rig, [], variant);
  if (WARM_UP) await warmUp(rig, gw.port, WARM_UP);
  await sleep(1000);
  const base = treeMemory(gw.pid).rss;
  await upstreamStats(rig, true);
  const load = forkLoad();
  load.child.send(streamsCommand(rig, gw.port, n));
  await load.next<{ sockets: number }>('ready');
  const loadPid = load.child.pid ?? 0;
  const poller = treeRssPoller(gw.pid, 100);
  const cpu0 = { gateway: treeCpuSeconds(gw.pid), upstream: cpuSecondsOf(rig.upstream.pid), load: cpuSecondsOf(loadPid) };
  const t0 = performance.now();
  let mid: Record<string, number> = {};
  // One metrics scrape mid-run, for the JS heap while every stream is open.
  const midTimer = setTimeout(() => {
    scrapeMetrics(gw.port).then(
      (m) => (mid = m),
      () => undefined,
    );
  }, (N_CHUNKS * N_GAP_MS) / 2);
  load.child.send({ type: 'go' });
  const result = await load.next<StreamsResult>('result');
  clearTimeout(midTimer);
  const wall = (performance.now() - t0) / 1000;
  const cpu = {
    gateway: (treeCpuSeconds(gw.pid) - cpu0.gateway) / wall,
    upstream: (cpuSecondsOf(rig.upstream.pid) - cpu0.upstream) / wall,
    load: (cpuSecondsOf(loadPid) - cpu0.load) / wall,
  };
  let loadRss = 0;
  try {
    loadRss = memoryOf(loadPid).hwm;
  } catch {
    // already gone
  }
  const peak = poller.stop();
  const { hwm, processes } = treeMemory(gw.pid);
  const timers = await upstreamStats(rig);
  await load.exited;
  const row: StreamsRow = {
    ...result,
    variant: variant.name,
    label: variant.label,
    processes,
    gatewayBaseRss: base,
    gatewayPeakRss: peak,
    gatewayHwm: hwm,
    gatewayHeapUsedMid: mid['nodejs_heap_size_used_bytes'],
    gatewayHeapTotalMid: mid['nodejs_heap_size_total_bytes'],
    gatewayExternalMid: mid['nodejs_external_memory_bytes'],
    cpu,
    upstreamTimers: { maxLateMs: timers.maxLateMs, meanLateMs: timers.meanLateMs, maxBurstMs: timers.maxBurstMs },
    loadRss,
    direct,
  };
  log(
    `  delivered ${row.deliveredChunks}/${row.expectedChunks}, completed ${row.completedStreams}/${n}, ttfc p99 ${row.ttfc.p99.toFixed(0)} ms, added gap p99 ${row.addedGap.p99.toFixed(1)} ms, peak RSS ${(Math.max(hwm, peak) / 1048576).toFixed(0)} MiB, gateway CPU ${cpu.gateway.toFixed(2)}`,
  );
  if (Object.keys(row.errors).length) log(`  errors: ${JSON.stringify(row.errors)}`);
  // Stopped now, not when the next gateway starts: streams it still relays (a timed-out
  // run's) would otherwise load the next row's direct burst.
  await gw.stop();
  rig.gateway = undefined;
  return row;
}

/**
 * The N-streams rows for one N: the single-process gateway, and with `clustered` the
 * variants past one process too. Each has its own direct burst just before it, except in the
 * quick run, where they share the first.
 */
async function streamsRows(rig: Rig, n: number, clustered: boolean): Promise<StreamsRow[]> {
  const rows = [await streamsScenario(rig, n)];
  for (const variant of clustered ? clusterVariants(rig) : []) rows.push(await streamsScenario(rig, n, variant, QUICK ? rows[0]?.direct : undefined));
  return rows;
}

async function idleScenario(rig: Rig): Promise<IdleFigure> {
  const { k, addresses } = PLAN.idle;
  log(`idle graphql-ws connections: K = ${k} from ${addresses.length} address(es)`);
  const gw = await freshGateway(rig);
  // Warm up the socket code paths so their one-time cost is not counted per socket.
  {
    const warm = forkLoad();
    const command: IdleCommand = { type: 'idle', port: gw.port, key: rig.key, k: 100, addresses: ['127.0.0.1'] };
    warm.child.send(command);
    await warm.next('ready');
    warm.child.send({ type: 'close' });
    await warm.next('closed');
    await warm.exited;
  }
  await sleep(2000);
  const before = await scrapeMetrics(gw.port);
  const baseRss = memoryOf(gw.pid).rss;
  const load = forkLoad();
  const command: IdleCommand = { type: 'idle', port: gw.port, key: rig.key, k, addresses };
  load.child.send(command);
  await load.next('ready');
  await sleep(3000);
  const rss = memoryOf(gw.pid).rss;
  const after = await scrapeMetrics(gw.port);
  load.child.send({ type: 'close' });
  await load.next('closed');
  await load.exited;
  const delta = (name: string): number | undefined =>
    after[name] !== undefined && before[name] !== undefined ? ((after[name] ?? 0) - (before[name] ?? 0)) / k : undefined;
  const figure: IdleFigure = {
    k,
    addresses: addresses.length,
    baseRss,
    rss,
    perSocketBytes: (rss - baseRss) / k,
    heapPerSocketBytes: delta('nodejs_heap_size_used_bytes'),
    externalPerSocketBytes: delta('nodejs_external_memory_bytes'),
    activeWebsockets: after['gateway_active_websockets'],
  };
  log(`  ${(figure.perSocketBytes / 1024).toFixed(1)} KiB RSS per idle socket (${figure.activeWebsockets ?? '?'} sockets open)`);
  return figure;
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `work` against a gateway started with --cpu-prof, stops it, and summarizes the
 * profile over the window `work` marks (so start-up, warm-up and shutdown are left out).
 */
async function profiled(
  rig: Rig,
  name: string,
  scenario: string,
  work: (gw: Proc, mark: { start(): void; stop(): void }) => Promise<void>,
): Promise<ProfileFigure | undefined> {
  const dir = join(rig.tmp, 'profiles', name.replace(/\W+/g, '-'));
  mkdirSync(dir, { recursive: true });
  const gw = await freshGateway(rig, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const window = { fromUs: 0, toUs: Infinity };
  await work(gw, { start: () => (window.fromUs = monotonicUs()), stop: () => (window.toUs = monotonicUs()) });
  await gw.stop(15_000);
  rig.gateway = undefined;
  // A cluster (`--gateway-env WORKERS=2`) writes one profile per process (workers inherit
  // --cpu-prof): the busiest worker's is the one shown, every file's path is logged.
  const summaries = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: join(dir, f), summary: summarizeProfile(readProfile(join(dir, f)), window) }))
    .sort((a, b) => b.summary.busyMs - a.summary.busyMs);
  const busiest = summaries[0];
  if (!busiest) {
    notes.push(`The ${name} profile was not written (the gateway did not exit cleanly).`);
    return undefined;
  }
  for (const { file, summary } of summaries) log(`  profile: ${file} (${(summary.busyMs / 1000).toFixed(1)} s busy)`);
  return { name, scenario, summary: busiest.summary };
}

async function profiles(rig: Rig): Promise<ProfileFigure[]> {
  const out: ProfileFigure[] = [];
  const seconds = PLAN.profileSeconds;
  log(`CPU profile 1: mutations at c=${CONCURRENCY} for ${seconds} s`);
  const mutations = await profiled(
    rig,
    `Mutations at c=${CONCURRENCY}`,
    `${seconds} s of non-streamed completions at concurrency ${CONCURRENCY} over HTTP (after 1 s of warm-up, which is left out, as are start-up and shutdown), with`,
    async (gw, mark) => {
      const via = agent(CONCURRENCY);
      const endpoint = gatewayEndpoint(gw.port, rig.key, ONE_SHOT, false);
      await closedLoop(via, endpoint, CONCURRENCY, 1);
      mark.start();
      const run = await closedLoop(via, endpoint, CONCURRENCY, seconds);
      mark.stop();
      via.destroy();
      log(`  ${(run.completions / run.elapsed).toFixed(0)}/s under the profiler`);
    },
  );
  if (mutations) out.push(mutations);
  const streams = 200;
  const batches = QUICK ? 1 : 3;
  log(`CPU profile 2: ${batches} × ${streams} concurrent ${GAP_CHUNKS} × ${GAP_MS} ms streams over graphql-ws`);
  const streaming = await profiled(
    rig,
    'Streams over graphql-ws',
    `${batches} × ${streams} concurrent \`bench-c${GAP_CHUNKS}-d${GAP_MS}\` subscriptions over 2 graphql-ws sockets (${((streams * 1000) / GAP_MS).toLocaleString('en-US')} chunks/s; start-up and a warm-up batch left out), with`,
    async (gw, mark) => {
      const clients = [await connectWs({ port: gw.port, key: rig.key }), await connectWs({ port: gw.port, key: rig.key })];
      // One short batch first, to warm up the streaming path.
      await Promise.all(clients.map((c) => wsStream(c, `bench-c8-d${GAP_MS}`)));
      mark.start();
      for (let b = 0; b < batches; b++) {
        const runs: Promise<StreamTiming>[] = [];
        for (let s = 0; s < streams; s++) {
          const client = clients[s % clients.length];
          if (client) runs.push(wsStream(client, `bench-c${GAP_CHUNKS}-d${GAP_MS}`));
        }
        const timings = await Promise.all(runs);
        const bad = timings.filter((t) => t.error !== undefined || t.arrivals.length !== GAP_CHUNKS).length;
        if (bad) notes.push(`Profiled streams: ${bad} of ${streams} in batch ${b + 1} failed or were short.`);
      }
      mark.stop();
      await Promise.all(clients.map((c) => Promise.resolve(c.dispose())));
    },
  );
  if (streaming) out.push(streaming);
  const burst = QUICK ? 1_000 : 2_000;
  log(`CPU profile 3: a burst of ${burst} subscribes`);
  const starts = await profiled(
    rig,
    'A burst of subscribes',
    `${burst.toLocaleString('en-US')} \`bench-c2-d1000\` subscriptions started at once over ${Math.ceil(burst / 100)} graphql-ws sockets (what stream start-up costs, on a gateway warmed with 500 short streams first; the window runs from the burst to the last stream's end, so it also holds ${burst.toLocaleString('en-US')} × 2 chunks), with`,
    async (gw, mark) => {
      // Warm first: what a start costs once compiled, not the JIT's first passes.
      await warmUp(rig, gw.port, 500);
      const load = forkLoad();
      load.child.send({ ...streamsCommand(rig, gw.port, burst), model: 'bench-c2-d1000', chunks: 2 } satisfies StreamsCommand);
      await load.next<{ sockets: number }>('ready');
      mark.start();
      load.child.send({ type: 'go' });
      const result = await load.next<StreamsResult>('result');
      mark.stop();
      await load.exited;
      log(`  first chunk p50 ${result.ttfc.p50.toFixed(0)} ms, p99 ${result.ttfc.p99.toFixed(0)} ms under the profiler`);
    },
  );
  if (starts) out.push(starts);
  return out;
}

/** Waits for a heap snapshot file to be written (the gateway is blocked while it writes). */
async function snapshotOf(gw: Proc, dir: string, before: ReadonlySet<string>): Promise<string> {
  gw.child.kill('SIGUSR2');
  await sleep(300);
  // /health answers again once the synchronous snapshot is done.
  for (let attempt = 1; ; attempt++) {
    try {
      await fetch(`http://127.0.0.1:${gw.port}/health`, { signal: AbortSignal.timeout(120_000) });
      break;
    } catch (error) {
      if (gw.child.exitCode !== null || gw.child.signalCode !== null) {
        throw new Error(`the gateway died taking a heap snapshot (${gw.child.exitCode ?? gw.child.signalCode})`);
      }
      if (attempt >= 5) throw error;
      log(`  health check after the snapshot failed (${String((error as Error).cause ?? error)}); retrying`);
      await sleep(1000);
    }
  }
  for (let i = 0; i < 100; i++) {
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file) return join(dir, file);
    await sleep(100);
  }
  throw new Error('no heap snapshot written');
}

/**
 * Where the memory of open streams goes: two heap snapshots of a fresh gateway, idle and
 * with N streams open (each at its first chunks), compared per constructor.
 */
async function heapScenario(rig: Rig, n: number): Promise<HeapFigure | undefined> {
  log(`heap snapshots: idle, then with ${n} open streams`);
  const dir = join(rig.tmp, 'heap');
  mkdirSync(dir, { recursive: true });
  const gw = await freshGateway(rig, ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`]);
  // A few streams first, so modules loaded and code compiled on first use are in both snapshots.
  const warm = await connectWs({ port: gw.port, key: rig.key });
  await Promise.all(Array.from({ length: 20 }, () => wsStream(warm, 'bench-c3-d10')));
  await warm.dispose();
  const load = forkLoad();
  load.child.send(streamsCommand(rig, gw.port, n));
  await load.next('ready');
  await sleep(1000);
  const idleFile = await snapshotOf(gw, dir, new Set());
  const idleRss = memoryOf(gw.pid).rss;
  load.child.send({ type: 'go' });
  // Long enough for every stream to be open and past its first chunk.
  const open = async (): Promise<number> => (await scrapeMetrics(gw.port))['gateway_active_subscriptions'] ?? 0;
  const deadline = Date.now() + 60_000;
  while ((await open()) < n && Date.now() < deadline) await sleep(250);
  await sleep(3000);
  const rss = memoryOf(gw.pid).rss;
  const loadedFile = await snapshotOf(gw, dir, new Set([idleFile.split('/').pop() ?? '']));
  load.child.kill();
  await load.exited;
  await gw.stop();
  rig.gateway = undefined;
  const idle = summarizeHeap(readHeapSnapshot(idleFile), 100_000);
  const loaded = summarizeHeap(readHeapSnapshot(loadedFile), 100_000);
  rmSync(dir, { recursive: true, force: true });
  const growth = (was: HeapEntry[], now: HeapEntry[]): HeapEntry[] => {
    const before = new Map(was.map((e) => [e.name, e]));
    return now
      .map((e) => ({ name: e.name, count: e.count - (before.get(e.name)?.count ?? 0), bytes: e.bytes - (before.get(e.name)?.bytes ?? 0) }))
      .sort((a, b) => b.bytes - a.bytes);
  };
  const figure: HeapFigure = {
    n,
    idleHeapBytes: idle.totalBytes,
    loadedHeapBytes: loaded.totalBytes,
    idleRss,
    rss,
    top: growth(idle.top, loaded.top).slice(0, 15),
    owners: growth(idle.owners, loaded.owners).slice(0, 20),
  };
  log(`  heap ${(idle.totalBytes / 1048576).toFixed(0)} → ${(loaded.totalBytes / 1048576).toFixed(0)} MiB live; ${((loaded.totalBytes - idle.totalBytes) / n / 1024).toFixed(1)} KiB per stream`);
  return figure;
}

function machine(): Results['machine'] {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    memoryGiB: os.totalmem() / 1024 ** 3,
  };
}

/**
 * A fixed piece of CPU work (JSON round trips of an OpenAI chunk) timed in a fresh process,
 * best of three, in ms: the same on every run, so it shows how fast this machine was that
 * day. The rig's machines drift by 2× and more between days, which moves every absolute
 * figure; compare runs by this and by direct's throughput, not by the date.
 */
function speedProbe(): number {
  const script = `const o={id:'chatcmpl-1',object:'chat.completion.chunk',created:1700000000,model:'gpt',choices:[{index:0,delta:{content:' tok'},finish_reason:null}]};let n=0;const t=performance.now();for(let i=0;i<300000;i++)n+=JSON.parse(JSON.stringify(o)).choices.length;process.stdout.write(String(performance.now()-t));`;
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })));
  return best;
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha} (with uncommitted changes in src/)` : sha;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  if (!existsSync(join(ROOT, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const loadBefore = os.loadavg();
  const speedBefore = speedProbe();
  log(`${QUICK ? 'QUICK run' : 'full run'}; ${os.cpus().length} cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, speed probe ${speedBefore.toFixed(0)} ms`);
  if ((loadBefore[0] ?? 0) > os.cpus().length * 0.75) {
    log('warning: the machine is busy; figures will be noisy');
    notes.push(`The machine was busy when the run started (1-minute load average ${(loadBefore[0] ?? 0).toFixed(2)} on ${os.cpus().length} cores).`);
  }
  const tmp = mkdtempSync(join(os.tmpdir(), 'gateway-bench-'));
  log(`temp dir ${tmp}`);
  const databaseUrl = `file:${join(tmp, 'bench.db')}`;
  const key = await createKey(databaseUrl);
  const upstream = await startUpstream();
  const redis = PROFILES_ONLY ? undefined : await benchRedis();
  if (redis) {
    log(`Redis at ${redis.url}, key prefix ${redis.prefix}: the gateway + Redis and WORKERS=2 variants run`);
    cleanups.push(async () => log(`deleted ${await redis.cleanup()} Redis key(s) under ${redis.prefix}`));
  } else if (!PROFILES_ONLY) {
    log('Redis does not answer (BENCH_REDIS_URL): the gateway + Redis and WORKERS=2 variants are left out');
    notes.push('Redis did not answer, so the gateway + Redis and WORKERS=2 variants were not run.');
  }
  const rig: Rig = { tmp, upstream, key, databaseUrl, gateway: undefined, peer: undefined, gatewayLogs: [], redis };
  log(`fake upstream on 127.0.0.1:${upstream.port}`);
  if (STREAMS_ONLY || PROFILES_ONLY || THROUGHPUT_ONLY) {
    const streams: StreamsRow[] = [];
    let throughput: Results['throughput'] | undefined;
    if (THROUGHPUT_ONLY) {
      await freshGateway(rig);
      rig.peer = await startPeer(join(tmp, 'peer.log'));
      throughput = await throughputScenario(rig);
      await rig.peer.stop();
    }
    if (STREAMS_ONLY) for (const n of STREAMS_ONLY) streams.push(...(await streamsRows(rig, n, true)));
    if (PROFILES_ONLY) for (const figure of await profiles(rig)) process.stdout.write(`\n## ${figure.name}\n${formatSummary(figure.summary)}`);
    else for (const target of clusterTargets(throughput, streams)) log(`${met(target.ok).replace(/\*/g, '').padEnd(9)} ${target.what}: ${target.figure} (target ${target.target})`);
    if (rig.gateway) await rig.gateway.stop();
    await upstream.stop();
    if (!KEEP) rmSync(tmp, { recursive: true, force: true });
    return;
  }
  await freshGateway(rig);
  rig.peer = await startPeer(join(tmp, 'peer.log'));
  log(`gateway on 127.0.0.1:${rig.gateway?.port ?? '?'}, peer (Portkey) on 127.0.0.1:${rig.peer.port}`);

  const ws = await connectWs({ port: rig.gateway?.port ?? 0, key });
  const peerStreaming = await verify(rig, ws);
  log(`verified all paths; peer streaming: ${peerStreaming.ok ? 'ok' : peerStreaming.note}`);

  const latency = await latencyScenario(rig);
  const ttfc = await ttfcScenario(rig, ws);
  const gap = await gapScenario(rig, ws);
  const throughput = await throughputScenario(rig);
  await ws.dispose();
  await rig.peer.stop();
  rig.peer = undefined;

  const streams: StreamsRow[] = [];
  const largest = Math.max(...PLAN.streams);
  for (const n of PLAN.streams) streams.push(...(await streamsRows(rig, n, n === largest)));
  const idle = await idleScenario(rig);
  if (rig.gateway) await rig.gateway.stop();
  rig.gateway = undefined;
  const profileFigures = PROFILE ? await profiles(rig) : [];
  const heap = PROFILE ? await heapScenario(rig, 1_000) : undefined;
  await upstream.stop();

  const logLines = rig.gatewayLogs.flatMap((file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []));
  if (logLines.length) {
    notes.push(`The gateway logged ${logLines.length} line(s) at warn or above; the first: \`${(logLines[0] ?? '').slice(0, 300).replace(/`/g, "'")}\``);
  }

  const portkeyBuild = readFileSync(join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js'), 'utf8');
  if (portkeyBuild.includes('l=!1,await new Promise((e=>setTimeout(e,25)))')) {
    notes.push(
      "The peer's time to first chunk includes a deliberate 25 ms pause: Portkey's stream transformer (build/start-server.js) awaits `setTimeout(…, 25)` before relaying the first chunk of every stream. Its later chunks are not delayed.",
    );
  }
  const portkeyVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/@portkey-ai/gateway/package.json'), 'utf8')) as { version: string }).version;
  const results: Results = {
    quick: QUICK,
    date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
    machine: machine(),
    commit: commit(),
    portkeyVersion,
    loadBefore,
    loadAfter: os.loadavg(),
    speedProbeMs: [speedBefore, speedProbe()],
    durationS: (performance.now() - began) / 1000,
    latency,
    ttfc,
    gap,
    throughput,
    streams,
    idle,
    profiles: profileFigures,
    heap,
    peerStreaming,
    notes,
  };
  const outDir = OUT_ARG ?? (QUICK ? tmp : join(ROOT, 'bench'));
  mkdirSync(outDir, { recursive: true });
  const markdown = renderMarkdown(results);
  writeFileSync(join(outDir, QUICK ? 'RESULTS.quick.md' : 'RESULTS.md'), markdown);
  writeFileSync(join(outDir, QUICK ? 'results.quick.json' : 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`\n${markdown}\n`);
  for (const target of targets(results)) log(`${met(target.ok).replace(/\*/g, '').padEnd(9)} ${target.what}: ${target.figure} (target ${target.target})`);
  log(`wrote ${join(outDir, QUICK ? 'RESULTS.quick.md' : 'RESULTS.md')} in ${results.durationS.toFixed(0)} s`);
  if (!KEEP && !QUICK) rmSync(tmp, { recursive: true, force: true });
  else if (!KEEP) rmSync(join(tmp, 'heap'), { recursive: true, force: true });
  else log(`kept ${tmp} (logs, profiles)`);
}

/** Runs the cleanups (the bench's Redis keys) once, whatever ended the run. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) {
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  }
}

process.on('SIGINT', () => {
  killAll();
  void cleanUp().finally(() => process.exit(130));
});
main().then(
  async () => {
    await cleanUp();
    process.exit(0);
  },
  async (error: unknown) => {
    killAll();
    await cleanUp();
    const cause = error instanceof Error && error.cause !== undefined ? `\ncaused by: ${error.cause instanceof Error ? error.cause.message : JSON.stringify(error.cause)}` : '';
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}${cause}\n`);
    process.exit(1);
  },
);
