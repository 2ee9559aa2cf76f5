/**
 * The fake upstream's answers on OpenAI's wire: whole bodies (chat and text completions)
 * and stream frames, rendered from a planned Generation. Kept apart from the server in
 * fake-upstream.ts, which decides what to send and when.
 */

export type Json = Record<string, unknown>;

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
}

/** A tool call as planned: its id chosen, its arguments in the fragments they are streamed in. */
export interface PlannedCall {
  id: string;
  name: string;
  arguments: string[];
}

/** Everything needed to render one generation response. */
export interface Generation {
  endpoint: 'chat' | 'completions';
  stream: boolean;
  id: string;
  created: number;
  model: string;
  /** Per choice, its text pieces. */
  choices: string[][];
  /** Per choice, its tool calls (chat; empty when none). */
  toolCalls: PlannedCall[][];
  /** Per choice, its refusal pieces (chat; empty when none). */
  refusals: string[][];
  /** Completions `echo: true`: the prompt text per choice (sent before the pieces). */
  echoPrompts: (string | null)[];
  /** Per choice; `null`: no finish chunk in a stream. */
  finishReasons: (string | null)[];
  /** `null` = omit usage entirely. */
  usage: WireUsage | null;
  includeUsage: boolean;
  /** Completions: `logprobs` integer; chat: `top_logprobs` (0 when only `logprobs: true`); `null` = not requested. */
  logprobs: number | null;
}

export interface Frame {
  /** `prelude` frames (chat role chunks, completions echo) go out before content and are not counted by `stallAfter`/`dieAfter`. */
  kind: 'prelude' | 'content' | 'finish' | 'usage';
  payload: Json;
}

const SAMPLED_LOGPROB = -0.25;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function utf8Bytes(text: string): number[] {
  return Array.from(Buffer.from(text, 'utf8'));
}

function chatTokenLogprob(token: string, top: number): Json {
  const tops: Json[] = [];
  for (let j = 0; j < top; j++) {
    const t = j === 0 ? token : `alt${j}`;
    tops.push({ token: t, logprob: j === 0 ? SAMPLED_LOGPROB : SAMPLED_LOGPROB - 1.5 * j, bytes: utf8Bytes(t) });
  }
  return { token, logprob: SAMPLED_LOGPROB, bytes: utf8Bytes(token), top_logprobs: tops };
}

function completionTopLogprobs(token: string, top: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let j = 0; j < top; j++) out[j === 0 ? token : `alt${j}`] = j === 0 ? SAMPLED_LOGPROB : SAMPLED_LOGPROB - 1.5 * j;
  return out;
}

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** Completions logprobs for `tokens`, offsets starting at `offset`; an echoed prompt token gets `null` like the real API's first token. */
function completionLogprobs(tokens: string[], offset: number, top: number, echoed: boolean): CompletionLogprobs {
  const lp: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  tokens.forEach((t, k) => {
    const isPrompt = echoed && k === 0;
    lp.tokens.push(t);
    lp.token_logprobs.push(isPrompt ? null : SAMPLED_LOGPROB);
    lp.top_logprobs.push(isPrompt ? null : completionTopLogprobs(t, top));
    lp.text_offset.push(at);
    at += t.length;
  });
  return lp;
}

/** A choice that only calls tools or only refuses has `content: null`, as OpenAI sends it. */
function hasNoContent(gen: Generation, index: number): boolean {
  return (gen.choices[index]?.length ?? 0) === 0 && ((gen.toolCalls[index]?.length ?? 0) > 0 || (gen.refusals[index]?.length ?? 0) > 0);
}

function chatMessage(gen: Generation, index: number): Json {
  const refusal = gen.refusals[index] ?? [];
  const calls = gen.toolCalls[index] ?? [];
  const message: Json = {
    role: 'assistant',
    content: hasNoContent(gen, index) ? null : (gen.choices[index] ?? []).join(''),
    refusal: refusal.length > 0 ? refusal.join('') : null,
  };
  if (calls.length > 0) {
    message['tool_calls'] = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments.join('') } }));
  }
  return message;
}

export function chatBody(gen: Generation): Json {
  const body: Json = {
    id: gen.id,
    object: 'chat.completion',
    created: gen.created,
    model: gen.model,
    choices: gen.choices.map((pieces, index) => ({
      index,
      message: chatMessage(gen, index),
      logprobs: gen.logprobs === null ? null : { content: pieces.map((p) => chatTokenLogprob(p, gen.logprobs ?? 0)), refusal: null },
      finish_reason: gen.finishReasons[index],
    })),
  };
  if (gen.usage) body['usage'] = gen.usage;
  body['system_fingerprint'] = 'fp_fake';
  return body;
}

export function completionBody(gen: Generation): Json {
  const body: Json = {
    id: gen.id,
    object: 'text_completion',
    created: gen.created,
    model: gen.model,
    choices: gen.choices.map((pieces, index) => {
      const echo = gen.echoPrompts[index] ?? null;
      const tokens = echo !== null ? [echo, ...pieces] : pieces;
      return {
        text: tokens.join(''),
        index,
        logprobs: gen.logprobs === null ? null : completionLogprobs(tokens, 0, gen.logprobs, echo !== null),
        finish_reason: gen.finishReasons[index],
      };
    }),
  };
  if (gen.usage) body['usage'] = gen.usage;
  return body;
}

/** Indices of (list, item) in round-robin order: list 0 item 0, list 1 item 0, …, list 0 item 1, … */
function roundRobin(lists: readonly (readonly unknown[])[]): [number, number][] {
  const order: [number, number][] = [];
  const longest = Math.max(0, ...lists.map((c) => c.length));
  for (let p = 0; p < longest; p++) {
    lists.forEach((c, i) => {
      if (p < c.length) order.push([i, p]);
    });
  }
  return order;
}

/**
 * A choice's tool calls as OpenAI streams them: a call's first piece has its `index`, `id`,
 * `type` and `name` with empty arguments, the later ones only `index` and a fragment of the
 * arguments; parallel calls interleaved by index.
 */
function toolCallPieces(calls: PlannedCall[]): Json[] {
  const perCall = calls.map((c, index) => [
    { index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } },
    ...c.arguments.map((fragment) => ({ index, function: { arguments: fragment } })),
  ]);
  return roundRobin(perCall).map(([call, piece]) => perCall[call]?.[piece] ?? {});
}

/** One choice's content deltas, with their logprobs: text, then refusal, then tool calls. */
function choiceDeltas(gen: Generation, index: number): { delta: Json; logprobs: Json | null }[] {
  const deltas: { delta: Json; logprobs: Json | null }[] = [];
  for (const piece of gen.choices[index] ?? []) {
    const logprobs = gen.logprobs === null ? null : { content: [chatTokenLogprob(piece, gen.logprobs)], refusal: null };
    deltas.push({ delta: { content: piece }, logprobs });
  }
  for (const piece of gen.refusals[index] ?? []) deltas.push({ delta: { refusal: piece }, logprobs: null });
  for (const piece of toolCallPieces(gen.toolCalls[index] ?? [])) deltas.push({ delta: { tool_calls: [piece] }, logprobs: null });
  return deltas;
}

export function chatFrames(gen: Generation): Frame[] {
  const chunk = (choices: Json[]): Json => {
    const c: Json = { id: gen.id, object: 'chat.completion.chunk', created: gen.created, model: gen.model, system_fingerprint: 'fp_fake', choices };
    if (gen.includeUsage) c['usage'] = null;
    return c;
  };
  const perChoice = gen.choices.map((_, index) => choiceDeltas(gen, index));
  const frames: Frame[] = [];
  perChoice.forEach((deltas, index) => {
    const first = deltas[0];
    // A choice that opens with a tool call carries its role on that call's first piece, as OpenAI does.
    if (first && hasNoContent(gen, index) && (gen.refusals[index]?.length ?? 0) === 0) {
      first.delta = { role: 'assistant', content: null, ...first.delta, refusal: null };
      return;
    }
    const role = hasNoContent(gen, index) ? { role: 'assistant', content: null, refusal: '' } : { role: 'assistant', content: '', refusal: null };
    frames.push({ kind: 'prelude', payload: chunk([{ index, delta: role, logprobs: null, finish_reason: null }]) });
  });
  for (const [index, p] of roundRobin(perChoice)) {
    const d = perChoice[index]?.[p];
    if (d) frames.push({ kind: 'content', payload: chunk([{ index, delta: d.delta, logprobs: d.logprobs, finish_reason: null }]) });
  }
  gen.choices.forEach((_, index) => {
    if (gen.finishReasons[index] !== null) frames.push({ kind: 'finish', payload: chunk([{ index, delta: {}, logprobs: null, finish_reason: gen.finishReasons[index] }]) });
  });
  if (gen.includeUsage && gen.usage) {
    frames.push({ kind: 'usage', payload: { ...chunk([]), usage: gen.usage } });
  }
  return frames;
}

export function completionFrames(gen: Generation): Frame[] {
  const chunk = (choices: Json[]): Json => {
    const c: Json = { id: gen.id, object: 'text_completion', created: gen.created, model: gen.model, choices };
    if (gen.includeUsage) c['usage'] = null;
    return c;
  };
  const frames: Frame[] = [];
  const offsets = gen.choices.map(() => 0);
  // An echoed prompt goes out first, as its own chunk per choice (not counted as content).
  gen.echoPrompts.forEach((echo, index) => {
    if (echo === null) return;
    const logprobs = gen.logprobs === null ? null : completionLogprobs([echo], 0, gen.logprobs, true);
    frames.push({ kind: 'prelude', payload: chunk([{ text: echo, index, logprobs, finish_reason: null }]) });
    offsets[index] = echo.length;
  });
  for (const [index, p] of roundRobin(gen.choices)) {
    const piece = gen.choices[index]?.[p] ?? '';
    const at = offsets[index] ?? 0;
    const logprobs = gen.logprobs === null ? null : completionLogprobs([piece], at, gen.logprobs, false);
    offsets[index] = at + piece.length;
    frames.push({ kind: 'content', payload: chunk([{ text: piece, index, logprobs, finish_reason: null }]) });
  }
  gen.choices.forEach((_, index) => {
    if (gen.finishReasons[index] !== null) frames.push({ kind: 'finish', payload: chunk([{ text: '', index, logprobs: null, finish_reason: gen.finishReasons[index] }]) });
  });
  if (gen.includeUsage && gen.usage) {
    frames.push({ kind: 'usage', payload: { ...chunk([]), usage: gen.usage } });
  }
  return frames;
}
