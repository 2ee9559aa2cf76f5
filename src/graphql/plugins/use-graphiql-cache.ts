/**
 * The GraphiQL page, rendered once and compressed once (brotli and gzip), then served in
 * the coding the browser prefers, with an ETag so a repeat visit costs a bodiless 304.
 *
 * Yoga still decides which requests get the page (its GraphiQL handling: GET, accept:
 * text/html, the GraphQL endpoint); the options factory notes those requests, and this
 * plugin's `onResponse` swaps Yoga's uncompressed answer for the cached bytes. Nothing else
 * passes through here: GraphQL results and event streams are never compressed (a stream
 * must flush per event).
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

export type Coding = 'br' | 'gzip' | 'identity';

interface Representation {
  coding: Coding;
  body: Uint8Array<ArrayBuffer>;
  /** Strong, and distinct per coding: the bytes differ, so must the tags. */
  etag: string;
}

type Representations = Record<Coding, Promise<Representation>>;

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** The codings we can produce, most preferred first (the order breaks ties of equal q). */
const CODINGS: readonly Coding[] = ['br', 'gzip', 'identity'];

/**
 * The coding to send for an `Accept-Encoding` header (RFC 9110 §12.5.3): the acceptable
 * one with the highest q, ties broken by `CODINGS`' order; identity when the header is
 * absent or refuses everything (a page the client may not want beats no page). A coding
 * not listed takes `*`'s q, else none; identity, unless listed, ranks below every listed
 * coding (as in `negotiator`, which express uses) so `gzip;q=0.5` still means gzip.
 */
export function chooseCoding(header: string | null | undefined): Coding {
  if (!header?.trim()) return 'identity';
  const q = new Map<string, number>();
  for (const entry of header.split(',')) {
    const [name = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    if (!name) continue;
    const given = params.find((param) => param.startsWith('q='))?.slice(2);
    // A malformed q is read as 0: never send a coding the client may not decode.
    const value = given === undefined ? 1 : /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(given) ? Number(given) : 0;
    q.set(name, Math.max(value, q.get(name) ?? 0));
  }
  const lowest = Math.min(...q.values());
  const weight = (coding: Coding): number =>
    q.get(coding) ?? (coding === 'identity' ? Math.min(lowest, q.get('*') ?? 1) : (q.get('*') ?? 0));
  let best: Coding = 'identity';
  let bestWeight = 0;
  for (const coding of CODINGS) {
    const w = weight(coding);
    if (w > bestWeight) [best, bestWeight] = [coding, w];
  }
  return best;
}

/** Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 §13.1.2 asks). */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/**
 * Compresses the page once, each coding on libuv's thread pool (node:zlib's async calls),
 * so neither blocks the event loop. The first viewer waits for its coding, so the levels
 * are the cheap end of the curve. Measured on the 9.05 MB page, on an idle core: brotli
 * quality 6 gives 1.92 MB in ~0.4 s, where 9 saves 3% more for 2.5 times the time and 11
 * saves 11% more for ~13 s; gzip level 6 gives 2.44 MB in ~0.25 s, 9 saves 0.4% for +55%.
 * A failed compression falls back to identity rather than failing the page.
 */
function represent(page: string): Representations {
  const body = Buffer.from(page, 'utf8');
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  const of = (coding: Coding, bytes: Buffer): Representation => ({
    coding,
    // Node's Buffers (zlib's output, Buffer.from) sit on a plain ArrayBuffer, never a shared one.
    body: bytes as Uint8Array<ArrayBuffer>,
    etag: coding === 'identity' ? `"${hash}"` : `"${hash}-${coding}"`,
  });
  const identity = Promise.resolve(of('identity', body));
  const fallback = (): Promise<Representation> => identity;
  return {
    identity,
    gzip: gzipped(body, { level: 6 }).then((bytes) => of('gzip', bytes), fallback),
    br: brotli(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 6,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }).then((bytes) => of('br', bytes), fallback),
  };
}

export interface GraphiQLCache {
  /** Yoga's `graphiql` option: the page's options, noting each request that gets the page. */
  options: (request: Request) => GraphiQLOptions;
  /** Yoga's `renderGraphiQL`: renders the page on the first view only. */
  render: (options: GraphiQLOptions) => Promise<string>;
  /** Serves the page from the cache, compressed, with ETag and Cache-Control. */
  plugin: Plugin;
}

export function useGraphiQLCache(
  options: GraphiQLOptions,
  render: (options: GraphiQLOptions) => string | Promise<string>,
): GraphiQLCache {
  const pageRequests = new WeakSet<Request>();
  let page: Promise<string> | undefined;
  let representations: Promise<Representations> | undefined;

  return {
    options: (request) => {
      pageRequests.add(request);
      return options;
    },
    render: (given) => (page ??= Promise.resolve(render(given))),
    plugin: {
      async onResponse(payload) {
        const { request, response, fetchAPI } = payload;
        if (!pageRequests.has(request) || response.status !== 200 || !page) return;
        // Started by the first view (it waits for its own coding, ~0.4 s for brotli); every
        // later view is served the cached bytes.
        representations ??= page.then(represent);
        const chosen = await (await representations)[chooseCoding(request.headers.get('accept-encoding'))];

        // Keep what earlier plugins set (CORS, x-request-id) on Yoga's answer.
        const headers = new fetchAPI.Headers(response.headers);
        headers.set('etag', chosen.etag);
        // The page sits at a fixed URL (/graphql) and changes with the gateway's version or
        // options, so a max-age would show a stale page after a deploy. `no-cache` lets the
        // browser keep it but revalidate on each view, which costs a 304 with no body.
        headers.set('cache-control', 'no-cache');
        // The same URL answers GraphQL to other `Accept`s, and the bytes depend on the coding.
        headers.set('vary', [headers.get('vary'), 'Accept', 'Accept-Encoding'].filter(Boolean).join(', '));
        if (matches(request.headers.get('if-none-match'), chosen.etag)) {
          headers.delete('content-type');
          payload.setResponse(new fetchAPI.Response(null, { status: 304, headers }));
          return;
        }
        headers.set('content-type', 'text/html; charset=utf-8');
        headers.set('content-length', String(chosen.body.length));
        if (chosen.coding !== 'identity') headers.set('content-encoding', chosen.coding);
        payload.setResponse(new fetchAPI.Response(chosen.body, { status: 200, headers }));
      },
    },
  };
}
