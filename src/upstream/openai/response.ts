/**
 * OpenAI's answers in the gateway's terms: a whole completion (chat or text) as a
 * CompletionResult, a streamed chunk as StreamDeltas, usage with its details.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageToolCall,
  ChatCompletionTokenLogprob,
} from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice } from 'openai/resources/completions';
import type OpenAI from 'openai';
import type { CompletionResult, StreamDelta, TokenLogprob, ToolCall, ToolCallDelta, Usage } from '../provider.js';

export function usage(u: OpenAI.CompletionUsage | null | undefined): Usage | null {
  if (!u) return null;
  const out: Usage = { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens };
  // Left out, not zero, when the upstream did not say: many compatible servers never do.
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') out.cachedPromptTokens = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') out.reasoningTokens = reasoning;
  return out;
}

function textLogprobs(lp: CompletionChoice.Logprobs | null | undefined): TokenLogprob[] | null {
  if (!lp?.tokens) return null;
  return lp.tokens.map((token, i) => ({
    token,
    logprob: lp.token_logprobs?.[i] ?? 0,
    topLogprobs: Object.entries(lp.top_logprobs?.[i] ?? {}).map(([t, logprob]) => ({ token: t, logprob })),
  }));
}

function chatLogprobs(content: ChatCompletionTokenLogprob[] | null | undefined): TokenLogprob[] | null {
  if (!content) return null;
  return content.map((c) => ({
    token: c.token,
    logprob: c.logprob,
    topLogprobs: (c.top_logprobs ?? []).map((t) => ({ token: t.token, logprob: t.logprob })),
  }));
}

/** Function calls only: the gateway offers no custom (free-text) tools, so none can come back. */
function toolCalls(calls: ChatCompletionMessageToolCall[] | null | undefined): ToolCall[] | null {
  if (!calls?.length) return null;
  const out: ToolCall[] = [];
  for (const c of calls) {
    if (c.type === 'function') out.push({ id: c.id, name: c.function.name, arguments: c.function.arguments });
  }
  return out.length > 0 ? out : null;
}

export function chatResult(res: ChatCompletion): CompletionResult {
  return {
    id: res.id,
    model: res.model,
    created: res.created,
    usage: usage(res.usage),
    choices: res.choices.map((c) => ({
      index: c.index,
      text: c.message.content ?? '',
      finishReason: c.finish_reason ?? null,
      logprobs: chatLogprobs(c.logprobs?.content),
      toolCalls: toolCalls(c.message.tool_calls),
      refusal: c.message.refusal || null,
    })),
  };
}

export function textResult(res: Completion): CompletionResult {
  return {
    id: res.id,
    model: res.model,
    created: res.created,
    usage: usage(res.usage),
    choices: res.choices.map((c) => ({
      index: c.index,
      text: c.text,
      finishReason: c.finish_reason ?? null,
      logprobs: textLogprobs(c.logprobs),
      toolCalls: null,
      refusal: null,
    })),
  };
}

interface ChunkHeader {
  id: string;
  model: string;
  created: number;
}

function delta(
  chunk: ChunkHeader,
  index: number,
  text: string,
  finishReason: string | null,
  u: Usage | null,
  calls: ToolCallDelta[] | null,
  refusal: string | null,
): StreamDelta {
  return { id: chunk.id, model: chunk.model, created: chunk.created, index, text, finishReason, usage: u, toolCallDeltas: calls, refusal };
}

function toolCallDelta(t: ChatCompletionChunk.Choice.Delta.ToolCall, position: number): ToolCallDelta {
  // Some compatible servers leave out `index` (sending each call whole): its place in the list stands in.
  const index = typeof t.index === 'number' ? t.index : position;
  return { index, id: t.id ?? null, name: t.function?.name ?? null, argumentsDelta: t.function?.arguments ?? '' };
}

export function chatDeltas(chunk: ChatCompletionChunk, out: StreamDelta[]): void {
  for (const c of chunk.choices) {
    const d = c.delta;
    const text = d?.content ?? '';
    // Plain text (the hot path) allocates nothing here: both stay null.
    const calls = d?.tool_calls?.length ? d.tool_calls.map(toolCallDelta) : null;
    // An empty refusal (`refusal: ""` on a refusal's opening chunk) carries nothing.
    const refusal = d?.refusal || null;
    // The opening `{role: "assistant", content: ""}` chunk carries nothing to show; a chunk
    // with only tool-call pieces or only a refusal does.
    if (text === '' && !c.finish_reason && calls === null && refusal === null) continue;
    out.push(delta(chunk, c.index, text, c.finish_reason ?? null, null, calls, refusal));
  }
  if (chunk.usage) out.push(delta(chunk, -1, '', null, usage(chunk.usage), null, null));
}

export function textDeltas(chunk: Completion, out: StreamDelta[]): void {
  for (const c of chunk.choices) {
    if (c.text !== '' || c.finish_reason) out.push(delta(chunk, c.index, c.text, c.finish_reason ?? null, null, null, null));
  }
  if (chunk.usage) out.push(delta(chunk, -1, '', null, usage(chunk.usage), null, null));
}
