/**
 * Per-event cost of ExecuteSubscriptionEvent for the bench's `completionStream` selection,
 * three ways: the subscription plan (src/graphql/plugins/compiled-subscriptions/), graphql-js
 * `execute` with the event as root value, and graphql-jit's compiled query if it can be
 * loaded (it is not a dependency: install it elsewhere and point GRAPHQL_JIT at it, with
 * NODE_PATH=node_modules so it shares this project's graphql).
 *
 *   NODE_PATH=$PWD/node_modules GRAPHQL_JIT=/tmp/jit/node_modules/graphql-jit \
 *     node --import tsx bench/subscription-events.ts
 *
 * Every way maps the same 64 chunk events (the last with a finish reason and usage) in a
 * tight loop; the figure is the best of 5 rounds of 200,000 events, in µs per event. Then
 * what each pays once per subscription (planning, or compiling), averaged over 2,000.
 */
import { createRequire } from 'node:module';
import { execute, parse, type DocumentNode, type ExecutionResult } from 'graphql';
import { planSubscription } from '../src/graphql/plugins/compiled-subscriptions/plan.js';
import { runEvent } from '../src/graphql/plugins/compiled-subscriptions/execute.js';
import { schema } from '../src/graphql/schema/index.js';
import type { ChunkShape } from '../src/completion/shapes.js';
import { SUBSCRIPTION } from './clients.js';

const document: DocumentNode = parse(SUBSCRIPTION);
const variableValues = { input: { prompt: 'Say something short.' } };
const contextValue = {};

const events: ChunkShape[] = Array.from({ length: 64 }, (_, i) => ({
  completionId: 'chatcmpl-bench',
  seq: i + 1,
  model: 'gpt-4o-mini',
  created: 1_700_000_000,
  index: 0,
  text: ` word${i}`,
  accumulatedText: '',
  finishReason: i === 63 ? 'stop' : null,
  usage: i === 63 ? { promptTokens: 12, completionTokens: 64, totalTokens: 76, cost: 0.0001 } : null,
  toolCallDeltas: null,
  toolCalls: null,
  refusal: null,
  cached: false,
}));

type Way = (event: ChunkShape) => unknown;

const ways: [string, Way][] = [];

const planned = planSubscription({ schema, document, variableValues, contextValue });
if ('unplannable' in planned) throw new Error(`not planned: ${planned.unplannable}`);
ways.push(['plan (use-compiled-subscriptions)', (event) => runEvent(planned.exe, planned.root, event)]);
ways.push(['graphql-js execute', (event) => execute({ schema, document, rootValue: event, variableValues, contextValue })]);

/** What a subscription pays once, at its start, to be run this way (µs). */
const startCosts: [string, () => unknown][] = [['plan (use-compiled-subscriptions)', () => planSubscription({ schema, document, variableValues, contextValue })]];

interface CompiledQuery {
  query: (root: unknown, context: unknown, variables: unknown) => unknown;
}
try {
  const jit = createRequire(import.meta.url)(process.env.GRAPHQL_JIT ?? 'graphql-jit') as {
    compileQuery: (s: typeof schema, d: DocumentNode) => CompiledQuery | ExecutionResult;
  };
  const compiled = jit.compileQuery(schema, document);
  if (!('query' in compiled)) throw new Error(JSON.stringify(compiled.errors));
  ways.push(['graphql-jit compiled query', (event) => compiled.query(event, contextValue, variableValues)]);
  startCosts.push(['graphql-jit compileQuery (uncached)', () => jit.compileQuery(schema, document)]);
} catch (error) {
  console.log(`graphql-jit not measured: ${(error as Error).message.split('\n')[0]}`);
}

// The same payload from each, or the comparison means nothing.
const reference = JSON.stringify(events.map((e) => ways[1]?.[1](e)));
for (const [name, way] of ways) {
  const got = JSON.stringify(events.map((e) => way(e)));
  if (got !== reference) console.log(`${name} differs:\n  ${got.slice(0, 300)}\n  ${reference.slice(0, 300)}`);
}

const ROUNDS = 5;
const PER_ROUND = 200_000;
let sink = 0;
for (const [name, way] of ways) {
  for (let i = 0; i < 50_000; i++) if (way(events[i & 63] as ChunkShape)) sink++;
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PER_ROUND; i++) if (way(events[i & 63] as ChunkShape)) sink++;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1_000 / PER_ROUND);
  }
  console.log(`${name.padEnd(36)} ${best.toFixed(3)} µs/event`);
}
for (const [name, start] of startCosts) {
  for (let i = 0; i < 200; i++) start();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 2_000; i++) if (start()) sink++;
  console.log(`${name.padEnd(36)} ${(Number(process.hrtime.bigint() - t0) / 1_000 / 2_000).toFixed(1)} µs/subscription`);
}
if (sink === 0) console.log('(nothing ran)');
