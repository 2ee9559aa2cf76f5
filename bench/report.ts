/** Renders the benchmark results as bench/RESULTS.md. */
import type { HeapEntry } from './heap.js';
import type { StreamsResult } from './load.js';
import type { ProfileSummary } from './profile.js';
import { fmt, ratio, type Summary } from './stats.js';
import { met, targets } from './targets.js';

export interface Machine {
  cores: number;
  cpu: string;
  node: string;
  os: string;
  memoryGiB: number;
}

export interface ThroughputFigure {
  rate: number;
  completions: number;
  failures: number;
  latency: Summary;
  /** Gateways only: summed VmHWM of the process tree (primary + workers) after the run. */
  rssBytes?: number;
  /** Gateways only: CPU time of its processes during its rounds ÷ completions (ms). */
  cpuMsPerCompletion?: number;
}

/** The same burst straight from the fake upstream, no gateway (`directStreams` in run.ts). */
export interface DirectStreamsRow extends StreamsResult {
  cpu: { upstream: number; load: number };
  upstreamTimers: { maxLateMs: number; meanLateMs: number; maxBurstMs: number };
}

export interface StreamsRow extends StreamsResult {
  /** Which gateway (`single`, `redis`, `workers2`; absent in older results: single). */
  variant?: 'single' | 'redis' | 'workers2';
  /** Its label in the tables, e.g. `WORKERS=2 + Redis`. */
  label?: string;
  /** Processes whose memory and CPU are summed (the primary and its workers). */
  processes?: number;
  gatewayBaseRss: number;
  /** Peak of VmRSS sampled every 100 ms. */
  gatewayPeakRss: number;
  /** VmHWM at the end (the kernel's own peak, since the gateway started fresh for this N). */
  gatewayHwm: number;
  gatewayHeapUsedMid: number | undefined;
  gatewayHeapTotalMid: number | undefined;
  gatewayExternalMid: number | undefined;
  /** CPU seconds / wall seconds during the run (1.0 = one core). */
  cpu: { gateway: number; upstream: number; load: number };
  upstreamTimers: { maxLateMs: number; meanLateMs: number; maxBurstMs: number };
  loadRss: number;
  /** Absent in results from before the direct run existed. */
  direct?: DirectStreamsRow;
}

export interface IdleFigure {
  k: number;
  addresses: number;
  baseRss: number;
  rss: number;
  perSocketBytes: number;
  heapPerSocketBytes: number | undefined;
  externalPerSocketBytes: number | undefined;
  activeWebsockets: number | undefined;
}

export interface ProfileFigure {
  name: string;
  scenario: string;
  summary: ProfileSummary;
}

export interface HeapFigure {
  n: number;
  /** Live JS heap (sum of self sizes in the snapshot). */
  idleHeapBytes: number;
  loadedHeapBytes: number;
  idleRss: number;
  rss: number;
  /** Growth per constructor / kind between the two snapshots. */
  top: HeapEntry[];
  /** Growth per nearest named owner (see HeapSummary.owners). */
  owners: HeapEntry[];
}

export interface Results {
  quick: boolean;
  date: string;
  machine: Machine;
  commit: string;
  portkeyVersion: string;
  loadBefore: number[];
  loadAfter: number[];
  /** `speedProbe()` in run.ts before and after the run (ms; lower is a faster machine). Absent in older results. */
  speedProbeMs?: [number, number];
  durationS: number;
  latency: { rounds: number; direct: Summary; gateway: Summary; peer: Summary; failures: Record<string, number> };
  ttfc: { rounds: number; direct: Summary; ws: Summary; sse: Summary; peer: Summary; failures: Record<string, number> };
  gap: {
    rounds: number;
    nominalMs: number;
    chunks: number;
    direct: Summary;
    ws: Summary;
    sse: Summary;
    peer: Summary;
    failures: Record<string, number>;
  };
  throughput: {
    concurrency: number;
    rounds: number;
    seconds: number;
    direct: ThroughputFigure;
    gateway: ThroughputFigure;
    /** The single-process gateway with REDIS_URL: what the shared limits cost. */
    gatewayRedis?: ThroughputFigure;
    /** WORKERS=2 with REDIS_URL: what the second process gains. */
    workers2?: ThroughputFigure;
    peer: ThroughputFigure;
  };
  streams: StreamsRow[];
  idle: IdleFigure | undefined;
  profiles: ProfileFigure[];
  heap: HeapFigure | undefined;
  peerStreaming: { ok: boolean; note: string };
  notes: string[];
}

const MB = 1024 * 1024;

function signed(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

function distRow(label: string, d: Summary, direct: Summary, peer: Summary | undefined, field: 'p50' | 'p99'): string {
  const v = d[field];
  const cells = [
    label,
    fmt(direct[field], 3),
    fmt(v, 3),
    peer ? fmt(peer[field], 3) : 'n/a',
    signed(v - direct[field], 3),
    peer ? signed(peer[field] - direct[field], 3) : 'n/a',
    ratio(v, direct[field]),
    peer ? ratio(v, peer[field]) : 'n/a',
  ];
  return `| ${cells.join(' | ')} |`;
}

function failures(f: Record<string, number>): string {
  const entries = Object.entries(f).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([k, n]) => `${k}: ${n}`).join(', ') : 'none';
}

export function renderMarkdown(r: Results): string {
  const L: string[] = [];
  const t = r.throughput;
  L.push('# Benchmark results');
  L.push('');
  L.push(
    `${r.quick ? '**Quick run (smoke test, fewer rounds, N = 1,000 only): not the figures of record.** ' : ''}Produced by \`npm run bench\` (code in \`bench/\`) on ${r.date}, in ${fmt(r.durationS, 0)} s.`,
  );
  L.push('');
  L.push('## Machine');
  L.push('');
  L.push(`- ${r.machine.cores} cores, ${r.machine.cpu}, ${fmt(r.machine.memoryGiB, 0)} GiB RAM, ${r.machine.os}`);
  L.push(`- Node ${r.machine.node}; gateway at commit ${r.commit}; peer: \`@portkey-ai/gateway\` ${r.portkeyVersion}`);
  L.push(`- Load average (1/5/15 min) before: ${r.loadBefore.map((x) => x.toFixed(2)).join(' / ')}; after: ${r.loadAfter.map((x) => x.toFixed(2)).join(' / ')}`);
  if (r.speedProbeMs) {
    L.push(
      `- Speed probe (300,000 JSON round trips of an OpenAI chunk in a fresh process, best of 3; the same work every run, so lower means a faster machine that day): ${fmt(r.speedProbeMs[0], 0)} ms before the run, ${fmt(r.speedProbeMs[1], 0)} ms after. The rig's machines drift by 2× and more between days; compare runs by this and by direct's throughput.`,
    );
  }
  L.push(
    '- **Everything shares these cores**: the fake upstream, the gateway, the peer and the measuring client are separate processes on the same machine (the N-streams load generator too), so the figures include CPU contention between them; on 2 cores a busy gateway also slows the client and the upstream that measure it.',
  );
  L.push('');
  L.push('## Setup');
  L.push('');
  L.push(
    '- **direct**: the client calls the fake upstream (`bench/upstream.ts`, own process, plain `node:http`, zero latency, OpenAI wire format; the model name sets chunk count and pacing, e.g. `bench-c64-d20`).',
  );
  L.push(
    '- **gateway**: `node dist/main.js` as deployed: auth on (a key in a temporary SQLite `DATABASE_URL`), ledger on, metrics on, `NODE_ENV=production`, `LOG_LEVEL=warn`, `UPSTREAM_MAX_RETRIES=0`, limits raised (`UPSTREAM_MAX_CONCURRENCY=20000`, `UPSTREAM_QUEUE_LIMIT=20000`, `WS_MAX_SOCKETS_PER_CLIENT=1000`, `WS_MAX_SUBSCRIPTIONS_PER_SOCKET=100`, key limits null). Mutation over HTTP; subscription over graphql-ws (warm socket) and over SSE.',
  );
  L.push(
    `- **peer**: Portkey's open-source gateway ${r.portkeyVersion} from npm (\`build/start-server.js --port=N --headless\`, \`NODE_ENV=production\`, pinned to 127.0.0.1 by \`bench/loopback.mjs\`; npm \`overrides\`: hono 4.9.7, @hono/node-server 1.13.5, @hono/node-ws 1.2.0), called with \`x-portkey-provider: openai\` and \`x-portkey-custom-host\` pointing at the fake. Streaming through it: ${r.peerStreaming.ok ? 'works' : '**does not work**'} (${r.peerStreaming.note}).`,
  );
  L.push(
    '- One minimal `node:http` keep-alive client for all three (only the request differs); chat completions (`messages`). Variants are interleaved: every round runs each variant once, in an order rotated per round, so drift hits all alike.',
  );
  L.push(
    '- "Added" = the variant\'s percentile minus direct\'s same percentile (not percentiles of paired differences). Ratios are the gateway\'s figure divided by direct\'s / the peer\'s.',
  );
  L.push('');
  L.push('## Latency, time to first chunk, gaps between chunks');
  L.push('');
  L.push('All times in ms.');
  L.push('');
  L.push('| Figure | direct | gateway | peer | gateway − direct | peer − direct | gateway ÷ direct | gateway ÷ peer |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const lat = r.latency;
  L.push(distRow(`Non-streamed completion, c=1, p50 (${lat.rounds} rounds)`, lat.gateway, lat.direct, lat.peer, 'p50'));
  L.push(distRow('Non-streamed completion, c=1, p99', lat.gateway, lat.direct, lat.peer, 'p99'));
  const ttfc = r.ttfc;
  const peerTtfc = r.peerStreaming.ok ? ttfc.peer : undefined;
  L.push(distRow(`Time to first chunk, graphql-ws (warm socket), p50 (${ttfc.rounds} rounds)`, ttfc.ws, ttfc.direct, peerTtfc, 'p50'));
  L.push(distRow('Time to first chunk, graphql-ws (warm socket), p99', ttfc.ws, ttfc.direct, peerTtfc, 'p99'));
  L.push(distRow('Time to first chunk, SSE, p50', ttfc.sse, ttfc.direct, peerTtfc, 'p50'));
  L.push(distRow('Time to first chunk, SSE, p99', ttfc.sse, ttfc.direct, peerTtfc, 'p99'));
  const gap = r.gap;
  const peerGap = r.peerStreaming.ok ? gap.peer : undefined;
  L.push(distRow(`Gap between chunks (${gap.chunks} × ${gap.nominalMs} ms), graphql-ws, p50`, gap.ws, gap.direct, peerGap, 'p50'));
  L.push(distRow(`Gap between chunks, graphql-ws, p99`, gap.ws, gap.direct, peerGap, 'p99'));
  L.push(distRow(`Gap between chunks, SSE, p50`, gap.sse, gap.direct, peerGap, 'p50'));
  L.push(distRow(`Gap between chunks, SSE, p99`, gap.sse, gap.direct, peerGap, 'p99'));
  L.push('');
  L.push(
    `Gaps: ${gap.rounds} rounds × one \`bench-c${gap.chunks}-d${gap.nominalMs}\` stream per variant (${gap.direct.n} gaps per variant); observed gap − nominal ${gap.nominalMs} ms: direct p50 ${signed(gap.direct.p50 - gap.nominalMs, 3)}, p99 ${signed(gap.direct.p99 - gap.nominalMs, 3)}, max ${signed(gap.direct.max - gap.nominalMs, 3)}; graphql-ws p50 ${signed(gap.ws.p50 - gap.nominalMs, 3)}, p99 ${signed(gap.ws.p99 - gap.nominalMs, 3)}, max ${signed(gap.ws.max - gap.nominalMs, 3)}; SSE p50 ${signed(gap.sse.p50 - gap.nominalMs, 3)}, p99 ${signed(gap.sse.p99 - gap.nominalMs, 3)}, max ${signed(gap.sse.max - gap.nominalMs, 3)}; peer p50 ${signed(gap.peer.p50 - gap.nominalMs, 3)}, p99 ${signed(gap.peer.p99 - gap.nominalMs, 3)}, max ${signed(gap.peer.max - gap.nominalMs, 3)}.`,
  );
  L.push('');
  L.push(
    `Failures — latency: ${failures(lat.failures)}; first chunk: ${failures(ttfc.failures)}; gaps: ${failures(gap.failures)}. TTFC direct and peer are over SSE (OpenAI's stream); the model is \`bench-c1-d0\` (one chunk).`,
  );
  L.push('');
  L.push(`## Throughput at concurrency ${t.concurrency}`);
  L.push('');
  L.push(
    `Non-streamed completions (\`bench-c1-d0\`), ${t.concurrency} closed-loop workers over ${t.concurrency} keep-alive connections, ${t.rounds} rounds × ${t.seconds} s per variant, interleaved.`,
  );
  L.push('');
  const all: [string, ThroughputFigure | undefined][] = [
    ['direct', t.direct],
    ['gateway', t.gateway],
    ['gateway + Redis', t.gatewayRedis],
    ['WORKERS=2 + Redis', t.workers2],
    ['peer', t.peer],
  ];
  const columns = all.filter((c): c is [string, ThroughputFigure] => c[1] !== undefined);
  const gateways = columns.filter(([label]) => label !== 'direct' && label !== 'peer');
  L.push(`| | ${columns.map(([label]) => label).join(' | ')} | ${gateways.map(([label]) => `${label} ÷ peer`).join(' | ')} |`);
  L.push(`| --- | ${[...columns, ...gateways].map(() => '---:').join(' | ')} |`);
  const row = (label: string, value: (f: ThroughputFigure) => number, digits: number): string =>
    `| ${label} | ${columns.map(([, f]) => fmt(value(f), digits)).join(' | ')} | ${gateways.map(([, f]) => ratio(value(f), value(t.peer))).join(' | ')} |`;
  L.push(row('Completions per second', (f) => f.rate, 0));
  L.push(row('Latency p50 (ms)', (f) => f.latency.p50, 2));
  L.push(row('Latency p99 (ms)', (f) => f.latency.p99, 2));
  L.push(`| Failed requests | ${columns.map(([, f]) => f.failures).join(' | ')} | ${gateways.map(() => '').join(' | ')} |`);
  L.push(`| Gateway CPU per completion, its processes summed (ms) | ${columns.map(([, f]) => (f.cpuMsPerCompletion === undefined ? '' : fmt(f.cpuMsPerCompletion, 2))).join(' | ')} | ${gateways.map(() => '').join(' | ')} |`);
  L.push(`| Gateway RSS, VmHWM summed over its processes (MiB) | ${columns.map(([, f]) => (f.rssBytes === undefined ? '' : fmt(f.rssBytes / MB, 0))).join(' | ')} | ${gateways.map(() => '').join(' | ')} |`);
  L.push('');
  L.push(
    "Direct's figure is the ceiling of this rig (one client process and the fake upstream on the same 2 cores), not of the upstream alone. **gateway + Redis** is the single process with `REDIS_URL` (per-key limits and the upstream cap in Redis): against **gateway** it shows what the shared state costs; **WORKERS=2 + Redis** against it shows what the second process gains. Both run under a random `REDIS_KEY_PREFIX` whose keys are deleted at the end; the gateway's RSS (the gateway's row spans the whole first part of the run) sums VmHWM over the primary and its workers (`/proc/<pid>/task/*/children`).",
  );
  L.push('');
  L.push('## Concurrent streams over graphql-ws');
  L.push('');
  L.push(
    'N subscriptions started at once (100 per socket) from a load generator in its own process (`bench/load.ts`), each streaming 20 chunks paced 1 s apart upstream (`bench-c20-d1000`). The gateway is restarted fresh for each row, so VmHWM is that run\'s peak; at the largest N it runs three ways: one process, one process with `REDIS_URL`, and `WORKERS=2` with `REDIS_URL` (cluster\'s round robin spreads the sockets over the workers). A cluster\'s RSS and CPU are summed over the primary and its workers; its peak is the larger of the sampled sum and the summed VmHWMs (an upper bound: the processes need not peak at once). Added gap = observed gap between consecutive chunks of a stream − 1000 ms; time to first chunk is from each stream\'s own subscribe call.',
  );
  L.push('');
  L.push(
    '| N | gateway (processes) | sockets | chunks delivered / expected | streams completed | first chunk p50 / p99 / max (ms) | added gap p50 / p99 / max (ms) | gateway RSS: start → peak (MiB) | gateway heap used / total / external mid-run (MiB) | CPU: gateway / upstream / load gen (cores) | upstream timer lateness max (ms) |',
  );
  L.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of r.streams) {
    const errors = Object.keys(s.errors).length ? ` (errors: ${failures(s.errors)})` : '';
    L.push(
      `| ${s.n.toLocaleString('en-US')} | ${s.label ?? 'gateway'} (${s.processes ?? 1}) | ${s.sockets} | ${s.deliveredChunks.toLocaleString('en-US')} / ${s.expectedChunks.toLocaleString('en-US')}${s.timedOut ? ' (timed out)' : ''} | ${s.completedStreams.toLocaleString('en-US')}${errors} | ${fmt(s.ttfc.p50, 0)} / ${fmt(s.ttfc.p99, 0)} / ${fmt(s.ttfc.max, 0)} | ${fmt(s.addedGap.p50, 1)} / ${fmt(s.addedGap.p99, 1)} / ${fmt(s.addedGap.max, 1)} | ${fmt(s.gatewayBaseRss / MB, 0)} → ${fmt(Math.max(s.gatewayHwm, s.gatewayPeakRss) / MB, 0)} | ${[s.gatewayHeapUsedMid, s.gatewayHeapTotalMid, s.gatewayExternalMid].map((v) => (v === undefined ? 'n/a' : fmt(v / MB, 0))).join(' / ')} | ${fmt(s.cpu.gateway)} / ${fmt(s.cpu.upstream)} / ${fmt(s.cpu.load)} | ${fmt(s.upstreamTimers.maxLateMs, 1)} |`,
    );
  }
  L.push('');
  const withDirect = r.streams.filter((s): s is StreamsRow & { direct: DirectStreamsRow } => s.direct !== undefined);
  if (withDirect.length) {
    L.push(
      'The same bursts with no gateway, just before each run above: the load generator asks the fake upstream for N streams at once, one new HTTP/1.1 connection each (as the gateway opens them), and parses OpenAI\'s SSE itself. This is the rig\'s own share of the figures: the upstream and the load generator accepting, answering and reading N streams on the same 2 cores.',
    );
    L.push('');
    L.push(
      '| N | compared with | chunks delivered / expected | first chunk p50 / p99 / max (ms) | added gap p50 / p99 / max (ms) | CPU: upstream / load gen (cores) | gateway first chunk p99 ÷ direct p99 | gateway added gap p99 − direct (ms) |',
    );
    L.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of withDirect) {
      const d = s.direct;
      const errors = Object.keys(d.errors).length ? ` (errors: ${failures(d.errors)})` : '';
      L.push(
        `| ${s.n.toLocaleString('en-US')} | ${s.label ?? 'gateway'} | ${d.deliveredChunks.toLocaleString('en-US')} / ${d.expectedChunks.toLocaleString('en-US')}${errors} | ${fmt(d.ttfc.p50, 0)} / ${fmt(d.ttfc.p99, 0)} / ${fmt(d.ttfc.max, 0)} | ${fmt(d.addedGap.p50, 1)} / ${fmt(d.addedGap.p99, 1)} / ${fmt(d.addedGap.max, 1)} | ${fmt(d.cpu.upstream)} / ${fmt(d.cpu.load)} | ${ratio(s.ttfc.p99, d.ttfc.p99)} (${signed(s.ttfc.p99 - d.ttfc.p99, 0)} ms) | ${signed(s.addedGap.p99 - d.addedGap.p99, 1)} |`,
      );
    }
    L.push('');
  }
  for (const s of r.streams) {
    if (s.addedGap.p50 < -500 || s.addedGap.p99 > 1000) {
      L.push(
        `At N = ${s.n.toLocaleString('en-US')} the ${s.label ?? 'gateway'} fell more than a whole gap behind the upstream: a stream's chunks queued inside it and reached the client back to back (gaps near 0, an added gap near −1000 ms) after long stalls (added gaps up to ${fmt(s.addedGap.max / 1000, 1)} s), so the gap distribution is bimodal. ${s.upstreamTimers.maxLateMs < 100 ? `The upstream kept time (its timers were at most ${fmt(s.upstreamTimers.maxLateMs, 0)} ms late).` : `The upstream itself also fell behind (its timers ran up to ${fmt(s.upstreamTimers.maxLateMs, 0)} ms late: it shares the 2 cores), so part of these stalls is the upstream's.`}`,
      );
      L.push('');
    }
  }
  if (r.streams.length) {
    const last = r.streams[r.streams.length - 1];
    if (last) {
      L.push(
        `Per stream at N = ${last.n.toLocaleString('en-US')} (${last.label ?? 'gateway'}): ${fmt((Math.max(last.gatewayHwm, last.gatewayPeakRss) - last.gatewayBaseRss) / last.n / 1024, 1)} KiB of gateway RSS over its start. Subscribe loop (client side) took ${fmt(last.subscribeLoopMs, 0)} ms; opening the sockets ${fmt(last.connectMs, 0)} ms.`,
      );
      L.push('');
    }
  }
  L.push('## Memory per idle graphql-ws connection');
  L.push('');
  if (r.idle) {
    const i = r.idle;
    L.push(
      `${i.k.toLocaleString('en-US')} idle sockets, each acknowledged (\`connection_ack\`), from ${i.addresses} loopback source address(es) (the gateway allows 1,000 sockets per address here); the gateway was fresh, warmed with 100 sockets opened and closed first. Gateway metrics saw ${i.activeWebsockets ?? 'n/a'} active WebSockets.`,
    );
    L.push('');
    L.push('| RSS before (MiB) | RSS with the sockets (MiB) | RSS per socket (KiB) | JS heap per socket (KiB) | external per socket (KiB) |');
    L.push('| ---: | ---: | ---: | ---: | ---: |');
    L.push(
      `| ${fmt(i.baseRss / MB, 1)} | ${fmt(i.rss / MB, 1)} | ${fmt(i.perSocketBytes / 1024, 1)} | ${i.heapPerSocketBytes === undefined ? 'n/a' : fmt(i.heapPerSocketBytes / 1024, 1)} | ${i.externalPerSocketBytes === undefined ? 'n/a' : fmt(i.externalPerSocketBytes / 1024, 1)} |`,
    );
  } else {
    L.push('Not measured.');
  }
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| Target | Required | Measured | |');
  L.push('| --- | --- | --- | --- |');
  for (const target of targets(r)) L.push(`| ${target.what} | ${target.target} | ${target.figure} | ${met(target.ok)} |`);
  L.push('');
  L.push('## Where the gateway\'s time goes (CPU profile)');
  L.push('');
  if (r.profiles.length === 0) L.push('Not profiled in this run.');
  for (const p of r.profiles) {
    L.push(`### ${p.name}`);
    L.push('');
    L.push(
      `${p.scenario} \`node --cpu-prof\` on the gateway process (a separate gateway run from the figures above); ${fmt(p.summary.busyMs / 1000, 1)} s busy of ${fmt(p.summary.totalMs / 1000, 1)} s in the window. Self time, as a share of busy time.`,
    );
    L.push('');
    L.push('By package:');
    L.push('');
    L.push('| share | self ms | package |');
    L.push('| ---: | ---: | --- |');
    for (const pkg of p.summary.packages.slice(0, 12)) L.push(`| ${fmt(pkg.share * 100, 1)}% | ${fmt(pkg.ms, 0)} | ${pkg.name} |`);
    L.push('');
    L.push('By the nearest package on the stack (native and Node-internal frames, e.g. a socket write, charged to the package that called them):');
    L.push('');
    L.push('| share | self ms | package |');
    L.push('| ---: | ---: | --- |');
    for (const pkg of p.summary.callers.slice(0, 12)) L.push(`| ${fmt(pkg.share * 100, 1)}% | ${fmt(pkg.ms, 0)} | ${pkg.name} |`);
    L.push('');
    L.push('Top functions:');
    L.push('');
    L.push('| share | self ms | function | where |');
    L.push('| ---: | ---: | --- | --- |');
    for (const fn of p.summary.functions.slice(0, 20)) {
      L.push(`| ${fmt(fn.share * 100, 1)}% | ${fmt(fn.ms, 0)} | \`${fn.name.replace(/\|/g, '\\|')}\` | ${fn.where.replace(/\|/g, '\\|')} |`);
    }
    L.push('');
  }
  L.push("## Where the gateway's memory goes (heap snapshots)");
  L.push('');
  if (r.heap) {
    const h = r.heap;
    const perStream = (h.loadedHeapBytes - h.idleHeapBytes) / h.n;
    L.push(
      `Two heap snapshots of a fresh gateway (\`--heapsnapshot-signal\`, a separate run), warmed with 20 short streams: with ${h.n / 100} idle sockets, then with ${h.n.toLocaleString('en-US')} \`bench-c20-d1000\` streams open on them. Live JS heap ${fmt(h.idleHeapBytes / MB, 1)} → ${fmt(h.loadedHeapBytes / MB, 1)} MiB = **${fmt(perStream / 1024, 1)} KiB per open stream** (a snapshot collects garbage first, so this is live memory; the RSS figures above also hold garbage not yet collected, heap fragmentation and buffers outside the JS heap).`,
    );
    L.push('');
    const table = (entries: HeapEntry[], label: string): void => {
      L.push(`| bytes per stream | objects per stream | total growth (KiB) | ${label} |`);
      L.push('| ---: | ---: | ---: | --- |');
      for (const e of entries) {
        L.push(`| ${fmt(e.bytes / h.n, 0)} | ${fmt(e.count / h.n, 1)} | ${fmt(e.bytes / 1024, 0)} | \`${e.name.replace(/\|/g, '\\|').slice(0, 80)}\` |`);
      }
      L.push('');
    };
    L.push(
      'Growth by owner: each object\'s size charged to the nearest object up its first-retainer chain that has a specific class name (not Object, Array, closures or contexts): a heuristic that names the library classes holding the memory. "(no named owner)" rows are what it could not place.',
    );
    L.push('');
    table(h.owners, 'owner');
    L.push('Growth by constructor (objects) or kind:');
    L.push('');
    table(h.top, 'constructor / kind');
  } else {
    L.push('Not measured in this run.');
  }
  L.push('');
  if (r.notes.length) {
    L.push('## Notes');
    L.push('');
    for (const note of r.notes) L.push(`- ${note}`);
    L.push('');
  }
  L.push('## How to run');
  L.push('');
  L.push('```sh');
  L.push('npm run bench              # full run (~5 min), writes bench/RESULTS.md and bench/results.json');
  L.push('npm run bench -- --quick   # smoke test: fewer rounds, N = 1,000 only; writes to a temp dir');
  L.push('npm run bench -- --no-profile   # skip the CPU profiles and heap snapshots');
  L.push('npm run bench -- --streams-only 10000   # only N = 10,000: one process, + Redis, WORKERS=2');
  L.push('npm run bench -- --throughput-only      # only the c=32 throughput of every variant');
  L.push('node --import tsx bench/render.ts  # re-render RESULTS.md from results.json');
  L.push('```');
  L.push('');
  return L.join('\n');
}
