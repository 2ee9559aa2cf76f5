/**
 * The GraphiQL page is self-contained: its bundle, styles, fonts and icon are inlined from
 * the installed package, so it works offline and loads nothing from a CDN.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { parse, validate } from 'graphql';
import { schema } from '../src/graphql/schema/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './helpers.js';

let gw: TestGateway;
let page: string;
let contentType: string | null;

beforeAll(async () => {
  gw = await startGateway();
  const response = await fetch(gw.httpUrl, { headers: { accept: 'text/html' } });
  expect(response.status).toBe(200);
  contentType = response.headers.get('content-type');
  page = await response.text();
});

afterAll(async () => {
  await gw.stop();
});

/** The page's own markup: everything outside the bodies of its <style> and <script> elements. */
function markupOf(html: string): { markup: string; styles: string[]; scripts: string[] } {
  const styles: string[] = [];
  const scripts: string[] = [];
  let markup = '';
  let rest = html;
  for (;;) {
    const open = /<(style|script)\b[^>]*>/i.exec(rest);
    if (!open) break;
    const tag = open[1]?.toLowerCase() ?? '';
    const bodyStart = open.index + open[0].length;
    // The bundle is inline JavaScript: it can contain "<script>" in strings, but never "</script>".
    const close = rest.toLowerCase().indexOf(`</${tag}>`, bodyStart);
    expect(close).toBeGreaterThan(-1);
    markup += rest.slice(0, bodyStart);
    (tag === 'style' ? styles : scripts).push(rest.slice(bodyStart, close));
    markup += `</${tag}>`;
    rest = rest.slice(close + tag.length + 3);
  }
  return { markup: markup + rest, styles, scripts };
}

describe('GraphiQL page', () => {
  it('serves GraphiQL as HTML on GET /graphql with accept: text/html', () => {
    expect(contentType).toMatch(/^text\/html/);
    expect(page).toMatch(/^\s*<!doctype html>/i);
    expect(page).toContain('<title>LLM GraphQL Gateway</title>');
    expect(page).toContain('YogaGraphiQL.renderYogaGraphiQL(');
    expect(page).toMatch(/graphiql/i);
  });

  it('loads no script, stylesheet, font or icon from another host: everything is inline', () => {
    const { markup, styles, scripts } = markupOf(page);
    // One inline script (the bundle and its start-up call) and one inline stylesheet.
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(scripts[0]?.length).toBeGreaterThan(1_000_000);

    const tags = markup.match(/<[a-z][^>]*>/gi) ?? [];
    // No element of the page's own markup points anywhere: no src, and href only to inline data.
    expect(tags.filter((tag) => /\bsrc\s*=/i.test(tag))).toEqual([]);
    const hrefs = tags.flatMap((tag) => [...tag.matchAll(/\bhref\s*=\s*"([^"]*)"/gi)].map((m) => m[1] ?? ''));
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) expect(href).toMatch(/^data:/);
    expect(tags.filter((tag) => /^<link\b/i.test(tag) && !/\brel="icon"/i.test(tag))).toEqual([]);

    // The stylesheet imports nothing, and its fonts and images are data: URLs.
    const css = styles[0] ?? '';
    expect(css).not.toMatch(/@import/i);
    const urls = [...css.matchAll(/url\(\s*["']?([^"')\s]*)/gi)].map((m) => m[1] ?? '');
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((url) => /^(https?:)?\/\//i.test(url))).toEqual([]);
  });

  it('mentions no CDN anywhere in the page, bundle included', () => {
    for (const cdn of ['unpkg', 'jsdelivr', 'esm.sh', 'cdnjs', 'skypack', 'fonts.googleapis', 'fonts.gstatic']) {
      expect(page.includes(cdn), cdn).toBe(false);
    }
  });

  it('embeds the example operation: the Stream subscription on completionStream', () => {
    const options = /YogaGraphiQL\.renderYogaGraphiQL\(\s*window\.document\.querySelector\('#root'\),\s*(\{.*\}),\s*\);/s.exec(page);
    expect(options).not.toBeNull();
    const { defaultQuery } = JSON.parse(options?.[1] ?? '{}') as { defaultQuery?: string };
    expect(defaultQuery).toMatch(/subscription Stream \{\s*completionStream\(/);
    expect(defaultQuery).toMatch(/mutation Complete \{\s*complete\(/);
    expect(defaultQuery).toMatch(/mutation CallTool \{\s*complete\(input: \{[^]*tools: \[/);
    expect(defaultQuery).toMatch(/mutation StructuredOutput \{\s*complete\(input: \{[^]*responseFormat: \{ type: JSON_SCHEMA/);
    // Every example is a valid operation of the served schema.
    expect(validate(schema, parse(defaultQuery ?? ''))).toEqual([]);
  });

  it('serves the same page on a second GET', async () => {
    const again = await fetch(gw.httpUrl, { headers: { accept: 'text/html' } });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(page);
  });

  it('answers GraphQL, not the page, on GET /graphql without accept: text/html', async () => {
    const response = await fetch(`${gw.httpUrl}?query=${encodeURIComponent('{ models { id } }')}`, {
      headers: { accept: 'application/graphql-response+json', 'x-graphql-yoga-csrf': '1' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { models: [{ id: 'simulator' }] } });
  });

  it('tells GraphiQL to send the CSRF header that GET and SSE requests need', () => {
    expect(page).toContain('"additionalHeaders":{"x-graphql-yoga-csrf":"graphiql"}');
  });
});

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request over node:http, which (unlike fetch) hands back the bytes as sent: no decompression. */
function raw(url: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

const pageRequest = (acceptEncoding?: string, extra: Record<string, string> = {}): Promise<RawResponse> =>
  raw(gw.httpUrl, { accept: 'text/html', ...(acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding }), ...extra });

describe('GraphiQL page compression and caching', () => {
  // What a browser sends today.
  const BROWSER = 'gzip, deflate, br, zstd';

  it('sends brotli when br is accepted, and it decompresses to the identity page', async () => {
    const response = await pageRequest(BROWSER);
    expect(response.status).toBe(200);
    expect(response.headers['content-encoding']).toBe('br');
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(Number(response.headers['content-length'])).toBe(response.body.length);
    expect(response.body.length).toBeLessThan(Buffer.byteLength(page) / 3);
    expect(brotliDecompressSync(response.body).toString('utf8')).toBe(page);
  });

  it('sends gzip when only gzip is accepted', async () => {
    const response = await pageRequest('gzip');
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(response.body.length).toBeLessThan(Buffer.byteLength(page) / 3);
    expect(gunzipSync(response.body).toString('utf8')).toBe(page);
  });

  it('sends the page uncompressed when neither is accepted, or no Accept-Encoding is sent', async () => {
    for (const acceptEncoding of ['deflate', 'zstd, identity', undefined]) {
      const response = await pageRequest(acceptEncoding);
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding'], String(acceptEncoding)).toBeUndefined();
      expect(Number(response.headers['content-length'])).toBe(response.body.length);
      expect(response.body.toString('utf8')).toBe(page);
    }
  });

  it('honours q-values: the highest wins, q=0 refuses, * stands for what is not listed', async () => {
    const cases: [string, string | undefined][] = [
      ['br;q=0.5, gzip;q=0.9', 'gzip'],
      ['gzip;q=0.4, br;q=0.8', 'br'],
      ['gzip, br;q=0', 'gzip'],
      ['br;q=0, gzip;q=0', undefined],
      ['identity;q=1, gzip;q=0.5', undefined],
      ['gzip;q=0.5', 'gzip'],
      ['*', 'br'],
      ['*, br;q=0', 'gzip'],
      ['*;q=0', undefined],
      ['GZIP;Q=0.7', 'gzip'],
      ['br;q=nonsense, gzip;q=0.1', 'gzip'],
    ];
    for (const [acceptEncoding, expected] of cases) {
      const response = await pageRequest(acceptEncoding);
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding'], acceptEncoding).toBe(expected);
    }
  });

  it('varies on Accept-Encoding (and Accept), lets browsers revalidate, and keeps the other headers', async () => {
    const response = await pageRequest(BROWSER);
    const vary = String(response.headers.vary).toLowerCase().split(/\s*,\s*/);
    expect(vary).toContain('accept-encoding');
    expect(vary).toContain('accept');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-request-id']).toBeTruthy();
  });

  it('tags each coding with its own strong ETag, the same on every view', async () => {
    const [br, gzip, identity, brAgain] = await Promise.all([pageRequest('br'), pageRequest('gzip'), pageRequest(), pageRequest(BROWSER)]);
    const tags = [br, gzip, identity].map((r) => r.headers.etag);
    for (const tag of tags) expect(tag).toMatch(/^"[\w-]+"$/);
    expect(new Set(tags).size).toBe(3);
    expect(brAgain.headers.etag).toBe(br.headers.etag);
  });

  it('answers a repeat view with If-None-Match by a 304 and no body', async () => {
    for (const acceptEncoding of [BROWSER, 'gzip', undefined]) {
      const first = await pageRequest(acceptEncoding);
      const etag = String(first.headers.etag);
      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const again = await pageRequest(acceptEncoding, { 'if-none-match': ifNoneMatch });
        expect(again.status, ifNoneMatch).toBe(304);
        expect(again.body.length).toBe(0);
        expect(again.headers.etag).toBe(etag);
        expect(again.headers['content-encoding']).toBeUndefined();
        expect(String(again.headers.vary).toLowerCase()).toContain('accept-encoding');
        expect(again.headers['cache-control']).toBe('no-cache');
      }
    }
  });

  it('sends the page again when If-None-Match names another coding or another page', async () => {
    const gzip = await pageRequest('gzip');
    for (const ifNoneMatch of [String(gzip.headers.etag), '"stale"']) {
      const response = await pageRequest('br', { 'if-none-match': ifNoneMatch });
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding']).toBe('br');
      expect(brotliDecompressSync(response.body).toString('utf8')).toBe(page);
    }
  });

  it('does not compress GraphQL JSON responses, over GET or POST', async () => {
    const query = '{ models { id } }';
    const responses = await Promise.all([
      raw(`${gw.httpUrl}?query=${encodeURIComponent(query)}`, {
        accept: 'application/graphql-response+json',
        'accept-encoding': 'gzip, br',
        'x-graphql-yoga-csrf': '1',
      }),
      raw(gw.httpUrl, { 'content-type': 'application/json', 'accept-encoding': 'gzip, br' }, JSON.stringify({ query })),
    ]);
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers.etag).toBeUndefined();
      expect(JSON.parse(response.body.toString('utf8'))).toEqual({ data: { models: [{ id: 'simulator' }] } });
    }
  });

  it('does not compress SSE streams', async () => {
    const query = 'subscription { completionStream(input: { messages: [{ role: USER, content: "Hi" }], maxTokens: 5 }) { accumulatedText } }';
    const response = await raw(
      gw.httpUrl,
      { 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': 'gzip, br' },
      JSON.stringify({ query }),
    );
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    // Yoga marks its event streams `none` itself, so that proxies leave them alone too.
    expect([undefined, 'none']).toContain(response.headers['content-encoding']);
    const text = response.body.toString('utf8');
    expect(text).toMatch(/^event: next\ndata: \{"data":\{"completionStream":/m);
    expect(text).toMatch(/^event: complete$/m);
  });

  it('flushes each SSE event as it happens when the client accepts gzip and br', async () => {
    // A paced simulator, so the stream has events well apart in time.
    const paced = await startGateway({ SIMULATOR_TOKEN_DELAY_MS: '40' });
    try {
      const query = 'subscription { completionStream(input: { messages: [{ role: USER, content: "Hi" }], maxTokens: 20 }) { accumulatedText } }';
      const reads = await new Promise<string[]>((resolve, reject) => {
        const req = httpRequest(
          paced.httpUrl,
          { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': 'gzip, br' } },
          (res) => {
            const chunks: string[] = [];
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => chunks.push(chunk));
            res.once('end', () => resolve(chunks));
            res.once('error', reject);
          },
        );
        req.once('error', reject);
        req.end(JSON.stringify({ query }));
      });
      // Plain text from the first read on, and the events arrive in several reads, not one at the end.
      expect(reads[0]).toMatch(/^(:|event: )/);
      const withEvents = reads.filter((read) => read.includes('event: next'));
      expect(withEvents.length).toBeGreaterThan(3);
      expect(reads.join('')).toMatch(/^event: complete$/m);
    } finally {
      await paced.stop();
    }
  });
});

describe('health check', () => {
  it('answers 200 on /health', async () => {
    const response = await fetch(`${gw.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
