/**
 * The example chat app and trusted documents, in headless Chromium: on a gateway that runs
 * only the documents in the manifest the app's own codegen writes (TRUSTED_DOCUMENTS_FILE +
 * TRUSTED_DOCUMENTS_ONLY), "Send document ids" makes it work over both transports and
 * without it the gateway refuses it; on a gateway without trusted documents, ids fall back
 * to text.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, type TestGateway } from './helpers.js';
import { answerText, buildChatAppIfNeeded, lastAnswer, launchChromium, openChat, pickerModels, send, watchAnswer } from './chat-browser.js';

const MANIFEST = fileURLToPath(new URL('../examples/chat/src/gql/persisted-documents.json', import.meta.url));
const IDS = 'Send document ids (trusted documents)';

let fake: FakeUpstream;
/** Runs only the app's manifest. */
let trusted: TestGateway;
/** Knows no trusted documents. */
let plain: TestGateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  await buildChatAppIfNeeded();
  fake = await startFakeUpstream();
  const upstream = { OPENAI_API_KEY: 'sk-test-chat-trusted', OPENAI_BASE_URL: fake.url, CHAT_UI: 'true' };
  trusted = await startGateway({ ...upstream, TRUSTED_DOCUMENTS_FILE: MANIFEST, TRUSTED_DOCUMENTS_ONLY: 'true' });
  plain = await startGateway(upstream);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await trusted?.stop();
  await plain?.stop();
  await fake?.close();
});

beforeEach(async () => {
  fake.reset();
  context = await browser.newContext();
  page = await context.newPage();
});

afterEach(async () => {
  await context?.close();
});

/** The generation requests the fake received (not its /v1/models traffic). */
const generations = (): number => fake.requests.filter((r) => r.method === 'POST').length;

describe('on a gateway that runs only trusted documents', () => {
  for (const transport of ['HTTP (multipart)', 'WebSocket (graphql-ws)'] as const) {
    it(`lists the models and streams an answer over ${transport} when the app sends document ids`, async () => {
      await openChat(page, trusted.baseUrl, '', transport);
      await page.getByLabel(IDS).check();
      expect(await pickerModels(page)).toContain('gpt-4o-mini');
      fake.script({ choices: [['Trusted', ' only.']] });
      await send(page, 'Hello');
      await watchAnswer(page);
      expect(await answerText(page)).toBe('Trusted only.');
    });
  }

  it('refuses the app with OPERATION_NOT_ALLOWED when it sends documents as text, before any upstream call', async () => {
    await openChat(page, trusted.baseUrl, '', 'WebSocket (graphql-ws)');
    const refused = page.locator('.model-picker').getByRole('alert');
    await expect.poll(() => refused.textContent(), { timeout: 10_000 }).toMatch(/^OPERATION_NOT_ALLOWED /);
    await send(page, 'Hello?');
    await lastAnswer(page).getByRole('alert').waitFor();
    expect(await lastAnswer(page).getByRole('alert').textContent()).toMatch(/^OPERATION_NOT_ALLOWED /);
    expect(generations()).toBe(0);
  });
});

describe('on a gateway without trusted documents', () => {
  it('sends the id from the manifest first, then the text, and no more ids after that', async () => {
    const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Record<string, string>;
    const idOf = (operation: string): string | undefined => Object.entries(manifest).find(([, text]) => text.includes(operation))?.[0];
    await openChat(page, plain.baseUrl, '', 'HTTP (multipart)');
    expect(await pickerModels(page)).toContain('gpt-4o-mini');
    // From here on: the page has loaded its models as text, with ids off.
    const bodies: Record<string, unknown>[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url() === plain.httpUrl) bodies.push(request.postDataJSON() as Record<string, unknown>);
    });
    await page.getByLabel(IDS).check();
    await expect.poll(() => bodies.filter((body) => body['operationName'] === 'Models').length).toBe(2);
    fake.script({ choices: [['By', ' text.']] });
    await send(page, 'Hello');
    await watchAnswer(page);
    expect(await answerText(page)).toBe('By text.');

    const [first, retry] = bodies.filter((body) => body['operationName'] === 'Models');
    expect(first).not.toHaveProperty('query');
    expect(first?.['extensions']).toMatchObject({ persistedQuery: { version: 1, sha256Hash: idOf('query Models')?.replace('sha256:', '') } });
    expect(retry?.['query']).toContain('query Models');
    const streams = bodies.filter((body) => body['operationName'] === 'ChatStream');
    expect(streams).toHaveLength(1);
    expect(streams[0]?.['query']).toContain('subscription ChatStream');
  });
});
