import type { ToolCallView } from '../conversation';
import { prettyJson } from '../format';

/** The tool calls of one answer: the function, its arguments, and the demo's result. */
export function ToolCalls({ calls }: { calls: ToolCallView[] }) {
  return (
    <ul className="tool-calls" aria-label="Tool calls">
      {calls.map((call, index) => (
        <li key={call.id || index} className="tool-call">
          <div>
            Calls <code className="tool-name">{call.name || '…'}</code>
          </div>
          <pre>{call.argumentsJson === null ? call.arguments : prettyJson(call.argumentsJson)}</pre>
          {call.result !== undefined && (
            <>
              <div className="hint">Result (made up in the browser by this demo):</div>
              <pre>{prettyJson(call.result)}</pre>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}
