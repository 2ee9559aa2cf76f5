/**
 * Token counting with OpenAI's real BPE tables (gpt-tokenizer, pure JS) and the context
 * windows of the models we know. Encodings load lazily: each table costs tens of
 * milliseconds and megabytes, and most deployments only ever touch one.
 */
import type { ChatMessage, CompletionRequest } from './providers/provider.js';

export type EncodingName = 'o200k_base' | 'cl100k_base' | 'p50k_base';

interface Encoder {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: Iterable<number>): string;
}

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

const loaded = new Map<EncodingName, Promise<Encoder>>();

function load(name: EncodingName): Promise<Encoder> {
  let encoder = loaded.get(name);
  if (!encoder) {
    encoder = (async (): Promise<Encoder> => {
      switch (name) {
        case 'o200k_base':
          return import('gpt-tokenizer/encoding/o200k_base');
        case 'cl100k_base':
          return import('gpt-tokenizer/encoding/cl100k_base');
        case 'p50k_base':
          return import('gpt-tokenizer/encoding/p50k_base');
      }
    })();
    loaded.set(name, encoder);
  }
  return encoder;
}

// User text may legitimately contain `<|endoftext|>` and friends; count them as text
// instead of letting the tokenizer throw.
const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

/** A model's tokenizer, loaded once. */
export class Tokenizer {
  private constructor(private readonly encoder: Encoder) {}

  static async forModel(model: string): Promise<Tokenizer> {
    return new Tokenizer(await load(encodingFor(model)));
  }

  encode(text: string): number[] {
    return this.encoder.encode(text, NO_SPECIAL);
  }

  decode(tokens: Iterable<number>): string {
    return this.encoder.decode(tokens);
  }

  count(text: string): number {
    return text.length === 0 ? 0 : this.encode(text).length;
  }

  /**
   * Prompt tokens of a chat request, by OpenAI's published accounting: 3 tokens of
   * framing per message plus its role and content, and 3 that prime the reply.
   */
  countChat(messages: readonly ChatMessage[]): number {
    let total = 3;
    for (const message of messages) total += 3 + this.count(message.role) + this.count(message.content);
    return total;
  }

  /** Prompt tokens of a request: its messages (chat) or its prompt and suffix. */
  countPrompt(request: Pick<CompletionRequest, 'messages' | 'prompt' | 'suffix'>): number {
    if (request.messages) return this.countChat(request.messages);
    return this.count(request.prompt ?? '') + this.count(request.suffix ?? '');
  }
}

/** Loads the model's encoding ahead of the first request, so it does not pay the load. */
export async function preloadTokenizer(model: string): Promise<void> {
  await load(encodingFor(model));
}
