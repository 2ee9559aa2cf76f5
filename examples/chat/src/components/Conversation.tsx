import { useEffect, useRef } from 'react';
import type { Turn } from '../conversation';
import { AssistantMessage } from './AssistantMessage';

/** Every turn so far, newest last, kept scrolled to the end while an answer streams. */
export function Conversation({ turns }: { turns: Turn[] }) {
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => {
    // A block, not an arrow's value: newer browsers return a promise from scrollIntoView,
    // and React would take it for a clean-up function.
    void end.current?.scrollIntoView({ block: 'end' });
  }, [turns]);
  if (turns.length === 0) {
    return <p className="empty">Ask something below. Answers stream in as the model writes them.</p>;
  }
  return (
    <ol className="conversation" aria-label="Conversation">
      {turns.map((turn) => (
        <li key={turn.id}>
          {turn.kind === 'user' ? (
            <article className="message user" aria-label="You">
              <header>You</header>
              <p className="text">{turn.text}</p>
            </article>
          ) : (
            <AssistantMessage turn={turn} />
          )}
        </li>
      ))}
      <li ref={end} aria-hidden="true" />
    </ol>
  );
}
