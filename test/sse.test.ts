/**
 * The SSE decoder (src/upstream/openai/sse.ts) at memory speed: every way a sample can be cut
 * into reads, the cap on one event, and that one long event costs time in proportion to
 * its size (the old decoder re-scanned everything it held on every read).
 */
import { describe, expect, it } from 'vitest';
import { SSEDecoder, type SSEvent } from '../src/upstream/openai/sse.js';
import { ProviderError } from '../src/upstream/provider.js';

const MiB = 1024 * 1024;

// CRLF, lone CR and LF line ends (mixed), comments, a BOM, multi-line data, fields that
// make no event, multi-byte characters, `[DONE]` and a last event with no blank line.
const SAMPLE =
  '\uFEFF' +
  'data: {"t":"Grüße 🙂"}\r\n\r\n' +
  ': keep-alive\r\n' +
  'event: error\rdata: line one\rdata: 東京\r\r' +
  'data: third\n: comment\ndata: more\n\n' +
  'id: 7\nretry: 100\n\n' +
  'data:no-space\r\n\n' +
  'data: [DONE]\n\n' +
  'data: last without a blank line';

const EXPECTED: SSEvent[] = [
  { event: null, data: '{"t":"Grüße 🙂"}' },
  { event: 'error', data: 'line one\n東京' },
  { event: null, data: 'third\nmore' },
  { event: null, data: 'no-space' },
  { event: null, data: '[DONE]' },
  { event: null, data: 'last without a blank line' },
];

function decode(reads: Buffer[], maxEventBytes = MiB): SSEvent[] {
  const events: SSEvent[] = [];
  const decoder = new SSEDecoder((event) => events.push(event), maxEventBytes);
  for (const read of reads) decoder.write(read);
  decoder.end();
  return events;
}

describe('SSEDecoder', () => {
  const bytes = Buffer.from(SAMPLE);

  it('decodes the sample in one read', () => {
    expect(decode([bytes])).toEqual(EXPECTED);
  });

  it('decodes it the same however it is cut in two or three reads, at every byte', () => {
    for (let i = 0; i <= bytes.length; i++) {
      expect(decode([bytes.subarray(0, i), bytes.subarray(i)]), `cut at ${i}`).toEqual(EXPECTED);
      for (let j = i; j <= bytes.length; j += 7) {
        const reads = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
        expect(decode(reads), `cut at ${i} and ${j}`).toEqual(EXPECTED);
      }
    }
  });

  it('decodes it one byte per read', () => {
    expect(decode([...bytes].map((b) => Buffer.from([b])))).toEqual(EXPECTED);
  });

  it('keeps a blank line cut between reads as the end of an event, in every line-end style', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const stream = Buffer.from(`data: a${eol}${eol}data: b${eol}${eol}`);
      for (let i = 0; i <= stream.length; i++) {
        const events: SSEvent[] = [];
        const decoder = new SSEDecoder((event) => events.push(event), MiB);
        decoder.write(stream.subarray(0, i));
        decoder.write(stream.subarray(i));
        const before = eol === '\r' ? ['a'] : ['a', 'b']; // a lone CR at the very end waits for what follows it
        expect(events.map((e) => e.data), `${JSON.stringify(eol)} cut at ${i}`).toEqual(before);
        decoder.end();
        expect(events.map((e) => e.data)).toEqual(['a', 'b']);
      }
    }
  });

  it('refuses an event over the cap, counted in UTF-8 bytes, and drops what it held', () => {
    const decoder = new SSEDecoder(() => undefined, 1024);
    decoder.write(Buffer.from('data: ' + 'x'.repeat(600)));
    expect(decoder.bufferedBytes).toBe(606);
    expect(() => decoder.write(Buffer.from('x'.repeat(600)))).toThrow(ProviderError);
    expect(decoder.bufferedBytes).toBe(0);

    // 606 characters but 1,206 bytes.
    const wide = new SSEDecoder(() => undefined, 1024);
    expect(() => wide.write(Buffer.from('data: ' + 'é'.repeat(600)))).toThrow(/over UPSTREAM_MAX_EVENT_BYTES \(1024 bytes\)/);
    expect(wide.bufferedBytes).toBe(0);

    // A whole event over the cap inside one read.
    expect(() => decode([Buffer.from(`data: ${'x'.repeat(2000)}\n\ndata: ok\n\n`)], 1024)).toThrow(ProviderError);
    // The cap is per event, not per stream.
    const many = Buffer.from(`data: ${'x'.repeat(500)}\n\n`.repeat(1000));
    expect(decode([many], 1024)).toHaveLength(1000);
  });

  it('stops an endless event after about the cap', () => {
    const decoder = new SSEDecoder(() => undefined, 4 * MiB);
    const piece = Buffer.alloc(64 * 1024, 'x');
    let fed = 0;
    const feed = (): void => {
      decoder.write(Buffer.from('data: {"choices":[{"delta":{"content":"'));
      for (;;) {
        fed += piece.length;
        decoder.write(piece);
        if (fed > 64 * MiB) return;
      }
    };
    expect(feed).toThrow(/over UPSTREAM_MAX_EVENT_BYTES \(4194304 bytes\)/);
    expect(fed).toBeGreaterThan(4 * MiB - piece.length);
    expect(fed).toBeLessThanOrEqual(4 * MiB + piece.length);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('decodes one long event in time proportional to its size', () => {
    const piece = Buffer.alloc(64 * 1024, 'x');
    const oneEvent = (mib: number): number => {
      let size = 0;
      const decoder = new SSEDecoder((event) => (size = event.data.length), 64 * MiB);
      const started = performance.now();
      decoder.write(Buffer.from('data: "'));
      for (let sent = 0; sent < mib * MiB; sent += piece.length) decoder.write(piece);
      decoder.write(Buffer.from('"\n\n'));
      const ms = performance.now() - started;
      expect(size).toBe(mib * MiB + 2);
      return ms;
    };
    oneEvent(1); // warm up
    // The best of three each, interleaved: the machine is shared, other work comes and goes.
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < 3; i++) {
      small.push(oneEvent(4));
      large.push(oneEvent(16));
    }
    // Linear is about 4; the old decoder's quadratic cost gave about 16 (0.48 s vs 7.5 s).
    expect(Math.min(...large) / Math.min(...small)).toBeLessThan(8);
  });
});
