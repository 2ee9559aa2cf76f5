/**
 * Trusted documents over HTTP, with a manifest the real client preset wrote: ids in the body
 * (`documentId`), in the URL (GET) and as Apollo's APQ hash; refusals (unknown id, text in
 * ONLY mode) before any upstream call; Apollo Client 4 with the persisted-queries link over
 * HttpLink alone (a mutation, and a subscription over multipart); and the manifests and
 * settings that stop the gateway from starting. Streams over graphql-sse and graphql-ws are
 * in trusted-documents-streams.test.ts.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import type { DocumentNode } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, type GraphQLErrorShape, type TestGateway } from './helpers.js';
import { generateWithClientPreset, type PresetOutput } from './trusted-manifest.js';

const FAKE_TEXT = 'Hello from the fake upstream.';
const ask = (content: string) => ({ input: { messages: [{ role: 'USER' as const, content }] } });
const UNKNOWN = `sha256:${'0'.repeat(64)}`;

let preset: PresetOutput;
let fake: FakeUpstream;
/** TRUSTED_DOCUMENTS_ONLY=true */
let only: TestGateway;
/** The manifest, without ONLY. */
let open: TestGateway;

beforeAll(async () => {
  preset = await generateWithClientPreset();
  fake = await startFakeUpstream();
  const env = { OPENAI_API_KEY: 'sk-test-trusted', OPENAI_BASE_URL: fake.url, TRUSTED_DOCUMENTS_FILE: preset.file };
  only = await startGateway({ ...env, TRUSTED_DOCUMENTS_ONLY: 'true' });
  open = await startGateway(env);
});
afterAll(async () => {
  await only?.stop();
  await open?.stop();
  await fake?.close();
  await preset?.remove();
});
beforeEach(() => fake.reset());

interface Answer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: GraphQLErrorShape[];
}

async function post(gw: TestGateway, body: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(gw.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}

async function get(gw: TestGateway, params: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${gw.httpUrl}?${new URLSearchParams(params)}`, {
    headers: { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': 'test' },
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}

const codes = (answer: Answer): unknown[] => (answer.errors ?? []).map((e) => e.extensions?.code);
const completionText = (answer: Answer): unknown => (answer.data?.['complete'] as { text?: string } | undefined)?.text;

describe('trusted documents over HTTP, TRUSTED_DOCUMENTS_ONLY=true', () => {
  it("runs a mutation sent as its documentId from the client preset's manifest", async () => {
    const answer = await post(only, { documentId: preset.CompleteDocument.__meta__.hash, variables: ask('Hi') });
    expect(answer.errors).toBeUndefined();
    expect(completionText(answer)).toBe(FAKE_TEXT);
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
  });

  it('takes the id with or without its sha256: prefix, and as an APQ hash in extensions', async () => {
    const hex = preset.CompleteDocument.__meta__.hash.replace(/^sha256:/, '');
    expect(completionText(await post(only, { documentId: hex, variables: ask('Hi') }))).toBe(FAKE_TEXT);
    const apq = { persistedQuery: { version: 1, sha256Hash: hex } };
    expect(completionText(await post(only, { extensions: apq, variables: ask('Hi') }))).toBe(FAKE_TEXT);
  });

  it('runs a query by documentId over GET, and refuses a mutation by GET with 405', async () => {
    const models = await get(only, { documentId: preset.ModelsDocument.__meta__.hash });
    expect(models.status).toBe(200);
    expect((models.data?.['models'] as { id: string }[]).map((m) => m.id)).toContain('gpt-4o-mini');
    fake.reset();
    const mutation = await get(only, { documentId: preset.CompleteDocument.__meta__.hash, variables: JSON.stringify(ask('Hi')) });
    expect(mutation.status).toBe(405);
    expect(fake.requests).toEqual([]);
  });

  it('answers an unknown id with 404 PERSISTED_QUERY_NOT_FOUND, and the upstream hears nothing', async () => {
    for (const answer of [
      await post(only, { documentId: UNKNOWN, variables: ask('Hi') }),
      await get(only, { documentId: 'x-custom:nope' }),
    ]) {
      expect(answer.status).toBe(404);
      expect(answer.errors).toEqual([{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }]);
    }
    expect(fake.requests).toEqual([]);
  });

  it("refuses an operation sent as text with 403 OPERATION_NOT_ALLOWED, even the manifest's own text", async () => {
    const trustedText = preset.manifest[preset.CompleteDocument.__meta__.hash];
    expect(trustedText).toMatch(/^mutation Complete/);
    for (const answer of [
      await post(only, { query: trustedText, variables: ask('Hi') }),
      await post(only, { query: '{ models { id } }' }),
      await get(only, { query: '{ models { id } }' }),
      await post(only, { variables: ask('Hi') }),
    ]) {
      expect(answer.status).toBe(403);
      expect(codes(answer)).toEqual(['OPERATION_NOT_ALLOWED']);
    }
    expect(fake.requests).toEqual([]);
  });

  it("runs the manifest's document, not the text sent beside a known id", async () => {
    const answer = await post(only, {
      query: 'mutation { complete(input: { messages: [{ role: USER, content: "other" }] }) { model } }',
      documentId: preset.CompleteDocument.__meta__.hash,
      variables: ask('Hi'),
    });
    expect(completionText(answer)).toBe(FAKE_TEXT);
  });
});

describe('trusted documents over HTTP without ONLY', () => {
  it('still runs operations sent as text, and runs ids from the manifest', async () => {
    const text = await post(open, { query: 'mutation($input: CompletionInput!) { complete(input: $input) { text } }', variables: ask('Hi') });
    expect(completionText(text)).toBe(FAKE_TEXT);
    const byId = await post(open, { documentId: preset.CompleteDocument.__meta__.hash, variables: ask('Hi') });
    expect(completionText(byId)).toBe(FAKE_TEXT);
    // Text and an id: the text runs, as it would alone.
    const both = await post(open, { query: '{ models { id } }', documentId: preset.CompleteDocument.__meta__.hash });
    expect(both.errors).toBeUndefined();
    expect(both.data).toHaveProperty('models');
  });

  it('answers an unknown id with PERSISTED_QUERY_NOT_FOUND', async () => {
    expect(codes(await post(open, { documentId: UNKNOWN }))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('Apollo Client 4 with the persisted-queries link and an HttpLink alone, ONLY mode', () => {
  /** The request bodies Apollo sent. */
  const sent: Record<string, unknown>[] = [];
  const recording: typeof fetch = (input, init) => {
    sent.push(JSON.parse(typeof init?.body === 'string' ? init.body : 'null') as Record<string, unknown>);
    return fetch(input, init);
  };
  beforeEach(() => {
    sent.length = 0;
  });

  function apollo(options: PersistedQueryLink.Options): ApolloClient {
    const link = ApolloLink.from([new PersistedQueryLink(options), new HttpLink({ uri: only.httpUrl, fetch: recording })]);
    return new ApolloClient({ link, cache: new InMemoryCache() });
  }
  /** The client preset's way: each document carries its manifest id. */
  const presetHash = { generateHash: (document: DocumentNode) => (document as DocumentNode & { __meta__: { hash: string } }).__meta__.hash };

  it('runs a mutation by hash, sending no text', async () => {
    const client = apollo(presetHash);
    const { data } = await client.mutate({ mutation: preset.CompleteDocument, variables: ask('Hi') });
    expect(data?.complete.text).toBe(FAKE_TEXT);
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toHaveProperty('query');
    expect(sent[0]?.['extensions']).toMatchObject({ persistedQuery: { version: 1, sha256Hash: preset.CompleteDocument.__meta__.hash } });
    client.stop();
  });

  it('streams a subscription by hash over multipart HTTP', async () => {
    const client = apollo(presetHash);
    const errors: unknown[] = [];
    const texts = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      client.subscribe({ query: preset.CompletionStreamDocument, variables: ask('Hi') }).subscribe({
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
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toHaveProperty('query');
    client.stop();
  });

  it('with a hash the manifest lacks, retries once with the text and reports PERSISTED_QUERY_NOT_FOUND', async () => {
    // Apollo's own way: the sha256 of the document as Apollo prints it, which the preset's text is not.
    const client = apollo({ sha256: (text) => createHash('sha256').update(text).digest('hex') });
    const error = await client.mutate({ mutation: preset.CompleteDocument, variables: ask('Hi') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(CombinedGraphQLErrors.is(error) && error.errors.map((e) => e.extensions?.['code'])).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(sent.map((body) => typeof body['query'])).toEqual(['undefined', 'string']);
    expect(fake.requests).toEqual([]);
    client.stop();
  });
});

describe('settings and manifests that stop the start', () => {
  function problemsOf(run: () => unknown): string[] {
    try {
      run();
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error('no ConfigError');
  }

  it('refuses TRUSTED_DOCUMENTS_ONLY without TRUSTED_DOCUMENTS_FILE', () => {
    expect(problemsOf(() => loadConfig({ TRUSTED_DOCUMENTS_ONLY: 'true' }))).toEqual([
      'TRUSTED_DOCUMENTS_ONLY needs TRUSTED_DOCUMENTS_FILE (the manifest of the documents allowed)',
    ]);
  });

  /** Starts a gateway on `manifest` (written as is when a string) and returns its ConfigError's problems. */
  async function startProblems(manifest?: string | Record<string, unknown>): Promise<string[]> {
    const file = join(preset.dir, manifest === undefined ? 'missing.json' : 'manifest-under-test.json');
    if (manifest !== undefined) await writeFile(file, typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
    const error: unknown = await startGateway({ TRUSTED_DOCUMENTS_FILE: file }).then(
      async (gw) => {
        await gw.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }

  it('names a file that is missing or not JSON', async () => {
    expect(await startProblems(undefined)).toEqual([expect.stringMatching(/^TRUSTED_DOCUMENTS_FILE \(.*missing\.json\) cannot be read: ENOENT/)]);
    expect(await startProblems('{"sha256:1": ')).toEqual([expect.stringMatching(/^TRUSTED_DOCUMENTS_FILE \(.*\) is not JSON: /)]);
    expect(await startProblems('["query { models { id } }"]')).toEqual([expect.stringContaining('must be a JSON object')]);
  });

  it('names every bad entry: not a string, not the sha256 of its text, not parsing, not valid against the schema', async () => {
    const complete = preset.CompleteDocument.__meta__.hash;
    const stale = { ...preset.manifest, [complete]: `${preset.manifest[complete]} ` };
    const sha = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    const invalid = 'query Gone { nothingHere }';
    const problems = await startProblems({ ...stale, number: 42, broken: 'query {', [sha(invalid)]: invalid });
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`entry "${complete}" is not the sha256 of its text \\(that is sha256:[0-9a-f]{64}\\): the file is stale`)),
      expect.stringContaining('entry "number" must be the document\'s text (a string), got number'),
      expect.stringContaining('entry "broken" does not parse: Syntax Error'),
      expect.stringContaining(`entry "${sha(invalid)}" (Gone) does not validate against the schema: Cannot query field "nothingHere" on type "Query".`),
    ]);
  });
});
