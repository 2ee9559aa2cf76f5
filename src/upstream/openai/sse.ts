/**
 * Server-sent events from an upstream: a decoder that looks at each byte a bounded number
 * of times and caps the size of one event, and `decodeEvents`, which turns a response body
 * into an async iterator of what its events decode to.
 *
 * Why our own decoder rather than `eventsource-parser`: its v3 keeps the unfinished line
 * as one string and prepends it to every new chunk (`incompleteLine + chunk`, then scans
 * it all again), which is quadratic on one long line — the same flaw our first decoder
 * had: one 16 MB event in 64 KiB reads took 7.5 s (4 MB: 0.5 s), against 0.15-0.25 s
 * (4 MB: 0.03-0.05 s) here — and it has no cap on an event's size, so an event with no
 * end grows the process until it dies (81 MB sent grew the gateway to 1.2 GB, issue #12).
 * Its later source buffers fragments and adds a cap, counted in UTF-16 units, not bytes.
 * It also takes strings only (a TextDecoder pass first) and handles the stream line by
 * line; here bytes go from the socket's `data` event to the `data:` payload with one
 * `indexOf('\n\n')` per event on the common path: about 0.1 µs an event (100,000 chat
 * chunks, 17 MB: 10-13 ms, the same as our first decoder), with no dependency to follow.
 * Figures from a shared 2-core machine, Node 20.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';
import { PushQueue } from '../../lib/push-queue.js';
import { ProviderError } from '../provider.js';

type Body = Dispatcher.ResponseData['body'];

/** Server-sent events: one `data` payload per event, `event` name when one was given. */
export interface SSEvent {
  event: string | null;
  data: string;
}

const LF = 10;
const BOM = 0xfeff;

/**
 * Decodes an SSE byte stream, calling `onEvent` for each event as soon as its blank line
 * arrives. Handles `\n`, `\r\n` and `\r` line ends (also split across reads), comments,
 * multi-line `data`, a BOM at the start, and a last event without a blank line after it.
 * A UTF-8 character split across reads is joined before decoding.
 *
 * Linear: the event still open is kept as a list of pieces and joined once, when its end
 * arrives; only new text is searched for the blank line, and whether the open event ends
 * in a newline is carried over, so a blank line cut between two reads is still seen. An
 * open event over `maxEventBytes` (UTF-8 bytes since the previous event's end) is dropped
 * and `write` throws a `ProviderError` (`bad_answer`).
 */
export class SSEDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  /**
   * The open event's text since the last boundary (`\n` line ends only), held as UTF-8
   * bytes: off the JS heap, so a long event is not copied by every young-generation GC
   * while it grows (as 64 KiB strings, that copying was most of the cost of a 16 MB event).
   */
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The open event's text ends in `\n`: a `\n` first in the next read closes it. */
  private endsInNewline = false;
  /** The last read ended in `\r`: it may be the first half of a `\r\n`. */
  private pendingCR = false;
  private started = false;

  constructor(
    private readonly onEvent: (event: SSEvent) => void,
    private readonly maxEventBytes: number,
  ) {}

  /** Bytes held for the event still open. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  write(bytes: Buffer): void {
    let text = this.utf8.write(bytes);
    if (!this.started) {
      if (text === '') return;
      this.started = true;
      if (text.charCodeAt(0) === BOM) text = text.slice(1);
    }
    if (this.pendingCR) {
      text = '\r' + text;
      this.pendingCR = false;
    }
    if (text.includes('\r')) {
      if (text.endsWith('\r')) {
        this.pendingCR = true;
        text = text.slice(0, -1);
      }
      text = text.replace(/\r\n?/g, '\n');
    }
    if (text === '') return;
    let start = 0;
    if (this.endsInNewline && text.charCodeAt(0) === LF) {
      this.emit(this.take().slice(0, -1));
      start = 1;
    }
    for (let end = text.indexOf('\n\n', start); end !== -1; end = text.indexOf('\n\n', start)) {
      // The common case: nothing open, the event is a slice of this read. Otherwise one
      // join, which gives a flat string (`a + b` would be copied again on first use).
      if (this.pending.length === 0) this.emit(text.slice(start, end));
      else {
        this.hold(text.slice(start, end));
        this.emit(this.take());
      }
      start = end + 2;
    }
    if (start === text.length) return;
    this.hold(start === 0 ? text : text.slice(start));
    this.endsInNewline = text.charCodeAt(text.length - 1) === LF;
    if (this.pendingBytes > this.maxEventBytes) this.overflow();
  }

  end(): void {
    let rest = this.utf8.end();
    if (!this.started && rest.charCodeAt(0) === BOM) rest = rest.slice(1);
    if (this.pendingCR) rest = '\n' + rest;
    this.pendingCR = false;
    this.hold(rest);
    this.emit(this.take());
  }

  private hold(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /** The open event's text, and nothing open any more. */
  private take(): string {
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.endsInNewline = false;
    return bytes.toString('utf8');
  }

  private emit(block: string): void {
    // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count bytes only when that could matter.
    if (block.length * 3 > this.maxEventBytes && Buffer.byteLength(block, 'utf8') > this.maxEventBytes) this.overflow();
    const event = parseBlock(block);
    if (event) this.onEvent(event);
  }

  private overflow(): never {
    this.take();
    throw new ProviderError('bad_answer', `The upstream sent an event over UPSTREAM_MAX_EVENT_BYTES (${this.maxEventBytes} bytes)`);
  }
}

function parseBlock(block: string): SSEvent | undefined {
  // The common case: one `data: …` line.
  if (block.startsWith('data: ') && !block.includes('\n')) return { event: null, data: block.slice(6) };
  let data: string | undefined;
  let event: string | null = null;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  }
  return data === undefined ? undefined : { event, data };
}

/** Above this many decoded items not yet taken, reading from the upstream pauses. */
const HIGH_WATER = 64;

export interface DecodeOptions {
  /** The largest single event, in bytes (`UPSTREAM_MAX_EVENT_BYTES`). */
  maxEventBytes: number;
  /** Called once the body has ended and every event is decoded; throwing ends the iteration with that error. */
  onEnd?: () => void;
}

/**
 * The items an SSE body decodes to, as an async iterator fed straight from the socket's
 * `data` events. One layer instead of a chain of async generators (stream iterator →
 * decoder → mapper), each of which costs promises and ticks per chunk. `decode` maps one
 * event to items (or throws, which ends the iteration with that error, as does an event
 * over the cap); leaving early (`return()`) or failing destroys the body, which frees or
 * closes its connection.
 */
export function decodeEvents<T>(body: Body, decode: (event: SSEvent, out: T[]) => void, options: DecodeOptions): AsyncIterableIterator<T> {
  // Reading resumes once the consumer has taken every item decoded so far.
  const queue = new PushQueue<T>(0, () => {
    if (body.isPaused() && !queue.closed) body.resume();
  });
  const fail = (error: unknown): void => {
    queue.fail(error instanceof Error ? error : new Error(String(error)));
    body.destroy();
  };
  const decoder = new SSEDecoder((event) => {
    if (queue.closed) return;
    try {
      // Straight into the queue's buffer, handed to a waiting consumer once the read is decoded.
      decode(event, queue.buffer);
    } catch (error) {
      fail(error);
    }
  }, options.maxEventBytes);
  body.on('data', (bytes: Buffer) => {
    if (queue.closed) return;
    try {
      decoder.write(bytes);
    } catch (error) {
      fail(error);
      return;
    }
    if (queue.size > HIGH_WATER) body.pause();
    queue.flush();
  });
  body.on('end', () => {
    if (queue.closed) return;
    try {
      decoder.end();
      if (!queue.closed) options.onEnd?.();
    } catch (error) {
      fail(error);
      return;
    }
    queue.end();
  });
  body.on('error', fail);

  return {
    next(): Promise<IteratorResult<T>> {
      return queue.next();
    },
    return(): Promise<IteratorResult<T>> {
      const done = queue.return();
      if (!body.destroyed) body.destroy();
      return done;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Refuses a stream's response that is not an event stream (an HTML error page from a proxy,
 * a JSON answer), before reading any of it: its body is destroyed. No `content-type` at
 * all is let through, as some servers send none; the events then decide.
 */
export function assertEventStream(headers: Dispatcher.ResponseData['headers'], body: Body): void {
  const raw = headers['content-type'];
  const type = Array.isArray(raw) ? raw[0] : raw;
  if (type === undefined || /^\s*text\/event-stream\s*(;|$)/i.test(type)) return;
  // undici reports a body destroyed before its end as an 'error': nobody else listens here.
  body.on('error', () => undefined);
  body.destroy();
  // Only a well-formed media type is quoted: the message must not carry upstream text.
  const mime = (type.split(';')[0] ?? '').trim();
  const shown = /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(mime) ? mime : 'another content-type';
  throw new ProviderError('bad_answer', `The upstream answered a stream request with ${shown}, not an event stream`);
}
