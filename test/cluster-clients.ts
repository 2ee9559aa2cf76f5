/**
 * Clients for a gateway run with WORKERS>1: each request on a connection of its own (no
 * keep-alive pool), so that cluster's round-robin, which hands out connections, spreads
 * them over the workers; and what a test reads from the primary's output and /metrics.
 */
import { request } from 'node:http';
import { print } from 'graphql';
import { CompletionStreamDocument, type CompletionStreamSubscription } from '../src/generated/operations.js';
import { takeSseEvents, type SseEvent } from './helpers.js';
import { jsonLines, type Running } from './process.js';

export interface Answer {
  status: number;
  body: string;
}

/** One HTTP request on a new connection, closed after it. */
export function fresh(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export function mutation(base: string, name: string): Promise<Answer> {
  return fresh(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `mutation ${name} { complete(input: { prompt: "hello" }) { text } }` }),
  });
}

/** The value of one sample line of a Prometheus text answer (`name{labels}` as written). */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export interface Stream {
  events: SseEvent<CompletionStreamSubscription>[];
  /** Set when the connection broke (the worker serving it died). */
  error: unknown;
  done: Promise<void>;
}

/** A completion stream over SSE, on a connection of its own. */
export function stream(base: string, content: string): Stream {
  const tracked: Stream = { events: [], error: undefined, done: Promise.resolve() };
  tracked.done = new Promise<void>((resolve) => {
    const body = JSON.stringify({ query: print(CompletionStreamDocument), variables: { input: { messages: [{ role: 'USER', content }] } } });
    const req = request(
      `${base}/graphql`,
      { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, agent: false },
      (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const { events, rest } = takeSseEvents(buffer + chunk);
          buffer = rest;
          for (const { event, data } of events) {
            tracked.events.push({ event, data: data ? (JSON.parse(data) as SseEvent<CompletionStreamSubscription>['data']) : null });
          }
        });
        res.on('end', resolve);
        res.on('error', (error) => {
          tracked.error = error;
          resolve();
        });
        res.on('aborted', () => (tracked.error ??= new Error('aborted')));
      },
    );
    req.on('error', (error) => {
      tracked.error = error;
      resolve();
    });
    req.end(body);
  });
  return tracked;
}

export function nextPayloads(s: Stream): CompletionStreamSubscription['completionStream'][] {
  return s.events.flatMap((e) => (e.event === 'next' && e.data?.data ? [e.data.data.completionStream] : []));
}

export function errorCodes(s: Stream): unknown[] {
  return s.events.flatMap((e) => (e.event === 'next' ? (e.data?.errors ?? []).map((error) => error.extensions?.['code']) : []));
}

/** The log lines with this message, from the primary and its workers (one stdout). */
export function logged(run: Running, msg: string): Record<string, unknown>[] {
  return jsonLines(run.stdout).filter((line) => line['msg'] === msg);
}
