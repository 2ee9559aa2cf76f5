/**
 * The conversation and the answer in progress: `send` streams an answer to the conversation
 * so far, `stop` unsubscribes (the gateway then aborts the upstream request and bills what
 * was produced), `clear` starts over.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { useApolloClient } from '@apollo/client/react';
import type { Subscription } from 'rxjs';
import { applyChunk, newAnswer, toMessages, type AssistantTurn, type Turn } from './conversation';
import { ANSWER_FORMAT, WEATHER_TOOL } from './demo';
import { describeError } from './errors';
import { ChatStreamDocument } from './operations';

export interface AskOptions {
  /** Model id; undefined leaves it to the gateway's DEFAULT_MODEL. */
  model: string | undefined;
  /** Offer the demo `get_weather` tool. */
  tools: boolean;
  /** Ask for a JSON answer following the demo schema. */
  json: boolean;
}

export interface Chat {
  turns: Turn[];
  streaming: boolean;
  /** Sends `text` as the next user message (or, with no text, the tool results), and streams the answer. */
  send: (text: string | null, options: AskOptions) => void;
  stop: () => void;
  clear: () => void;
}

export function useChat(): Chat {
  const client = useApolloClient();
  const [turns, setTurns] = useState<Turn[]>([]);
  const [streaming, setStreaming] = useState(false);
  const running = useRef<Subscription | null>(null);
  const nextId = useRef(1);

  /** Changes the answer in progress, the conversation's last turn. */
  const updateAnswer = useCallback((id: number, change: (turn: AssistantTurn) => AssistantTurn) => {
    setTurns((all) => all.map((turn) => (turn.kind === 'assistant' && turn.id === id ? change(turn) : turn)));
  }, []);

  const finish = useCallback(() => {
    running.current = null;
    setStreaming(false);
  }, []);

  const send = useCallback(
    (text: string | null, options: AskOptions) => {
      if (running.current) return;
      const history: Turn[] = text === null ? turns : [...turns, { kind: 'user', id: nextId.current++, text }];
      const answer = newAnswer(nextId.current++, options.json);
      setTurns([...history, answer]);
      setStreaming(true);
      const input = {
        messages: toMessages(history),
        model: options.model,
        tools: options.tools ? [WEATHER_TOOL] : undefined,
        responseFormat: options.json ? ANSWER_FORMAT : undefined,
      };
      running.current = client
        // no-cache: every chunk has its own id, and a chat has no use for thousands of them in the cache.
        .subscribe({ query: ChatStreamDocument, variables: { input }, fetchPolicy: 'no-cache' })
        .subscribe({
          next: (result) => {
            if (result.error) {
              updateAnswer(answer.id, (turn) => ({ ...turn, status: 'failed', error: describeError(result.error) }));
            } else if (result.data) {
              const chunk = result.data.completionStream;
              updateAnswer(answer.id, (turn) => applyChunk(turn, chunk));
            }
          },
          error: (error: unknown) => {
            updateAnswer(answer.id, (turn) => ({ ...turn, status: 'failed', error: describeError(error) }));
            finish();
          },
          complete: () => {
            updateAnswer(answer.id, (turn) => (turn.status === 'streaming' ? { ...turn, status: 'done' } : turn));
            finish();
          },
        });
    },
    [client, turns, updateAnswer, finish],
  );

  const stop = useCallback(() => {
    const subscription = running.current;
    if (!subscription) return;
    // Unsubscribing ends the operation on the wire: graphql-ws sends `complete`, the HTTP
    // link aborts its fetch. Either way the gateway aborts the upstream request.
    subscription.unsubscribe();
    setTurns((all) => all.map((turn) => (turn.kind === 'assistant' && turn.status === 'streaming' ? { ...turn, status: 'stopped' } : turn)));
    finish();
  }, [finish]);

  const clear = useCallback(() => {
    stop();
    setTurns([]);
  }, [stop]);

  // Another client (a new key or transport) or leaving the page stops the answer in progress.
  useEffect(() => stop, [client, stop]);

  return { turns, streaming, send, stop, clear };
}
