import type { AssistantTurn } from '../conversation';
import { formatUsage, parseJson, prettyJson } from '../format';
import { ErrorNotice } from './ErrorNotice';
import { ToolCalls } from './ToolCalls';

const STATUS: Record<AssistantTurn['status'], string> = {
  streaming: 'Streaming…',
  done: 'Finished',
  stopped: 'Stopped: the gateway cancelled the upstream request and bills the tokens produced so far',
  failed: 'Failed',
};

/** Why it finished, when that is worth saying. */
function finishNote(reason: string | null): string {
  if (reason === 'LENGTH') return ' (cut at the token limit)';
  if (reason === 'CONTENT_FILTER') return ' (withheld by the content filter)';
  return '';
}

function Body({ turn }: { turn: AssistantTurn }) {
  // A JSON answer is shown formatted once it is whole; while it streams, as it comes.
  const parsed = turn.json && turn.status === 'done' ? parseJson(turn.text) : undefined;
  if (parsed) {
    return (
      <figure className="json" aria-label="JSON answer">
        <pre>{prettyJson(parsed.value)}</pre>
      </figure>
    );
  }
  if (turn.text === '') return null;
  return <p className="text">{turn.text}</p>;
}

export function AssistantMessage({ turn }: { turn: AssistantTurn }) {
  return (
    <article className={`message assistant ${turn.status}`} aria-label="Assistant" aria-busy={turn.status === 'streaming'}>
      <header>
        Assistant{turn.model && <span className="model"> · {turn.model}</span>}
      </header>
      <Body turn={turn} />
      {turn.refusal !== '' && <p className="refusal">Refused: {turn.refusal}</p>}
      {turn.toolCalls.length > 0 && <ToolCalls calls={turn.toolCalls} />}
      {turn.error && <ErrorNotice error={turn.error} />}
      <footer>
        <span role="status" className="status">
          {STATUS[turn.status]}
          {turn.status === 'done' && finishNote(turn.finishReason)}
        </span>
        {turn.usage && <span className="usage">{formatUsage(turn.usage)}</span>}
      </footer>
    </article>
  );
}
