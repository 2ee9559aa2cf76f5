/**
 * Token counting with OpenAI's real BPE tables (gpt-tokenizer, pure JS) and the context
 * windows of the models we know. Encodings load lazily: each table costs tens of
 * milliseconds and megabytes, and most deployments only ever touch one.
 */
import {
  CL100K_TOKEN_SPLIT_REGEX,
  O200K_TOKEN_SPLIT_REGEX,
  R50K_TOKEN_SPLIT_REGEX,
} from 'gpt-tokenizer/encodingParams/constants';
import type { ChatMessage, CompletionRequest } from '../upstream/provider.js';
import { chatPieces, FUNCTION_START, type Piece, type PromptExtras } from './chat-tokens.js';
import {
  countingEncoding,
  countTokensAsync,
  countTokensSync,
  Turn,
  type CountingEncoder,
  type CountingEncoding,
  type RankTable,
} from './token-count.js';

export type EncodingName = 'o200k_base' | 'cl100k_base' | 'p50k_base';

interface Encoder extends CountingEncoder {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: Iterable<number>): string;
  setMergeCacheSize(size: number): void;
}

/** The pre-token regex each encoding's module uses (gpt-tokenizer's encodingParams). */
const SPLIT_REGEX: Record<EncodingName, RegExp> = {
  o200k_base: O200K_TOKEN_SPLIT_REGEX,
  cl100k_base: CL100K_TOKEN_SPLIT_REGEX,
  p50k_base: R50K_TOKEN_SPLIT_REGEX,
};

/**
 * Entries in the library's merge cache (its default is 100,000). Each key is a pre-token
 * of at most 256 characters here, but a key also keeps alive the slice it was cut from
 * (up to about 4 KB of text), so the default could hold hundreds of megabytes.
 */
const MERGE_CACHE_SIZE = 10_000;

interface ModelSpec {
  contextWindow: number;
  encoding: EncodingName;
}

/**
 * Context windows (prompt + completion tokens) of OpenAI's models. Dated snapshots
 * (`gpt-4o-2024-08-06`, `gpt-4-0613`) resolve to their family by dropping the date.
 */
const MODELS: Record<string, ModelSpec> = {
  'gpt-5': { contextWindow: 400_000, encoding: 'o200k_base' },
  'gpt-5-mini': { contextWindow: 400_000, encoding: 'o200k_base' },
  'gpt-5-nano': { contextWindow: 400_000, encoding: 'o200k_base' },
  'gpt-5-chat-latest': { contextWindow: 128_000, encoding: 'o200k_base' },
  'gpt-5.1': { contextWindow: 400_000, encoding: 'o200k_base' },
  'gpt-4.1': { contextWindow: 1_047_576, encoding: 'o200k_base' },
  'gpt-4.1-mini': { contextWindow: 1_047_576, encoding: 'o200k_base' },
  'gpt-4.1-nano': { contextWindow: 1_047_576, encoding: 'o200k_base' },
  'gpt-4o': { contextWindow: 128_000, encoding: 'o200k_base' },
  'gpt-4o-mini': { contextWindow: 128_000, encoding: 'o200k_base' },
  'chatgpt-4o-latest': { contextWindow: 128_000, encoding: 'o200k_base' },
  o1: { contextWindow: 200_000, encoding: 'o200k_base' },
  'o1-mini': { contextWindow: 128_000, encoding: 'o200k_base' },
  o3: { contextWindow: 200_000, encoding: 'o200k_base' },
  'o3-mini': { contextWindow: 200_000, encoding: 'o200k_base' },
  'o4-mini': { contextWindow: 200_000, encoding: 'o200k_base' },
  'gpt-4-turbo': { contextWindow: 128_000, encoding: 'cl100k_base' },
  'gpt-4-turbo-preview': { contextWindow: 128_000, encoding: 'cl100k_base' },
  'gpt-4-1106-preview': { contextWindow: 128_000, encoding: 'cl100k_base' },
  'gpt-4-0125-preview': { contextWindow: 128_000, encoding: 'cl100k_base' },
  'gpt-4': { contextWindow: 8_192, encoding: 'cl100k_base' },
  'gpt-4-32k': { contextWindow: 32_768, encoding: 'cl100k_base' },
  'gpt-3.5-turbo': { contextWindow: 16_385, encoding: 'cl100k_base' },
  'gpt-3.5-turbo-16k': { contextWindow: 16_385, encoding: 'cl100k_base' },
  'gpt-3.5-turbo-instruct': { contextWindow: 4_096, encoding: 'cl100k_base' },
  'davinci-002': { contextWindow: 16_384, encoding: 'cl100k_base' },
  'babbage-002': { contextWindow: 16_384, encoding: 'cl100k_base' },
  'text-davinci-003': { contextWindow: 4_097, encoding: 'p50k_base' },
  'text-davinci-002': { contextWindow: 4_097, encoding: 'p50k_base' },
};

/** The built-in simulator's model: the notes' 4097-token window, so limits can be tried offline. */
export const SIMULATOR_MODEL = 'simulator';
MODELS[SIMULATOR_MODEL] = { contextWindow: 4_097, encoding: 'cl100k_base' };

const DATE_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{4})$/;

/** A model's entry in a table keyed by model name; dated snapshots fall back to their family. */
export function lookupModel<T>(table: Readonly<Record<string, T>>, model: string): T | undefined {
  return table[model] ?? table[model.replace(DATE_SUFFIX, '')];
}

function specFor(model: string): ModelSpec | undefined {
  return lookupModel(MODELS, model);
}

/** The model's context window in tokens, or null for models we do not know. */
export function contextWindow(model: string): number | null {
  return specFor(model)?.contextWindow ?? null;
}

/** Unknown models (Ollama, vLLM, …) are counted with o200k: an estimate, never a refusal. */
export function encodingFor(model: string): EncodingName {
  return specFor(model)?.encoding ?? 'o200k_base';
}

interface Loaded {
  name: EncodingName;
  encoder: Encoder;
  counting: CountingEncoding;
}

const loaded = new Map<EncodingName, Promise<Loaded>>();

function load(name: EncodingName): Promise<Loaded> {
  let encoding = loaded.get(name);
  if (!encoding) {
    encoding = (async (): Promise<Loaded> => {
      const [encoder, ranks] = await Promise.all([importEncoder(name), importRanks(name)]);
      encoder.setMergeCacheSize(MERGE_CACHE_SIZE);
      return { name, encoder, counting: countingEncoding(encoder, SPLIT_REGEX[name], ranks) };
    })();
    loaded.set(name, encoding);
  }
  return encoding;
}

async function importEncoder(name: EncodingName): Promise<Encoder> {
  switch (name) {
    case 'o200k_base':
      return import('gpt-tokenizer/encoding/o200k_base');
    case 'cl100k_base':
      return import('gpt-tokenizer/encoding/cl100k_base');
    case 'p50k_base':
      return import('gpt-tokenizer/encoding/p50k_base');
  }
}

/** The rank table the encoding module itself loaded (same module instance: no second copy). */
async function importRanks(name: EncodingName): Promise<RankTable> {
  switch (name) {
    case 'o200k_base':
      return (await import('gpt-tokenizer/bpeRanks/o200k_base')).default;
    case 'cl100k_base':
      return (await import('gpt-tokenizer/bpeRanks/cl100k_base')).default;
    case 'p50k_base':
      return (await import('gpt-tokenizer/bpeRanks/p50k_base')).default;
  }
}

// User text may legitimately contain `<|endoftext|>` and friends; encode them as text
// instead of letting the tokenizer throw.
const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

type PromptParts = Pick<CompletionRequest, 'messages' | 'prompt' | 'suffix' | 'tools' | 'responseFormat'>;

/**
 * A model's tokenizer, loaded once. Counts are exact (gpt-tokenizer's own) except for a
 * pre-token over 256 characters (a run of letters, symbols or spaces), which is estimated
 * from its pieces; the cost is linear in the text (see token-count.ts for why that needs
 * care). Prefer the async counts for anything a client sent: they yield to the event loop
 * every few milliseconds, where the sync ones hold it for the whole text (about 0.1 s per
 * MB of ordinary text, over a second for a MB of random letters).
 */
export class Tokenizer {
  private constructor(private readonly encoding: Loaded) {}

  static async forModel(model: string): Promise<Tokenizer> {
    return new Tokenizer(await load(encodingFor(model)));
  }

  /** Token ids: the library's own encoding, with its quadratic cost; for short, generated text. */
  encode(text: string): number[] {
    return this.encoding.encoder.encode(text, NO_SPECIAL);
  }

  decode(tokens: Iterable<number>): string {
    return this.encoding.encoder.decode(tokens);
  }

  count(text: string): number {
    return countTokensSync(this.encoding.counting, text);
  }

  /** {@link count} that lets other work run every few milliseconds. */
  countAsync(text: string, turn?: Turn): Promise<number> {
    return countTokensAsync(this.encoding.counting, text, turn);
  }

  /** The tokens of several texts (a completion's choices), paced as one count. */
  async countAllAsync(texts: Iterable<string>): Promise<number> {
    const turn = new Turn();
    let total = 0;
    for (const text of texts) total += await this.countAsync(text, turn);
    return total;
  }

  /**
   * Prompt tokens of a chat request: its messages (text, images, audio, files, names, tool
   * calls) and the tools and JSON schema it offers. How each is counted, and where it is an
   * estimate, is written down in chat-tokens.ts.
   */
  countChat(messages: readonly ChatMessage[], extras: PromptExtras = {}): number {
    let total = 0;
    for (const piece of this.pieces(messages, extras)) total += typeof piece === 'number' ? piece : this.count(piece);
    return total;
  }

  /** {@link countChat} that lets other work run every few milliseconds, across all pieces. */
  async countChatAsync(messages: readonly ChatMessage[], extras: PromptExtras = {}): Promise<number> {
    const turn = new Turn();
    let total = 0;
    for (const piece of this.pieces(messages, extras)) {
      if (typeof piece === 'number') {
        total += piece;
        await turn.yieldIfDue();
      } else {
        total += await this.countAsync(piece, turn);
      }
    }
    return total;
  }

  private pieces(messages: readonly ChatMessage[], extras: PromptExtras): Generator<Piece, void, undefined> {
    const functionStart = this.encoding.name === 'o200k_base' ? FUNCTION_START.o200k : FUNCTION_START.older;
    return chatPieces(messages, extras, functionStart);
  }

  /** Prompt tokens of a request: its messages (chat) or its prompt and suffix. */
  countPrompt(request: PromptParts): number {
    if (request.messages) return this.countChat(request.messages, request);
    return this.count(request.prompt ?? '') + this.count(request.suffix ?? '');
  }

  /** {@link countPrompt} that lets other work run every few milliseconds. */
  async countPromptAsync(request: PromptParts): Promise<number> {
    if (request.messages) return this.countChatAsync(request.messages, request);
    const turn = new Turn();
    return (await this.countAsync(request.prompt ?? '', turn)) + (await this.countAsync(request.suffix ?? '', turn));
  }
}

/** Loads the model's encoding ahead of the first request, so it does not pay the load. */
export async function preloadTokenizer(model: string): Promise<void> {
  await load(encodingFor(model));
}
