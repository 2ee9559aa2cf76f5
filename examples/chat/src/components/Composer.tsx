import { useState, type FormEvent, type KeyboardEvent } from 'react';

export interface ComposerOptions {
  tools: boolean;
  json: boolean;
}

interface Props {
  streaming: boolean;
  options: ComposerOptions;
  onOptions: (options: ComposerOptions) => void;
  onSend: (text: string) => void;
  onStop: () => void;
  onClear: () => void;
}

/** The message box, what to ask for (tools, a JSON answer), Send and Stop. */
export function Composer({ streaming, options, onOptions, onSend, onStop, onClear }: Props) {
  const [text, setText] = useState('');
  const canSend = !streaming && text.trim() !== '';

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (!canSend) return;
    onSend(text.trim());
    setText('');
  };
  // Enter sends, Shift+Enter starts a new line (as chat apps do).
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  };

  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="message">Message</label>
      <textarea id="message" rows={3} value={text} onChange={(event) => setText(event.target.value)} onKeyDown={onKeyDown} />
      <div className="composer-row">
        <label>
          <input type="checkbox" checked={options.tools} onChange={(event) => onOptions({ ...options, tools: event.target.checked })} />
          Offer the <code>get_weather</code> tool
        </label>
        <label>
          <input type="checkbox" checked={options.json} onChange={(event) => onOptions({ ...options, json: event.target.checked })} />
          JSON answer
        </label>
        <span className="spacer" />
        <button type="button" onClick={onClear} disabled={streaming}>
          Clear
        </button>
        {streaming ? (
          <button type="button" className="stop" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" disabled={!canSend}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}
