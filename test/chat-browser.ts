/**
 * The example chat app (examples/chat) driven in headless Chromium (Debian's `chromium`,
 * through playwright-core): building the app when its build is missing or stale, and the
 * steps a person takes on the page, found by role and label as they read them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { CHAT_UI_DIST } from '../src/server/chat-ui.js';

const APP = fileURLToPath(new URL('../examples/chat/', import.meta.url));

/** Where Chromium is (Debian's package); CHROMIUM_PATH overrides it. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

function newest(path: string): number {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newest(join(path, entry))));
}

/** Builds examples/chat/dist with the app's own Vite when it is missing or older than the app's sources. */
export async function buildChatAppIfNeeded(): Promise<void> {
  const index = join(CHAT_UI_DIST, 'index.html');
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((name) => newest(join(APP, name)));
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(...sources)) return;
  // The app's Vite, not the one vitest brought (the workspace holds both).
  const entry = createRequire(join(APP, 'package.json')).resolve('vite');
  const vite = (await import(pathToFileURL(entry).href)) as typeof import('vite');
  // vitest sets NODE_ENV=test, which would make Vite bundle React's development build.
  const nodeEnv = process.env['NODE_ENV'];
  process.env['NODE_ENV'] = 'production';
  try {
    await vite.build({ root: APP, mode: 'production', logLevel: 'warn' });
  } finally {
    if (nodeEnv === undefined) delete process.env['NODE_ENV'];
    else process.env['NODE_ENV'] = nodeEnv;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a container there is no sandbox; the rest keeps Chromium off the network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export type TransportLabel = 'WebSocket (graphql-ws)' | 'HTTP (multipart)';

/** Opens /chat (as a person types it: the gateway redirects to /chat/), enters the key, picks the transport. */
export async function openChat(page: Page, baseUrl: string, key: string, transport: TransportLabel): Promise<void> {
  await page.goto(`${baseUrl}/chat`);
  await page.getByLabel('Gateway key').fill(key);
  await page.getByRole('button', { name: 'Use key' }).click();
  await page.getByRole('radio', { name: transport }).check();
}

/** The ids the model picker offers, once it has any. */
export async function pickerModels(page: Page): Promise<string[]> {
  const options = page.getByLabel('Model').locator('option');
  await options.first().waitFor({ state: 'attached' });
  await page.getByLabel('Model').and(page.locator(':enabled')).waitFor();
  return options.evaluateAll((nodes) => nodes.map((node) => (node as HTMLOptionElement).value));
}

/** What the page keeps of the answer in progress: every text the last answer showed, in order. */
interface Recorder {
  __answerTexts?: string[];
  /** Which answer (by position) the texts are from: the one being started. */
  __answerIndex?: number;
}

/**
 * Does `action` and waits for the answer it starts, so `lastAnswer` is that one and not
 * the one before. From just before, the page records every text the last answer shows (a
 * MutationObserver sees each render, however slowly the test reads them).
 */
export async function startsAnswer(page: Page, action: () => Promise<void>): Promise<void> {
  const answers = page.getByRole('article', { name: 'Assistant' });
  const before = await answers.count();
  await page.evaluate((index) => {
    const recorder = window as unknown as Recorder;
    const fresh = recorder.__answerTexts === undefined;
    recorder.__answerTexts = [];
    recorder.__answerIndex = index;
    if (!fresh) return;
    new MutationObserver(() => {
      const answer = document.querySelectorAll('article[aria-label="Assistant"]')[recorder.__answerIndex ?? 0];
      if (!answer) return;
      const text = answer.querySelector('.text')?.textContent ?? '';
      const texts = recorder.__answerTexts ?? [];
      if (texts.at(-1) !== text) texts.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, before);
  await action();
  await answers.nth(before).waitFor();
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await startsAnswer(page, () => page.getByRole('button', { name: 'Send' }).click());
}

export function lastAnswer(page: Page): Locator {
  return page.getByRole('article', { name: 'Assistant' }).last();
}

export async function answerText(page: Page): Promise<string> {
  const text = lastAnswer(page).locator('.text');
  return (await text.count()) === 0 ? '' : ((await text.textContent()) ?? '');
}

export async function answerStatus(page: Page): Promise<string> {
  return (await lastAnswer(page).getByRole('status').textContent()) ?? '';
}

/**
 * Waits until the answer's status leaves "Streaming…" or `until` holds, and returns every
 * distinct text it showed (as the page recorded them since it started), in order.
 */
export async function watchAnswer(page: Page, until: (texts: string[]) => boolean = () => false, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const texts = await page.evaluate(() => (window as unknown as Recorder).__answerTexts ?? []);
    if (until(texts) || !(await answerStatus(page)).startsWith('Streaming')) return texts;
    if (Date.now() > deadline) throw new Error(`the answer kept streaming; seen: ${JSON.stringify(texts)}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}
