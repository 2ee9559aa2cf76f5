/**
 * Where graphql-sse's single-connection streams live when requests of one client reach
 * different processes (WORKERS>1 through node:cluster, several instances behind a balancer
 * without sticky sessions), and how long a reservation nobody opens is kept.
 *
 * graphql-sse's client sends PUT (reserve: answers the token), then GET (the event stream,
 * `Accept: text/event-stream`), and only once the GET's answer has come does it POST
 * operations and DELETE them (its `connect` awaits the GET's response before the first
 * POST). The event stream cannot move between processes, so:
 *
 * - A PUT does not make a graphql-sse stream yet: it authenticates the caller, makes the
 *   token, and records the reservation (with REDIS_URL as `<prefix>sse:<token>` = `-`,
 *   otherwise in this process), for `reserveMs`.
 * - The first GET or POST for that token, on whichever process it lands, claims it
 *   (atomically in Redis: `-` becomes that process's channel), makes the graphql-sse
 *   stream there under the same token, and serves the request. With graphql-sse's client
 *   that is the GET, so the stream is where its event stream is.
 * - A POST or DELETE (or a GET that is not the event stream) for a stream another process
 *   holds is forwarded to it over Redis (shared-state/sse-forwarding.ts), which runs it
 *   through its graphql-sse handler as if received: auth, limits, drain and masking apply
 *   there. No answer within the forwarding timeout: 503 SERVICE_UNAVAILABLE.
 * - An event-stream GET for a stream held elsewhere (only a client that POSTs before it
 *   opens the stream, to another process, gets here) is refused with 409, like graphql-sse's
 *   second GET for an open stream.
 * - The owner key is renewed while the stream is held and deleted when its event stream
 *   ends (the response body finished or cancelled, or the request aborted). A stream
 *   claimed by a POST and not opened within `reserveMs` is dropped with what was posted to
 *   it (graphql-sse keeps those forever); at most `maxQueued` operations wait for a GET.
 *
 * When Redis fails, a process still serves the reservations it made itself, as one process does.
 */
import { randomUUID } from 'node:crypto';
import type { FetchAPI } from 'graphql-yoga';
import type { SharedRedis } from '../../shared-state/redis.js';
import { SseForwarding } from '../../shared-state/sse-forwarding.js';
import { ErrorCode, gatewayError } from '../errors.js';

export const TOKEN_HEADER = 'x-graphql-event-stream-token';
export const TOKEN_PARAM = 'token';
/** The owner key's value between the PUT and the first GET or POST. */
const RESERVED = '-';
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v == ARGV[2] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) return 'claimed' end
return v`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface SseReservationsOptions {
  /** graphql-sse's handler: it serves every request kept in this process. */
  handler: (request: Request) => Promise<Response>;
  /** The PUT's check of the caller: an answer refusing it, or undefined to admit it. */
  admit: (request: Request) => Promise<Response | undefined>;
  fetchAPI: FetchAPI;
  /** The shared state (REDIS_URL); absent, reservations live in this process only. */
  redis?: SharedRedis | undefined;
  /** How long a reservation waits for its stream to be claimed and opened, and the owner key's lifetime between renewals. @default 30000 */
  reserveMs?: number | undefined;
  /** Operations a stream takes before its event stream is opened. @default 16 */
  maxQueued?: number;
  /** How long a request forwarded to the stream's process waits for its answer. @default 5000 */
  forwardTimeoutMs?: number;
  /** Told each forwarded request's result (a metric). @default none */
  forwarded?: ((result: ForwardResult) => void) | undefined;
}

export type ForwardResult = 'answered' | 'timeout' | 'gone';

interface Held {
  opened: boolean;
  queued: number;
  expiry: NodeJS.Timeout | undefined;
}

export function tokenOf(request: Request): string | null {
  return request.headers.get(TOKEN_HEADER) ?? new URL(request.url).searchParams.get(TOKEN_PARAM);
}

const isEventStream = (request: Request): boolean => request.method === 'GET' && request.headers.get('accept') === 'text/event-stream';

export class SseReservations {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly held = new Map<string, Held>();
  private readonly forwarding: SseForwarding | undefined;
  private readonly reserveMs: number;
  private readonly maxQueued: number;

  constructor(private readonly options: SseReservationsOptions) {
    this.reserveMs = options.reserveMs ?? 30_000;
    this.maxQueued = options.maxQueued ?? 16;
    if (options.redis) {
      this.forwarding = new SseForwarding(options.redis, { serve: (r) => this.local(r, tokenOf(r)), timeoutMs: options.forwardTimeoutMs });
      setInterval(() => void this.renew(), this.reserveMs / 3).unref();
    }
  }

  /** Serves a PUT, DELETE, or request carrying a stream's token. */
  async handle(request: Request): Promise<Response> {
    if (request.method === 'PUT') return this.reserve(request);
    const token = tokenOf(request);
    if (token === null || this.held.has(token)) return this.local(request, token);
    const owner = await this.claim(token);
    if (owner === 'claimed') await this.hold(request.url, token);
    // Unknown (or ended) anywhere: graphql-sse answers as it always has.
    if (owner === 'claimed' || owner === undefined || this.forwarding === undefined) return this.local(request, token);
    if (isEventStream(request)) return this.error(409, ErrorCode.BAD_USER_INPUT, 'The stream is held by another instance: open it before sending operations');
    const answer = await this.forwarding.forward(owner, request);
    this.options.forwarded?.(typeof answer === 'string' ? answer : 'answered');
    if (answer === 'gone') {
      // That process is gone, and its streams with it: its record need not wait to lapse.
      await this.release(token, owner);
      return this.local(request, token);
    }
    if (answer === 'timeout') return this.error(503, ErrorCode.SERVICE_UNAVAILABLE, 'The instance holding this stream did not answer');
    return answer;
  }

  private async reserve(request: Request): Promise<Response> {
    const { Response } = this.options.fetchAPI;
    // graphql-sse's own rule for a PUT.
    if (!['*/*', 'text/plain'].includes(request.headers.get('accept') ?? '*/*')) return new Response(null, { status: 406 });
    const refused = await this.options.admit(request);
    if (refused) return refused;
    // crypto.randomUUID: graphql-sse's default token uses Math.random.
    const token = randomUUID();
    this.pending.set(token, setTimeout(() => this.pending.delete(token), this.reserveMs).unref());
    const { redis } = this.options;
    await redis?.client.set(this.key(token), RESERVED, 'PX', this.reserveMs).catch((error: unknown) => redis.failed(error));
    return new Response(token, { status: 201, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }

  /** `claimed` (now this process's), another process's channel, or undefined (unknown). */
  private async claim(token: string): Promise<string | undefined> {
    const { redis } = this.options;
    if (redis && this.forwarding) {
      try {
        const value = (await redis.client.eval(CLAIM, 1, this.key(token), this.forwarding.channel, RESERVED, this.reserveMs)) as string | null;
        if (value === 'claimed') this.forget(token);
        return value === null || value === this.forwarding.channel ? undefined : value;
      } catch (error) {
        redis.failed(error); // the reservations made here still work
      }
    }
    if (!this.pending.has(token)) return undefined;
    this.forget(token);
    return 'claimed';
  }

  private forget(token: string): void {
    clearTimeout(this.pending.get(token));
    this.pending.delete(token);
  }

  /** Makes graphql-sse's stream for a claimed token (its PUT, with the token we give it). */
  private async hold(url: string, token: string): Promise<void> {
    const { Request } = this.options.fetchAPI;
    await this.options.handler(new Request(url, { method: 'PUT', headers: { [TOKEN_HEADER]: token } }));
    this.held.set(token, { opened: false, queued: 0, expiry: setTimeout(() => void this.drop(url, token), this.reserveMs).unref() });
  }

  /** Runs a request through graphql-sse here: this process's streams, or unknown anywhere. */
  private async local(request: Request, token: string | null): Promise<Response> {
    const held = token === null ? undefined : this.held.get(token);
    if (held && !held.opened && request.method === 'POST') {
      if (held.queued >= this.maxQueued) return this.error(429, ErrorCode.TOO_MANY_OPERATIONS, `At most ${this.maxQueued} operations wait for a stream to be opened`);
      held.queued++;
    }
    const response = await this.options.handler(request);
    if (token === null || !held || held.opened || !isEventStream(request) || response.status !== 200 || !response.body) return response;
    held.opened = true;
    clearTimeout(held.expiry);
    return this.untilEnd(response, request.signal, () => void this.release(token));
  }

  /** The same answer, calling `ended` once when its body is finished, cancelled, or its request aborted. */
  private untilEnd(response: Response, signal: AbortSignal, ended: () => void): Response {
    const { Response, ReadableStream } = this.options.fetchAPI;
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      ended();
    };
    signal.addEventListener('abort', end, { once: true });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await reader.read();
        if (!next.done) return controller.enqueue(next.value);
        controller.close();
        end();
      },
      async cancel(reason) {
        end();
        await reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  /** A stream claimed but never opened: graphql-sse ends it (and what was posted to it) when its event stream is cancelled. */
  private async drop(url: string, token: string): Promise<void> {
    const held = this.held.get(token);
    if (!held || held.opened) return;
    const { Request } = this.options.fetchAPI;
    const opened = await this.options.handler(new Request(url, { headers: { accept: 'text/event-stream', [TOKEN_HEADER]: token } }));
    await opened.body?.cancel();
    await this.release(token);
  }

  /** Forgets a stream: held here (by default), or recorded for `owner`. */
  private async release(token: string, owner = this.forwarding?.channel): Promise<void> {
    this.held.delete(token);
    const { redis } = this.options;
    if (!redis || owner === undefined) return;
    await redis.client.eval(RELEASE, 1, this.key(token), owner).catch((error: unknown) => redis.failed(error));
  }

  /** Keeps the owner keys of the streams held here while they last. */
  private async renew(): Promise<void> {
    const { redis } = this.options;
    if (!redis || this.held.size === 0 || !redis.available) return;
    const pipeline = redis.client.pipeline();
    for (const token of this.held.keys()) pipeline.pexpire(this.key(token), this.reserveMs);
    await pipeline.exec().catch((error: unknown) => redis.failed(error));
  }

  private key(token: string): string {
    return this.options.redis?.key('sse', token) ?? token;
  }

  private error(status: number, code: ErrorCode, message: string): Response {
    const body = JSON.stringify({ errors: [gatewayError(code, message).toJSON()] });
    return new this.options.fetchAPI.Response(body, { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
  }
}
