import type { CORSOptions } from 'graphql-yoga';

/**
 * CORS from ALLOWED_ORIGINS: none (same origin only) by default; `*` for any origin but
 * never with credentials; otherwise only a listed origin, named back exactly (never the
 * opaque `null` that sandboxed iframes and file: pages send).
 */
export function corsFor(allowed: readonly string[]): false | ((request: Request) => CORSOptions) {
  if (allowed.length === 0) return false;
  if (allowed.includes('*')) return () => ({ origin: '*', credentials: false });
  return (request) => {
    const origin = request.headers.get('origin');
    return origin !== null && allowed.includes(origin) ? { origin: [origin], credentials: true } : false;
  };
}
