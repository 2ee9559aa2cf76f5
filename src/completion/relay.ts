/** One streamed upstream call, relayed chunk by chunk: sentinels held back, timers kept, usage kept. */
import { randomUUID } from 'node:crypto';
import { ClientTooSlow, UpstreamTimeout } from '../graphql/errors.js';
import {
  ProviderError,
  type CallEvents,
  type CompletionRequest,
  type Provider,
  type ToolCall,
  type ToolCallDelta,
  type Usage,
} from '../upstream/provider.js';
import { abortable, type Deadline } from './deadline.js';
import type { Operation } from './operation.js';
import { addOutputTexts } from './output-text.js';
import type { PreparedRequest } from './request.js';
import { SentinelFilter } from './sentinels.js';
import { sumUsage, type ChunkShape } from './shapes.js';

const NO_TOOLS = { toolCallDeltas: null, toolCalls: null, refusal: null } as const;

/** The timers and caps of a stream (from the configuration). */
export interface StreamSettings {
  /** UPSTREAM_TIMEOUT_MS: the whole wait for the first chunk, over every target. */
  upstreamTimeoutMs: number;
  /** UPSTREAM_IDLE_TIMEOUT_MS: the longest silence between two chunks. */
  upstreamIdleTimeoutMs: number;
  /** CLIENT_STALL_TIMEOUT_MS: how long a client may read nothing. */
  clientStallTimeoutMs: number;
  /** UPSTREAM_MAX_BODY_BYTES: the most text one stream may carry (refusals and tool calls included). */
  upstreamMaxBodyBytes: number;
}

interface ChoiceState {
  filter: SentinelFilter;
  text: string;
  /** The refusal so far ('' when none): output, to count when the upstream sends no usage. */
  refusal: string;
  /** Tool calls by their upstream index, as their pieces arrive; undefined until the first piece. */
  calls: Map<number, ToolCall> | undefined;
  /** Its finish reason has come, and with it its last chunk. */
  finished: boolean;
}

/**
 * What a new call costs against the text cap, for its record: an upstream that opens
 * endless calls with empty arguments must reach the cap too, as one sending text would.
 */
const CALL_RECORD_CHARS = 64;

/**
 * Adds a chunk's tool-call pieces to its choice's calls: the id and name come with a call's
 * first piece (the first that has them, with upstreams that send them late), the arguments'
 * fragments are joined in order. Returns the characters kept, for the text cap.
 */
function addCallPieces(state: ChoiceState, pieces: readonly ToolCallDelta[]): number {
  const calls = (state.calls ??= new Map<number, ToolCall>());
  let kept = 0;
  for (const piece of pieces) {
    let call = calls.get(piece.index);
    if (!call) {
      call = { id: '', name: '', arguments: '' };
      calls.set(piece.index, call);
      kept += CALL_RECORD_CHARS;
    }
    if (call.id === '' && piece.id) {
      call.id = piece.id;
      kept += piece.id.length;
    }
    if (call.name === '' && piece.name) {
      call.name = piece.name;
      kept += piece.name.length;
    }
    call.arguments += piece.argumentsDelta;
    kept += piece.argumentsDelta.length;
  }
  return kept;
}

/** A choice's tool calls, complete and in index order; null when it made none. */
function completeCalls(state: ChoiceState): ToolCall[] | null {
  if (!state.calls) return null;
  return [...state.calls]
    .sort(([a], [b]) => a - b)
    .map(([, call]) => ({ id: call.id, name: call.name, arguments: call.arguments }));
}

/** A chunk's completion fields from the stream's latest event (the stream's end: not on the hot path). */
function fromHeader(header: { id: string; model: string; created: number }): Pick<ChunkShape, 'completionId' | 'seq' | 'model' | 'created' | 'cached'> {
  return { completionId: header.id, seq: 0, model: header.model, created: header.created, cached: false };
}

/** What one streamed attempt has produced so far: enough to bill a stream that breaks off. */
export class StreamProgress {
  readonly choices = new Map<number, ChoiceState>();
  upstreamUsage: Usage | null = null;
  lengthCut = false;
  /** Characters of text, refusals and tool calls produced over all choices. */
  textLength = 0;
  /** Deltas that carried text, a refusal, tool-call pieces or a finish reason. */
  deltas = 0;

  constructor(private readonly prepared: PreparedRequest) {}

  choice(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (!state) {
      state = { filter: new SentinelFilter(), text: '', refusal: '', calls: undefined, finished: false };
      this.choices.set(index, state);
    }
    return state;
  }

  /**
   * The upstream's own count when it sent one, else ours over the output produced: text,
   * refusals and tool calls, as addOutputTexts counts them (without holding the event loop:
   * 80 KB of space-free output once held it 3.7 s).
   */
  async usage(): Promise<Usage> {
    if (this.upstreamUsage) return this.upstreamUsage;
    const texts: string[] = [];
    for (const c of this.choices.values()) addOutputTexts(texts, c.text, c.refusal, c.calls?.values());
    // Texts only grow: the same total length is the same texts, counted once (the last
    // chunk and the operation's end both ask).
    const length = texts.reduce((sum, t) => sum + t.length, 0);
    if (this.counted?.length !== length) {
      this.counted = { length, usage: sumUsage(this.prepared.promptTokens, await this.prepared.tokenizer.countAllAsync(texts)) };
    }
    return this.counted.usage;
  }

  private counted: { length: number; usage: Usage } | undefined;
}

/**
 * Streams one upstream call to `emit`, keeping what it produced in `progress`. Throws on
 * any failure (the caller decides between fallback and error).
 */
export async function relay(
  provider: Provider,
  request: CompletionRequest,
  controller: AbortController,
  /** Armed for the first chunk (this attempt's share of UPSTREAM_TIMEOUT_MS) by the caller. */
  deadline: Deadline,
  events: CallEvents,
  progress: StreamProgress,
  operation: Operation,
  settings: StreamSettings,
  /**
   * Sends a chunk on (stamping its `seq`). Returns a promise only when the client is behind:
   * the relay then waits for it.
   */
  emit: (chunk: ChunkShape) => Promise<void> | undefined,
): Promise<void> {
  const { upstreamIdleTimeoutMs: idleMs, clientStallTimeoutMs: stallMs, upstreamMaxBodyBytes: maxText } = settings;
  const idle = (): Error => new UpstreamTimeout('next chunk', idleMs);
  const stalled = (): Error => new ClientTooSlow(stallMs);
  // While the client is behind, our own back-pressure holds the upstream: its idle timer
  // would measure our silence, not the upstream's (issue #12), so the client's timer runs
  // instead, and the upstream's starts again once the client has caught up.
  let reading = true;
  const catchUp = async (behind: Promise<void>): Promise<void> => {
    deadline.arm(stallMs, stalled);
    await abortable(behind, controller.signal);
    if (reading) deadline.arm(idleMs, idle);
    else deadline.clear();
  };
  // A choice's last chunk is held until the next event, so the stream's final chunk can
  // carry both a finish reason and the usage that the upstream sends after it.
  let held: ChunkShape | undefined;
  let header = { id: '', model: request.model, created: Math.floor(Date.now() / 1000) };
  // Chunk ids are `completionId:seq`: an upstream that sends no id (some local servers send
  // "") would give every stream the same ids, which normalising caches then merge.
  let ownId: string | undefined;
  for await (const delta of await provider.stream(request, controller.signal, events)) {
    deadline.arm(idleMs, idle);
    if (!delta.id) delta.id = ownId ??= `chatcmpl-gw-${randomUUID()}`;
    header = delta;
    if (delta.usage) progress.upstreamUsage = delta.usage;
    if (delta.index < 0) continue;
    const state = progress.choice(delta.index);
    let text = state.filter.push(delta.text);
    if (delta.finishReason) {
      text += state.filter.flush();
      if (delta.finishReason === 'length') progress.lengthCut = true;
    }
    // Both stay null on plain text: its path allocates nothing more.
    const pieces = delta.toolCallDeltas?.length ? delta.toolCallDeltas : null;
    const refusal = delta.refusal || null;
    // A chunk with only tool-call pieces or only a refusal is delivered all the same.
    if (text === '' && !delta.finishReason && pieces === null && refusal === null) continue;
    state.text += text;
    operation.produced(++progress.deltas);
    let kept = text.length;
    if (pieces !== null) kept += addCallPieces(state, pieces);
    if (refusal !== null) {
      state.refusal += refusal;
      kept += refusal.length;
    }
    // An upstream that never stops (endless valid events) would grow every choice's text
    // (or calls) for ever: past the body cap, the stream is the upstream's fault.
    if ((progress.textLength += kept) > maxText) {
      throw new ProviderError('bad_answer', `The upstream sent over UPSTREAM_MAX_BODY_BYTES (${maxText}) of text in one stream`);
    }
    let toolCalls: ToolCall[] | null = null;
    if (delta.finishReason) {
      state.finished = true;
      toolCalls = completeCalls(state);
    }
    const chunk: ChunkShape = {
      completionId: delta.id,
      seq: 0,
      model: delta.model,
      created: delta.created,
      index: delta.index,
      text,
      accumulatedText: state.text,
      finishReason: delta.finishReason,
      usage: null,
      toolCallDeltas: pieces,
      toolCalls,
      refusal,
      cached: false,
    };
    // Awaited only when the client is behind: an `await` per chunk costs a turn.
    let behind = held ? emit(held) : undefined;
    held = undefined;
    if (delta.finishReason) held = chunk;
    else behind = emit(chunk) ?? behind;
    if (behind) await catchUp(behind);
  }
  // A provider may end quietly, instead of throwing, when its request is aborted.
  if (controller.signal.aborted) throw controller.signal.reason;
  // The upstream is done: no silence of its to time from here (counting the text may take a while).
  reading = false;
  deadline.clear();
  // An upstream that ends without a finish reason leaves held-back text behind, and tool
  // calls that no last chunk has carried yet.
  for (const [index, state] of progress.choices) {
    const rest = state.filter.flush();
    // A finished choice's last chunk has carried its calls already.
    const toolCalls = state.finished ? null : completeCalls(state);
    if (rest === '' && toolCalls === null) continue;
    state.text += rest;
    const behind = held ? emit(held) : undefined;
    if (behind) await catchUp(behind);
    held = { ...fromHeader(header), index, text: rest, accumulatedText: state.text, finishReason: null, usage: null, ...NO_TOOLS, toolCalls };
  }
  const last: ChunkShape = held ?? {
    ...fromHeader(header),
    index: 0,
    text: '',
    accumulatedText: progress.choices.get(0)?.text ?? '',
    finishReason: null,
    usage: null,
    ...NO_TOOLS,
  };
  operation.servedBy(header.model);
  const behind = emit({ ...last, usage: operation.bill(await progress.usage()) });
  if (behind) await catchUp(behind);
}
