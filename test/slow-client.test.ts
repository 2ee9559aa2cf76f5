/**
 * A client that reads a stream slowly holds the upstream through the gateway's
 * back-pressure. The upstream's idle timer must not blame the upstream for that silence
 * (issue #12: a slow SSE client was told UPSTREAM_TIMEOUT); a client that stops reading
 * for longer than CLIENT_STALL_TIMEOUT_MS is cut with CLIENT_TOO_SLOW.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/accounts/db/index.js';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from './fake-upstream.js';
import { eventually, startGateway, takeSseEvents, type TestGateway } from './helpers.js';

// 40,000 numbered pieces of 2 KB: 80 MB, more than the socket buffers along the way hold.
const pieces = Array.from({ length: 40_000 }, (_, i) => `${String(i).padStart(6, '0')}${'x'.repeat(2042)}`);
const QUERY = 'subscription { completionStream(input: { prompt: "Go" }) { text finishReason } }';

interface SseReader {
  /** Every `event: …` name and its data, as read so far. */
  readonly events: { event: string; data: string }[];
  readonly ended: Promise<void>;
  response: IncomingMessage;
}

/** Opens an SSE subscription with a raw HTTP client whose reading the test controls. */
async function openSse(url: string): Promise<SseReader> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    });
    request.on('response', resolve);
    request.on('error', reject);
    request.end(JSON.stringify({ query: QUERY }));
  });
  const events: { event: string; data: string }[] = [];
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (text: string) => {
    const taken = takeSseEvents(buffer + text);
    buffer = taken.rest;
    events.push(...taken.events);
  });
  const ended = new Promise<void>((resolve) => response.on('end', resolve).on('close', resolve));
  return { events, ended, response };
}

async function firstNext(reader: SseReader): Promise<void> {
  for (let i = 0; i < 500 && !reader.events.some((e) => e.event === 'next'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The upstream's count of events sent, sampled 100 ms apart until it stands still. */
async function stalled(request: RecordedRequest): Promise<number> {
  let last = -1;
  for (let i = 0; i < 100 && request.eventsSent !== last; i++) {
    last = request.eventsSent;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return request.eventsSent;
}

function texts(reader: SseReader): { text: string; errors: unknown[]; finish: string[] } {
  let text = '';
  const errors: unknown[] = [];
  const finish: string[] = [];
  for (const { event, data } of reader.events) {
    if (event !== 'next') continue;
    const payload = JSON.parse(data) as {
      data?: { completionStream?: { text: string; finishReason: string | null } } | null;
      errors?: unknown[];
    };
    if (payload.errors) errors.push(...payload.errors);
    text += payload.data?.completionStream?.text ?? '';
    if (payload.data?.completionStream?.finishReason) finish.push(payload.data.completionStream.finishReason);
  }
  return { text, errors, finish };
}

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(async () => {
  await fake.close();
});

describe('a slow SSE client', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
      UPSTREAM_IDLE_TIMEOUT_MS: '1000',
      CLIENT_STALL_TIMEOUT_MS: '20000',
      UPSTREAM_MAX_BODY_BYTES: String(128 * 1024 * 1024),
    });
  });
  afterAll(() => gw.stop());

  it('gets its whole stream after pausing for longer than UPSTREAM_IDLE_TIMEOUT_MS, with no UPSTREAM_TIMEOUT', async () => {
    fake.reset();
    fake.script({ choices: [pieces] });
    const reader = await openSse(gw.httpUrl);
    await firstNext(reader);
    reader.response.pause();
    const [request] = await fake.waitForRequests(1);
    if (!request) throw new Error('no upstream request');
    // The client's buffers, then the gateway's, fill: the upstream stands still for well
    // over the idle timeout while the client does not read.
    expect(await stalled(request)).toBeLessThan(pieces.length);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    reader.response.resume();
    await reader.ended;
    const { text, errors, finish } = texts(reader);
    expect(errors).toEqual([]);
    expect(text).toBe(pieces.join(''));
    expect(finish).toEqual(['STOP']);
    expect(fake.aborted).toHaveLength(0);
  });
});

describe('a client that stops reading for longer than CLIENT_STALL_TIMEOUT_MS', () => {
  let gw: TestGateway;
  const dir = mkdtempSync(join(tmpdir(), 'gw-slow-'));
  const DATABASE_URL = `file:${join(dir, 'gw.db')}`;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    gw = await startGateway({
      DATABASE_URL,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
      UPSTREAM_IDLE_TIMEOUT_MS: '300',
      CLIENT_STALL_TIMEOUT_MS: '800',
      UPSTREAM_MAX_BODY_BYTES: String(128 * 1024 * 1024),
    });
  });
  afterAll(() => gw.stop());

  it('is cut: the upstream request is aborted, the row says client_too_slow, and the client reads CLIENT_TOO_SLOW when it comes back', async () => {
    fake.reset();
    fake.script({ choices: [pieces] });
    const reader = await openSse(gw.httpUrl);
    await firstNext(reader);
    reader.response.pause();
    const aborted = await fake.waitForAbort(10_000);
    expect(aborted.path).toBe('/v1/completions');
    const finished = (): Record<string, unknown> | undefined =>
      gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'completion finished');
    // It counts the text it produced (megabytes, with no usage from the upstream yet) first.
    await eventually(() => finished() !== undefined, 'the operation to end', 15_000);
    expect(finished()?.['outcome']).toBe('CLIENT_TOO_SLOW');
    await gw.app.ledger.flush();
    const db = await openDatabase(DATABASE_URL);
    try {
      const rows = await db.db.selectFrom('usage_ledger').select(['outcome', 'completion_tokens']).execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.outcome).toBe('client_too_slow');
      // Billed for what it produced.
      expect(rows[0]?.completion_tokens).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
    reader.response.resume();
    await reader.ended;
    const { errors, finish } = texts(reader);
    expect(finish).toEqual([]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as { extensions?: { code?: string } }).extensions?.code).toBe('CLIENT_TOO_SLOW');
  });
});
