/**
 * The conversation as the page holds it, how a streamed chunk updates the answer in
 * progress, and the `messages` the next request sends (the whole conversation so far, so
 * the model sees earlier turns).
 */
import type { ErrorView } from './errors';
import type { ChatMessageInput, ChatStreamSubscription } from './gql/graphql';
import { runDemoTool } from './demo';

export type Chunk = ChatStreamSubscription['completionStream'];
export type Usage = NonNullable<Chunk['usage']>;

export interface ToolCallView {
  id: string;
  name: string;
  /** The arguments' text as the model wrote it (still growing while it streams). */
  arguments: string;
  /** Parsed, once the call is complete and valid JSON. */
  argumentsJson: unknown;
  /** The demo tool's answer, computed when the call is complete. */
  result?: unknown;
}

export interface UserTurn {
  kind: 'user';
  id: number;
  text: string;
}

export type AnswerStatus = 'streaming' | 'done' | 'stopped' | 'failed';

export interface AssistantTurn {
  kind: 'assistant';
  id: number;
  status: AnswerStatus;
  /** A JSON answer was asked for: the text is shown formatted once it parses. */
  json: boolean;
  model: string | null;
  text: string;
  refusal: string;
  toolCalls: ToolCallView[];
  finishReason: string | null;
  usage: Usage | null;
  error: ErrorView | null;
}

export type Turn = UserTurn | AssistantTurn;

export function newAnswer(id: number, json: boolean): AssistantTurn {
  return { kind: 'assistant', id, status: 'streaming', json, model: null, text: '', refusal: '', toolCalls: [], finishReason: null, usage: null, error: null };
}

/** Tool-call pieces joined as they stream: a call's first piece has its id and name. */
function withDeltas(calls: ToolCallView[], deltas: NonNullable<Chunk['toolCallDeltas']>): ToolCallView[] {
  const next = [...calls];
  for (const delta of deltas) {
    const current = next[delta.index] ?? { id: '', name: '', arguments: '', argumentsJson: null };
    next[delta.index] = {
      ...current,
      id: delta.id ?? current.id,
      name: delta.name ?? current.name,
      arguments: current.arguments + delta.argumentsDelta,
    };
  }
  return next;
}

/** The answer with one more chunk (this app asks for one choice, so every chunk is index 0). */
export function applyChunk(turn: AssistantTurn, chunk: Chunk): AssistantTurn {
  let toolCalls = chunk.toolCallDeltas ? withDeltas(turn.toolCalls, chunk.toolCallDeltas) : turn.toolCalls;
  // The choice's last chunk carries its calls complete and parsed: they replace the pieces.
  if (chunk.toolCalls) {
    toolCalls = chunk.toolCalls.map((call) => ({
      id: call.id,
      name: call.name,
      arguments: call.arguments,
      argumentsJson: call.argumentsJson,
      result: runDemoTool(call.name, call.argumentsJson),
    }));
  }
  return {
    ...turn,
    model: chunk.model,
    text: chunk.accumulatedText,
    refusal: turn.refusal + (chunk.refusal ?? ''),
    toolCalls,
    finishReason: chunk.finishReason ?? turn.finishReason,
    usage: chunk.usage ?? turn.usage,
  };
}

/** Whether the last answer made tool calls whose (demo) results have not been sent back yet. */
export function awaitsToolResults(turns: readonly Turn[]): boolean {
  const last = turns.at(-1);
  return last?.kind === 'assistant' && last.status === 'done' && last.toolCalls.some((call) => call.result !== undefined);
}

/**
 * The conversation as CompletionInput.messages. An answer with tool calls goes back as an
 * ASSISTANT message with `toolCalls`, followed by one TOOL message per call with its result
 * (the upstream refuses calls left unanswered). Answers that failed before any text are left out.
 */
export function toMessages(turns: readonly Turn[]): ChatMessageInput[] {
  const messages: ChatMessageInput[] = [];
  for (const turn of turns) {
    if (turn.kind === 'user') {
      messages.push({ role: 'USER', content: turn.text });
      continue;
    }
    const answered = turn.toolCalls.filter((call) => call.result !== undefined);
    if (answered.length > 0) {
      messages.push({
        role: 'ASSISTANT',
        content: turn.text === '' ? null : turn.text,
        toolCalls: answered.map(({ id, name, arguments: args }) => ({ id, name, arguments: args })),
      });
      for (const call of answered) messages.push({ role: 'TOOL', toolCallId: call.id, content: JSON.stringify(call.result) });
    } else if (turn.text !== '') {
      messages.push({ role: 'ASSISTANT', content: turn.text });
    }
  }
  return messages;
}
