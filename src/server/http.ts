/**
 * The HTTP front door, before Yoga: health and metrics endpoints that must answer even
 * while draining, the refusal of new work during a shutdown, the chat app's static files
 * (CHAT_UI), and the body size cap.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LedgerHealth } from '../accounts/ledger.js';
import type { ChatUi } from './chat-ui.js';
import type { Lifecycle } from './lifecycle.js';
import type { Metrics } from '../observability/metrics.js';
import { ErrorCode } from '../graphql/errors.js';

export interface FrontDoorOptions {
  /** Yoga, as a Node request listener. */
  yoga: (req: IncomingMessage, res: ServerResponse) => unknown;
  lifecycle: Lifecycle;
  /** Absent when METRICS=false. */
  metrics: Metrics | undefined;
  /** METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /** Whether ledger rows can be written, for /health. */
  ledgerHealth?: () => LedgerHealth;
  maxBodyBytes: number;
  /** CHAT_UI=true: serves the example chat app at /chat (GET and HEAD, before Yoga). */
  chatUi?: ChatUi | undefined;
}

/**
 * Compares in constant time: both sides are hashed first, so neither the length nor a
 * common prefix of a wrong token shows in the time taken.
 */
function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function bearer(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/**
 * /health's body: `ok`, `draining` (503, load balancers stop routing here), or `degraded`
 * while ledger rows cannot be written. Degraded stays 200 on purpose: the rows are only in
 * this process's memory, and an orchestrator that restarted it on a failed check would
 * lose them.
 */
function health(lifecycle: Lifecycle, ledger: (() => LedgerHealth) | undefined): { status: number; body: Record<string, unknown> } {
  if (lifecycle.draining) return { status: 503, body: { status: 'draining' } };
  const state = ledger?.();
  if (state?.database === undefined) return { status: 200, body: { status: 'ok' } };
  return { status: 200, body: { status: 'degraded', database: state.database, pendingLedgerRows: state.pendingLedgerRows } };
}

/** whatwg-node (under Yoga) takes a pre-read body from `req.body` instead of reading the stream. */
type RequestWithBody = IncomingMessage & { body?: Buffer };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function graphqlError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  // `connection: close`: the rest of a refused body is never read, so the socket can't be reused.
  sendJson(res, status, { errors: [{ message, extensions: { code } }] }, { connection: 'close' });
}

/** Reads the body into memory, refusing it as soon as it passes `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        resolve('too large');
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

export function createFrontDoor(options: FrontDoorOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { yoga, lifecycle, metrics, metricsToken, ledgerHealth, maxBodyBytes, chatUi } = options;
  const tooLarge = (res: ServerResponse): void =>
    graphqlError(res, 413, ErrorCode.PAYLOAD_TOO_LARGE, `The request body is over the limit of ${maxBodyBytes} bytes`);

  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/health') {
      const { status, body } = health(lifecycle, ledgerHealth);
      sendJson(res, status, body);
      return;
    }
    if (path === '/metrics' && metrics && req.method === 'GET') {
      if (metricsToken !== undefined && !sameToken(bearer(req.headers.authorization), metricsToken)) {
        sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
        return;
      }
      metrics.scrape().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => sendJson(res, 500, { error: 'metrics unavailable' }),
      );
      return;
    }
    if (lifecycle.draining) {
      graphqlError(res, 503, ErrorCode.SHUTTING_DOWN, 'The server is shutting down; retry on another instance');
      return;
    }
    if (chatUi?.(req, res)) return;
    if (req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH') {
      void yoga(req, res);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      tooLarge(res);
      return;
    }
    readBody(req, maxBodyBytes).then(
      (body) => {
        if (body === 'too large') {
          tooLarge(res);
          return;
        }
        (req as RequestWithBody).body = body;
        void yoga(req, res);
      },
      () => res.destroy(),
    );
  };
}
