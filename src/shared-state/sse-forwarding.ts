/**
 * Request and reply over Redis pub/sub between gateway processes, for graphql-sse's
 * single-connection mode (see src/graphql/plugins/sse-reservations.ts): a POST or DELETE
 * carrying a stream's token that another process holds is sent to that process, which
 * runs it as if it had received it, and its answer is the client's.
 *
 * Each process listens on a channel of its own (`<prefix>sse:instance:<uuid>`), which is
 * also what the owner key of a stream holds. A request message names the channel to reply
 * on and an id; only small, complete answers travel (202, 204, 404, a JSON error): the
 * event stream itself never does, it stays on the process that holds the stream.
 */
import { randomUUID } from 'node:crypto';
import type { SharedRedis } from './redis.js';

/** A request or an answer as it travels: what graphql-sse's handler reads of it. */
export interface Wire {
  method?: string;
  url?: string;
  status?: number;
  headers: [string, string][];
  body: string | null;
}

type Message = { kind: 'request'; id: string; reply: string; request: Wire } | { kind: 'reply'; id: string; response: Wire };

/** The headers an operation's handling reads: the caller's key, the body's type, the stream, the log's id. */
const FORWARDED_HEADERS = ['authorization', 'content-type', 'accept', 'x-request-id', 'x-graphql-event-stream-token', 'x-forwarded-for'];

export interface SseForwardingOptions {
  /** Runs a request that came from another process, here (never forwarded again). */
  serve: (request: Request) => Promise<Response>;
  /** How long a forwarded request waits for the owner's answer. @default 5000 */
  timeoutMs?: number;
}

export class SseForwarding {
  /** This process's channel: the owner key of each stream it holds names it. */
  readonly channel: string;
  private readonly waiting = new Map<string, (response: Wire) => void>();
  private readonly timeoutMs: number;

  constructor(
    private readonly redis: SharedRedis,
    private readonly options: SseForwardingOptions,
  ) {
    this.channel = redis.key('sse', 'instance', randomUUID());
    this.timeoutMs = options.timeoutMs ?? 5000;
    // A message that cannot be read or answered is dropped: the sender answers 503 at its timeout.
    redis.subscribe(this.channel, (message) => void this.received(message).catch(() => undefined)).catch(() => undefined);
  }

  /**
   * Sends `request` to the process listening on `owner` and resolves with its answer;
   * `gone` when nobody listens there (that process is gone, and its streams with it);
   * `timeout` when no answer came in time or Redis could not take the message.
   */
  async forward(owner: string, request: Request): Promise<Response | 'gone' | 'timeout'> {
    const id = randomUUID();
    const message: Message = {
      kind: 'request',
      id,
      reply: this.channel,
      request: { method: request.method, url: request.url, headers: pick(request.headers), body: request.method === 'POST' ? await request.text() : null },
    };
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<Wire | 'timeout'>((resolve) => {
      this.waiting.set(id, resolve);
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    try {
      // PUBLISH answers how many listened: none means the owner process is gone.
      const listeners = await this.redis.client.publish(owner, JSON.stringify(message));
      if (listeners === 0) return 'gone';
      const response = await answered;
      if (response === 'timeout') return response;
      return new Response(response.body, { status: response.status ?? 500, headers: response.headers });
    } catch (error) {
      this.redis.failed(error);
      return 'timeout';
    } finally {
      clearTimeout(timer);
      this.waiting.delete(id);
    }
  }

  private async received(raw: string): Promise<void> {
    const message = JSON.parse(raw) as Message;
    if (message.kind === 'reply') {
      this.waiting.get(message.id)?.(message.response);
      return;
    }
    const { request } = message;
    let response: Wire;
    try {
      const answer = await this.options.serve(
        new Request(request.url ?? '', { method: request.method ?? 'GET', headers: request.headers, body: request.body }),
      );
      const body = answer.body === null ? null : await answer.text();
      response = { status: answer.status, headers: pick(answer.headers), body };
    } catch {
      // A fault stays masked, as Yoga masks it for a request received directly.
      response = { status: 500, headers: [], body: null };
    }
    const reply: Message = { kind: 'reply', id: message.id, response };
    await this.redis.publish(message.reply, JSON.stringify(reply));
  }
}

function pick(headers: Headers): [string, string][] {
  return FORWARDED_HEADERS.flatMap((name) => {
    const value = headers.get(name);
    return value === null ? [] : [[name, value] as [string, string]];
  });
}
