/**
 * A terminal client: `npm run ask -- "how are you"` streams the answer over graphql-ws
 * as the model writes it, then prints the token usage. Ctrl-C unsubscribes, which makes
 * the gateway abort the upstream request.
 *
 *   --url ws://host:4000/graphql   gateway (default $GATEWAY_URL or ws://localhost:4000/graphql)
 *   --model NAME                   model (default: the gateway's DEFAULT_MODEL)
 *   --max-tokens N                 cap the answer's length
 *   --temperature T                sampling temperature (0–2)
 *   --prompt                       send a text-completion prompt instead of a chat message
 */
import { parseArgs } from 'node:util';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  CompletionStreamDocument,
  type CompletionInput,
  type CompletionStreamSubscription,
} from '../src/generated/operations.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env['GATEWAY_URL'] ?? 'ws://localhost:4000/graphql' },
    model: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    prompt: { type: 'boolean', default: false },
  },
});

const question = positionals.join(' ').trim();
if (!question) {
  console.error('usage: npm run ask -- [--model M] [--max-tokens N] [--temperature T] [--prompt] "your question"');
  process.exit(2);
}

const input: CompletionInput = values.prompt
  ? { prompt: question }
  : { messages: [{ role: 'USER', content: question }] };
if (values.model) input.model = values.model;
if (values['max-tokens']) input.maxTokens = Number(values['max-tokens']);
if (values.temperature) input.temperature = Number(values.temperature);

const client = createClient({ url: values.url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
const subscription = client.iterate<CompletionStreamSubscription>({ query: print(CompletionStreamDocument), variables: { input } });

process.once('SIGINT', () => {
  void subscription.return?.();
});

let exitCode = 0;
try {
  for await (const result of subscription) {
    if (result.errors?.length) {
      const [error] = result.errors;
      const code = error?.extensions?.['code'];
      console.error(`\n${typeof code === 'string' ? code : 'ERROR'}: ${error?.message ?? 'unknown error'}`);
      exitCode = 1;
      break;
    }
    const chunk = result.data?.completionStream;
    if (!chunk) continue;
    process.stdout.write(chunk.text);
    if (chunk.usage) {
      const { promptTokens, completionTokens, totalTokens } = chunk.usage;
      const reason = chunk.finishReason ? `finish: ${chunk.finishReason.toLowerCase()}, ` : '';
      process.stdout.write(
        `\n\n[${chunk.model}] ${reason}tokens: ${promptTokens} prompt + ${completionTokens} completion = ${totalTokens}\n`,
      );
    }
  }
} catch (error) {
  // graphql-ws rejects with the socket's ErrorEvent or CloseEvent, not an Error.
  const { message, reason, code } = error as { message?: string; reason?: string; code?: number };
  const detail = message || reason || (code ? `socket closed with code ${code}` : String(error));
  console.error(`\ncould not reach the gateway at ${values.url}: ${detail}`);
  exitCode = 1;
} finally {
  await client.dispose();
}
process.exit(exitCode);
