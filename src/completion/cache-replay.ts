/**
 * A stored answer served again: whole, as `complete` returns it, or as the chunks a live
 * stream would have sent (text deltas, then refusal and tool-call pieces, then each
 * choice's last chunk with its finish reason and calls, the stream's last with usage).
 */
import { randomBytes } from 'node:crypto';
import type { Choice, CompletionRequest } from '../upstream/provider.js';
import type { CachedAnswer } from './cache-answer.js';
import type { BilledUsage, ChunkShape, CompletionShape } from './shapes.js';

/**
 * Most text deltas a choice is replayed in: word by word below that, in larger runs of
 * words above it, so a long answer is not thousands of tiny frames.
 */
const MAX_DELTAS = 256;

/**
 * A hit's completion id: the stored completion's, marked and made unique. A client's
 * normalising cache (Apollo's, Relay's) keys completions and chunks by id, and would
 * otherwise merge the hit (`cached: true`, other chunk boundaries) into the original.
 */
export function hitId(answer: CachedAnswer): string {
  return `${answer.id}-cached-${randomBytes(6).toString('hex')}`;
}

/** A hit's usage: the tokens the answer took to make, at no cost. */
export function hitUsage(answer: CachedAnswer): BilledUsage {
  return { ...answer.usage, cost: 0 };
}

/** The answer as `complete` returns it. */
export function replayCompletion(answer: CachedAnswer, request: CompletionRequest, id: string): CompletionShape {
  const format = request.responseFormat?.type;
  const jsonRequested = format === 'json_object' || format === 'json_schema';
  return {
    id,
    model: answer.model,
    created: answer.created,
    choices: answer.choices.map((c) => ({ ...c, jsonRequested })),
    usage: hitUsage(answer),
    cached: true,
  };
}

/** Text in pieces that join back into it exactly: a word and the spaces before it, at most MAX_DELTAS pieces. */
export function textPieces(text: string): string[] {
  if (text === '') return [];
  const words = text.split(/(?=\s+\S)/);
  if (words.length <= MAX_DELTAS) return words;
  const per = Math.ceil(words.length / MAX_DELTAS);
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += per) pieces.push(words.slice(i, i + per).join(''));
  return pieces;
}

/** The chunks of a stream replaying `answer`, `seq` left to the sender (as live chunks). */
export function* replayChunks(answer: CachedAnswer, id: string): Generator<ChunkShape> {
  const base = { completionId: id, seq: 0, model: answer.model, created: answer.created, cached: true };
  const blank = { finishReason: null, usage: null, toolCallDeltas: null, toolCalls: null, refusal: null };
  const choices: Choice[] = answer.choices.length > 0 ? answer.choices : [{ index: 0, text: '', finishReason: null, logprobs: null, toolCalls: null, refusal: null }];
  for (const [i, choice] of choices.entries()) {
    const { index } = choice;
    let accumulated = '';
    for (const piece of textPieces(choice.text)) {
      accumulated += piece;
      yield { ...base, ...blank, index, text: piece, accumulatedText: accumulated };
    }
    for (const piece of textPieces(choice.refusal ?? '')) {
      yield { ...base, ...blank, index, text: '', accumulatedText: accumulated, refusal: piece };
    }
    for (const [callIndex, call] of (choice.toolCalls ?? []).entries()) {
      const toolCallDeltas = [{ index: callIndex, id: call.id, name: call.name, argumentsDelta: call.arguments }];
      yield { ...base, ...blank, index, text: '', accumulatedText: accumulated, toolCallDeltas };
    }
    const last = i === choices.length - 1;
    yield {
      ...base,
      ...blank,
      index,
      text: '',
      accumulatedText: accumulated,
      finishReason: choice.finishReason,
      toolCalls: choice.toolCalls,
      usage: last ? hitUsage(answer) : null,
    };
  }
}
