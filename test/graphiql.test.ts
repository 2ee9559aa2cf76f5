/**
 * The GraphiQL page is self-contained: its bundle, styles, fonts and icon are inlined from
 * the installed package, so it works offline and loads nothing from a CDN.
 */
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

describe('health check', () => {
  it('answers 200 on /health', async () => {
    const response = await fetch(`${gw.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
