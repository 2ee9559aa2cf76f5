/**
 * A fake OpenAI-compatible upstream: a real `node:http` server on 127.0.0.1 (random port)
 * that speaks OpenAI's wire format for `POST /v1/chat/completions`, `POST /v1/completions`
 * and `GET /v1/models` (plus `GET /v1/models/:id`), streaming and non-streaming, with
 * scriptable output and scriptable failures (error statuses, hangs, stalls, dropped sockets).
 *
 * Point the code under test at `fake.url` (e.g. as `OPENAI_BASE_URL`), script what the
 * upstream should do, then assert on `fake.requests` / `fake.aborted`. The API (Script,
 * Fault, …) is documented in fake-upstream-api.ts, the wire's bodies and frames are
 * rendered by fake-upstream-wire.ts.
 *
 * Nothing here uses timers during silent periods (hangs and stalls simply never write),
 * so after `close()` nothing keeps the process alive.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  chatBody,
  chatFrames,
  completionBody,
  completionFrames,
  isObject,
  type Generation,
  type Json,
  type PlannedCall,
  type WireUsage,
} from './fake-upstream-wire.js';
import type { FakeUpstream, Fault, RecordedRequest, Script } from './fake-upstream-api.js';

export type * from './fake-upstream-api.js';

// ---------------------------------------------------------------------------
// Defaults and wire helpers
// ---------------------------------------------------------------------------

const DEFAULT_PIECES: readonly string[] = ['Hello', ' from', ' the', ' fake', ' upstream', '.'];
const DEFAULT_MODELS: readonly string[] = ['gpt-4o-mini', 'gpt-4o', 'gpt-3.5-turbo-instruct'];
/** `created` of well-known models as OpenAI reports them; others get a fixed date. */
const MODEL_CREATED: Readonly<Record<string, number>> = {
  'gpt-4o-mini': 1721172741,
  'gpt-4o': 1715367049,
  'gpt-3.5-turbo-instruct': 1692901427,
};
const DEFAULT_PROMPT_TOKENS = 7;
const DEFAULT_WAIT_MS = 2000;

interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function errorBody(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

function randomAlnum(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet.charAt(b % alphabet.length);
  return out;
}

function bearerKey(headers: Record<string, string>): string {
  const auth = headers['authorization'] ?? '';
  return auth.replace(/^Bearer\s+/i, '');
}

function commonHeaders(): Record<string, string> {
  return {
    'x-request-id': `req_${randomBytes(16).toString('hex')}`,
    'openai-version': '2020-10-01',
    'openai-processing-ms': '1',
  };
}

const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
};

const HTML_PAGE =
  '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>' +
  '<body><center><h1>502 Bad gateway</h1></center><hr><center>nginx</center></body></html>\n';

/** What the unbounded and padded bodies are written in. */
const PAD = Buffer.alloc(64 * 1024, 'x');
/** Stands for the padding while a padded body is built, then split on. */
const PAD_MARK = '<<fake-upstream-padding>>';

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest;
  /** Aborted when the response closes for any reason (stops delayed stream loops). */
  closed: AbortController;
  /** The fake closed the socket on purpose (not a client abort). */
  selfClosed: boolean;
}

interface Waiter {
  settle(): boolean; // returns true when it resolved
  reject(err: Error): void;
}

class FakeUpstreamServer implements FakeUpstream {
  readonly requests: RecordedRequest[] = [];
  readonly aborted: RecordedRequest[] = [];
  url = '';
  connections = 0;

  private current: Script = {};
  private faultsServed = 0;
  private nextId = 1;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly requestWaiters = new Set<Waiter>();
  private readonly abortWaiters = new Set<Waiter>();
  private readonly server: http.Server;

  constructor(initial: Script | undefined) {
    this.current = { ...(initial ?? {}) };
    this.server = http.createServer((req, res) => { this.onRequest(req, res); });
    this.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  dropIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/v1`;
  }

  // -- control -------------------------------------------------------------

  script(s: Script): void {
    this.current = { ...s };
    this.faultsServed = 0;
  }

  reset(): void {
    this.script({});
    this.requests.length = 0;
    this.aborted.length = 0;
  }

  waitForRequests(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<RecordedRequest[]> {
    if (this.requests.length >= count) return Promise.resolve(this.requests.slice());
    return this.wait(
      this.requestWaiters,
      () => (this.requests.length >= count ? this.requests.slice() : undefined),
      timeoutMs,
      () =>
        `fake upstream: expected at least ${count} request(s) within ${timeoutMs} ms, got ${this.requests.length}` +
        (this.requests.length ? ` (${this.requests.map((r) => `${r.method} ${r.path}`).join(', ')})` : ''),
    );
  }

  waitForAbort(timeoutMs = DEFAULT_WAIT_MS): Promise<RecordedRequest> {
    const first = this.aborted[0];
    if (first) return Promise.resolve(first);
    return this.wait(
      this.abortWaiters,
      () => this.aborted[0],
      timeoutMs,
      () =>
        `fake upstream: no request was aborted by the client within ${timeoutMs} ms ` +
        `(${this.requests.length} request(s) received; the client never closed an unfinished response)`,
    );
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closing = true;
    const err = new Error('fake upstream closed while waiting');
    for (const w of [...this.requestWaiters, ...this.abortWaiters]) w.reject(err);
    this.closePromise = new Promise<void>((resolve) => {
      this.server.close(() => { resolve(); });
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closePromise;
  }

  private wait<T>(waiters: Set<Waiter>, check: () => T | undefined, timeoutMs: number, message: () => string): Promise<T> {
    if (this.closing) return Promise.reject(new Error('fake upstream is closed'));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        settle: () => {
          const value = check();
          if (value === undefined) return false;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(value);
          return true;
        },
        reject: (e) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          reject(e);
        },
      };
      const timer = setTimeout(() => { waiter.reject(new Error(message())); }, timeoutMs);
      waiters.add(waiter);
    });
  }

  private notify(waiters: Set<Waiter>): void {
    for (const w of [...waiters]) w.settle();
  }

  // -- request handling ----------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const path = new URL(req.url ?? '/', 'http://fake.invalid').pathname;
    const record: RecordedRequest = { id: this.nextId++, method: req.method ?? 'GET', path, headers, body: null, eventsSent: 0 };
    const ex: Exchange = { req, res, record, closed: new AbortController(), selfClosed: false };
    let recorded = false;
    const recordOnce = (): void => {
      if (recorded) return;
      recorded = true;
      this.requests.push(record);
      this.notify(this.requestWaiters);
    };

    res.on('close', () => {
      ex.closed.abort();
      if (!res.writableEnded && !ex.selfClosed && !this.closing) {
        recordOnce();
        if (!this.aborted.includes(record)) {
          this.aborted.push(record);
          this.notify(this.abortWaiters);
        }
      }
    });

    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {
      /* client went away mid-body: handled by res 'close' */
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let invalidJson = false;
      if (raw.trim() !== '') {
        try {
          const parsed: unknown = JSON.parse(raw);
          record.body = isObject(parsed) ? parsed : null;
          invalidJson = !isObject(parsed);
        } catch {
          invalidJson = true;
        }
      }
      recordOnce();
      if (res.destroyed) return;
      this.route(ex, invalidJson).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.sendJson(res, 500, errorBody(`fake upstream bug: ${String(err)}`, 'server_error'));
        } else {
          ex.selfClosed = true;
          res.destroy();
        }
      });
    });
  }

  private async route(ex: Exchange, invalidJson: boolean): Promise<void> {
    const { record, res } = ex;
    const { method, path } = record;

    if (method === 'GET' && path === '/v1/models') {
      if (this.takeFault(false)) return this.serveFault(ex, false);
      this.sendJson(res, 200, { object: 'list', data: this.modelIds().map(modelObject) });
      return;
    }
    const modelMatch = method === 'GET' ? /^\/v1\/models\/(.+)$/.exec(path) : null;
    if (modelMatch) {
      if (this.takeFault(false)) return this.serveFault(ex, false);
      const id = decodeURIComponent(modelMatch[1] ?? '');
      if (!this.modelIds().includes(id)) {
        this.sendJson(res, 404, errorBody(`The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'));
        return;
      }
      this.sendJson(res, 200, modelObject(id));
      return;
    }

    const endpoint = method === 'POST' && path === '/v1/chat/completions' ? 'chat' : method === 'POST' && path === '/v1/completions' ? 'completions' : null;
    if (!endpoint) {
      this.sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error'));
      return;
    }

    const body = record.body;
    if (invalidJson || !body) {
      this.sendJson(
        res,
        400,
        errorBody(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
          'invalid_request_error',
        ),
      );
      return;
    }
    if (typeof body['model'] !== 'string' || body['model'] === '') {
      this.sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error'));
      return;
    }
    const required = endpoint === 'chat' ? 'messages' : 'prompt';
    if (body[required] === undefined || body[required] === null) {
      this.sendJson(
        res,
        400,
        errorBody(`Missing required parameter: '${required}'.`, 'invalid_request_error', required, 'missing_required_parameter'),
      );
      return;
    }

    const stream = body['stream'] === true;
    if (this.takeFault(true)) return this.serveFault(ex, stream, endpoint);

    const gen = this.plan(endpoint, body);
    const { holdUntil } = this.current;
    if (holdUntil) {
      await holdUntil;
      if (res.destroyed) return; // the client left while held
    }
    if (gen.stream) return this.stream(ex, gen);
    this.sendJson(res, 200, endpoint === 'chat' ? chatBody(gen) : completionBody(gen));
  }

  private modelIds(): string[] {
    return this.current.models ?? [...DEFAULT_MODELS];
  }

  /** Whether this request gets the scripted fault (and counts it). */
  private takeFault(isGeneration: boolean): boolean {
    const { fault, faultTimes, faultOn = 'generation' } = this.current;
    if (!fault) return false;
    if (!isGeneration && faultOn !== 'all') return false;
    if (faultTimes !== undefined && this.faultsServed >= faultTimes) return false;
    this.faultsServed++;
    return true;
  }

  private async serveFault(ex: Exchange, stream: boolean, endpoint: 'chat' | 'completions' | null = null): Promise<void> {
    const fault = this.current.fault;
    const { res, record } = ex;
    if (!fault) return;
    const model = typeof record.body?.['model'] === 'string' ? record.body['model'] : 'gpt-4o-mini';
    switch (fault.kind) {
      case 'status': {
        const body = fault.body === undefined ? defaultErrorBody(fault.status, model, bearerKey(record.headers)) : fault.body;
        if (typeof body === 'string') {
          res.writeHead(fault.status, { ...commonHeaders(), 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...fault.headers });
          res.end(body);
          return;
        }
        this.sendJson(res, fault.status, body, fault.headers);
        return;
      }
      case 'rateLimit': {
        const after = fault.retryAfterSeconds ?? 1;
        this.sendJson(res, 429, rateLimitBody(model, after), {
          'retry-after': String(after),
          'x-ratelimit-limit-requests': '3',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': `${after}s`,
          'x-ratelimit-limit-tokens': '40000',
          'x-ratelimit-remaining-tokens': '39993',
          'x-ratelimit-reset-tokens': '10ms',
        });
        return;
      }
      case 'errorAfter':
      case 'serverError':
        // errorAfter fails inside a stream; asked for no stream, it is a plain 500.
        if (fault.kind === 'errorAfter' && stream && endpoint) return this.stream(ex, this.plan(endpoint, record.body ?? {}), fault);
        this.sendJson(res, 500, defaultErrorBody(500, model, ''));
        return;
      case 'unauthorized':
        this.sendJson(res, 401, defaultErrorBody(401, model, bearerKey(record.headers)));
        return;
      case 'forbidden':
        this.sendJson(res, 403, defaultErrorBody(403, model, ''));
        return;
      case 'contextOverflow':
        this.sendJson(
          res,
          400,
          errorBody(
            "This model's maximum context length is 4097 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
            'invalid_request_error',
            endpoint === 'completions' ? 'prompt' : 'messages',
            'context_length_exceeded',
          ),
        );
        return;
      case 'hang':
        return; // read the request, never answer
      case 'hangAfterHeaders':
        res.writeHead(200, { ...commonHeaders(), ...(stream ? SSE_HEADERS : { 'content-type': 'application/json' }) });
        res.flushHeaders();
        return;
      case 'stallBody': {
        const text = JSON.stringify(defaultErrorBody(fault.status, model, bearerKey(record.headers)));
        res.writeHead(fault.status, { ...commonHeaders(), 'content-type': 'application/json' });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        return; // never finished: only the client or close() ends it
      }
      case 'html':
        res.writeHead(fault.status ?? 200, {
          ...commonHeaders(),
          'content-type': 'text/html; charset=utf-8',
          'content-length': String(Buffer.byteLength(HTML_PAGE)),
        });
        res.end(HTML_PAGE);
        return;
      case 'htmlAsEventStream':
        res.writeHead(200, { ...commonHeaders(), ...SSE_HEADERS });
        res.end(HTML_PAGE);
        return;
      case 'endlessEvent':
      case 'endlessEvents':
      case 'hugeBody': {
        if (stream && endpoint) {
          res.writeHead(200, { ...commonHeaders(), ...SSE_HEADERS });
          if (fault.kind === 'endlessEvent') {
            res.write('data: {"choices":[{"delta":{"content":"');
            return this.pump(ex, () => PAD);
          }
          return this.endlessChunks(ex, this.plan(endpoint, record.body ?? {}), fault.kind === 'endlessEvents' ? fault.chunkText : undefined);
        }
        const gen = endpoint ? this.plan(endpoint, record.body ?? {}) : null;
        const full = gen ? (gen.endpoint === 'chat' ? chatBody(gen) : completionBody(gen)) : { object: 'list', data: this.modelIds().map(modelObject) };
        padFirst(full);
        const [head = '', tail = ''] = JSON.stringify(full).split(PAD_MARK);
        res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/json' });
        res.write(head);
        if (fault.kind !== 'hugeBody') return this.pump(ex, () => PAD);
        let left = Math.max(0, fault.bytes - Buffer.byteLength(head) - Buffer.byteLength(tail));
        await this.pump(ex, () => {
          if (left === 0) return null;
          const piece = left >= PAD.length ? PAD : PAD.subarray(0, left);
          left -= piece.length;
          return piece;
        });
        if (!res.destroyed) res.end(tail);
        return;
      }
      case 'reset':
        if (stream && endpoint) return this.stream(ex, this.plan(endpoint, record.body ?? {}), { kind: 'reset', chunks: fault.chunks ?? 0 });
        res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/json' });
        res.flushHeaders();
        // After the headers have left, as a server that crashes while answering would.
        res.write('', () => {
          ex.selfClosed = true;
          res.socket?.resetAndDestroy();
        });
        return;
      case 'stallAfter':
      case 'dieAfter': {
        if (stream && endpoint) {
          const gen = this.plan(endpoint, record.body ?? {});
          return this.stream(ex, gen, fault);
        }
        res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/json' });
        res.flushHeaders();
        if (fault.kind === 'dieAfter') {
          const gen = endpoint ? this.plan(endpoint, record.body ?? {}) : null;
          const full = gen ? (gen.endpoint === 'chat' ? chatBody(gen) : completionBody(gen)) : { object: 'list', data: this.modelIds().map(modelObject) };
          const text = JSON.stringify(full);
          res.write(text.slice(0, Math.ceil(text.length / 2)), () => {
            ex.selfClosed = true;
            res.destroy();
          });
        }
        return;
      }
    }
  }

  private plan(endpoint: 'chat' | 'completions', body: Json): Generation {
    const s = this.current;
    const n = typeof body['n'] === 'number' && body['n'] >= 1 ? Math.floor(body['n']) : 1;
    let prompts: (string | null)[] = [null];
    if (endpoint === 'completions') {
      const p = body['prompt'];
      if (typeof p === 'string') prompts = [p];
      else if (Array.isArray(p) && p.length > 0 && typeof p[0] !== 'number') prompts = p.map((x) => (typeof x === 'string' ? x : null));
    }
    const count = n * prompts.length;
    const chat = endpoint === 'chat';
    // A chat answer scripted to call tools or refuse has no text unless some is scripted too.
    const textless = chat && !s.choices?.length && (!!s.toolCalls?.length || !!s.refusals?.length);
    const scripted = s.choices && s.choices.length > 0 ? s.choices : [textless ? [] : [...DEFAULT_PIECES]];
    const last = scripted[scripted.length - 1] ?? [];
    const choices: string[][] = [];
    const toolCalls: PlannedCall[][] = [];
    const refusals: string[][] = [];
    const echoPrompts: (string | null)[] = [];
    for (let i = 0; i < count; i++) {
      const own = scripted[i];
      choices.push(own ? [...own] : textless ? [] : [...last, ` (choice ${i})`]);
      const calls = chat ? (s.toolCalls?.[i] ?? s.toolCalls?.at(-1) ?? []) : [];
      toolCalls.push(calls.map((c) => ({ id: c.id ?? `call_${randomAlnum(24)}`, name: c.name, arguments: [...c.arguments] })));
      refusals.push(chat ? [...(s.refusals?.[i] ?? s.refusals?.at(-1) ?? [])] : []);
      echoPrompts.push(endpoint === 'completions' && body['echo'] === true ? (prompts[Math.floor(i / n)] ?? null) : null);
    }
    const streamOptions = body['stream_options'];
    const includeUsage = isObject(streamOptions) && streamOptions['include_usage'] === true;
    let usage: WireUsage | null;
    if (s.usage === 'omit') usage = null;
    else if (s.usage) {
      const { prompt_tokens, completion_tokens, prompt_tokens_details, completion_tokens_details } = s.usage;
      usage = { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
      if (prompt_tokens_details) usage.prompt_tokens_details = { ...prompt_tokens_details };
      if (completion_tokens_details) usage.completion_tokens_details = { ...completion_tokens_details };
    } else {
      // One token per piece: text, refusal and argument fragments alike.
      let completion = 0;
      for (let i = 0; i < count; i++) {
        completion += (choices[i]?.length ?? 0) + (refusals[i]?.length ?? 0);
        for (const call of toolCalls[i] ?? []) completion += call.arguments.length;
      }
      usage = { prompt_tokens: DEFAULT_PROMPT_TOKENS, completion_tokens: completion, total_tokens: DEFAULT_PROMPT_TOKENS + completion };
    }
    let logprobs: number | null = null;
    if (endpoint === 'completions' && typeof body['logprobs'] === 'number') logprobs = Math.max(0, Math.floor(body['logprobs']));
    if (endpoint === 'chat' && body['logprobs'] === true) logprobs = typeof body['top_logprobs'] === 'number' ? Math.max(0, Math.floor(body['top_logprobs'])) : 0;
    return {
      endpoint,
      stream: body['stream'] === true,
      id: s.completionId ?? (endpoint === 'chat' ? `chatcmpl-${randomAlnum(29)}` : `cmpl-${randomAlnum(29)}`),
      created: Math.floor(Date.now() / 1000),
      model: s.model ?? String(body['model']),
      choices,
      echoPrompts,
      toolCalls,
      refusals,
      finishReasons: toolCalls.map((calls) => (s.finishReason === undefined ? (calls.length > 0 ? 'tool_calls' : 'stop') : s.finishReason)),
      usage,
      includeUsage: includeUsage && usage !== null,
      logprobs,
    };
  }

  private async stream(
    ex: Exchange,
    gen: Generation,
    cut?: Extract<Fault, { kind: 'stallAfter' | 'dieAfter' | 'errorAfter' }> | { kind: 'reset'; chunks: number },
  ): Promise<void> {
    const { res } = ex;
    res.writeHead(200, { ...commonHeaders(), ...SSE_HEADERS });
    res.flushHeaders();
    const frames = gen.endpoint === 'chat' ? chatFrames(gen) : completionFrames(gen);
    const delay = this.current.chunkDelayMs ?? 0;
    let contentSent = 0;
    let first = true;
    let flushed: Promise<void> = Promise.resolve();
    for (const frame of frames) {
      if (cut && contentSent >= cut.chunks && frame.kind !== 'prelude') {
        if (cut.kind === 'dieAfter' || cut.kind === 'reset') {
          if (!res.destroyed) await flushed; // let what was written reach the client before the socket goes
          ex.selfClosed = true;
          if (cut.kind === 'reset') res.socket?.resetAndDestroy();
          else res.destroy();
        }
        if (cut.kind === 'errorAfter' && !res.destroyed) {
          await this.writeEvent(ex, JSON.stringify(errorBody('The model crashed while generating. Please retry.', 'server_error', null, null)));
          res.end();
        }
        return; // stallAfter: silence until the client (or close()) ends it
      }
      if (!first && delay > 0) {
        try {
          await sleep(delay, undefined, { signal: ex.closed.signal });
        } catch {
          return; // response closed while waiting
        }
      }
      first = false;
      if (res.destroyed) return;
      flushed = this.writeEvent(ex, JSON.stringify(frame.payload));
      if (frame.kind === 'content') contentSent++;
      // Like a real server: stop producing while the socket's buffer is full.
      if (this.current.framing?.splitBytes || res.writableNeedDrain) await flushed;
    }
    if (res.destroyed) return;
    await this.writeEvent(ex, '[DONE]');
    if (!res.destroyed) res.end();
  }

  /**
   * Writes what `next` gives until it gives `null`, the response closes or the fake closes:
   * waits for `drain` when the socket is full (a client that stops reading stops the fake),
   * and for a turn of the event loop between writes, so it never starves the process.
   */
  private async pump(ex: Exchange, next: () => Buffer | string | null, onWrite?: () => void): Promise<void> {
    const { res } = ex;
    for (let piece = next(); piece !== null; piece = next()) {
      if (res.destroyed || this.closing) return;
      const full = !res.write(piece);
      onWrite?.();
      if (full) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** `endlessEvents`: the role chunk (chat), then the same content chunk forever. */
  private endlessChunks(ex: Exchange, gen: Generation, chunkText = 'x'.repeat(64)): Promise<void> {
    const first = gen.endpoint === 'chat' ? chatFrames(gen) : completionFrames(gen);
    const prelude = first.filter((f) => f.kind === 'prelude').map((f) => `data: ${JSON.stringify(f.payload)}\n\n`);
    const content = first.find((f) => f.kind === 'content')?.payload ?? {};
    const choices = content['choices'];
    const choice = (Array.isArray(choices) ? choices[0] : undefined) as Json | undefined;
    if (choice && gen.endpoint === 'chat') choice['delta'] = { content: chunkText };
    else if (choice) choice['text'] = chunkText;
    const event = Buffer.from(`data: ${JSON.stringify(content)}\n\n`);
    let i = 0;
    return this.pump(
      ex,
      () => (i < prelude.length ? (prelude[i++] ?? '') : event),
      () => ex.record.eventsSent++,
    );
  }

  /** Writes one `data:` event in the script's framing; resolves once it is flushed. */
  private async writeEvent(ex: Exchange, data: string): Promise<void> {
    const { res } = ex;
    const framing = this.current.framing ?? {};
    const eol = framing.lineEnding ?? '\n';
    const text = `${framing.comments ? `: keep-alive${eol}` : ''}data: ${data}${eol}${eol}`;
    const bytes = Buffer.from(text);
    const step = framing.splitBytes ?? bytes.length;
    for (let at = 0; at < bytes.length; at += step) {
      if (res.destroyed) return;
      await new Promise<void>((resolve) => res.write(bytes.subarray(at, at + step), () => { resolve(); }));
      if (at + step < bytes.length) await new Promise((resolve) => setImmediate(resolve));
    }
    ex.record.eventsSent++;
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...commonHeaders(),
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...extra,
    });
    res.end(text);
  }
}

// ---------------------------------------------------------------------------
// Body builders
// ---------------------------------------------------------------------------

/** Puts PAD_MARK where a padded body's padding goes: the first choice's text, or the first model's `owned_by`. */
function padFirst(body: Json): void {
  const list = body['choices'] ?? body['data'];
  const first = (Array.isArray(list) ? list[0] : undefined) as Json | undefined;
  if (!first) return;
  const message = first['message'];
  if (isObject(message)) message['content'] = PAD_MARK;
  else if ('text' in first) first['text'] = PAD_MARK;
  else first['owned_by'] = PAD_MARK;
}

function modelObject(id: string): Json {
  return { id, object: 'model', created: MODEL_CREATED[id] ?? 1700000000, owned_by: 'system' };
}

function defaultErrorBody(status: number, model: string, key: string): OpenAIErrorBody {
  switch (status) {
    case 400:
      return errorBody('Invalid request.', 'invalid_request_error');
    case 401:
      return errorBody(
        `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
    case 403:
      return errorBody(`Project \`proj_fake\` does not have access to model \`${model}\``, 'invalid_request_error', null, 'model_not_found');
    case 404:
      return errorBody(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found');
    case 408:
      return errorBody('Request timed out.', 'timeout');
    case 409:
      return errorBody('The request conflicted with another request.', 'conflict');
    case 422:
      return errorBody('Unprocessable request.', 'invalid_request_error');
    case 429:
      return rateLimitBody(model, 1);
    case 500:
      return errorBody('The server had an error while processing your request. Sorry about that!', 'server_error');
    case 502:
      return errorBody('Bad gateway.', 'server_error', null, 'bad_gateway');
    case 503:
      return errorBody('The server is overloaded or not ready yet.', 'server_error');
    case 504:
      return errorBody('Gateway timeout.', 'server_error', null, 'gateway_timeout');
    default:
      return errorBody(`Fake upstream status ${status}.`, status >= 500 ? 'server_error' : 'invalid_request_error');
  }
}

function rateLimitBody(model: string, retryAfterSeconds: number): OpenAIErrorBody {
  return errorBody(
    `Rate limit reached for ${model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in ${retryAfterSeconds}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    'requests',
    null,
    'rate_limit_exceeded',
  );
}

/** Start a fake OpenAI-compatible upstream on 127.0.0.1 (random free port), optionally with an initial script. */
export async function startFakeUpstream(initial?: Script): Promise<FakeUpstream> {
  const fake = new FakeUpstreamServer(initial);
  await fake.listen();
  return fake;
}
