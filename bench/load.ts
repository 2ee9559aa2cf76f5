/**
 * The load generator for concurrent streams and idle sockets, run as a child process
 * (`fork` with IPC) so its work does not share an event loop with the gateway or with
 * the orchestrator. It talks to its parent with messages:
 *
 *   parent → { type: 'streams', … }  open ceil(N/perSocket) graphql-ws sockets, then → { type: 'ready' }
 *   parent → { type: 'go' }          subscribe perSocket streams per socket at once, then → { type: 'result', … }
 *   parent → { type: 'direct', … }   the same N streams straight from the fake upstream (one HTTP/1.1
 *                                    connection each, all requested at once), then → { type: 'result', … }
 *   parent → { type: 'idle', … }     open K acknowledged sockets and hold them, then → { type: 'ready' }
 *   parent → { type: 'close' }       close them, then → { type: 'closed' }
 */
import http from 'node:http';
import type { Client } from 'graphql-ws';
import { codeOf, connectWs, describeError, gatewayVariables, openaiEndpoint, sseStream, SUBSCRIPTION } from './clients.js';
import { summarize, type Summary } from './stats.js';

export interface StreamsCommand {
  type: 'streams';
  port: number;
  key: string;
  n: number;
  perSocket: number;
  model: string;
  chunks: number;
  nominalGapMs: number;
  timeoutMs: number;
}

/** N OpenAI streams straight to the fake upstream: what the rig alone does with the same burst. */
export interface DirectStreamsCommand {
  type: 'direct';
  /** The fake upstream's port. */
  port: number;
  n: number;
  model: string;
  chunks: number;
  nominalGapMs: number;
}

export interface IdleCommand {
  type: 'idle';
  port: number;
  key: string;
  k: number;
  /** Loopback source addresses to spread the sockets over (the gateway limits sockets per address). */
  addresses: string[];
}

export interface StreamsResult {
  type: 'result';
  n: number;
  sockets: number;
  expectedChunks: number;
  deliveredChunks: number;
  completedStreams: number;
  streamsWithUsage: number;
  errors: Record<string, number>;
  /** Time to first chunk, from each stream's own subscribe call (ms). */
  ttfc: Summary;
  /** Observed gap between consecutive chunks minus the nominal gap (ms). */
  addedGap: Summary;
  /** How long the loop issuing every subscribe took (ms). */
  subscribeLoopMs: number;
  /** From `go` to the last stream's end (ms). */
  wallMs: number;
  connectMs: number;
  timedOut: boolean;
}

type Command = StreamsCommand | DirectStreamsCommand | IdleCommand | { type: 'go' } | { type: 'close' };

const send = (message: unknown): void => {
  process.send?.(message);
};

async function openSockets(port: number, key: string, count: number, addresses: string[]): Promise<Client[]> {
  const clients: Client[] = [];
  // In batches, so a 10,000-socket start does not become a SYN flood with timeouts.
  const batch = 200;
  for (let i = 0; i < count; i += batch) {
    const opening: Promise<Client>[] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      const localAddress = addresses.length ? addresses[j % addresses.length] : undefined;
      opening.push(connectWs({ port, key, ...(localAddress ? { localAddress } : {}) }));
    }
    clients.push(...(await Promise.all(opening)));
  }
  return clients;
}

function nextCommand(): Promise<Command> {
  return new Promise((resolve) => process.once('message', (message) => resolve(message as Command)));
}

async function runStreams(command: StreamsCommand): Promise<void> {
  const { n, perSocket, chunks, nominalGapMs } = command;
  const socketCount = Math.ceil(n / perSocket);
  const connectStart = performance.now();
  const clients = await openSockets(command.port, command.key, socketCount, []);
  const connectMs = performance.now() - connectStart;
  send({ type: 'ready', sockets: clients.length });
  const go = await nextCommand();
  if (go.type !== 'go') throw new Error(`expected go, got ${go.type}`);

  const starts = new Float64Array(n);
  const firsts = new Float64Array(n).fill(Number.NaN);
  const lasts = new Float64Array(n);
  const counts = new Uint32Array(n);
  const gapValues = new Float64Array(n * Math.max(0, chunks - 1) + n);
  let gapCount = 0;
  let completed = 0;
  let withUsage = 0;
  let ended = 0;
  const errors: Record<string, number> = {};
  const query = { query: SUBSCRIPTION, variables: gatewayVariables(command.model) };
  const goAt = performance.now();
  let lastEnd = goAt;

  const finished = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), command.timeoutMs);
    const end = (): void => {
      ended++;
      lastEnd = performance.now();
      if (ended === n) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    const fail = (reason: string): void => {
      errors[reason] = (errors[reason] ?? 0) + 1;
    };
    for (let s = 0; s < n; s++) {
      const client = clients[Math.floor(s / perSocket)];
      if (!client) throw new Error('socket missing');
      let sawUsage = false;
      let failed = false;
      starts[s] = performance.now();
      client.subscribe<{ completionStream: { text: string; usage: unknown } }>(query, {
        next: (result) => {
          const now = performance.now();
          if (result.errors) {
            failed = true;
            fail(result.errors.map(codeOf).join(','));
          }
          const chunk = result.data?.completionStream;
          if (chunk?.usage) sawUsage = true;
          if (!chunk?.text) return;
          if (counts[s] === 0) firsts[s] = now;
          else if (gapCount < gapValues.length) gapValues[gapCount++] = now - (lasts[s] ?? now) - nominalGapMs;
          lasts[s] = now;
          counts[s] = (counts[s] ?? 0) + 1;
        },
        error: (error) => {
          fail(describeError(error));
          end();
        },
        complete: () => {
          if (!failed) completed++;
          if (sawUsage) withUsage++;
          end();
        },
      });
    }
  });
  const subscribeLoopMs = performance.now() - goAt;
  const allEnded = await finished;

  let delivered = 0;
  for (const c of counts) delivered += c;
  const ttfc: number[] = [];
  for (let s = 0; s < n; s++) {
    const first = firsts[s] ?? Number.NaN;
    if (!Number.isNaN(first)) ttfc.push(first - (starts[s] ?? 0));
  }
  const result: StreamsResult = {
    type: 'result',
    n,
    sockets: clients.length,
    expectedChunks: n * chunks,
    deliveredChunks: delivered,
    completedStreams: completed,
    streamsWithUsage: withUsage,
    errors,
    ttfc: summarize(ttfc),
    addedGap: summarize(gapValues.subarray(0, gapCount)),
    subscribeLoopMs,
    wallMs: lastEnd - goAt,
    connectMs,
    timedOut: !allEnded,
  };
  send(result);
  await Promise.all(clients.map((c) => Promise.resolve(c.dispose())));
}

async function runDirect(command: DirectStreamsCommand): Promise<void> {
  const { n, chunks, nominalGapMs } = command;
  // No keep-alive pool to draw on: like the gateway in a burst, a new connection per stream.
  const via = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const endpoint = openaiEndpoint(command.port, command.model, true);
  const goAt = performance.now();
  const streams = Array.from({ length: n }, () => sseStream(via, endpoint, 'openai'));
  const subscribeLoopMs = performance.now() - goAt;
  const timings = await Promise.all(streams);
  const errors: Record<string, number> = {};
  const ttfc: number[] = [];
  const gaps: number[] = [];
  let delivered = 0;
  let completed = 0;
  let withUsage = 0;
  let lastEnd = goAt;
  for (const t of timings) {
    if (t.error !== undefined) errors[t.error] = (errors[t.error] ?? 0) + 1;
    else completed++;
    if (t.usage) withUsage++;
    delivered += t.arrivals.length;
    lastEnd = Math.max(lastEnd, t.end);
    const first = t.arrivals[0];
    if (first !== undefined) ttfc.push(first - t.start);
    for (let i = 1; i < t.arrivals.length; i++) gaps.push((t.arrivals[i] ?? 0) - (t.arrivals[i - 1] ?? 0) - nominalGapMs);
  }
  via.destroy();
  const result: StreamsResult = {
    type: 'result',
    n,
    sockets: n,
    expectedChunks: n * chunks,
    deliveredChunks: delivered,
    completedStreams: completed,
    streamsWithUsage: withUsage,
    errors,
    ttfc: summarize(ttfc),
    addedGap: summarize(gaps),
    subscribeLoopMs,
    wallMs: lastEnd - goAt,
    connectMs: 0,
    timedOut: false,
  };
  send(result);
}

async function runIdle(command: IdleCommand): Promise<void> {
  const clients = await openSockets(command.port, command.key, command.k, command.addresses);
  send({ type: 'ready', sockets: clients.length });
  const close = await nextCommand();
  if (close.type !== 'close') throw new Error(`expected close, got ${close.type}`);
  await Promise.all(clients.map((c) => Promise.resolve(c.dispose())));
  send({ type: 'closed' });
}

const command = await nextCommand();
try {
  if (command.type === 'streams') await runStreams(command);
  else if (command.type === 'direct') await runDirect(command);
  else if (command.type === 'idle') await runIdle(command);
  else throw new Error(`unexpected command ${command.type}`);
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
}
process.disconnect?.();
setTimeout(() => process.exit(0), 200).unref();
