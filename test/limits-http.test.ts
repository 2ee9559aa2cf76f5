/**
 * What the gateway refuses over HTTP before any work reaches the upstream: graphql-armor's
 * limits on an operation (depth, aliases, cost, lexical tokens, directives), introspection
 * and GraphiQL switches, field suggestions, the request body cap, batching, CSRF and CORS.
 * Every refused operation is one that would call the upstream if it were allowed, and each
 * test proves the fake upstream heard nothing of it.
 */
import http from 'node:http';
import { getIntrospectionQuery, Lexer, Source, TokenKind } from 'graphql';
import { describe, expect, it } from 'vitest';
import { graphql, useGatewayWithFake, type GraphQLErrorShape } from './helpers.js';

interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

interface SingleResult {
  data?: unknown;
  errors?: GraphQLErrorShape[];
}

/** POSTs `body` as given (a string is sent verbatim) and parses a JSON answer if there is one. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** The lexical tokens graphql-armor counts: every token the lexer yields but <EOF>. */
function tokenCount(document: string): number {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count++;
  return count;
}

/**
 * A query on `models` of exactly `tokens` lexical tokens: `{ models { id ownedBy created … } }`.
 * The four field names take turns: ~1000 fields of one name would trip graphql-js's own
 * overlapping-fields work budget ("Validation aborted.") before armor's token count matters.
 */
function modelsQueryWithTokens(tokens: number): string {
  const names = ['id', 'ownedBy', 'created', 'contextWindow'];
  const fields = Array.from({ length: tokens - 5 }, (_, i) => names[i % names.length]).join(' ');
  const document = `{ models { ${fields} } }`;
  expect(tokenCount(document)).toBe(tokens);
  return document;
}

function expectTooComplex(errors: GraphQLErrorShape[] | undefined, limit: string, message: RegExp): void {
  expect(errors).toHaveLength(1);
  const [error] = errors ?? [];
  expect(error?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  expect(error?.extensions?.limit).toBe(limit);
  expect(error?.message).toMatch(message);
}

const PROMPT = '{ prompt: "Hi" }';

/**
 * POSTs a chunked (no Content-Length) JSON body that `write` sends piece by piece, and
 * resolves with the answer as soon as it is complete, ended request or not.
 */
function postChunked(endpoint: string, write: (request: http.ClientRequest) => void): Promise<{ status: number; body: unknown }> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          request.destroy();
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    // The server may close its side while this one still holds the request open.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    write(request);
  });
}

describe('graphql-armor limits at their defaults', () => {
  const ctx = useGatewayWithFake();

  it('runs 15 aliased fields (the default GRAPHQL_MAX_ALIASES)', async () => {
    const aliases = Array.from({ length: 15 }, (_, i) => `m${i}: models { id }`).join(' ');
    const result = await graphql<Record<string, { id: string }[]>, never>(ctx.gw.httpUrl, `{ ${aliases} }`);
    expect(result.errors).toBeUndefined();
    expect(Object.keys(result.data ?? {})).toHaveLength(15);
    expect(ctx.fake.requests).toHaveLength(15);
  });

  it('refuses 16 aliases with QUERY_TOO_COMPLEX / maxAliases, before the upstream is called', async () => {
    const aliases = Array.from({ length: 16 }, (_, i) => `m${i}: models { id }`).join(' ');
    const result = await graphql(ctx.gw.httpUrl, `{ ${aliases} }`);
    expect(result.data ?? null).toBeNull();
    expectTooComplex(result.errors, 'maxAliases', /Aliases limit of 15 exceeded, found 16/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('runs a document of exactly 1000 lexical tokens (the default GRAPHQL_MAX_TOKENS)', async () => {
    const result = await graphql(ctx.gw.httpUrl, modelsQueryWithTokens(1000));
    expect(result.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses a document of 1001 tokens with QUERY_TOO_COMPLEX / maxTokens, before the upstream is called', async () => {
    const result = await graphql(ctx.gw.httpUrl, modelsQueryWithTokens(1001));
    expect(result.data ?? null).toBeNull();
    expectTooComplex(result.errors, 'maxTokens', /Token limit of 1000 exceeded/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses a huge document (100 000 tokens) the same way', async () => {
    const result = await graphql(ctx.gw.httpUrl, modelsQueryWithTokens(100_000));
    expectTooComplex(result.errors, 'maxTokens', /Token limit of 1000 exceeded/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('runs 50 directives (the default GRAPHQL_MAX_DIRECTIVES)', async () => {
    const result = await graphql(ctx.gw.httpUrl, `{ models { ${'id @include(if: true) '.repeat(50)}} }`);
    expect(result.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses 51 directives with QUERY_TOO_COMPLEX / maxDirectives, before the upstream is called', async () => {
    const result = await graphql(ctx.gw.httpUrl, `{ models { ${'id @include(if: true) '.repeat(51)}} }`);
    expect(result.data ?? null).toBeNull();
    expectTooComplex(result.errors, 'maxDirectives', /Directives limit of 50 exceeded, found 51/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('measures depth in fields, not fragments (fragment-heavy clients are not penalised)', async () => {
    const nest = (levels: number): string =>
      levels === 0 ? 'id' : `... on Model { ${nest(levels - 1)} }`;
    // models (1) > id (2), however many inline fragments wrap it.
    const wrapped = await graphql(ctx.gw.httpUrl, `{ models { ${nest(8)} } }`);
    expect(wrapped.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('answers introspection although it nests deeper than the depth limit (GraphiQL and codegen need it)', async () => {
    const result = await graphql<{ __schema: { queryType: { name: string }; types: unknown[] } }, never>(
      ctx.gw.httpUrl,
      getIntrospectionQuery(),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.__schema.queryType.name).toBe('Query');
    expect(result.data?.__schema.types.length).toBeGreaterThan(10);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('suggests the field meant ("Did you mean") when a field is unknown', async () => {
    const result = await graphql(ctx.gw.httpUrl, '{ model { id } }');
    expect(result.errors?.[0]?.message).toMatch(/Cannot query field "model" on type "Query"\. Did you mean .*"models"/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('serves GraphiQL to a browser (accept: text/html) by default', async () => {
    const response = await fetch(ctx.gw.httpUrl, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toContain('YogaGraphiQL');
  });
});

describe('graphql-armor limits lowered: GRAPHQL_MAX_DEPTH=3, GRAPHQL_MAX_COST=20', () => {
  const ctx = useGatewayWithFake({ GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '20' });

  it('runs an operation exactly 3 deep', async () => {
    const result = await graphql(ctx.gw.httpUrl, `mutation { complete(input: ${PROMPT}) { choices { text } } }`);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ complete: { choices: [{ text: 'Hello from the fake upstream.' }] } });
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses an operation 4 deep with QUERY_TOO_COMPLEX / maxDepth, before the upstream is called', async () => {
    const result = await graphql(
      ctx.gw.httpUrl,
      `mutation { complete(input: ${PROMPT}) { choices { logprobs { token } } } }`,
    );
    expect(result.data ?? null).toBeNull();
    expectTooComplex(result.errors, 'maxDepth', /depth limit of 3 exceeded, found 4/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses the deepest selection (complete → choices → logprobs → topLogprobs → token) as 5 deep', async () => {
    const result = await graphql(
      ctx.gw.httpUrl,
      `mutation { complete(input: ${PROMPT}) { choices { logprobs { topLogprobs { token } } } } }`,
    );
    expectTooComplex(result.errors, 'maxDepth', /depth limit of 3 exceeded, found 5/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('cannot be evaded by moving the nesting into a fragment', async () => {
    const result = await graphql(
      ctx.gw.httpUrl,
      `mutation { complete(input: ${PROMPT}) { ...C } } fragment C on Completion { choices { logprobs { token } } }`,
    );
    expectTooComplex(result.errors, 'maxDepth', /depth limit of 3 exceeded/);
    expect(ctx.fake.requests).toEqual([]);
  });

  // armor's cost: an object field costs 2, a scalar 1, each level down weighs 1.5×.
  // `models` with 12 scalar selections costs 2 + 12 × 1.5 = 20.
  it('runs an operation whose cost is exactly 20', async () => {
    const result = await graphql(ctx.gw.httpUrl, `{ models { ${'id ownedBy created contextWindow '.repeat(3)}} }`);
    expect(result.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('refuses an operation costing 21.5 with QUERY_TOO_COMPLEX / maxCost, before the upstream is called', async () => {
    const result = await graphql(ctx.gw.httpUrl, `{ models { ${'id ownedBy created contextWindow '.repeat(3)}id } }`);
    expect(result.data ?? null).toBeNull();
    expectTooComplex(result.errors, 'maxCost', /Cost limit of 20 exceeded, found 21\.5/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('refuses the cost of a mutation too, so the completion is never requested', async () => {
    // 2 + 1.5 × (text 1 + usage (2 + 3 × 1.5) + choices (2 + 4 × 1.5)) = 25.25
    const result = await graphql(
      ctx.gw.httpUrl,
      `mutation { complete(input: ${PROMPT}) { text usage { promptTokens completionTokens totalTokens } choices { index text finishReason index } } }`,
    );
    expectTooComplex(result.errors, 'maxCost', /Cost limit of 20 exceeded, found 25\.25/);
    expect(ctx.fake.requests).toEqual([]);
  });

  it('still answers introspection, which is both deeper and costlier than these limits', async () => {
    const result = await graphql<{ __schema: { types: unknown[] } }, never>(ctx.gw.httpUrl, getIntrospectionQuery());
    expect(result.errors).toBeUndefined();
    expect(result.data?.__schema.types.length).toBeGreaterThan(10);
  });
});

describe('locked down: GRAPHQL_INTROSPECTION=false, GRAPHIQL=false, NODE_ENV=production', () => {
  // Keys are required by default in production; this suite is about the schema's lock-down.
  const ctx = useGatewayWithFake({ GRAPHQL_INTROSPECTION: 'false', GRAPHIQL: 'false', NODE_ENV: 'production', GATEWAY_REQUIRE_AUTH: 'false' });

  it('refuses the introspection query', async () => {
    const result = await graphql(ctx.gw.httpUrl, getIntrospectionQuery());
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(result.errors?.[0]?.message).toMatch(/introspection/i);
  });

  it('refuses __type lookups too', async () => {
    const result = await graphql(ctx.gw.httpUrl, '{ __type(name: "Query") { name } }');
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.message).toMatch(/introspection/i);
  });

  it('still runs normal queries', async () => {
    const result = await graphql(ctx.gw.httpUrl, '{ models { id } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ models: [{ id: 'gpt-4o-mini' }, { id: 'gpt-4o' }, { id: 'gpt-3.5-turbo-instruct' }] });
  });

  it('does not serve the GraphiQL page to a browser', async () => {
    const response = await fetch(ctx.gw.httpUrl, { headers: { accept: 'text/html' } });
    const text = await response.text();
    expect(response.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(text).not.toMatch(/graphiql/i);
    expect(text).not.toMatch(/<html/i);
  });

  it('drops "Did you mean" from unknown-field errors (NODE_ENV=production)', async () => {
    const result = await graphql(ctx.gw.httpUrl, '{ model { id } }');
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.message).toMatch(/Cannot query field "model" on type "Query"/);
    expect(result.errors?.[0]?.message).not.toMatch(/did you mean/i);
    expect(result.errors?.[0]?.message).not.toContain('models');
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('GRAPHQL_HIDE_SUGGESTIONS=true', () => {
  const ctx = useGatewayWithFake({ GRAPHQL_HIDE_SUGGESTIONS: 'true' });

  it('drops "Did you mean" outside production too, on fields and arguments', async () => {
    const field = await graphql(ctx.gw.httpUrl, '{ model { id } }');
    expect(field.errors?.[0]?.message).toMatch(/Cannot query field "model"/);
    expect(field.errors?.[0]?.message).not.toMatch(/did you mean/i);

    const argument = await graphql(ctx.gw.httpUrl, `mutation { complete(input: { promt: "Hi" }) { text } }`);
    expect(argument.errors?.length).toBeGreaterThan(0);
    for (const error of argument.errors ?? []) expect(error.message).not.toMatch(/did you mean/i);
    expect(ctx.fake.requests).toEqual([]);
  });
});

describe('request body cap: MAX_BODY_BYTES=2048', () => {
  const ctx = useGatewayWithFake({ MAX_BODY_BYTES: '2048' });

  /** `{"query":"{ models { id } }   …"}`, padded with insignificant spaces to exactly `bytes` bytes. */
  function bodyOfSize(bytes: number): string {
    const bare = JSON.stringify({ query: '{ models { id } }' });
    const body = JSON.stringify({ query: `{ models { id } }${' '.repeat(bytes - bare.length)}` });
    expect(Buffer.byteLength(body)).toBe(bytes);
    return body;
  }

  function expectPayloadTooLarge(response: { status: number; body: unknown }): void {
    expect(response.status).toBe(413);
    const body = response.body as SingleResult;
    expect(body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.errors?.[0]?.message).toMatch(/2048 bytes/);
  }

  it('runs a body of exactly 2048 bytes', async () => {
    const response = await post(ctx.gw.httpUrl, bodyOfSize(2048));
    expect(response.status).toBe(200);
    expect((response.body as SingleResult).errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('answers 413 PAYLOAD_TOO_LARGE to a 2049-byte body sent with Content-Length, and serves the next request', async () => {
    expectPayloadTooLarge(await post(ctx.gw.httpUrl, bodyOfSize(2049)));
    expect(ctx.fake.requests).toEqual([]);

    const next = await graphql(ctx.gw.httpUrl, '{ models { id } }');
    expect(next.status).toBe(200);
    expect(next.errors).toBeUndefined();
  });

  it('answers 413 to a chunked body as soon as it passes the cap, without waiting for its end', async () => {
    const response = await postChunked(ctx.gw.httpUrl, (request) => {
      expect(request.getHeader('content-length')).toBeUndefined();
      // 3 × 1000 bytes of a valid JSON start, and never the end of the body.
      request.write(`{"query":"{ models { id } }${' '.repeat(1000 - 27)}`);
      request.write(' '.repeat(1000));
      request.write(' '.repeat(1000));
    });
    expectPayloadTooLarge(response);
    expect(ctx.fake.requests).toEqual([]);

    const next = await graphql(ctx.gw.httpUrl, '{ models { id } }');
    expect(next.status).toBe(200);
    expect(next.errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('runs a chunked body under the cap', async () => {
    const response = await postChunked(ctx.gw.httpUrl, (request) => {
      const body = bodyOfSize(2000);
      request.write(body.slice(0, 700));
      request.write(body.slice(700, 1400));
      request.end(body.slice(1400));
    });
    expect(response.status).toBe(200);
    expect((response.body as SingleResult).errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });
});

describe('batching', () => {
  describe('off by default', () => {
    const ctx = useGatewayWithFake();

    it('refuses a JSON array of operations', async () => {
      const response = await post(ctx.gw.httpUrl, [{ query: '{ models { id } }' }, { query: '{ models { id } }' }]);
      expect(response.status).toBeGreaterThanOrEqual(400);
      const body = response.body as SingleResult;
      expect(Array.isArray(body)).toBe(false);
      expect(body.errors?.length).toBeGreaterThan(0);
      expect(ctx.fake.requests).toEqual([]);
    });
  });

  describe('GRAPHQL_BATCH_LIMIT=2', () => {
    const ctx = useGatewayWithFake({ GRAPHQL_BATCH_LIMIT: '2' });

    it('runs a batch of 2 and answers with an array of 2 results', async () => {
      const response = await post(ctx.gw.httpUrl, [
        { query: '{ models { id } }' },
        { query: `mutation { complete(input: ${PROMPT}) { text } }` },
      ]);
      expect(response.status).toBe(200);
      expect(response.body).toEqual([
        { data: { models: [{ id: 'gpt-4o-mini' }, { id: 'gpt-4o' }, { id: 'gpt-3.5-turbo-instruct' }] } },
        { data: { complete: { text: 'Hello from the fake upstream.' } } },
      ]);
      expect(ctx.fake.requests).toHaveLength(2);
    });

    it('refuses a batch of 3 as a whole: none of them runs', async () => {
      const response = await post(ctx.gw.httpUrl, [
        { query: '{ models { id } }' },
        { query: '{ models { id } }' },
        { query: `mutation { complete(input: ${PROMPT}) { text } }` },
      ]);
      expect(response.status).toBeGreaterThanOrEqual(400);
      const body = response.body as SingleResult;
      expect(body.errors?.[0]?.message).toMatch(/batch/i);
      expect(ctx.fake.requests).toEqual([]);
    });
  });
});

describe('CSRF prevention', () => {
  const ctx = useGatewayWithFake();
  const getUrl = (): string => `${ctx.gw.httpUrl}?query=${encodeURIComponent('{ models { id } }')}`;

  it('refuses GET /graphql?query=… without a custom header (403)', async () => {
    const response = await fetch(getUrl(), { headers: { accept: 'application/graphql-response+json' } });
    expect(response.status).toBe(403);
    await response.body?.cancel();
    expect(ctx.fake.requests).toEqual([]);
  });

  it('runs GET /graphql?query=… with x-graphql-yoga-csrf', async () => {
    const response = await fetch(getUrl(), {
      headers: { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as SingleResult).errors).toBeUndefined();
    expect(ctx.fake.requests).toHaveLength(1);
  });

  it('runs GET /graphql?query=… with apollo-require-preflight', async () => {
    const response = await fetch(getUrl(), {
      headers: { accept: 'application/graphql-response+json', 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(200);
    await response.body?.cancel();
  });

  it('runs POST application/json without the header (browsers preflight it)', async () => {
    const result = await graphql(ctx.gw.httpUrl, '{ models { id } }');
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'refuses a "simple" POST (content-type %s) without the header (403)',
    async (contentType) => {
      const response = await post(
        ctx.gw.httpUrl,
        JSON.stringify({ query: `mutation { complete(input: ${PROMPT}) { text } }` }),
        { 'content-type': contentType },
      );
      expect(response.status).toBe(403);
      expect(ctx.fake.requests).toEqual([]);
    },
  );
});

/** A CORS preflight for a JSON POST from `origin`: its headers (a refused preflight may have any status). */
async function preflight(url: string, origin: string): Promise<{ status: number; headers: Headers }> {
  const response = await fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });
  await response.body?.cancel();
  return { status: response.status, headers: response.headers };
}

describe('CORS, by default (no ALLOWED_ORIGINS): same origin only', () => {
  const ctx = useGatewayWithFake();

  it('gives no access-control-allow-origin to a preflight from another origin', async () => {
    const { headers } = await preflight(ctx.gw.httpUrl, 'https://evil.example');
    expect(headers.get('access-control-allow-origin')).toBeNull();
    expect(headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('gives no access-control-allow-origin to a request from another origin', async () => {
    const result = await post(ctx.gw.httpUrl, { query: '{ __typename }' }, { origin: 'https://evil.example' });
    expect(result.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS with ALLOWED_ORIGINS=https://app.example', () => {
  const ctx = useGatewayWithFake({ ALLOWED_ORIGINS: 'https://app.example' });

  it('allows that origin, with credentials, on the preflight and the request', async () => {
    const { status, headers } = await preflight(ctx.gw.httpUrl, 'https://app.example');
    expect(status).toBe(204);
    expect(headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(headers.get('access-control-allow-credentials')).toBe('true');
    expect(headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(headers.get('access-control-allow-headers')).toMatch(/content-type/i);

    const result = await post(ctx.gw.httpUrl, { query: '{ models { id } }' }, { origin: 'https://app.example' });
    expect(result.status).toBe(200);
    expect(result.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('does not allow another origin', async () => {
    const { headers } = await preflight(ctx.gw.httpUrl, 'https://evil.example');
    expect(headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    expect(headers.get('access-control-allow-origin')).not.toBe('*');

    const result = await post(ctx.gw.httpUrl, { query: '{ __typename }' }, { origin: 'https://evil.example' });
    expect(result.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    expect(result.headers.get('access-control-allow-origin')).not.toBe('*');
  });
});

describe('CORS with two ALLOWED_ORIGINS', () => {
  const ctx = useGatewayWithFake({ ALLOWED_ORIGINS: 'https://app.example, https://admin.example' });

  it('allows each listed origin and no other', async () => {
    for (const origin of ['https://app.example', 'https://admin.example']) {
      expect((await preflight(ctx.gw.httpUrl, origin)).headers.get('access-control-allow-origin')).toBe(origin);
    }
    const evil = (await preflight(ctx.gw.httpUrl, 'https://evil.example')).headers.get('access-control-allow-origin');
    expect(evil === null || evil === 'null').toBe(true);
  });
  it('allows no opaque origin ("null": sandboxed iframes, data: and file: pages)', async () => {
    const { headers } = await preflight(ctx.gw.httpUrl, 'null');
    expect(headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS with ALLOWED_ORIGINS=*', () => {
  const ctx = useGatewayWithFake({ ALLOWED_ORIGINS: '*' });

  it('allows any origin', async () => {
    const { headers } = await preflight(ctx.gw.httpUrl, 'https://anyone.example');
    expect(['*', 'https://anyone.example']).toContain(headers.get('access-control-allow-origin'));
  });
  it('does not let any origin send credentials', async () => {
    const { headers } = await preflight(ctx.gw.httpUrl, 'https://anyone.example');
    expect(headers.get('access-control-allow-credentials')).toBeNull();
  });
});
