/**
 * The example chat app (examples/chat: Vite + React + Apollo Client), served from its build
 * at /chat when CHAT_UI=true, so a newcomer sees a streaming UI with `npm start`. Static
 * files only, through sirv: hashed assets are cached for good, the page is revalidated,
 * and brotli or gzip copies (written by the app's build) go to browsers that take them.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

/** Where the app is served. */
export const CHAT_UI_PATH = '/chat';

/**
 * The app's build, found from this module's place in the package (src/server/ when run from
 * source, dist/server/ when compiled: both two levels below the root), never from the cwd.
 */
export const CHAT_UI_DIST = fileURLToPath(new URL('../../examples/chat/dist/', import.meta.url));

/**
 * The page holds the user's gateway key: scripts, styles and connections from this origin
 * only, and no framing by other sites.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-cache',
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export class ChatUiNotBuilt extends Error {
  constructor(dir: string) {
    super(`CHAT_UI=true, but the chat app is not built (no ${join(dir, 'index.html')}): run \`npm run build -w examples/chat\` (or start with \`npm start\`, which builds it)`);
    this.name = 'ChatUiNotBuilt';
  }
}

/** Handles /chat and everything under it; returns false for any other path. */
export type ChatUi = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Throws ChatUiNotBuilt when `dir` holds no build (sirv lists the files once, here). */
export function createChatUi(dir: string = CHAT_UI_DIST): ChatUi {
  if (!existsSync(join(dir, 'index.html'))) throw new ChatUiNotBuilt(dir);
  const serve = sirv(dir, {
    etag: true,
    gzip: true,
    brotli: true,
    setHeaders(res, pathname) {
      // Vite names every asset by its content's hash: a changed file is a new URL.
      if (pathname.startsWith('/assets/')) res.setHeader('cache-control', 'public, max-age=31536000, immutable');
      else for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
    },
  });
  const notFound = (res: ServerResponse): void => {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not found');
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== CHAT_UI_PATH && !path.startsWith(`${CHAT_UI_PATH}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed');
      return true;
    }
    if (path === CHAT_UI_PATH) {
      // The app's URLs are relative to /chat/.
      res.writeHead(308, { location: `${CHAT_UI_PATH}/${query === -1 ? '' : url.slice(query)}` });
      res.end();
      return true;
    }
    req.url = url.slice(CHAT_UI_PATH.length);
    serve(req, res, () => notFound(res));
    return true;
  };
}
