/**
 * A zero-latency OpenAI-compatible fake upstream for the benchmark, in its own process.
 *
 * The model name chooses the shape of every answer, so nothing needs configuring:
 * `bench-c64-d20` = 64 content chunks, 20 ms apart; `bench-c1-d0` = one chunk, at once.
 * Any other name is treated as `bench-c1-d0`.
 *
 * Streams: headers and the opening `role` chunk go out at once, with the first content
 * chunk; content chunk k goes at start + k·d. One timer per delay value serves every
 * stream with that delay (a FIFO queue ordered by due time), so 10,000 paced streams
 * cost a queue entry each, not a timer each. After the last content chunk come the
 * finish chunk, the usage chunk (when `stream_options.include_usage`) and `[DONE]`, in
 * one write. Nothing is timestamped; all JSON is precomputed per model and endpoint.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions (JSON or `stream: true`),
 * GET /v1/models, GET /bench/stats (how late the timers ran: the upstream's own jitter).
 *
 * Run: `node --import tsx bench/upstream.ts [port]`; prints `{"port":N}` once listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const CREATED = 1_700_000_000;
const PROMPT_TOKENS = 10;
const PIECE = ' tok';

type Kind = 'chat' | 'text';

interface Shape {
  chunks: number;
  delayMs: number;
  /** Non-streamed answer. */
  json: string;
  /** The opening SSE event(s): the role chunk (chat) and the first content chunk. */
  head: string;
  /** One content chunk as an SSE event. */
  chunk: string;
  /** Finish chunk, then `[DONE]`. */
  tail: string;
  /** Finish chunk, usage chunk, then `[DONE]`. */
  tailWithUsage: string;
}

const shapes = new Map<string, Shape>();

function shapeOf(kind: Kind, model: string): Shape {
  const cacheKey = `${kind}:${model}`;
  const cached = shapes.get(cacheKey);
  if (cached) return cached;
  const match = /^bench-c(\d+)-d(\d+)$/.exec(model);
  const chunks = Math.max(1, match ? Number(match[1]) : 1);
  const delayMs = match ? Number(match[2]) : 0;
  const id = kind === 'chat' ? 'chatcmpl-bench' : 'cmpl-bench';
  const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: chunks, total_tokens: PROMPT_TOKENS + chunks };
  const text = PIECE.repeat(chunks);
  const event = (body: unknown): string => `data: ${JSON.stringify(body)}\n\n`;
  const streamObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const choice = (content: string | null, finish: string | null): unknown =>
    kind === 'chat'
      ? { index: 0, delta: content === null ? {} : { content }, logprobs: null, finish_reason: finish }
      : { index: 0, text: content ?? '', logprobs: null, finish_reason: finish };
  const streamEvent = (choices: unknown[], withUsage = false): string =>
    event({ id, object: streamObject, created: CREATED, model, choices, ...(withUsage ? { usage } : {}) });

  const json = JSON.stringify(
    kind === 'chat'
      ? {
          id,
          object: 'chat.completion',
          created: CREATED,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: 'stop' }],
          usage,
        }
      : {
          id,
          object: 'text_completion',
          created: CREATED,
          model,
          choices: [{ index: 0, text, logprobs: null, finish_reason: 'stop' }],
          usage,
        },
  );
  const role =
    kind === 'chat'
      ? streamEvent([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])
      : '';
  const chunk = streamEvent([choice(PIECE, null)]);
  const finish = streamEvent([choice(null, 'stop')]);
  const done = 'data: [DONE]\n\n';
  const shape: Shape = {
    chunks,
    delayMs,
    json,
    head: role + chunk,
    chunk,
    tail: finish + done,
    tailWithUsage: finish + streamEvent([], true) + done,
  };
  shapes.set(cacheKey, shape);
  return shape;
}

interface Stream {
  res: ServerResponse;
  shape: Shape;
  usage: boolean;
  /** Content chunks sent so far. */
  sent: number;
  /** When the next content chunk is due (ms, performance clock). */
  due: number;
  closed: boolean;
}

/** How late timers fired, for /bench/stats (the upstream's own contribution to jitter). */
const stats = { ticks: 0, maxLateMs: 0, sumLateMs: 0, maxBurstMs: 0, streamsStarted: 0, streamsOpen: 0, requests: 0 };

/** One FIFO queue and one timer per delay value. Due times enter in order, so the queue stays sorted. */
class Pacer {
  private queue: Stream[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(private readonly delayMs: number) {}

  add(stream: Stream): void {
    this.queue.push(stream);
    this.arm();
  }

  private arm(): void {
    const next = this.queue[this.head];
    if (!next) return;
    if (this.timer && this.armedFor <= next.due) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = next.due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next.due - performance.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const start = performance.now();
    // Anything due within the next half millisecond goes now: setTimeout has 1 ms granularity.
    const horizon = start + 0.5;
    let late = 0;
    while (this.head < this.queue.length) {
      const stream = this.queue[this.head];
      if (!stream || stream.due > horizon) break;
      this.head++;
      late = Math.max(late, start - stream.due);
      if (stream.closed) continue;
      stream.sent++;
      if (stream.sent >= stream.shape.chunks) {
        finish(stream, stream.shape.chunk);
      } else {
        stream.res.write(stream.shape.chunk);
        stream.due += this.delayMs;
        this.queue.push(stream);
      }
    }
    // Compact the consumed prefix now and then, so the array does not grow for ever.
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    stats.ticks++;
    stats.sumLateMs += late;
    stats.maxLateMs = Math.max(stats.maxLateMs, late);
    stats.maxBurstMs = Math.max(stats.maxBurstMs, performance.now() - start);
    this.arm();
  }
}

const pacers = new Map<number, Pacer>();

function finish(stream: Stream, before: string): void {
  stream.closed = true;
  stats.streamsOpen--;
  stream.res.end(before + (stream.usage ? stream.shape.tailWithUsage : stream.shape.tail));
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

function answer(kind: Kind, body: string, res: ServerResponse): void {
  let request: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } | null };
  try {
    request = JSON.parse(body) as typeof request;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid JSON","type":"invalid_request_error"}}');
    return;
  }
  const shape = shapeOf(kind, typeof request.model === 'string' ? request.model : 'bench-c1-d0');
  if (request.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(shape.json) });
    res.end(shape.json);
    return;
  }
  const stream: Stream = {
    res,
    shape,
    usage: request.stream_options?.include_usage === true,
    sent: 1,
    due: performance.now() + shape.delayMs,
    closed: false,
  };
  stats.streamsStarted++;
  stats.streamsOpen++;
  res.writeHead(200, SSE_HEADERS);
  res.on('close', () => {
    if (!stream.closed) {
      stream.closed = true;
      stats.streamsOpen--;
    }
  });
  if (shape.chunks === 1) {
    finish(stream, shape.head);
    return;
  }
  if (shape.delayMs === 0) {
    // Zero delay: everything at once.
    finish(stream, shape.head + shape.chunk.repeat(shape.chunks - 1));
    return;
  }
  res.write(shape.head);
  let pacer = pacers.get(shape.delayMs);
  if (!pacer) pacers.set(shape.delayMs, (pacer = new Pacer(shape.delayMs)));
  pacer.add(stream);
}

const MODELS = JSON.stringify({
  object: 'list',
  data: ['bench-c1-d0', 'bench-c64-d20', 'bench-c20-d1000'].map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'bench' })),
});

function handle(req: IncomingMessage, res: ServerResponse): void {
  stats.requests++;
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method === 'GET') {
    if (path === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(MODELS);
    } else if (path === '/bench/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...stats, meanLateMs: stats.ticks ? stats.sumLateMs / stats.ticks : 0 }));
    } else if (path === '/bench/reset') {
      Object.assign(stats, { ticks: 0, maxLateMs: 0, sumLateMs: 0, maxBurstMs: 0, streamsStarted: 0, requests: 0 });
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
    return;
  }
  const kind: Kind | undefined =
    path === '/v1/chat/completions' ? 'chat' : path === '/v1/completions' ? 'text' : undefined;
  if (req.method !== 'POST' || !kind) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => answer(kind, parts.length === 1 && parts[0] ? parts[0].toString() : Buffer.concat(parts).toString(), res));
}

const server = createServer({ keepAlive: true, noDelay: true }, handle);
// Clients keep connections for long: never close an idle one under a client about to reuse it.
server.keepAliveTimeout = 600_000;
server.headersTimeout = 610_000;
server.requestTimeout = 0;
const port = Number(process.argv[2] ?? process.env['PORT'] ?? 0);
// A deep accept queue (the kernel caps it at net.core.somaxconn): the direct burst opens
// thousands of connections at once, and Node's default of 511 would drop their SYNs.
server.listen({ port, host: '127.0.0.1', backlog: 65_535 }, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`${JSON.stringify({ port: bound })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
