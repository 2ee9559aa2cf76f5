/**
 * Prompt tokens of the non-text parts of a chat message: images by OpenAI's tile rule,
 * audio and files by stated estimates (chat-tokens.ts says how, for users). Inline data is
 * never decoded whole: an image's size is read from the first {@link HEADER_BYTES} of its
 * payload, and audio and files are measured by the length of their base64 text.
 */
import { imageSize } from 'image-size';
import type { ContentPart, ImageDetail } from '../upstream/provider.js';

/** OpenAI's vision pricing for GPT-4o-class models: a base cost, plus a cost per 512-px tile. */
export const IMAGE_BASE_TOKENS = 85;
export const IMAGE_TILE_TOKENS = 170;
const TILE = 512;
const FIT_SQUARE = 2048;
const SHORT_SIDE = 768;

/**
 * The most tiles any image can cost: fitted into 2048×2048 and its short side cut to 768,
 * it is at most 2048×768, 4 × 2 tiles. Used when the size cannot be known.
 */
export const MAX_IMAGE_TILES = 8;

/** How much of an inline image is decoded to find its size (JPEG puts EXIF and ICC data first). */
export const HEADER_BYTES = 256 * 1024;
const HEADER_CHARS = Math.ceil(HEADER_BYTES / 3) * 4;

/** Audio input: tokens per second (not documented by OpenAI; what gpt-4o's audio models are seen to report). */
export const AUDIO_TOKENS_PER_SECOND = 10;
/** The byte rate assumed for MP3 (and WAV without a readable header): a low one, so the length errs long. */
export const MP3_BYTES_PER_SECOND = 4_000;
export const WAV_FALLBACK_BYTES_PER_SECOND = 8_000;

/** Inline file data: bytes per token (a typical text PDF page: tens of KB, 1,000-2,000 tokens). */
export const FILE_BYTES_PER_TOKEN = 32;

export interface Size {
  width: number;
  height: number;
}

/** Tiles of an image of this size under the tile rule (images are scaled down, never up). */
export function imageTiles({ width, height }: Size): number {
  let w = width;
  let h = height;
  const fit = Math.min(1, FIT_SQUARE / Math.max(w, h));
  // A side is a pixel at least, however thin the image.
  w = Math.max(1, Math.round(w * fit));
  h = Math.max(1, Math.round(h * fit));
  const shorten = Math.min(1, SHORT_SIDE / Math.min(w, h));
  w = Math.max(1, Math.round(w * shorten));
  h = Math.max(1, Math.round(h * shorten));
  return Math.ceil(w / TILE) * Math.ceil(h / TILE);
}

/** Tokens of an image part: 85 at `low`; otherwise 85 + 170 per tile, the worst case when the size is unknown. */
export function imageTokens(url: string, detail: ImageDetail | undefined): number {
  if (detail === 'low') return IMAGE_BASE_TOKENS;
  const size = inlineImageSize(url);
  return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * (size ? imageTiles(size) : MAX_IMAGE_TILES);
}

/** Where a `data:…;base64,` URL's payload starts, or -1 (an http(s) URL, or not base64). */
function payloadStart(url: string): number {
  if (!url.startsWith('data:')) return -1;
  // The header is short; a malformed URL is not searched to its end.
  const comma = url.slice(0, 256).indexOf(',');
  return comma !== -1 && url.slice(0, comma).endsWith(';base64') ? comma + 1 : -1;
}

/** The size an inline image declares in its header, or undefined (not inline, not an image we can read). */
export function inlineImageSize(url: string): Size | undefined {
  const start = payloadStart(url);
  if (start === -1) return undefined;
  // A copy with a buffer of its own: image-size reads through DataViews on the whole
  // ArrayBuffer, and a small Buffer shares Node's pool, so a short header would be read
  // on into other bytes instead of failing.
  const header = new Uint8Array(Buffer.from(url.slice(start, start + HEADER_CHARS), 'base64'));
  try {
    const { width, height } = imageSize(header);
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    // Not an image image-size knows, or its size lies past the header bytes.
    return undefined;
  }
}

/** The payload of a data URL, or the text itself when it is bare base64. */
function base64Range(data: string): { start: number; end: number } {
  const start = Math.max(payloadStart(data), 0);
  let end = data.length;
  while (end > start && (data[end - 1] === '=' || data[end - 1] === '\n' || data[end - 1] === '\r')) end--;
  return { start, end };
}

function decodedLength(data: string): number {
  const { start, end } = base64Range(data);
  return Math.floor(((end - start) * 3) / 4);
}

/** A WAV file's byte rate from its `fmt ` chunk, when the chunk is among the first few. */
function wavByteRate(data: string): number | undefined {
  const { start } = base64Range(data);
  const bytes = Buffer.from(data.slice(start, start + 4_096), 'base64');
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') return undefined;
  // Chunks: a 4-byte id, a 4-byte size, the data padded to an even length. `fmt ` holds the
  // byte rate 8 bytes into its data.
  for (let at = 12; at + 20 <= bytes.length; ) {
    const size = bytes.readUInt32LE(at + 4);
    if (bytes.toString('latin1', at, at + 4) === 'fmt ') {
      const rate = bytes.readUInt32LE(at + 16);
      return rate > 0 ? rate : undefined;
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

/** Tokens of an audio part: its length in seconds (from its size and byte rate) at 10 a second. */
export function audioTokens(data: string, format: 'wav' | 'mp3'): number {
  const byteRate = format === 'wav' ? (wavByteRate(data) ?? WAV_FALLBACK_BYTES_PER_SECOND) : MP3_BYTES_PER_SECOND;
  return Math.ceil((decodedLength(data) / byteRate) * AUDIO_TOKENS_PER_SECOND);
}

/** Tokens of inline file data: its decoded size at {@link FILE_BYTES_PER_TOKEN}. A file given by id is not seen. */
export function fileDataTokens(data: string): number {
  return Math.ceil(decodedLength(data) / FILE_BYTES_PER_TOKEN);
}

/** The tokens a non-text part costs beyond any text it carries (its file name, its id). */
export function mediaTokens(part: Exclude<ContentPart, { type: 'text' }>): number {
  switch (part.type) {
    case 'image':
      return imageTokens(part.url, part.detail);
    case 'audio':
      return audioTokens(part.data, part.format);
    case 'file':
      return part.fileData === undefined ? 0 : fileDataTokens(part.fileData);
  }
}
