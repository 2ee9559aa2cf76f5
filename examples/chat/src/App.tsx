import { useEffect, useState } from 'react';
import { ApolloProvider } from '@apollo/client/react';
import { connect, type Connection, type Transport } from './connection';
import { awaitsToolResults } from './conversation';
import { useChat } from './useChat';
import { useSessionSetting } from './useSessionSetting';
import { Composer, type ComposerOptions } from './components/Composer';
import { ConnectionForm } from './components/ConnectionForm';
import { Conversation } from './components/Conversation';
import { ModelPicker } from './components/ModelPicker';

const TRANSPORTS: readonly Transport[] = ['ws', 'http'];

/** The page: the key and transport on top, then the model, the conversation and the message box. */
export function App() {
  const [gatewayKey, setGatewayKey] = useSessionSetting<string>('gateway-chat:key', '');
  const [transport, setTransport] = useSessionSetting<Transport>('gateway-chat:transport', 'ws', TRANSPORTS);
  const [ids, setIds] = useSessionSetting('gateway-chat:document-ids', 'off', ['off', 'on'] as const);
  const [connection, setConnection] = useState<Connection>();

  // One client per key and transport; the previous one is stopped and its socket closed.
  useEffect(() => {
    const next = connect({ transport, gatewayKey, documentIds: ids === 'on' });
    setConnection(next);
    return () => next.dispose();
  }, [transport, gatewayKey, ids]);

  return (
    <main className="app">
      <header className="app-header">
        <h1>Gateway chat</h1>
        <ConnectionForm
          gatewayKey={gatewayKey}
          onKey={setGatewayKey}
          transport={transport}
          onTransport={setTransport}
          documentIds={ids === 'on'}
          onDocumentIds={(on) => setIds(on ? 'on' : 'off')}
        />
      </header>
      {connection && (
        <ApolloProvider client={connection.client}>
          <ChatPanel />
        </ApolloProvider>
      )}
    </main>
  );
}

/** Everything that talks to the gateway, under the current client. */
function ChatPanel() {
  const chat = useChat();
  const [model, setModel] = useState<string>();
  const [options, setOptions] = useState<ComposerOptions>({ tools: false, json: false });
  const ask = { model, ...options };
  return (
    <>
      <ModelPicker value={model} onChange={setModel} />
      <section className="chat" aria-label="Chat">
        <Conversation turns={chat.turns} />
        {!chat.streaming && awaitsToolResults(chat.turns) && (
          <button type="button" className="tool-results" onClick={() => chat.send(null, ask)}>
            Send tool results
          </button>
        )}
      </section>
      <Composer
        streaming={chat.streaming}
        options={options}
        onOptions={setOptions}
        onSend={(text) => chat.send(text, ask)}
        onStop={chat.stop}
        onClear={chat.clear}
      />
    </>
  );
}
