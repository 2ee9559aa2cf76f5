/**
 * The GraphQL examples of the README's "Tools and structured output" section, run as
 * written against the gateway's offline simulator: a reader who pastes them into GraphiQL
 * gets answers, not errors.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, startGateway, type TestGateway } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Tools and structured output'), readme.indexOf('## The offline simulator'));
const examples = [...section.matchAll(/```graphql\n([^]*?)```/g)].map((m) => m[1] ?? '');
const named = (name: string): string => {
  const found = examples.find((e) => e.includes(`mutation ${name} `));
  if (!found) throw new Error(`no example named ${name} in the README`);
  return found;
};

interface Answer {
  complete: {
    text?: string;
    json?: unknown;
    toolCalls?: { id: string; name: string; arguments: string; argumentsJson: unknown }[] | null;
    choices?: { finishReason: string | null }[];
    usage?: { promptTokens: number; cachedPromptTokens: number | null; cost: number | null };
  };
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.stop();
});

describe('README: Tools and structured output', () => {
  it('has the four examples', () => {
    expect(examples).toHaveLength(4);
  });

  it('Ask: the model calls get_weather with a city', async () => {
    const { data, errors } = await graphql<Answer, undefined>(gw.httpUrl, named('Ask'));
    expect(errors).toBeUndefined();
    expect(data?.complete.choices?.[0]?.finishReason).toBe('TOOL_CALLS');
    const call = data?.complete.toolCalls?.[0];
    expect(call?.name).toBe('get_weather');
    expect(call?.argumentsJson).toEqual({ city: expect.any(String) as string });
  });

  it('Answer: the tool result is answered in text', async () => {
    const { data, errors } = await graphql<Answer, undefined>(gw.httpUrl, named('Answer'));
    expect(errors).toBeUndefined();
    expect(data?.complete.text).toMatch(/get_weather/);
  });

  it('Extract: json follows the schema', async () => {
    const { data, errors } = await graphql<Answer, undefined>(gw.httpUrl, named('Extract'));
    expect(errors).toBeUndefined();
    expect(data?.complete.json).toEqual({ name: expect.any(String) as string, born: expect.any(Number) as number });
    expect(Number.isInteger((data?.complete.json as { born: number }).born)).toBe(true);
  });

  it('Describe: the image is acknowledged and its tokens counted', async () => {
    const { data, errors } = await graphql<Answer, undefined>(gw.httpUrl, named('Describe'));
    expect(errors).toBeUndefined();
    expect(data?.complete.text).toMatch(/image/i);
    // An http(s) image is counted at LOW detail: 85 tokens on top of the text.
    expect(data?.complete.usage?.promptTokens).toBeGreaterThan(85);
  });
});
