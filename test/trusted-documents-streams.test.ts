/**
 * Trusted documents on the streaming transports, with TRUSTED_DOCUMENTS_ONLY=true and a
 * manifest the real client preset wrote: the graphql-sse client in both modes, the
 * graphql-ws client, and Apollo's GraphQLWsLink with the persisted-queries link. Ids run,
 * text is refused with OPERATION_NOT_ALLOWED and unknown ids with PERSISTED_QUERY_NOT_FOUND,
 * before any upstream call. HTTP and the settings are in trusted-documents.test.ts.
 */
import { ApolloClient, ApolloLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import type { DocumentNode, ExecutionResult, GraphQLFormattedError } from 'graphql';
import { createClient as createSseClient, NetworkError, type Client as SseClient, type RequestParams } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient, type SubscribePayload } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CompletionStreamSubscription } from '../src/generated/operations.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, takeSseEvents, type TestGateway } from './helpers.js';
import { generateWithClientPreset, type PresetOutput } from './trusted-manifest.js';

type Payload = ExecutionResult<CompletionStreamSubscription>;

const FAKE_TEXT = 'Hello from the fake upstream.';
const variables = { input: { messages: [{ role: 'USER' as const, content: 'Hi' }] } };
const UNKNOWN = `sha256:${'0'.repeat(64)}`;
const TEXT = 'subscription { completionStream(input: { messages: [{ role: USER, content: "Hi" }] }) { text } }';

let preset: PresetOutput;
let fake: FakeUpstream;
let gw: TestGateway;
/** The stream's id in the manifest. */
let hash: string;

beforeAll(async () => {
  preset = await generateWithClientPreset();
  hash = preset.CompletionStreamDocument.__meta__.hash;
  fake = await startFakeUpstream();
  gw = await startGateway({ OPENAI_API_KEY: 'sk-test-trusted', OPENAI_BASE_URL: fake.url, TRUSTED_DOCUMENTS_FILE: preset.file, TRUSTED_DOCUMENTS_ONLY: 'true' });
});
afterAll(async () => {
  await gw?.stop();
  await fake?.close();
  await preset?.remove();
});
beforeEach(() => fake.reset());

const apq = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
const streamed = (results: Payload[]): string => results.map((r) => r.data?.completionStream.text ?? '').join('');
const codesOf = (errors: readonly GraphQLFormattedError[] | undefined): unknown[] => (errors ?? []).map((e) => e.extensions?.['code']);

describe('graphql-sse client', () => {
  const clients: SseClient[] = [];
  afterEach(() => clients.splice(0).forEach((c) => c.dispose()));
  function sse(singleConnection: boolean): SseClient {
    const client = createSseClient({ url: gw.httpUrl, singleConnection, retryAttempts: 0, fetchFn: fetch });
    clients.push(client);
    return client;
  }
  /**
   * Every result until the stream completes. A refusal is a result in the stream over a
   * single connection; in distinct mode Yoga answers it with its HTTP status, which the client
   * reports as a NetworkError carrying the response: its events are read from that.
   */
  async function run(client: SseClient, params: RequestParams): Promise<{ results: Payload[]; status?: number }> {
    const results: Payload[] = [];
    try {
      for await (const result of client.iterate<CompletionStreamSubscription>(params)) results.push(result as Payload);
      return { results };
    } catch (error) {
      const response = error instanceof NetworkError ? (error as NetworkError<Response>).response : undefined;
      if (!response) throw error;
      const { events } = takeSseEvents(await response.text());
      return { results: events.filter((e) => e.event === 'next').map((e) => JSON.parse(e.data) as Payload), status: response.status };
    }
  }

  it('distinct connections: streams by documentId and by APQ hash', async () => {
    const byDocumentId = { query: '', documentId: hash, variables };
    expect(streamed((await run(sse(false), byDocumentId)).results)).toBe(FAKE_TEXT);
    expect(streamed((await run(sse(false), { query: '', extensions: apq(hash), variables })).results)).toBe(FAKE_TEXT);
  });

  it('single connection: streams by extensions.documentId and by APQ hash', async () => {
    const client = sse(true);
    expect(streamed((await run(client, { query: '', extensions: { documentId: hash }, variables })).results)).toBe(FAKE_TEXT);
    expect(streamed((await run(client, { query: '', extensions: apq(hash), variables })).results)).toBe(FAKE_TEXT);
  });

  it('refuses text with OPERATION_NOT_ALLOWED and an unknown id with PERSISTED_QUERY_NOT_FOUND in both modes, before any upstream call', async () => {
    const single = sse(true);
    const refusals = [
      [await run(single, { query: TEXT }), 'OPERATION_NOT_ALLOWED', undefined],
      [await run(single, { query: '', extensions: apq(UNKNOWN), variables }), 'PERSISTED_QUERY_NOT_FOUND', undefined],
      // graphql-sse's handler keeps only query, variables, operationName and extensions.
      [await run(single, { query: '', documentId: hash, variables } as RequestParams), 'OPERATION_NOT_ALLOWED', undefined],
      [await run(sse(false), { query: TEXT }), 'OPERATION_NOT_ALLOWED', 403],
      [await run(sse(false), { query: '', documentId: UNKNOWN } as RequestParams), 'PERSISTED_QUERY_NOT_FOUND', 404],
    ] as const;
    for (const [{ results, status }, code, expectedStatus] of refusals) {
      expect({ status, codes: results.flatMap((r) => codesOf(r.errors)) }).toEqual({ status: expectedStatus, codes: [code] });
    }
    expect(fake.requests).toEqual([]);
  });
});

describe('graphql-ws client', () => {
  let client: WsClient;
  /** This test's client's socket events (a counter per client: the last test's socket closes after this one starts). */
  let socket: { connected: number; closed: number };
  beforeEach(() => {
    const events = { connected: 0, closed: 0 };
    socket = events;
    client = createWsClient({
      url: gw.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => events.connected++, closed: () => events.closed++ },
    });
  });
  afterEach(() => client.dispose());

  async function run(payload: SubscribePayload): Promise<{ results: Payload[]; errors?: readonly GraphQLFormattedError[] }> {
    const results: Payload[] = [];
    try {
      for await (const result of client.iterate<CompletionStreamSubscription>(payload)) results.push(result as Payload);
      return { results };
    } catch (errors) {
      return { results, errors: errors as GraphQLFormattedError[] };
    }
  }

  it('streams by APQ hash, extensions.documentId and a top-level documentId, ignoring text beside a known hash', async () => {
    const payloads: SubscribePayload[] = [
      { query: '', extensions: apq(hash), variables },
      { query: '', extensions: { documentId: hash }, variables },
      { query: '', documentId: hash, variables } as SubscribePayload,
      { query: 'subscription { nothingHere }', extensions: apq(hash), variables },
    ];
    for (const payload of payloads) {
      const { results, errors } = await run(payload);
      expect(errors).toBeUndefined();
      expect(streamed(results)).toBe(FAKE_TEXT);
    }
  });

  it('refuses text and unknown hashes on a socket that stays open for the next operation', async () => {
    expect(codesOf((await run({ query: TEXT })).errors)).toEqual(['OPERATION_NOT_ALLOWED']);
    expect(codesOf((await run({ query: preset.manifest[hash] ?? '', variables })).errors)).toEqual(['OPERATION_NOT_ALLOWED']);
    expect(codesOf((await run({ query: '', extensions: apq(UNKNOWN), variables })).errors)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(fake.requests).toEqual([]);
    expect(streamed((await run({ query: '', extensions: apq(hash), variables })).results)).toBe(FAKE_TEXT);
    expect(socket).toEqual({ connected: 1, closed: 0 });
  });

  it("runs Apollo's GraphQLWsLink with the persisted-queries link, which sends the text beside the hash", async () => {
    const frames: string[] = [];
    class Recording extends WebSocket {
      override send(data: string): void {
        frames.push(data);
        super.send(data);
      }
    }
    const ws = createWsClient({ url: gw.wsUrl, webSocketImpl: Recording, retryAttempts: 0 });
    const generateHash = (document: DocumentNode) => (document as DocumentNode & { __meta__: { hash: string } }).__meta__.hash;
    const apollo = new ApolloClient({ link: ApolloLink.from([new PersistedQueryLink({ generateHash }), new GraphQLWsLink(ws)]), cache: new InMemoryCache() });
    const errors: unknown[] = [];
    const texts = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      apollo.subscribe({ query: preset.CompletionStreamDocument, variables }).subscribe({
        next: (result) => (result.error ? errors.push(result.error) : seen.push(result.data?.completionStream.text ?? '')),
        error: (error: unknown) => {
          errors.push(error);
          resolve(seen);
        },
        complete: () => resolve(seen),
      });
    });
    expect(errors).toEqual([]);
    expect(texts.join('')).toBe(FAKE_TEXT);
    const subscribe = frames.map((f) => JSON.parse(f) as { type: string; payload: SubscribePayload }).find((m) => m.type === 'subscribe');
    expect(subscribe?.payload.query).toMatch(/^subscription CompletionStream/);
    expect(subscribe?.payload.extensions).toMatchObject(apq(hash));
    apollo.stop();
    await ws.dispose();
  });
});
