/**
 * What the response cache's tests share: a request of their own each (answers stay in the
 * cache from test to test), the mutation and the stream with `cached` selected, and the
 * count of completion requests the fake upstream received.
 */
import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { expect } from 'vitest';
import WebSocket from 'ws';
import {
  CachedChatDocument,
  CachedChatStreamDocument,
  type CachedChatMutation,
  type CachedChatStreamSubscription,
  type CompletionInput,
} from '../src/generated/operations.js';
import type { FakeUpstream } from './fake-upstream.js';
import { graphql, type HttpResult, type TestGateway } from './helpers.js';

export type Completion = CachedChatMutation['complete'];
export type Chunk = CachedChatStreamSubscription['completionStream'];

/** A chat request at `temperature: 0` with a question no other test asks. */
export function ask(label: string, extra: Partial<CompletionInput> = {}): CompletionInput {
  return { messages: [{ role: 'USER', content: `${label} (${randomUUID()})` }], temperature: 0, ...extra };
}

/** Completion requests the fake received (its `/v1/models` traffic aside). */
export function generations(fake: FakeUpstream): number {
  return fake.requests.filter((r) => r.method === 'POST').length;
}

export function bearer(key: string | undefined): { headers: Record<string, string> } {
  return { headers: key ? { authorization: `Bearer ${key}` } : {} };
}

/** `complete` over HTTP, as it came back. */
export function tryComplete(gw: TestGateway, input: CompletionInput, key?: string, headers: Record<string, string> = {}): Promise<HttpResult<CachedChatMutation>> {
  const init = bearer(key);
  return graphql(gw.httpUrl, CachedChatDocument, { input }, { headers: { ...init.headers, ...headers } });
}

/** `complete` over HTTP, which must succeed. */
export async function complete(gw: TestGateway, input: CompletionInput, key?: string, headers: Record<string, string> = {}): Promise<Completion> {
  const result = await tryComplete(gw, input, key, headers);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  if (!result.data) throw new Error('no data');
  return result.data.complete;
}

/** `completionStream` over graphql-ws to its end, as `key` (none: an open gateway), which must succeed: every chunk. */
export async function stream(gw: TestGateway, input: CompletionInput, key?: string): Promise<Chunk[]> {
  const client = createClient({
    url: gw.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
  });
  const chunks: Chunk[] = [];
  try {
    for await (const result of client.iterate<CachedChatStreamSubscription>({ query: print(CachedChatStreamDocument), variables: { input } })) {
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      if (!result.data) throw new Error('a payload without data');
      chunks.push(result.data.completionStream);
    }
  } finally {
    await client.dispose();
  }
  return chunks;
}

/** The value of one Prometheus series in /metrics (0 when absent). */
export async function metric(gw: TestGateway, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
