import { useState, type FormEvent } from 'react';
import type { Transport } from '../connection';

interface Props {
  gatewayKey: string;
  onKey: (key: string) => void;
  transport: Transport;
  onTransport: (transport: Transport) => void;
  documentIds: boolean;
  onDocumentIds: (on: boolean) => void;
}

const TRANSPORTS: { value: Transport; label: string; hint: string }[] = [
  { value: 'ws', label: 'WebSocket (graphql-ws)', hint: 'one socket for every answer' },
  { value: 'http', label: 'HTTP (multipart)', hint: "Apollo's HttpLink alone, no WebSocket" },
];

/** The gateway key (used once submitted), the transport answers stream over, and how documents are sent. */
export function ConnectionForm({ gatewayKey, onKey, transport, onTransport, documentIds, onDocumentIds }: Props) {
  const [draft, setDraft] = useState(gatewayKey);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onKey(draft.trim());
  };
  return (
    <form className="connection" onSubmit={submit}>
      <div className="field">
        <label htmlFor="gateway-key">Gateway key</label>
        <input
          id="gateway-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="gk_…"
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          aria-describedby="gateway-key-hint"
        />
        <button type="submit">Use key</button>
        {gatewayKey !== '' && (
          <button
            type="button"
            onClick={() => {
              setDraft('');
              onKey('');
            }}
          >
            Forget key
          </button>
        )}
        <p id="gateway-key-hint" className="hint">
          {gatewayKey === '' ? 'No key in use' : 'Key in use'}: kept in this tab only (sessionStorage). Create one with{' '}
          <code>npm run keys -- create --name me</code>; a gateway without keys runs open.
        </p>
      </div>
      <fieldset className="transport">
        <legend>Transport</legend>
        {TRANSPORTS.map((option) => (
          <label key={option.value} title={option.hint}>
            <input
              type="radio"
              name="transport"
              value={option.value}
              checked={transport === option.value}
              onChange={() => onTransport(option.value)}
            />
            {option.label}
          </label>
        ))}
        <label title="For a gateway with TRUSTED_DOCUMENTS_FILE: each operation goes as its hash in src/gql/persisted-documents.json">
          <input type="checkbox" checked={documentIds} onChange={(event) => onDocumentIds(event.target.checked)} />
          Send document ids (trusted documents)
        </label>
      </fieldset>
    </form>
  );
}
