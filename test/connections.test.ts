/**
 * The upstream connection pool (src/upstream/openai/connections.ts) against a real `node:http`
 * server on 127.0.0.1: it is a socket pool, so sockets are its unit. The server side
 * tells which connection each request came on (the client's port) and can close them.
 *
 * Two checks read the pool's own bookkeeping (`all`, `idle`): an undici Client whose
 * socket closed reconnects by itself on its next request, so a closed connection kept in
 * the pool looks the same on the wire as a new one; what dropping it prevents is the
 * pool growing without bound, and that is only visible in the pool.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { Connections } from '../src/upstream/openai/connections.js';
import { eventually } from './helpers.js';

interface Server {
  origin: string;
  /** The client port of every request, in arrival order. */
  ports: number[];
  /** Server-side sockets, in the order they connected. */
  sockets: Socket[];
  /** Requests answered only when `release()` is called (when `hold` is on). */
  held: ServerResponse[];
  hold: boolean;
  closed(): number;
  close(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const sockets: Socket[] = [];
  let closedCount = 0;
  const state: Server = {
    origin: '',
    ports: [],
    sockets,
    held: [],
    hold: false,
    closed: () => closedCount,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    state.ports.push(req.socket.remotePort ?? -1);
    req.resume();
    req.on('end', () => {
      if (state.hold) state.held.push(res);
      else res.end('ok');
    });
  });
  // Longer than any test: only the tests close connections.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    sockets.push(socket);
    socket.on('close', () => closedCount++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** The pool's bookkeeping (see the file comment for why a test reads it). */
function internals(pool: Connections): { all: Set<unknown>; idle: unknown[] } {
  return pool as unknown as { all: Set<unknown>; idle: unknown[] };
}

const GET: Dispatcher.RequestOptions = { method: 'GET', path: '/' };

async function get(pool: Connections, options: Partial<Dispatcher.RequestOptions> = {}): Promise<string> {
  const response = await pool.request({ ...GET, ...options });
  return response.body.text();
}

/**
 * A request to the end, then a turn of the event loop: undici says `drain` (and the pool
 * takes the connection back) just after the body ends, so a request sent in the same turn
 * would find no idle connection yet.
 */
async function getThenIdle(pool: Connections): Promise<string> {
  const text = await get(pool);
  await new Promise((resolve) => setImmediate(resolve));
  return text;
}

/** Runs `n` requests at once (the server holds them until all have arrived) to the end. */
async function concurrently(server: Server, pool: Connections, n: number): Promise<void> {
  server.hold = true;
  const before = server.held.length;
  const pending = Array.from({ length: n }, () => get(pool));
  await eventually(() => server.held.length - before === n, `${n} requests to arrive together`);
  server.hold = false;
  for (const res of server.held.splice(before)) res.end('ok');
  expect(await Promise.all(pending)).toEqual(Array.from({ length: n }, () => 'ok'));
  // A connection goes back to the idle stack on `drain`, just after its body ends.
  await eventually(() => internals(pool).idle.length >= n, 'the connections to be idle again');
}

let server: Server;
let pool: Connections;

beforeEach(async () => {
  server = await startServer();
  pool = new Connections(server.origin, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
});

afterEach(async () => {
  await pool.destroy();
  await server.close();
});

describe('Connections', () => {
  it('reuses an idle connection for the next request instead of opening another', async () => {
    for (let i = 0; i < 5; i++) expect(await getThenIdle(pool)).toBe('ok');
    expect(server.sockets).toHaveLength(1);
    expect(new Set(server.ports).size).toBe(1);
  });

  it('opens one connection per request running at once, and reuses them all afterwards', async () => {
    await concurrently(server, pool, 5);
    expect(server.sockets).toHaveLength(5);
    expect(new Set(server.ports).size).toBe(5);

    await concurrently(server, pool, 5);
    expect(server.sockets).toHaveLength(5);
    expect(new Set(server.ports.slice(5))).toEqual(new Set(server.ports.slice(0, 5)));
  });

  it('lends sequential requests the same idle connection out of several (a stack, not a rotation)', async () => {
    await concurrently(server, pool, 3);
    // The last one back is the first one lent out again (a stack), so a quiet pool keeps
    // using few connections and lets the rest reach their keep-alive timeout.
    for (let i = 0; i < 4; i++) expect(await getThenIdle(pool)).toBe('ok');
    const reused = server.ports.slice(3);
    expect(server.ports.slice(0, 3)).toContain(reused[0]);
    expect(new Set(reused).size).toBe(1);
    expect(server.sockets).toHaveLength(3);
  });

  it('drops a connection the server closes while it is idle, and serves the next request on a new one', async () => {
    expect(await getThenIdle(pool)).toBe('ok');
    expect(internals(pool).all.size).toBe(1);
    server.sockets[0]?.destroy();
    await eventually(() => internals(pool).all.size === 0, 'the pool to drop the closed connection');

    expect(await getThenIdle(pool)).toBe('ok');
    expect(server.sockets).toHaveLength(2);
    expect(internals(pool).all.size).toBe(1);
    expect(internals(pool).idle).toHaveLength(1);
  });

  it('compacts the idle stack once more than 64 closed connections are in it, keeping the open ones in use', async () => {
    await concurrently(server, pool, 100);
    expect(server.sockets).toHaveLength(100);
    // 65 of them close while idle: more than 64, and most of the stack.
    for (const socket of server.sockets.slice(0, 65)) socket.destroy();
    await eventually(() => internals(pool).all.size === 35, 'the pool to drop the 65 closed connections', 5000);
    // The stack holds only the open ones now, not 65 dead entries waiting to be popped.
    expect(internals(pool).idle).toHaveLength(35);

    // The 35 still open are the ones lent out: no new connection for 35 requests at once…
    await concurrently(server, pool, 35);
    expect(server.sockets).toHaveLength(100);
    const open = new Set(server.sockets.slice(65).map((s) => s.remotePort));
    expect(new Set(server.ports.slice(-35))).toEqual(open);
    // …and a 36th at once needs one more.
    await concurrently(server, pool, 36);
    expect(server.sockets).toHaveLength(101);
  });

  it('does not take a connection for a request whose signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(pool.request({ ...GET, signal: controller.signal })).rejects.toThrow(/aborted/i);
    expect(internals(pool).all.size).toBe(0);
    // Nothing was left lent out: the next request is served on the first connection made.
    expect(await get(pool)).toBe('ok');
    expect(server.sockets).toHaveLength(1);
  });

  it('destroy() closes every connection, idle and busy, and fails the request in flight', async () => {
    await concurrently(server, pool, 2);
    server.hold = true;
    const inFlight = pool.request(GET).then(
      () => 'answered',
      (error: unknown) => error,
    );
    await eventually(() => server.held.length === 1, 'the held request to arrive');
    await pool.destroy();
    expect(await inFlight).toBeInstanceOf(Error);
    await eventually(() => server.closed() === server.sockets.length, 'the server to see every socket close');
    expect(server.sockets).toHaveLength(2);
    expect(internals(pool).all.size).toBe(0);
    expect(internals(pool).idle).toHaveLength(0);
  });
});
