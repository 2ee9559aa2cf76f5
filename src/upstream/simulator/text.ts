/**
 * What the simulator writes: readable, clearly labelled canned English that opens on what
 * it was sent (the question, the tool results it was given, the media it cannot look at),
 * and invented logprobs of the right shape.
 */
import type { ChatMessage, CompletionRequest, ContentPart, TokenLogprob } from '../provider.js';

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
/** How much of a tool's result, or of a media URL, the reply quotes. */
const QUOTE_LENGTH = 40;

/** `text` in printable ASCII on one line, cut to `max` characters. */
function quote(text: string, max: number): string {
  const clean = text.replace(/[^\x20-\x7e\s]/g, '?').replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max).trimEnd()}...` : clean;
}

/** A message's text: its content, or its text parts; undefined when it has neither. */
export function textOf(message: ChatMessage | undefined): string | undefined {
  if (!message) return undefined;
  if (message.content !== null) return message.content;
  if (!message.parts) return undefined;
  return message.parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join(' ');
}

export function lastUserMessage(request: CompletionRequest): ChatMessage | undefined {
  return [...(request.messages ?? [])].reverse().find((m) => m.role === 'user');
}

/** What the reply is "about": the last user message (or the prompt), kept short and ASCII. */
function snippet(request: CompletionRequest): string {
  const source = request.prompt ?? textOf(lastUserMessage(request)) ?? textOf(request.messages?.at(-1)) ?? '';
  return quote(source, SNIPPET_LENGTH);
}

function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function listed(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`;
}

/** The size of base64 data, from its length alone (nothing is decoded). */
function size(base64: string): string {
  const bytes = Math.max(0, Math.floor((base64.length * 3) / 4) - (base64.match(/=*$/)?.[0].length ?? 0));
  return bytes < 1024 ? `${bytes} bytes` : `about ${Math.round(bytes / 1024)} KB`;
}

function describePart(part: Exclude<ContentPart, { type: 'text' }>): string {
  switch (part.type) {
    case 'image': {
      const detail = part.detail === undefined ? '' : `, ${part.detail} detail`;
      if (part.url.startsWith('data:')) {
        const mime = /^data:([^;,]+)/.exec(part.url)?.[1] ?? 'image';
        return `inline ${quote(mime, QUOTE_LENGTH)}, ${size(part.url.slice(part.url.indexOf(',') + 1))}${detail}`;
      }
      return `${quote(part.url.replace(/^https?:\/\//, ''), QUOTE_LENGTH)}${detail}`;
    }
    case 'audio':
      return `${part.format}, ${size(part.data)}`;
    case 'file':
      if (part.filename !== undefined) return quote(part.filename, QUOTE_LENGTH);
      if (part.fileId !== undefined) return `id ${quote(part.fileId, QUOTE_LENGTH)}`;
      return `inline, ${size(part.fileData ?? '')}`;
  }
}

/** "I see 1 image (…) and 1 audio clip (…)…" for the media of a message, or undefined. */
function acknowledgeParts(parts: readonly ContentPart[]): string | undefined {
  const groups: string[] = [];
  for (const [type, noun] of [['image', 'image'], ['audio', 'audio clip'], ['file', 'file']] as const) {
    const found = parts.filter((p): p is Exclude<ContentPart, { type: 'text' }> => p.type === type);
    if (found.length > 0) groups.push(`${counted(found.length, noun)} (${found.map(describePart).join('; ')})`);
  }
  if (groups.length === 0) return undefined;
  return `I see ${listed(groups)}, noted but not decoded by the simulator.`;
}

/** For a conversation that ends in TOOL answers: which tool returned what, quoted. */
function acknowledgeToolResults(messages: readonly ChatMessage[]): string | undefined {
  let first = messages.length;
  while (first > 0 && messages[first - 1]?.role === 'tool') first--;
  const answers = messages.slice(first);
  if (answers.length === 0) return undefined;
  const names = new Map(messages.flatMap((m) => m.toolCalls ?? []).map((call) => [call.id, call.name]));
  const items = answers.map((answer) => {
    const name = (answer.toolCallId === undefined ? undefined : names.get(answer.toolCallId)) ?? answer.name ?? 'the tool';
    return `${quote(name, QUOTE_LENGTH)} returned "${quote(textOf(answer) ?? '', QUOTE_LENGTH)}"`;
  });
  return `Simulated answer from the tool results: ${listed(items)}.`;
}

/** The reply's first sentences: what it answers (tool results, or the question) and the media it was shown. */
function opening(request: CompletionRequest): string[] {
  const about = snippet(request);
  const first =
    acknowledgeToolResults(request.messages ?? []) ?? (about === '' ? 'Simulated reply.' : `Simulated reply to "${about}".`);
  const seen = acknowledgeParts(lastUserMessage(request)?.parts ?? []);
  return seen === undefined ? [first] : [first, seen];
}

function cannedSentences(count: number, random: () => number): string[] {
  const pool = [...SENTENCES];
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as string);
  return out;
}

export function generateText(request: CompletionRequest, random: () => number): string {
  const sentences = [...opening(request), ...cannedSentences(2 + Math.floor(random() * 4), random)];
  // A text completion continues its prompt, so like a real model's it starts with a
  // separator; with `echo` the prompt and the reply then read as two sentences.
  const continues = request.prompt !== undefined && /\S$/.test(request.prompt);
  return (continues ? ' ' : '') + sentences.join(' ');
}

/** The reply for JSON_OBJECT: the same opening and notes, as an object. */
export function generateJsonObject(request: CompletionRequest, random: () => number): Record<string, unknown> {
  const [reply, ...seen] = opening(request);
  return { reply, ...(seen.length > 0 ? { seen: seen.join(' ') } : {}), notes: cannedSentences(2, random), simulated: true };
}

export function truncateAtStop(text: string, stop: readonly string[] | undefined): string {
  let end = text.length;
  for (const sequence of stop ?? []) {
    // An empty stop sequence would match at 0 and silence every reply.
    const at = sequence === '' ? -1 : text.indexOf(sequence);
    if (at !== -1 && at < end) end = at;
  }
  return text.slice(0, end);
}

/** Invented but well-formed logprobs: the token itself ranks first among its `k` alternatives. */
export function inventLogprobs(tokens: readonly string[], k: number, random: () => number): TokenLogprob[] {
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
