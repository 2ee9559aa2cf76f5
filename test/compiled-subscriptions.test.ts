/**
 * Subscription events run by a plan (COMPILED_SUBSCRIPTIONS, the default) must give exactly
 * what graphql-tools' per-event execution gives: the same data in the same key order, the
 * same errors with the same paths and codes. Two gateways, one with plans and one without,
 * share one fake upstream; every case runs on both, over graphql-ws and SSE, and the
 * payloads are compared as the client received them.
 */
import { parse, print, type DocumentNode, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planSubscription } from '../src/graphql/plugins/compiled-subscriptions/plan.js';
import { schema } from '../src/graphql/schema/index.js';
import { startFakeUpstream, type FakeUpstream, type Script } from './fake-upstream.js';
import { startGateway, wsClient, type TestGateway } from './helpers.js';

let fake: FakeUpstream;
let planned: TestGateway;
let executed: TestGateway;

beforeAll(async () => {
  fake = await startFakeUpstream();
  const env = { OPENAI_API_KEY: 'sk-test-gateway-key', OPENAI_BASE_URL: fake.url };
  planned = await startGateway(env);
  executed = await startGateway({ ...env, COMPILED_SUBSCRIPTIONS: 'false' });
});
afterAll(async () => {
  await planned.stop();
  await executed.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

const INPUT = { messages: [{ role: 'USER', content: 'Go' }] };

const EVERYTHING = `
  subscription Everything($input: CompletionInput!, $withUsage: Boolean!, $skipText: Boolean!) {
    completionStream(input: $input) {
      __typename
      theId: id
      model
      when: created
      index
      text @skip(if: $skipText)
      again: text
      accumulatedText
      ...Ending
      ... on CompletionChunk { finishReason text }
      usage @include(if: $withUsage) { __typename promptTokens completionTokens totalTokens cost }
    }
  }
  fragment Ending on CompletionChunk { finishReason reason: finishReason }
`;

interface Case {
  name: string;
  script: Script;
  query: string;
  variables: Record<string, unknown>;
}

const cases: Case[] = [
  {
    name: 'every field, aliases, fragments and @skip/@include',
    script: { choices: [['The', ' cat', ' sat']], usage: { prompt_tokens: 4, completion_tokens: 3 } },
    query: EVERYTHING,
    variables: { input: INPUT, withUsage: true, skipText: false },
  },
  {
    name: 'directives that leave fields out',
    script: { choices: [['a', 'b']], finishReason: 'length' },
    query: EVERYTHING,
    variables: { input: INPUT, withUsage: false, skipText: true },
  },
  {
    name: 'n choices and an upstream finish reason the schema does not name',
    script: { choices: [['a1', 'a2'], ['b1']], finishReason: 'something_new' },
    query: EVERYTHING,
    variables: { input: { prompt: 'Go', n: 2 }, withUsage: true, skipText: false },
  },
  {
    name: 'an error event in the middle of the stream (null data, located error)',
    script: { choices: [['a', 'b', 'c', 'd']], fault: { kind: 'errorAfter', chunks: 2 } },
    query: EVERYTHING,
    variables: { input: INPUT, withUsage: true, skipText: false },
  },
  {
    name: 'an upstream refusal before the first chunk',
    script: { fault: { kind: 'rateLimit', retryAfterSeconds: 7 } },
    query: EVERYTHING,
    variables: { input: INPUT, withUsage: true, skipText: false },
  },
  {
    name: 'input the subscribe resolver refuses',
    script: {},
    query: EVERYTHING,
    variables: { input: { ...INPUT, temperature: 9 }, withUsage: true, skipText: false },
  },
  {
    name: 'variables that do not coerce',
    script: {},
    query: EVERYTHING,
    variables: { input: { messages: [{ role: 'NOBODY', content: 'Go' }] }, withUsage: 'yes', skipText: false },
  },
  {
    name: 'literal arguments and an unaliased selection',
    script: { choices: [['x', 'y']] },
    query: `subscription { completionStream(input: { prompt: "Go", maxTokens: 5 }) { text finishReason usage { totalTokens } } }`,
    variables: {},
  },
];

type Payloads = ExecutionResult[];

async function overWs(gw: TestGateway, query: string, variables: Record<string, unknown>): Promise<Payloads> {
  const client = wsClient(gw.wsUrl);
  const results: Payloads = [];
  try {
    for await (const result of client.iterate({ query, variables })) results.push(result as ExecutionResult);
  } catch (errors) {
    // graphql-ws rejects with the error list when the operation is refused outright.
    results.push({ errors: errors as ExecutionResult['errors'] });
  } finally {
    await client.dispose();
  }
  return results;
}

async function overSse(gw: TestGateway, query: string, variables: Record<string, unknown>): Promise<Payloads> {
  const response = await fetch(gw.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.text();
  if (!response.headers.get('content-type')?.includes('text/event-stream')) return [JSON.parse(body) as ExecutionResult];
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('event: next'))
    .map((block) => JSON.parse(block.slice(block.indexOf('data:') + 5)) as ExecutionResult);
}

/** The stream's id and creation time differ between two upstream calls; everything else must not. */
function comparable(payloads: Payloads): string {
  return JSON.stringify(payloads, (key, value: unknown) => {
    if (key === 'theId') return typeof value;
    if (key === 'when') return typeof value;
    return value;
  });
}

describe.each([
  ['graphql-ws', overWs],
  ['SSE', overSse],
] as const)('over %s, a planned subscription gives what per-event execution gives', (_transport, run) => {
  it.each(cases)('$name', async ({ script, query, variables }) => {
    fake.script(script);
    const viaPlan = await run(planned, query, variables);
    const viaExecutor = await run(executed, query, variables);
    expect(viaPlan.length).toBeGreaterThan(0);
    expect(comparable(viaPlan)).toBe(comparable(viaExecutor));
  });
});

describe('what gets planned', () => {
  const plan = (query: string, variables: Record<string, unknown> = {}): string => {
    const document: DocumentNode = parse(query);
    const result = planSubscription({ schema, document, variableValues: variables, contextValue: {} });
    return 'unplannable' in result ? result.unplannable : 'planned';
  };

  it('plans the subscriptions clients send: every field, fragments, directives', () => {
    expect(plan(EVERYTHING, { input: INPUT, withUsage: true, skipText: true })).toBe('planned');
    expect(plan(print(parse(`subscription { completionStream(input: { prompt: "x" }) { text } }`)))).toBe('planned');
  });

  it('leaves to the executor what a plan cannot do exactly', () => {
    expect(plan(EVERYTHING, { input: INPUT })).toBe('variables or operation');
    expect(plan(`subscription { completionStream(input: { prompt: "x" }) { ... @defer { text } } }`)).toBe('@defer');
    expect(plan(`mutation { complete(input: { prompt: "x" }) { text } }`)).toBe('not a subscription');
  });
});
