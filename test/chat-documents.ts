/**
 * The chat surface's operations as the tool-call and wire tests run them (every new output
 * field selected), and one way to run either over any transport.
 */
import { parse, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { CompletionInput } from '../src/generated/operations.js';
import { collectSse, graphql, subscribeOverWs, type GraphQLErrorShape, type TestGateway } from './helpers.js';

export interface ToolCallOut {
  id: string;
  name: string;
  arguments: string;
  argumentsJson: unknown;
}

export interface UsageOut {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedPromptTokens: number | null;
  reasoningTokens: number | null;
}

export interface ChoiceOut {
  index: number;
  text: string;
  finishReason: string | null;
  refusal: string | null;
  toolCalls: ToolCallOut[] | null;
}

export interface CompletionOut {
  model: string;
  text: string;
  refusal: string | null;
  toolCalls: ToolCallOut[] | null;
  choices: ChoiceOut[];
  usage: UsageOut;
}

export interface ChunkOut {
  model: string;
  index: number;
  text: string;
  accumulatedText: string;
  finishReason: string | null;
  refusal: string | null;
  toolCallDeltas: { index: number; id: string | null; name: string | null; argumentsDelta: string }[] | null;
  toolCalls: ToolCallOut[] | null;
  usage: UsageOut | null;
}

type Variables = { input: CompletionInput };

const TOOL_CALL = 'id name arguments argumentsJson';
const USAGE = 'usage { promptTokens completionTokens totalTokens cachedPromptTokens reasoningTokens }';

export const ChatComplete = parse(`
  mutation ChatComplete($input: CompletionInput!) {
    complete(input: $input) {
      model text refusal
      toolCalls { ${TOOL_CALL} }
      choices { index text finishReason refusal toolCalls { ${TOOL_CALL} } }
      ${USAGE}
    }
  }
`) as TypedDocumentNode<{ complete: CompletionOut }, Variables>;

export const ChatStream = parse(`
  subscription ChatStream($input: CompletionInput!) {
    completionStream(input: $input) {
      model index text accumulatedText finishReason refusal
      toolCallDeltas { index id name argumentsDelta }
      toolCalls { ${TOOL_CALL} }
      ${USAGE}
    }
  }
`) as TypedDocumentNode<{ completionStream: ChunkOut }, Variables>;

export type Transport = 'mutation' | 'graphql-ws' | 'SSE';
export const STREAMS = ['graphql-ws', 'SSE'] as const;
export const TRANSPORTS: readonly Transport[] = ['mutation', ...STREAMS];

function chunksOf(results: ExecutionResult<{ completionStream: ChunkOut }>[]): ChunkOut[] {
  const failed = results.find((r) => r.errors?.length);
  if (failed) throw new Error(`the stream failed: ${JSON.stringify(failed.errors)}`);
  return results.map((r) => {
    if (!r.data) throw new Error('a payload without data');
    return r.data.completionStream;
  });
}

/** Every chunk of a stream over graphql-ws or SSE; throws if it ends with an error. */
export async function streamChunks(gw: TestGateway, transport: (typeof STREAMS)[number], input: CompletionInput): Promise<ChunkOut[]> {
  return chunksOf(await streamResults(gw, transport, input));
}

/** Every payload of a stream over graphql-ws or SSE, errors included. */
export function streamResults(
  gw: TestGateway,
  transport: (typeof STREAMS)[number],
  input: CompletionInput,
): Promise<ExecutionResult<{ completionStream: ChunkOut }>[]> {
  return transport === 'SSE' ? collectSse(gw.httpUrl, ChatStream, { input }) : subscribeOverWs(gw.wsUrl, ChatStream, { input });
}

/** `complete` over HTTP; throws on an error. */
export async function completeOverHttp(gw: TestGateway, input: CompletionInput): Promise<CompletionOut> {
  const result = await graphql(gw.httpUrl, ChatComplete, { input });
  if (result.errors || !result.data) throw new Error(`complete failed: ${JSON.stringify(result.errors)}`);
  return result.data.complete;
}

/** What any transport answered, summed up the same way: the first choice's outcome. */
export interface Answer {
  model: string;
  text: string;
  finishReason: string | null;
  toolCalls: ToolCallOut[] | null;
  refusal: string | null;
  usage: UsageOut | null;
  /** The stream's chunks (none for the mutation). */
  chunks: ChunkOut[];
}

export async function ask(gw: TestGateway, transport: Transport, input: CompletionInput): Promise<Answer> {
  if (transport === 'mutation') {
    const c = await completeOverHttp(gw, input);
    const first = c.choices[0];
    return { model: c.model, text: c.text, finishReason: first?.finishReason ?? null, toolCalls: c.toolCalls, refusal: c.refusal, usage: c.usage, chunks: [] };
  }
  const chunks = await streamChunks(gw, transport, input);
  const mine = chunks.filter((c) => c.index === 0);
  const last = mine.at(-1);
  const refusal = mine.map((c) => c.refusal ?? '').join('');
  return {
    model: last?.model ?? '',
    text: last?.accumulatedText ?? '',
    finishReason: last?.finishReason ?? null,
    toolCalls: last?.toolCalls ?? null,
    refusal: refusal === '' ? null : refusal,
    usage: chunks.at(-1)?.usage ?? null,
    chunks,
  };
}

/** The first error of a stream's payloads, if any. */
export function errorOf(results: ExecutionResult<unknown>[]): GraphQLErrorShape | undefined {
  return results.find((r) => r.errors?.length)?.errors?.[0];
}
