/**
 * The built-in simulator: the gateway's upstream when no OpenAI key or base URL is set,
 * so a newcomer can open GraphiQL and watch a completion stream without any account.
 *
 * Replies are readable, clearly labelled canned English. With temperature 0 (or a
 * `seed`) they are a pure function of the request, which makes the simulator usable in
 * tests: `complete()` and `stream()` derive from the same plan, so a joined stream always
 * equals the completion, finish reasons and usage included.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Tokenizer } from '../../completion/tokens.js';
import type {
  CallEvents,
  CompletionRequest,
  CompletionResult,
  FinishReason,
  ModelInfo,
  Provider,
  StreamDelta,
  TokenLogprob,
  Usage,
} from '../provider.js';

export interface SimulatorOptions {
  /** Pause between streamed tokens, in milliseconds, so streaming is visible; 0 for tests and benchmarks. */
  tokenDelayMs: number;
}

// Plain ASCII only: every BPE token of ASCII text decodes to whole characters, so a
// stream can emit one token at a time without splitting a character.
const SENTENCES: readonly string[] = [
  'This answer comes from the built-in simulator, because no upstream model is configured.',
  'The gateway is running offline, so nothing here was written by a real language model.',
  'Set OPENAI_API_KEY before starting the server to send requests to OpenAI instead.',
  'Set OPENAI_BASE_URL to point the gateway at any OpenAI-compatible server, such as Ollama or vLLM.',
  'Once a real upstream is configured, the same queries work without any change.',
  'Streaming works over graphql-ws subscriptions and over server-sent events.',
  'GraphiQL is a good place to try queries, mutations and subscriptions by hand.',
  'Each piece of this reply is one token, streamed with a short pause so you can watch it arrive.',
  'Token counts are computed with the same tokenizer the requested model would use.',
  'Usage reports prompt tokens, completion tokens and their total, just like a real upstream.',
  'Setting maxTokens cuts the reply short, and the finish reason becomes length.',
  'Stop sequences end the reply early, exactly where a real model would stop.',
  'With temperature 0 or a fixed seed, the simulator always gives the same answer.',
  'With a temperature above 0 and no seed, every call gives a different answer.',
  'Asking for several choices with n returns several different replies to the same prompt.',
  'The simulator accepts any model name, so an app written for gpt-4o runs offline too.',
  'Context windows are checked before a request ever reaches the upstream.',
  'Cancelling a subscription stops the stream right away and frees the connection.',
  'Log probabilities here are invented, but they have the right shape for testing clients.',
  'Nothing you send to the simulator leaves this machine.',
  'Chat requests and plain text completions are both supported.',
  'The echo option repeats the prompt in front of the generated text.',
  'Responses arrive as typed GraphQL objects instead of raw JSON from the upstream.',
  'You can slow down or speed up this stream with SIMULATOR_TOKEN_DELAY_MS.',
  'When you are ready for real answers, restart the gateway with an API key.',
];

// Plausible runner-up tokens for invented `topLogprobs`.
const ALTERNATIVES: readonly string[] = [
  ' the', ' a', ' and', ' to', ' of', ',', '.', ' is', ' in', ' it', ' that', ' for',
  ' you', ' with', ' on', ' as', ' this', ' be', ' are', ' or', ' not', ' can', ' an', ' at',
];

const SNIPPET_LENGTH = 60;
const MACROTASK_EVERY = 64;

/** FNV-1a: a tiny, stable string hash, enough to seed the PRNG. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the reply is "about": the last user message (or the prompt), kept short and ASCII. */
function snippet(request: CompletionRequest): string {
  const messages = request.messages ?? [];
  const source =
    request.prompt ?? [...messages].reverse().find((m) => m.role === 'user')?.content ?? messages.at(-1)?.content ?? '';
  const text = source.replace(/[^\x20-\x7e\s]/g, '?').replace(/\s+/g, ' ').trim();
  return text.length > SNIPPET_LENGTH ? `${text.slice(0, SNIPPET_LENGTH).trimEnd()}...` : text;
}

function generateText(request: CompletionRequest, random: () => number): string {
  const about = snippet(request);
  const sentences = [about === '' ? 'Simulated reply.' : `Simulated reply to "${about}".`];
  const pool = [...SENTENCES];
  const count = 2 + Math.floor(random() * 4);
  for (let i = 0; i < count; i++) sentences.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as string);
  // A text completion continues its prompt, so like a real model's it starts with a
  // separator; with `echo` the prompt and the reply then read as two sentences.
  const continues = request.prompt !== undefined && /\S$/.test(request.prompt);
  return (continues ? ' ' : '') + sentences.join(' ');
}

function truncateAtStop(text: string, stop: readonly string[] | undefined): string {
  let end = text.length;
  for (const sequence of stop ?? []) {
    // An empty stop sequence would match at 0 and silence every reply.
    const at = sequence === '' ? -1 : text.indexOf(sequence);
    if (at !== -1 && at < end) end = at;
  }
  return text.slice(0, end);
}

/** Invented but well-formed logprobs: the token itself ranks first among its `k` alternatives. */
function inventLogprobs(tokens: readonly string[], k: number, random: () => number): TokenLogprob[] {
  const round = (value: number): number => Math.round(value * 10_000) / 10_000;
  return tokens.map((token) => {
    const logprob = round(-(random() ** 2) * 2.5);
    const topLogprobs = k > 0 ? [{ token, logprob }] : [];
    const others = ALTERNATIVES.filter((alternative) => alternative !== token);
    let next = logprob;
    while (topLogprobs.length < k && others.length > 0) {
      next = round(next - 0.25 - random() * 2);
      topLogprobs.push({ token: others.splice(Math.floor(random() * others.length), 1)[0] as string, logprob: next });
    }
    return { token, logprob, topLogprobs };
  });
}

interface PlannedChoice {
  /** The echoed prompt, or ''; not generated, so it never counts as completion tokens. */
  echo: string;
  /** The generated text, one decoded token per entry: the stream emits exactly these. */
  pieces: string[];
  finishReason: FinishReason;
  logprobs: TokenLogprob[] | null;
}

interface Plan {
  choices: PlannedChoice[];
  usage: Usage;
}

/** Everything a call returns, decided up front so `complete` and `stream` cannot disagree. */
async function plan(request: CompletionRequest): Promise<Plan> {
  const tokenizer = await Tokenizer.forModel(request.model);
  const sampled = (request.temperature ?? 0) > 0 && request.seed === undefined;
  // A per-call random seed keeps sampled calls varied while a call's choices stay distinct.
  const seed = sampled ? randomInt(0, 2 ** 32) : (request.seed ?? null);
  const messages = request.messages?.map((m) => [m.role, m.content]) ?? null;

  const choices: PlannedChoice[] = [];
  let completionTokens = 0;
  for (let index = 0; index < (request.n ?? 1); index++) {
    const key = JSON.stringify([request.model, request.prompt ?? null, messages, request.suffix ?? null, index, seed]);
    const random = mulberry32(fnv1a(key));
    const generated = truncateAtStop(generateText(request, random), request.stop);
    // Stop first, then the token budget: a real model stops generating at a stop sequence.
    const all = tokenizer.encode(generated);
    const kept = request.maxTokens === undefined ? all : all.slice(0, request.maxTokens);
    const pieces = kept.map((token) => tokenizer.decode([token]));
    completionTokens += kept.length;
    choices.push({
      echo: request.echo && request.prompt !== undefined ? request.prompt : '',
      pieces,
      finishReason: kept.length < all.length ? 'length' : 'stop',
      // A separate PRNG stream, so asking for logprobs never changes the text.
      logprobs: request.logprobs === undefined ? null : inventLogprobs(pieces, request.logprobs, mulberry32(fnv1a(`${key}:logprobs`))),
    });
  }

  // Async: a megabyte prompt costs up to a second of counting, which must not hold the loop.
  const promptTokens = await tokenizer.countPromptAsync(request);
  return { choices, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
}

function abortError(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/**
 * A pause that rejects with `abortError(signal)` the moment `signal` aborts; node's timer
 * clears itself and removes its listener, leaving nothing behind. (It rejects with its own
 * AbortError, the reason only as its `cause`: the reason itself is what callers see.)
 */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch((error: unknown) => {
    throw signal.aborted ? abortError(signal) : error;
  });
}

function newId(): string {
  return `simcmpl-${randomBytes(12).toString('hex')}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export class SimulatorProvider implements Provider {
  readonly description = 'built-in simulator (offline; set OPENAI_API_KEY or OPENAI_BASE_URL to use a real model)';
  private readonly tokenDelayMs: number;

  constructor(options: SimulatorOptions) {
    this.tokenDelayMs = options.tokenDelayMs;
  }

  models(signal: AbortSignal): Promise<ModelInfo[]> {
    throwIfAborted(signal);
    return Promise.resolve([{ id: 'simulator', ownedBy: 'gateway-simulator (offline, deterministic, no upstream)', created: null }]);
  }

  async complete(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<CompletionResult> {
    throwIfAborted(signal);
    events.onResponse();
    const { choices, usage } = await plan(request);
    throwIfAborted(signal);
    return {
      id: newId(),
      model: request.model,
      created: nowSeconds(),
      choices: choices.map((choice, index) => ({
        index,
        text: choice.echo + choice.pieces.join(''),
        finishReason: choice.finishReason,
        logprobs: choice.logprobs,
        toolCalls: null,
        refusal: null,
      })),
      usage,
    };
  }

  stream(request: CompletionRequest, signal: AbortSignal, events: CallEvents): Promise<AsyncIterable<StreamDelta>> {
    return Promise.resolve(this.generate(request, signal, events));
  }

  private async *generate(request: CompletionRequest, signal: AbortSignal, events: CallEvents): AsyncGenerator<StreamDelta> {
    throwIfAborted(signal);
    events.onResponse();
    const { choices, usage } = await plan(request);
    const base = { id: newId(), model: request.model, created: nowSeconds() };
    const delta = (index: number, text: string, finishReason: FinishReason | null, u: Usage | null = null): StreamDelta => ({
      ...base,
      index,
      text,
      finishReason,
      usage: u,
      toolCallDeltas: null,
      refusal: null,
    });

    // The echo, when asked for, is each choice's first delta; then one delta per token.
    const queues = choices.map((choice) => (choice.echo === '' ? choice.pieces : [choice.echo, ...choice.pieces]));
    const rounds = Math.max(0, ...queues.map((queue) => queue.length));
    let sent = 0;
    for (let round = 0; round < rounds; round++) {
      for (const [index, queue] of queues.entries()) {
        const text = queue[round];
        if (text === undefined) continue;
        await this.pause(sent++, signal);
        yield delta(index, text, null);
      }
    }
    throwIfAborted(signal);
    for (const [index, choice] of choices.entries()) yield delta(index, '', choice.finishReason);
    yield delta(-1, '', null, usage);
  }

  private async pause(sent: number, signal: AbortSignal): Promise<void> {
    if (sent > 0 && this.tokenDelayMs > 0) return sleep(this.tokenDelayMs, signal);
    // Without a delay a microtask per token keeps the stream cheap; a macrotask now and
    // then lets sockets and timers run, so one large n cannot starve other requests.
    await (sent % MACROTASK_EVERY === MACROTASK_EVERY - 1 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
    throwIfAborted(signal);
  }
}
