import { beforeEach, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { CompleteDocument, CompletionStreamDocument } from '../src/generated/operations.js';
import { eventually, graphql, sse, useGatewayWithFake, wsClient } from './helpers.js';

const ctx = useGatewayWithFake({
  UPSTREAM_TIMEOUT_MS: '60000',
  UPSTREAM_IDLE_TIMEOUT_MS: '60000',
});
beforeEach(() => {
  // One chunk, then the upstream goes silent: the client leaves while it waits.
  ctx.fake.script({ fault: { kind: 'stallAfter', chunks: 1 } });
});

const input = { messages: [{ role: 'USER' as const, content: 'Tell me a long story' }] };

/**
 * "At once": the gateway aborts in the same turn the client's leaving is seen, so the
 * fake sees it within a few milliseconds; 300 ms leaves room for a busy shared machine
 * and still fails an abort that waits for a timer, a poll or the next chunk.
 */
const AT_ONCE_MS = 300;

/** Waits for the fake to see the upstream request aborted; fails unless that came within AT_ONCE_MS of `leftAt`. */
async function expectAbortedAtOnce(leftAt: number): Promise<void> {
  await ctx.fake.waitForAbort(1000);
  expect(performance.now() - leftAt).toBeLessThan(AT_ONCE_MS);
}

describe('leaving a stream aborts the upstream request at once, even while the upstream is silent', () => {
  it('aborts the upstream request when the graphql-ws client unsubscribes', async () => {
    const client = wsClient(ctx.gw.wsUrl);
    try {
      const subscription = client.iterate({ query: print(CompletionStreamDocument), variables: { input } });
      const first = await subscription.next();
      expect(first.done).toBe(false);
      expect(ctx.fake.aborted).toHaveLength(0);
      const leftAt = performance.now();
      await subscription.return?.(undefined);
      await expectAbortedAtOnce(leftAt);
      const aborted = await ctx.fake.waitForAbort(1000);
      expect(aborted.path).toBe('/v1/chat/completions');
      expect(aborted.body?.['stream']).toBe(true);
    } finally {
      await client.dispose();
    }
  });

  it('aborts the upstream request when the WebSocket drops without a goodbye', async () => {
    const sockets: WebSocket[] = [];
    class RecordingWebSocket extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        sockets.push(this);
      }
    }
    const client = createClient({ url: ctx.gw.wsUrl, webSocketImpl: RecordingWebSocket, retryAttempts: 0 });
    try {
      const subscription = client.iterate({ query: print(CompletionStreamDocument), variables: { input } });
      await subscription.next();
      expect(sockets).toHaveLength(1);
      const leftAt = performance.now();
      sockets[0]?.terminate(); // TCP reset: no complete message, no close frame
      await expectAbortedAtOnce(leftAt);
    } finally {
      await client.dispose();
    }
  });

  it('aborts the upstream request when the SSE connection is closed', async () => {
    const controller = new AbortController();
    const events = sse(ctx.gw.httpUrl, CompletionStreamDocument, { input }, controller.signal);
    const first = await events.next();
    expect(first.done ? null : first.value.event).toBe('next');
    expect(ctx.fake.aborted).toHaveLength(0);
    const leftAt = performance.now();
    controller.abort();
    await events.return(undefined).catch(() => undefined);
    await expectAbortedAtOnce(leftAt);
  });

  it('aborts the upstream request when the client of a mutation disconnects', async () => {
    ctx.fake.script({ fault: { kind: 'hang' } });
    const controller = new AbortController();
    const pending = graphql(ctx.gw.httpUrl, CompleteDocument, { input }, { signal: controller.signal });
    await ctx.fake.waitForRequests(1);
    const leftAt = performance.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    await expectAbortedAtOnce(leftAt);
  });

  for (const fault of [{ kind: 'hang' }, { kind: 'hangAfterHeaders' }, { kind: 'stallBody', status: 500 }] as const) {
    it(`logs a mutation client that leaves (upstream ${fault.kind}) as a client abort, never at error level`, async () => {
      ctx.fake.script({ fault });
      const before = ctx.gw.logs.length;
      const controller = new AbortController();
      const pending = graphql(ctx.gw.httpUrl, CompleteDocument, { input }, { signal: controller.signal });
      await ctx.fake.waitForRequests(1);
      controller.abort();
      await expect(pending).rejects.toThrow();
      await ctx.fake.waitForAbort(1000);
      await eventually(() => ctx.gw.logs.slice(before).some((l) => l.includes('completion finished')), 'the operation to end');
      const lines = ctx.gw.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string; outcome?: string });
      expect(lines.find((l) => l.msg === 'completion finished')?.outcome).toBe('cancelled');
      // pino: 50 is error. A stack trace for a client leaving buries real failures.
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    });
  }

  it('keeps other subscriptions on the same socket streaming when one is cancelled', async () => {
    ctx.fake.script({ choices: [['one', ' two', ' three']], chunkDelayMs: 50 });
    const client = wsClient(ctx.gw.wsUrl);
    try {
      const cancelled = client.iterate({ query: print(CompletionStreamDocument), variables: { input } });
      const kept = client.iterate({ query: print(CompletionStreamDocument), variables: { input } });
      await cancelled.next();
      await cancelled.return?.(undefined);
      const texts: string[] = [];
      for await (const result of kept) {
        const chunk = (result.data as { completionStream: { accumulatedText: string } } | null)?.completionStream;
        if (chunk) texts.push(chunk.accumulatedText);
      }
      expect(texts.at(-1)).toBe('one two three');
      await ctx.fake.waitForAbort(1000);
      expect(ctx.fake.aborted).toHaveLength(1);
    } finally {
      await client.dispose();
    }
  });

  it('does not report a client leaving as an upstream failure', async () => {
    const client = wsClient(ctx.gw.wsUrl);
    try {
      const subscription = client.iterate({ query: print(CompletionStreamDocument), variables: { input } });
      await subscription.next();
      const before = ctx.gw.logs.length;
      await subscription.return?.(undefined);
      await ctx.fake.waitForAbort(1000);
      expect(ctx.gw.logs.slice(before).filter((l) => l.includes('upstream call failed'))).toEqual([]);
    } finally {
      await client.dispose();
    }
  });
});
