/**
 * The context-window preflight counts the whole chat request (issue #14): images by
 * OpenAI's tile rule read from real image headers, audio and files by their stated
 * estimates, tool definitions and JSON schemas by OpenAI's cookbook, and it refuses a
 * request that only its images or tools push over the window before any upstream call.
 */
import { randomBytes } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { prepareRequest } from '../src/completion/request.js';
import { audioTokens, fileDataTokens, HEADER_BYTES, imageTokens, inlineImageSize } from '../src/completion/media-tokens.js';
import { Tokenizer } from '../src/completion/tokens.js';
import { CompleteDocument, type CompletionInput } from '../src/generated/operations.js';
import type { ChatMessage, CompletionRequest, ContentPart, ToolDefinition } from '../src/upstream/provider.js';
import { graphql, useGatewayWithFake } from './helpers.js';

// --- Real image bytes, built by each format's specification --------------------------

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A complete black PNG (1-bit greyscale), with an optional private chunk of `extra` bytes after its header. */
function png(width: number, height: number, extra = 0): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    ...(extra > 0 ? [pngChunk('blOb', randomBytes(extra))] : []),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function jpegSegment(marker: number, data: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(data.length + 2, 2);
  return Buffer.concat([head, data]);
}

/** A baseline JPEG's headers: SOI, JFIF, `appBytes` of APP2 segments, then the SOF0 frame header. */
function jpeg(width: number, height: number, appBytes = 0): Buffer {
  const jfif = Buffer.from([0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const apps: Buffer[] = [];
  for (let left = appBytes; left > 0; left -= 65_000) apps.push(jpegSegment(0xe2, Buffer.alloc(Math.min(left, 65_000), 0x20)));
  const frame = Buffer.alloc(15);
  frame[0] = 8; // precision
  frame.writeUInt16BE(height, 1);
  frame.writeUInt16BE(width, 3);
  frame.set([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1], 5); // Y, Cb, Cr
  return Buffer.concat([Buffer.from([0xff, 0xd8]), jpegSegment(0xe0, jfif), ...apps, jpegSegment(0xc0, frame), Buffer.from([0xff, 0xd9])]);
}

/** A GIF89a's header and logical screen descriptor, then its trailer. */
function gif(width: number, height: number): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  return Buffer.concat([Buffer.from('GIF89a', 'latin1'), screen, Buffer.from(';', 'latin1')]);
}

/** A WebP's RIFF container and the first bytes of its image chunk (lossy, lossless or extended). */
function webp(kind: 'VP8 ' | 'VP8L' | 'VP8X', width: number, height: number): Buffer {
  const data = Buffer.alloc(10);
  if (kind === 'VP8 ') {
    data.set([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]); // key frame tag, start code
    data.writeUInt16LE(width, 6);
    data.writeUInt16LE(height, 8);
  } else if (kind === 'VP8L') {
    data[0] = 0x2f;
    data.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0, 1);
  } else {
    data.writeUIntLE(width - 1, 4, 3);
    data.writeUIntLE(height - 1, 7, 3);
  }
  const chunk = Buffer.alloc(8);
  chunk.write(kind, 0, 'latin1');
  chunk.writeUInt32LE(data.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + chunk.length + data.length, 4);
  riff.write('WEBP', 8, 'latin1');
  return Buffer.concat([riff, chunk, data]);
}

const dataUrl = (mime: string, bytes: Buffer): string => `data:${mime};base64,${bytes.toString('base64')}`;

const FORMATS: { name: string; url: (width: number, height: number) => string }[] = [
  { name: 'PNG', url: (w, h) => dataUrl('image/png', png(w, h)) },
  { name: 'JPEG', url: (w, h) => dataUrl('image/jpeg', jpeg(w, h)) },
  { name: 'GIF', url: (w, h) => dataUrl('image/gif', gif(w, h)) },
  { name: 'WebP (lossy)', url: (w, h) => dataUrl('image/webp', webp('VP8 ', w, h)) },
  { name: 'WebP (lossless)', url: (w, h) => dataUrl('image/webp', webp('VP8L', w, h)) },
  { name: 'WebP (extended)', url: (w, h) => dataUrl('image/webp', webp('VP8X', w, h)) },
];

// --- Requests ---------------------------------------------------------------------------

const user = (parts: ContentPart[]): ChatMessage => ({ role: 'user', content: null, parts });
const image = (url: string, detail?: 'low' | 'high' | 'auto'): ContentPart => ({ type: 'image', url, detail });

/** A form-filling tool with `fields` string parameters. */
function formTool(fields: number): ToolDefinition {
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < fields; i++) properties[`field_${i}`] = { type: 'string', description: `The value of form field number ${i}.` };
  return { name: 'fill_form', description: 'Fills in the form.', parameters: { type: 'object', properties, required: [] } };
}

/** The example in OpenAI's cookbook ("How to count tokens with tiktoken"), with the counts OpenAI's API reported for it. */
const COOKBOOK = {
  messages: [
    { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
    { role: 'user', content: "What's the weather like in San Francisco?" },
  ] satisfies ChatMessage[],
  tools: [
    {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['location'],
      },
    },
  ] satisfies ToolDefinition[],
  apiPromptTokens: { 'gpt-4o': 101, 'gpt-4': 105, 'gpt-3.5-turbo': 105 },
};

async function refusal(request: CompletionRequest): Promise<GraphQLError> {
  const error: unknown = await prepareRequest(request).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof GraphQLError)) throw new Error(`expected a GraphQLError, got ${String(error)}`);
  return error;
}

// --- Images -------------------------------------------------------------------------------

describe('images, by OpenAI’s tile rule', () => {
  it.each(FORMATS)('reads the size from a $name header and counts OpenAI’s documented examples', ({ url }) => {
    expect(imageTokens(url(1024, 1024), 'high')).toBe(765);
    expect(imageTokens(url(2048, 4096), 'high')).toBe(1105);
    expect(imageTokens(url(1024, 1024), 'auto')).toBe(765);
    expect(imageTokens(url(1024, 1024), undefined)).toBe(765);
    expect(imageTokens(url(4096, 8192), 'low')).toBe(85);
    // Small images are not scaled up: one tile.
    expect(imageTokens(url(300, 200), 'high')).toBe(255);
    expect(inlineImageSize(url(1919, 1079))).toEqual({ width: 1919, height: 1079 });
  });

  it('scales a wide image into 2048×768 at most: 8 tiles', () => {
    expect(imageTokens(dataUrl('image/png', png(4096, 1536)), 'high')).toBe(85 + 170 * 8);
    expect(imageTokens(dataUrl('image/png', png(1536, 4096)), 'high')).toBe(85 + 170 * 8);
  });

  it('counts an image it cannot measure as the most any image costs (1445), and 85 at low detail', () => {
    for (const url of ['https://example.com/cat.png', 'data:image/png;base64,bm90IGFuIGltYWdl', dataUrl('image/png', png(64, 64).subarray(0, 20))]) {
      expect(imageTokens(url, 'high'), url.slice(0, 40)).toBe(1445);
      expect(imageTokens(url, 'auto'), url.slice(0, 40)).toBe(1445);
      expect(imageTokens(url, 'low'), url.slice(0, 40)).toBe(85);
    }
  });

  it('reads only the header of a large inline image', () => {
    // 10 MB of data URL after the header: counted from its first bytes.
    const big = dataUrl('image/png', png(1024, 1024, 7_500_000));
    expect(big.length).toBeGreaterThan(10_000_000);
    expect(imageTokens(big, 'high')).toBe(765);
    // A JPEG whose frame header lies past the bytes read is not decoded further: it
    // counts as an image of unknown size. Just inside, it is measured.
    expect(imageTokens(dataUrl('image/jpeg', jpeg(1024, 1024, HEADER_BYTES + 1_000)), 'high')).toBe(1445);
    expect(imageTokens(dataUrl('image/jpeg', jpeg(1024, 1024, HEADER_BYTES - 1_000)), 'high')).toBe(765);
  });

  it('adds each image’s tokens to the prompt, beside its text parts', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const text: ContentPart = { type: 'text', text: 'What is in these pictures?' };
    const withoutImages = tokenizer.countChat([user([text])]);
    const withImages = [user([text, image(FORMATS[0]!.url(1024, 1024), 'high'), image('https://example.com/a.jpg', 'low')])];
    expect(tokenizer.countChat(withImages)).toBe(withoutImages + 765 + 85);
    expect(await tokenizer.countChatAsync(withImages)).toBe(withoutImages + 765 + 85);
  });
});

// --- Audio and files ---------------------------------------------------------------------

function wav(sampleRate: number, channels: number, totalBytes: number): Buffer {
  const bytes = Buffer.alloc(totalBytes);
  bytes.write('RIFF', 0, 'latin1');
  bytes.writeUInt32LE(totalBytes - 8, 4);
  bytes.write('WAVEfmt ', 8, 'latin1');
  bytes.writeUInt32LE(16, 16);
  bytes.writeUInt16LE(1, 20); // PCM
  bytes.writeUInt16LE(channels, 22);
  bytes.writeUInt32LE(sampleRate, 24);
  bytes.writeUInt32LE(sampleRate * channels * 2, 28); // 16-bit samples
  bytes.writeUInt16LE(channels * 2, 32);
  bytes.writeUInt16LE(16, 34);
  bytes.write('data', 36, 'latin1');
  bytes.writeUInt32LE(totalBytes - 44, 40);
  return bytes;
}

describe('audio and files, by their stated estimates', () => {
  it('counts audio at 10 tokens a second: WAV by its header’s byte rate, MP3 at 32 kbit/s', () => {
    // 64,000 bytes: 2 s of 16 kHz mono, a third of a second of 48 kHz stereo.
    expect(audioTokens(wav(16_000, 1, 64_000).toString('base64'), 'wav')).toBe(20);
    expect(audioTokens(wav(48_000, 2, 64_000).toString('base64'), 'wav')).toBe(4);
    // No readable header: 8,000 bytes a second, so 8 s.
    expect(audioTokens(Buffer.alloc(64_000).toString('base64'), 'wav')).toBe(80);
    expect(audioTokens(randomBytes(40_000).toString('base64'), 'mp3')).toBe(100);
  });

  it('counts inline file data at one token per 32 bytes, as bare base64 or a data URL', () => {
    const pdf = randomBytes(32_000);
    expect(fileDataTokens(pdf.toString('base64'))).toBe(1_000);
    expect(fileDataTokens(dataUrl('application/pdf', pdf))).toBe(1_000);
    expect(fileDataTokens(randomBytes(32_001).toString('base64'))).toBe(1_001);
  });

  it('adds audio and files to the prompt, with a file’s name and id as text', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const base = tokenizer.countChat([user([{ type: 'text', text: 'Listen and read.' }])]);
    const parts: ContentPart[] = [
      { type: 'text', text: 'Listen and read.' },
      { type: 'audio', data: randomBytes(40_000).toString('base64'), format: 'mp3' },
      { type: 'file', fileId: undefined, fileData: randomBytes(32_000).toString('base64'), filename: 'report.pdf' },
      { type: 'file', fileId: 'file-abc123', fileData: undefined, filename: undefined },
    ];
    const expected = base + 100 + 1_000 + tokenizer.count('report.pdf') + tokenizer.count('file-abc123');
    expect(tokenizer.countChat([user(parts)])).toBe(expected);
    expect(await tokenizer.countChatAsync([user(parts)])).toBe(expected);
  });
});

// --- Messages, tools, schemas ------------------------------------------------------------

describe('names, tool calls and tool definitions', () => {
  it('matches the prompt tokens OpenAI’s API reported for the cookbook’s tool example', async () => {
    for (const [model, reported] of Object.entries(COOKBOOK.apiPromptTokens)) {
      const tokenizer = await Tokenizer.forModel(model);
      expect(tokenizer.countPrompt(COOKBOOK), model).toBe(reported);
      expect(await tokenizer.countPromptAsync(COOKBOOK), model).toBe(reported);
    }
  });

  it('adds tokens for each tool, and more for more parameters', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Fill in my form.' }];
    const none = tokenizer.countChat(messages);
    const counts = [1, 2, 10, 100].map((fields) => tokenizer.countChat(messages, { tools: [formTool(fields)] }));
    expect(counts[0]).toBeGreaterThan(none);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1]!);
    const two = tokenizer.countChat(messages, { tools: [formTool(10), { ...formTool(10), name: 'fill_other_form' }] });
    expect(two).toBeGreaterThan(counts[2]!);
  });

  it('counts what the cookbook leaves out of a schema: nested objects, items, anyOf', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Book it.' }];
    const flat = { type: 'object', properties: { trip: { type: 'object', description: 'The trip' } } };
    const nested = {
      type: 'object',
      properties: {
        trip: {
          type: 'object',
          description: 'The trip',
          properties: {
            legs: { type: 'array', items: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' } } } },
            class: { anyOf: [{ const: 'economy' }, { const: 'business' }] },
          },
        },
      },
    };
    const count = (parameters: Record<string, unknown>): number => tokenizer.countChat(messages, { tools: [{ name: 'book', parameters }] });
    expect(count(nested)).toBeGreaterThan(count(flat) + 20);
  });

  it('counts a JSON_SCHEMA response format’s schema, and nothing for TEXT or JSON_OBJECT', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Describe a cat.' }];
    const plain = tokenizer.countChat(messages);
    expect(tokenizer.countChat(messages, { responseFormat: { type: 'json_object' } })).toBe(plain);
    expect(tokenizer.countChat(messages, { responseFormat: { type: 'text' } })).toBe(plain);
    const schema = (fields: number): Record<string, unknown> => formTool(fields).parameters!;
    const small = tokenizer.countChat(messages, { responseFormat: { type: 'json_schema', jsonSchema: { name: 'cat', schema: schema(2) } } });
    const large = tokenizer.countChat(messages, { responseFormat: { type: 'json_schema', jsonSchema: { name: 'cat', schema: schema(20) } } });
    expect(small).toBeGreaterThan(plain);
    expect(large).toBeGreaterThan(small);
    // Counted like one more function beside the tools.
    const tools = [formTool(2)];
    expect(tokenizer.countChat(messages, { tools, responseFormat: { type: 'json_schema', jsonSchema: { name: 'fill_form', description: 'Fills in the form.', schema: schema(2) } } })).toBe(
      tokenizer.countChat(messages, { tools: [...tools, formTool(2)] }),
    );
  });

  it('adds 1 token and the name for a named message, as the cookbook does', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const plain = tokenizer.countChat([{ role: 'user', content: 'Hello' }]);
    expect(tokenizer.countChat([{ role: 'user', content: 'Hello', name: 'alice_smith' }])).toBe(plain + 1 + tokenizer.count('alice_smith'));
  });

  it('counts an ASSISTANT’s tool calls (names and arguments) and a TOOL answer’s call id', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    const call = { id: 'call_1', name: 'get_current_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' };
    const bare = tokenizer.countChat([{ role: 'assistant', content: null }]);
    const oneCall = tokenizer.countChat([{ role: 'assistant', content: null, toolCalls: [call] }]);
    expect(oneCall).toBeGreaterThan(bare + tokenizer.count(call.arguments));
    const twoCalls = tokenizer.countChat([{ role: 'assistant', content: null, toolCalls: [call, { ...call, id: 'call_2' }] }]);
    expect(twoCalls - oneCall).toBe(oneCall - bare);
    const answer = tokenizer.countChat([{ role: 'tool', content: '18 °C', toolCallId: 'call_1' }]);
    expect(answer).toBe(tokenizer.countChat([{ role: 'tool', content: '18 °C' }]) + tokenizer.count('call_1'));
  });

  it('counts a huge schema asynchronously without holding the event loop, as the sync count does', async () => {
    const tokenizer = await Tokenizer.forModel('gpt-4o');
    // About 1 MB of JSON: the most a request can carry under the default MAX_BODY_BYTES.
    const tools = [formTool(15_000)];
    expect(JSON.stringify(tools).length).toBeGreaterThan(900_000);
    const request = { messages: [{ role: 'user' as const, content: 'Fill in my form.' }], tools };
    let last = performance.now();
    let longestGap = 0;
    let ticks = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      ticks++;
    }, 5);
    let counted: number;
    try {
      counted = await tokenizer.countPromptAsync(request);
    } finally {
      clearInterval(ticker);
    }
    expect(counted).toBe(tokenizer.countPrompt(request));
    expect(counted).toBeGreaterThan(15_000 * 10);
    // Other work ran all along (counted in one go, a timer would not fire at all).
    expect(ticks).toBeGreaterThan(5);
    expect(longestGap).toBeLessThan(100);
  });
});

// --- The preflight --------------------------------------------------------------------------

describe('the window check (prepareRequest)', () => {
  const ask: ChatMessage = { role: 'user', content: 'Fill in my form.' };

  it('holds maxCompletionTokens to the window as it holds maxTokens (it wins when both are given)', async () => {
    const error = await refusal({ model: 'gpt-4', messages: [ask], maxCompletionTokens: 8_192 });
    expect(error.extensions).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED', model: 'gpt-4', contextWindow: 8_192 });
    const both = await refusal({ model: 'gpt-4', messages: [ask], maxTokens: 100, maxCompletionTokens: 8_192 });
    expect(both.extensions['requestedTokens']).toBe(error.extensions['requestedTokens']);
    await expect(prepareRequest({ model: 'gpt-4', messages: [ask], maxTokens: 8_192, maxCompletionTokens: 100 })).resolves.toBeDefined();
  });

  it('refuses a prompt that only its tool schema puts over the window', async () => {
    const fits = await prepareRequest({ model: 'gpt-4', messages: [ask], tools: [formTool(100)], maxTokens: 100 });
    expect(fits.promptTokens).toBeLessThan(8_192);
    const error = await refusal({ model: 'gpt-4', messages: [ask], tools: [formTool(700)], maxTokens: 100 });
    expect(error.extensions).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED', model: 'gpt-4', contextWindow: 8_192 });
    expect(error.extensions['requestedTokens']).toBeGreaterThan(8_192);
  });

  it('refuses a prompt that only its images put over the window, and takes the same at low detail', async () => {
    const url = dataUrl('image/png', png(2048, 4096));
    const pictures = (detail: 'low' | 'high'): CompletionRequest => ({
      model: 'gpt-4',
      messages: [user([{ type: 'text', text: 'Compare these.' }, ...Array.from({ length: 8 }, () => image(url, detail))])],
      maxTokens: 100,
    });
    const low = await prepareRequest(pictures('low'));
    expect(low.promptTokens).toBeLessThan(1_000);
    const error = await refusal(pictures('high'));
    expect(error.extensions).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED', contextWindow: 8_192 });
    // 8 × 1105 for the images, plus the text and framing the low-detail request counted.
    expect(error.extensions['requestedTokens']).toBe(low.promptTokens - 8 * 85 + 8 * 1105 + 100);
  });
});

describe('the window check over GraphQL', () => {
  const ctx = useGatewayWithFake();
  const posts = (): number => ctx.fake.requests.filter((r) => r.method === 'POST').length;

  async function expectRefusedUpstreamUntouched(input: CompletionInput): Promise<void> {
    const { errors } = await graphql(ctx.gw.httpUrl, CompleteDocument, { input });
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED', model: 'gpt-4', contextWindow: 8_192 });
    expect(posts()).toBe(0);
    // The same gateway does reach its upstream for a request that fits.
    const fits = await graphql(ctx.gw.httpUrl, CompleteDocument, { input: { model: 'gpt-4', messages: [{ role: 'USER', content: 'Hi' }] } });
    expect(fits.errors).toBeUndefined();
    expect(posts()).toBe(1);
  }

  it('refuses images over gpt-4’s 8,192 tokens before any upstream call', async () => {
    // Six images of unknown size at HIGH detail: 6 × 1445 tokens.
    const parts = Array.from({ length: 6 }, (_, i) => ({ imageUrl: { url: `https://example.com/page-${i}.png`, detail: 'HIGH' as const } }));
    await expectRefusedUpstreamUntouched({ model: 'gpt-4', maxTokens: 10, messages: [{ role: 'USER', parts: [{ text: 'Read these pages.' }, ...parts] }] });
  });

  it('refuses a tool schema over gpt-4’s 8,192 tokens before any upstream call', async () => {
    const tool = formTool(700);
    await expectRefusedUpstreamUntouched({
      model: 'gpt-4',
      maxTokens: 10,
      messages: [{ role: 'USER', content: 'Fill in my form.' }],
      tools: [{ name: tool.name, description: tool.description ?? null, parameters: tool.parameters }],
    });
  });
});
