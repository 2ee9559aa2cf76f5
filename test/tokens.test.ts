/**
 * The token counter against gpt-tokenizer itself: exact on ordinary text, linear and
 * never holding the event loop on text the library takes minutes over (issue #12).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as encodeP50k } from 'gpt-tokenizer/encoding/p50k_base';
import { Tokenizer } from '../src/completion/tokens.js';

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

/** One model per encoding, with the library's own count for it. */
const ENCODINGS = [
  { encoding: 'o200k_base', model: 'gpt-4o', truth: (text: string) => encodeO200k(text, NO_SPECIAL).length },
  { encoding: 'cl100k_base', model: 'gpt-4', truth: (text: string) => encodeCl100k(text, NO_SPECIAL).length },
  { encoding: 'p50k_base', model: 'text-davinci-003', truth: (text: string) => encodeP50k(text, NO_SPECIAL).length },
] as const;

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

/** A seeded generator, so a failure names text that can be made again. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomText(length: number, alphabet: string, seed = 1): string {
  const next = random(seed);
  const chars: string[] = [];
  for (let i = 0; i < length; i++) chars.push(alphabet[Math.floor(next() * alphabet.length)]!);
  return chars.join('');
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const SYMBOLS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~';

const PROSE =
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of ' +
  "foolishness. She didn't know; they'd said they'll come. \"Quoted,\" he wrote -- and then: (parenthetical) " +
  'notes, 3.14159, 1,000,000 and 2024-05-13T12:00:00Z.\n\n';

const CORPUS: Record<string, string> = {
  'English prose': PROSE.repeat(40),
  'the README': read('README.md'),
  'source files': read('src/completion/tokens.ts') + read('src/completion/request.ts') + read('src/upstream/simulator/text.ts'),
  JSON: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: PROSE }], n: 2, stop: ['\n'] }, null, 2).repeat(30),
  'minified JSON': JSON.stringify(JSON.parse(read('package-lock.json'))).slice(0, 60_000),
  'code with separator lines': `${'='.repeat(80)}\nfunction f(x) {\n  return x * 2; // doubled\n}\n${'-'.repeat(120)}\n\tindented\r\n`.repeat(50),
  CJK: '東京は日本の首都です。人口は約千四百万人で、世界有数の大都市です。한국어 문장도 있습니다.'.repeat(60),
  emoji: '😀👍🏽 family: 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and text 🎉🎉🎉 '.repeat(60),
  Arabic: 'مرحبا بالعالم، هذه جملة عربية للاختبار مع تشكيل: كَتَبَ الوَلَدُ الدَّرْسَ. '.repeat(60),
  URLs: 'see https://example.com/path/to/page?query=value&other=1#fragment and http://a.b/c_d-e.f '.repeat(60),
  'long whitespace and newline runs': `a${' '.repeat(200)}b\n${'\n'.repeat(150)}c\t\t${' \t'.repeat(100)}d${' '.repeat(255)}\n  e \n`.repeat(10),
  'special tokens as text': 'before <|endoftext|> after <|im_start|>user<|im_sep|> and <|fim_prefix|>'.repeat(40),
};

describe.each(ENCODINGS)('counting with $encoding', ({ model, truth }) => {
  it.each(Object.entries(CORPUS))('counts %s exactly like gpt-tokenizer, sync and async', async (_name, text) => {
    const tokenizer = await Tokenizer.forModel(model);
    const expected = truth(text);
    expect(tokenizer.count(text)).toBe(expected);
    expect(await tokenizer.countAsync(text)).toBe(expected);
  });

  it('stays exact when the text is cut into many slices at every kind of boundary', async () => {
    const tokenizer = await Tokenizer.forModel(model);
    // Long enough to be cut many times, with whitespace runs, symbols and letters meeting
    // at the cuts; every pre-token is short, so nothing may be estimated.
    const text = Object.values(CORPUS).join('\n').repeat(3);
    expect(tokenizer.count(text)).toBe(truth(text));
  });

  it('estimates an over-long pre-token within 2 % of the exact count', async () => {
    const tokenizer = await Tokenizer.forModel(model);
    for (const text of [randomText(5_000, LETTERS, 7), randomText(5_000, SYMBOLS, 8), `x${'=-'.repeat(2_000)}`]) {
      const exact = truth(text);
      const estimate = tokenizer.count(text);
      expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.02);
      expect(await tokenizer.countAsync(text)).toBe(estimate);
    }
  });
});

/** A megabyte of each kind of text the library is quadratic on. */
const MEGABYTE_TEXTS: Record<string, string> = {
  'random letters': randomText(1_000_000, LETTERS, 11),
  'random digits': randomText(1_000_000, '0123456789', 12),
  'random symbols': randomText(1_000_000, SYMBOLS, 13),
  spaces: ' '.repeat(1_000_000),
  'one repeated letter': 'a'.repeat(1_000_000),
};

describe('counting a megabyte without spaces', () => {
  it('takes about a second or less per megabyte, not minutes', async () => {
    // p50k splits digits into one long pre-token too (o200k and cl100k take 3 at a time).
    // The bound is loose on purpose (about 0.5 s for the slowest kind on an idle machine,
    // several times that on a loaded 2-core CI box); before the fix 100 KB alone took 6 s.
    for (const model of ['gpt-4o', 'text-davinci-003']) {
      const tokenizer = await Tokenizer.forModel(model);
      for (const [name, text] of Object.entries(MEGABYTE_TEXTS)) {
        const started = performance.now();
        expect(tokenizer.count(text)).toBeGreaterThan(0);
        expect(performance.now() - started, `${model}: ${name}`).toBeLessThan(3_000);
      }
    }
  });

  it('never holds the event loop for more than 100 ms when counted asynchronously', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    for (const [name, text] of Object.entries(MEGABYTE_TEXTS)) {
      // Fresh text: the library caches what it has merged before.
      const fresh = `${name} ${text.slice(1)}`;
      let last = performance.now();
      let longestGap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 5);
      try {
        expect(await tokenizer.countAsync(fresh)).toBeGreaterThan(0);
        expect(await tokenizer.countPromptAsync({ messages: [{ role: 'user', content: fresh }] })).toBeGreaterThan(0);
      } finally {
        clearInterval(ticker);
      }
      expect(longestGap, name).toBeLessThan(100);
    }
  });
});

describe('prompt accounting', () => {
  it('counts a request asynchronously exactly as synchronously', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const chat = { messages: [{ role: 'system' as const, content: PROSE }, { role: 'user' as const, content: CORPUS.CJK! }] };
    const completion = { prompt: PROSE, suffix: CORPUS.URLs };
    expect(await tokenizer.countPromptAsync(chat)).toBe(tokenizer.countPrompt(chat));
    expect(await tokenizer.countChatAsync(chat.messages)).toBe(tokenizer.countChat(chat.messages));
    expect(await tokenizer.countPromptAsync(completion)).toBe(tokenizer.countPrompt(completion));
    expect(tokenizer.countPrompt(chat)).toBe(3 + 2 * 3 + 2 + encodeO200k(PROSE).length + encodeO200k(CORPUS.CJK!).length);
  });
});
