/**
 * The example chat app (examples/chat) as a person uses it, in headless Chromium: served by
 * a real gateway at /chat (CHAT_UI=true) backed by the fake OpenAI upstream, with real
 * gateway keys. It streams, stops, switches transport, renders tool calls and JSON answers,
 * and shows the gateway's errors with their codes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import type { UsageLedgerTable } from '../src/accounts/db/schema.js';
import { createChatUi } from '../src/server/chat-ui.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { graphql, startGateway, type TestGateway } from './helpers.js';
import { answerStatus, answerText, buildChatAppIfNeeded, lastAnswer, launchChromium, openChat, pickerModels, send, startsAnswer, watchAnswer } from './chat-browser.js';

const PIECES = ['Once', ' upon', ' a', ' time', ',', ' a', ' gateway', ' streamed', ' every', ' token', ' it', ' got', '.'];
/** Enough pieces that a stream is still running when the test presses Stop. */
const LONG = Array.from({ length: 200 }, (_, i) => ` word${i}`);

let fake: FakeUpstream;
let gw: TestGateway;
let db: Db;
let dir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  await buildChatAppIfNeeded();
  dir = mkdtempSync(join(tmpdir(), 'gw-chat-app-'));
  const databaseUrl = `file:${join(dir, 'gw.db')}`;
  fake = await startFakeUpstream();
  gw = await startGateway({
    OPENAI_API_KEY: 'sk-test-chat-app',
    OPENAI_BASE_URL: fake.url,
    DATABASE_URL: databaseUrl,
    CHAT_UI: 'true',
    UPSTREAM_IDLE_TIMEOUT_MS: '60000',
  });
  db = await openDatabase(databaseUrl);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await fake?.close();
  await db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  fake.reset();
  // A fresh context per test: nothing (the key in sessionStorage) carries over.
  context = await browser.newContext();
  page = await context.newPage();
});

afterEach(async () => {
  await context?.close();
});

async function newKey(limits: { rpm?: number } = {}): Promise<{ key: string; id: string }> {
  const { key, apiKey } = await gw.app.keys.create({ name: `chat-${Math.random().toString(36).slice(2, 8)}`, limits });
  return { key, id: apiKey.id };
}

/** The key's ledger rows, once `count` of them are written. */
async function ledgerRows(keyId: string, count: number): Promise<UsageLedgerTable[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    await gw.app.ledger.flush();
    const rows = await db.db.selectFrom('usage_ledger').selectAll().where('key_id', '=', keyId).execute();
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The generation requests the fake received (not its /v1/models traffic). */
function generations(): Record<string, unknown>[] {
  return fake.requests.filter((r) => r.method === 'POST').map((r) => r.body ?? {});
}

/**
 * Presses Stop mid-stream and checks what must follow: no more text, the UI says so, the
 * upstream request aborted, and the key's one cancelled ledger row (of `rows`) billed.
 */
async function stopMidStream(keyId: string, rows = 1): Promise<void> {
  const seen = await watchAnswer(page, (texts) => texts.filter((t) => t !== '').length >= 2);
  expect(seen.filter((t) => t !== '').length, 'the text grew before Stop').toBeGreaterThanOrEqual(2);
  await page.getByRole('button', { name: 'Stop' }).click();

  const aborted = await fake.waitForAbort(3000);
  expect(aborted.path).toBe('/v1/chat/completions');
  expect(await answerStatus(page)).toMatch(/^Stopped/);
  await page.getByRole('button', { name: 'Send' }).waitFor();
  expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
  const stoppedAt = await answerText(page);
  // The fake sends a chunk every 40 ms: had the stream gone on, several would have come by now.
  await new Promise((resolve) => setTimeout(resolve, 400));
  expect(await answerText(page)).toBe(stoppedAt);
  expect(stoppedAt.length).toBeLessThan(LONG.join('').length);

  const cancelled = (await ledgerRows(keyId, rows)).filter((r) => r.outcome === 'cancelled');
  expect(cancelled).toHaveLength(1);
  const [row] = cancelled;
  expect(row).toMatchObject({ operation: 'completionStream', outcome: 'cancelled' });
  expect(row?.completion_tokens).toBeGreaterThan(0);
  expect(row?.cost_usd).toBeGreaterThan(0);
}

describe('the chat app over graphql-ws', () => {
  it('lists the models the gateway reports, streams a growing answer from the picked model, then shows usage and cost; the next message sends the conversation', async () => {
    const { key } = await newKey();
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    fake.script({ choices: [PIECES], chunkDelayMs: 40, usage: { prompt_tokens: 21, completion_tokens: PIECES.length } });
    await openChat(page, gw.baseUrl, key, 'WebSocket (graphql-ws)');

    const listed = await graphql<{ models: { id: string }[] }, Record<string, never>>(gw.httpUrl, '{ models { id } }', {}, { headers: { authorization: `Bearer ${key}` } });
    const reported = listed.data?.models.map((m) => m.id) ?? [];
    expect(reported.length).toBeGreaterThan(1);
    expect(await pickerModels(page)).toEqual(reported);
    await page.getByLabel('Model').selectOption('gpt-4o');

    await send(page, 'Tell me a story');
    const seen = await watchAnswer(page);
    expect(new Set(seen.filter((t) => t !== '')).size, `texts seen: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(2);
    expect(await answerText(page)).toBe(PIECES.join(''));
    expect(await answerStatus(page)).toBe('Finished');
    const usage = await lastAnswer(page).locator('.usage').textContent();
    expect(usage).toMatch(new RegExp(`^21 prompt \\+ ${PIECES.length} completion tokens · \\$0\\.0*[1-9]\\d*$`));
    expect(sockets).toEqual([gw.wsUrl]);
    expect(generations()[0]).toMatchObject({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Tell me a story' }] });

    fake.script({ choices: [['The', ' end.']] });
    await send(page, 'And then?');
    await watchAnswer(page);
    expect(await answerText(page)).toBe('The end.');
    expect(generations()[1]?.['messages']).toEqual([
      { role: 'user', content: 'Tell me a story' },
      { role: 'assistant', content: PIECES.join('') },
      { role: 'user', content: 'And then?' },
    ]);
  });

  it('Stop ends the stream: the text stops growing, the answer says stopped, the upstream request is aborted and the ledger bills it as cancelled', async () => {
    const { key, id } = await newKey();
    fake.script({ choices: [LONG], chunkDelayMs: 40 });
    await openChat(page, gw.baseUrl, key, 'WebSocket (graphql-ws)');
    await send(page, 'Go on and on');
    await stopMidStream(id);
  });
});

describe('the chat app over plain HTTP (multipart)', () => {
  it('streams a growing answer to the end, then stops the next one mid-stream, without any WebSocket', async () => {
    const { key, id } = await newKey();
    const sockets: string[] = [];
    const accepts: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url() === gw.httpUrl) accepts.push(request.headers()['accept'] ?? '');
    });
    await openChat(page, gw.baseUrl, key, 'HTTP (multipart)');

    fake.script({ choices: [PIECES], chunkDelayMs: 40 });
    await send(page, 'Tell me a story');
    const seen = await watchAnswer(page);
    expect(new Set(seen.filter((t) => t !== '')).size).toBeGreaterThanOrEqual(2);
    expect(await answerText(page)).toBe(PIECES.join(''));
    expect(await lastAnswer(page).locator('.usage').textContent()).toMatch(/completion tokens · \$0\.0*[1-9]/);
    expect(accepts.some((accept) => accept.startsWith('multipart/mixed'))).toBe(true);

    fake.reset();
    fake.script({ choices: [LONG], chunkDelayMs: 40 });
    await send(page, 'Go on and on');
    await stopMidStream(id, 2);
    expect(sockets).toEqual([]);
  });
});

describe('tool calls and JSON answers', () => {
  it('offers get_weather, renders the call with its arguments, sends the demo result back, and renders a JSON answer formatted', async () => {
    const { key } = await newKey();
    await openChat(page, gw.baseUrl, key, 'WebSocket (graphql-ws)');
    fake.script({ toolCalls: [[{ id: 'call_weather1', name: 'get_weather', arguments: ['{"city":', ' "Paris",', ' "unit": "celsius"}'] }]] });
    await page.getByLabel('Offer the get_weather tool').check();
    await send(page, 'Weather in Paris?');
    await watchAnswer(page);

    const calls = lastAnswer(page).getByRole('list', { name: 'Tool calls' });
    expect(await calls.locator('.tool-name').allTextContents()).toEqual(['get_weather']);
    expect(await calls.locator('pre').first().textContent()).toBe('{\n  "city": "Paris",\n  "unit": "celsius"\n}');
    const [asked] = generations();
    expect(asked?.['tools']).toMatchObject([{ type: 'function', function: { name: 'get_weather', strict: true } }]);

    fake.script({ choices: [['Mild', ' in Paris.']] });
    await startsAnswer(page, () => page.getByRole('button', { name: 'Send tool results' }).click());
    await watchAnswer(page);
    expect(await answerText(page)).toBe('Mild in Paris.');
    const messages = generations()[1]?.['messages'] as Record<string, unknown>[];
    expect(messages.map((m) => m['role'])).toEqual(['user', 'assistant', 'tool']);
    expect(messages[1]).toMatchObject({ tool_calls: [{ id: 'call_weather1', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius"}' } }] });
    expect(messages[2]).toMatchObject({ role: 'tool', tool_call_id: 'call_weather1' });
    expect(JSON.parse(String(messages[2]?.['content']))).toMatchObject({ city: 'Paris', unit: 'celsius' });

    await page.getByLabel('Offer the get_weather tool').uncheck();
    await page.getByLabel('JSON answer').check();
    fake.script({ choices: [['{"answer":', '"Mild"', ',"confidence":0.9', ',"topics":["weather"]}']] });
    await send(page, 'Sum it up');
    await watchAnswer(page);
    const json = lastAnswer(page).getByRole('figure', { name: 'JSON answer' });
    expect(await json.textContent()).toBe('{\n  "answer": "Mild",\n  "confidence": 0.9,\n  "topics": [\n    "weather"\n  ]\n}');
    expect(generations()[2]?.['response_format']).toMatchObject({ type: 'json_schema', json_schema: { name: 'answer', strict: true } });
  });
});

describe('errors', () => {
  it('shows RATE_LIMITED with its retry time when the key is over its requests per minute', async () => {
    const { key } = await newKey({ rpm: 1 });
    await openChat(page, gw.baseUrl, key, 'WebSocket (graphql-ws)');
    await send(page, 'First');
    await watchAnswer(page);
    expect(await answerStatus(page)).toBe('Finished');

    await send(page, 'Second');
    const alert = lastAnswer(page).getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    expect(text).toMatch(/^RATE_LIMITED .*per minute/);
    const seconds = Number(/retry in (\d+) s/.exec(text)?.[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(text).toContain('limit: rpm');
    expect(await answerStatus(page)).toBe('Failed');
    expect(generations()).toHaveLength(1);
  });

  it('shows a wrong key as an auth error, for the model list over HTTP and for a message over either transport', async () => {
    await newKey();
    await openChat(page, gw.baseUrl, 'gk_not-a-real-key', 'WebSocket (graphql-ws)');
    const pickerError = page.locator('.model-picker').getByRole('alert');
    // The page first asked without a key ("required"); then with the wrong one.
    await expect.poll(() => pickerError.textContent(), { timeout: 10_000 }).toMatch(/^UNAUTHENTICATED .*not valid/);

    await send(page, 'Hello?');
    await lastAnswer(page).getByRole('alert').waitFor();
    expect(await lastAnswer(page).getByRole('alert').textContent()).toMatch(/^UNAUTHENTICATED .*4403/);

    await page.getByRole('radio', { name: 'HTTP (multipart)' }).check();
    await send(page, 'Hello again?');
    await lastAnswer(page).getByRole('alert').waitFor();
    expect(await lastAnswer(page).getByRole('alert').textContent()).toMatch(/^UNAUTHENTICATED .*not valid/);
    expect(generations()).toEqual([]);
  });
});

describe('serving the app', () => {
  it('redirects /chat to /chat/, sends the page revalidated and the hashed assets cached for good, precompressed', async () => {
    const redirect = await fetch(`${gw.baseUrl}/chat?x=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/chat/?x=1');

    const pageResponse = await fetch(`${gw.baseUrl}/chat/`, { headers: { 'accept-encoding': 'br' } });
    expect(pageResponse.status).toBe(200);
    expect(pageResponse.headers.get('cache-control')).toBe('no-cache');
    expect(pageResponse.headers.get('content-encoding')).toBe('br');
    expect(pageResponse.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await pageResponse.text();
    const asset = /src="(\/chat\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();

    const script = await fetch(`${gw.baseUrl}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('content-encoding')).toBe('gzip');
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${gw.baseUrl}/chat/missing.js`)).status).toBe(404);
    expect((await fetch(`${gw.baseUrl}/chat/`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses to start without a build, saying how to build it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'gw-chat-empty-'));
    try {
      expect(() => createChatUi(empty)).toThrow(/CHAT_UI=true, but the chat app is not built .*npm run build -w examples\/chat/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
