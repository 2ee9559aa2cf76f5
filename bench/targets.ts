/**
 * The benchmark's targets, each as met / not met with its figure. Past one process they are
 * ratios measured in the same run (the rig's machines drift by 2× between days, which moved
 * every absolute figure; a ratio within a run holds): throughput against the peer's, first
 * chunk against the direct burst's.
 */
import type { Results, StreamsRow, ThroughputFigure } from './report.js';
import { fmt, ratio } from './stats.js';

export interface Target {
  what: string;
  target: string;
  figure: string;
  ok: boolean | undefined;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export function met(ok: boolean | undefined): string {
  if (ok === undefined) return 'n/a';
  return ok ? '**met**' : '**not met**';
}

/** A stream row's gateway memory: the larger of the sampled peak and the summed VmHWM. */
export function streamsRss(s: StreamsRow): number {
  return Math.max(s.gatewayHwm, s.gatewayPeakRss);
}

function latencyTargets(r: Results): Target[] {
  const out: Target[] = [];
  const addedP50 = r.latency.gateway.p50 - r.latency.direct.p50;
  const addedP99 = r.latency.gateway.p99 - r.latency.direct.p99;
  out.push({ what: 'Added latency, non-streamed, c=1, p50', target: '≤ 0.5 ms', figure: `${fmt(addedP50, 3)} ms`, ok: addedP50 <= 0.5 });
  out.push({ what: 'Added latency, non-streamed, c=1, p99', target: '≤ 2 ms', figure: `${fmt(addedP99, 3)} ms`, ok: addedP99 <= 2 });
  const ttfcWs = r.ttfc.ws.p50 - r.ttfc.direct.p50;
  out.push({ what: 'Added time to first chunk over graphql-ws, p50', target: '≤ 1 ms', figure: `${fmt(ttfcWs, 3)} ms`, ok: ttfcWs <= 1 });
  for (const [label, s] of [
    ['graphql-ws', r.gap.ws],
    ['SSE', r.gap.sse],
  ] as const) {
    const p50 = s.p50 - r.gap.direct.p50;
    const p99 = s.p99 - r.gap.direct.p99;
    out.push({ what: `Added gap between chunks (${label}), p50`, target: '≤ 0.05 ms', figure: `${fmt(p50, 3)} ms`, ok: p50 <= 0.05 });
    out.push({ what: `Added gap between chunks (${label}), p99`, target: '≤ 0.5 ms', figure: `${fmt(p99, 3)} ms`, ok: p99 <= 0.5 });
  }
  return out;
}

/**
 * The targets past one process: WORKERS=2's throughput against the peer's, its N-streams
 * burst against the direct burst just before it (N = 10,000, or the largest N run), and
 * memory in every gateway run. Used by the full report and printed by the partial runs.
 */
export function clusterTargets(throughput: Results['throughput'] | undefined, streams: readonly StreamsRow[]): Target[] {
  const out: Target[] = [];
  if (throughput) {
    const w = throughput.workers2;
    out.push({
      what: `Throughput at c=${throughput.concurrency}, WORKERS=2, vs the peer`,
      target: '≥ 3× the peer',
      figure: w ? `${ratio(w.rate, throughput.peer.rate)} (${fmt(w.rate, 0)}/s vs ${fmt(throughput.peer.rate, 0)}/s)` : 'not run (no Redis)',
      ok: w ? w.rate >= 3 * throughput.peer.rate : undefined,
    });
  }
  const clustered = streams.filter((s) => s.variant === 'workers2');
  const big = clustered.find((s) => s.n === 10_000) ?? clustered.reduce<StreamsRow | undefined>((a, s) => (!a || s.n > a.n ? s : a), undefined);
  const at = big ? `${big.n.toLocaleString('en-US')} streams, WORKERS=2` : '10,000 streams, WORKERS=2';
  out.push({
    what: `${at}: every chunk delivered`,
    target: big ? `${big.expectedChunks.toLocaleString('en-US')} of ${big.expectedChunks.toLocaleString('en-US')}` : 'all',
    figure: big ? `${big.deliveredChunks.toLocaleString('en-US')} of ${big.expectedChunks.toLocaleString('en-US')}` : 'not run',
    ok: big ? big.deliveredChunks === big.expectedChunks && big.completedStreams === big.n : undefined,
  });
  const direct = big?.direct;
  out.push({
    what: `${at}: first chunk p99 vs the direct burst's`,
    target: '≤ 1.5× direct',
    figure: big && direct ? `${ratio(big.ttfc.p99, direct.ttfc.p99)} (${fmt(big.ttfc.p99, 0)} ms vs ${fmt(direct.ttfc.p99, 0)} ms)` : 'not run',
    ok: big && direct ? big.ttfc.p99 <= 1.5 * direct.ttfc.p99 : undefined,
  });
  out.push({
    what: `${at}: added gap p99`,
    target: '≤ 100 ms',
    figure: big ? `${fmt(big.addedGap.p99, 1)} ms` : 'not run',
    ok: big ? big.addedGap.p99 <= 100 : undefined,
  });
  // Memory: every gateway run, a cluster's processes summed.
  const runs: { what: string; bytes: number }[] = [];
  for (const s of streams) runs.push({ what: `${s.label ?? 'gateway'}, ${s.n.toLocaleString('en-US')} streams`, bytes: streamsRss(s) });
  if (throughput) {
    for (const [label, f] of [
      ['gateway', throughput.gateway],
      ['gateway + Redis', throughput.gatewayRedis],
      ['WORKERS=2 + Redis', throughput.workers2],
    ] as const) {
      if (f?.rssBytes !== undefined) runs.push({ what: `${label}, throughput`, bytes: f.rssBytes });
    }
  }
  const worst = runs.reduce<{ what: string; bytes: number } | undefined>((a, x) => (!a || x.bytes > a.bytes ? x : a), undefined);
  out.push({
    what: 'Gateway RSS in every run (primary + workers summed)',
    target: '≤ 1 GiB',
    figure: worst ? `largest ${fmt(worst.bytes / MIB, 0)} MiB (${worst.what}) of ${runs.length} runs` : 'not run',
    ok: worst ? runs.every((x) => x.bytes <= GIB) : undefined,
  });
  return out;
}

export function targets(r: Results): Target[] {
  return [...latencyTargets(r), ...clusterTargets(r.throughput, r.streams)];
}

/** The figures of a throughput variant, for logs: rate and its ratio to the peer's. */
export function throughputLine(label: string, f: ThroughputFigure | undefined, peer: ThroughputFigure): string {
  const cpu = f?.cpuMsPerCompletion === undefined ? '' : `, ${fmt(f.cpuMsPerCompletion, 2)} ms CPU each`;
  return f ? `${label} ${fmt(f.rate, 0)}/s (${ratio(f.rate, peer.rate)} the peer${cpu})` : `${label} not run`;
}
