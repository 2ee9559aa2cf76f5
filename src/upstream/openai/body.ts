/**
 * Reading a non-streamed upstream body with a byte cap, so an upstream that sends more than
 * any answer needs (a 200 MB JSON answer, an endless error page) cannot grow the gateway's
 * memory with it. Over the cap the body is destroyed: what was read is freed and the
 * connection, which could not be reused mid-body, is closed.
 */
import type { Dispatcher } from 'undici';
import { ProviderError } from '../provider.js';

type Body = Dispatcher.ResponseData['body'];

/** The whole body as text; over `maxBytes`, destroys it and rejects with a `bad_answer` ProviderError. */
export function readCapped(body: Body, maxBytes: number): Promise<string> {
  return read(body, maxBytes, true);
}

/** At most the first `maxBytes` of the body as text (a UTF-8 character may be cut); the rest is never read. */
export function readPrefix(body: Body, maxBytes: number): Promise<string> {
  return read(body, maxBytes, false);
}

function read(body: Body, maxBytes: number, refuseMore: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const text = (): string => (chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    const stop = (): void => {
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length <= maxBytes) {
        chunks.push(chunk);
        size += chunk.length;
        return;
      }
      stop();
      body.destroy();
      if (refuseMore) {
        chunks.length = 0;
        reject(new ProviderError('bad_answer', `The upstream sent a body over UPSTREAM_MAX_BODY_BYTES (${maxBytes} bytes)`));
        return;
      }
      chunks.push(chunk.subarray(0, maxBytes - size));
      size = maxBytes;
      resolve(text());
    };
    const onEnd = (): void => {
      stop();
      resolve(text());
    };
    body.on('data', onData);
    body.on('end', onEnd);
    // Kept after settling, so a late error (an abort racing the end) is never unhandled.
    body.on('error', (error: Error) => {
      if (settled) return;
      stop();
      reject(error);
    });
  });
}
