/**
 * A TCP proxy in front of PostgreSQL that can lose the answer to a COMMIT: the COMMIT
 * reaches the server and is carried out, then the connection to the client is cut before
 * the server's answer is passed on. The client sees a broken connection for a transaction
 * that did commit, which is what a retry must not write twice.
 *
 * It reads the client's side of the wire protocol (a startup message without a type byte,
 * then typed, length-prefixed messages) to find the COMMIT; Kysely sends it as a simple
 * query (`Q`), with no parameters.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface PgProxy {
  /** The database URL, through the proxy. */
  url: string;
  /** The next COMMIT is carried out by the server, and its connection cut before the answer. */
  loseNextCommitAnswer(): void;
  /** Resolves once an armed COMMIT's answer was dropped. */
  readonly answerLost: Promise<void>;
  close(): Promise<void>;
}

/** Splits the client's byte stream into messages; calls `onQuery` with each simple query's text. */
function clientMessages(onQuery: (text: string) => void): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!started) {
        if (buffer.length < 4) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        buffer = buffer.subarray(length);
        started = true;
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (buffer.length < 1 + length) return;
      if (buffer[0] === 0x51 /* Q */) onQuery(buffer.subarray(5, length).toString('utf8').replace(/\0$/, ''));
      buffer = buffer.subarray(1 + length);
    }
  };
}

export async function startPgProxy(target: string): Promise<PgProxy> {
  const upstream = new URL(target);
  let armed = false;
  let lost: () => void = () => undefined;
  const answerLost = new Promise<void>((resolve) => (lost = resolve));
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const backend = connect(Number(upstream.port || 5432), upstream.hostname);
    sockets.add(client).add(backend);
    let commitSent = false;
    const parse = clientMessages((text) => {
      if (armed && text.trim().toLowerCase() === 'commit') {
        armed = false;
        commitSent = true;
      }
    });
    client.on('data', (chunk: Buffer) => {
      parse(chunk);
      backend.write(chunk);
    });
    backend.on('data', (chunk: Buffer) => {
      if (!commitSent) {
        client.write(chunk);
        return;
      }
      // The server answered the COMMIT: it is done. The client never hears of it.
      if (chunk.includes('COMMIT\0')) {
        client.destroy();
        backend.destroy();
        lost();
      }
    });
    const end = (): void => {
      client.destroy();
      backend.destroy();
      sockets.delete(client);
      sockets.delete(backend);
    };
    client.on('close', end).on('error', end);
    backend.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no proxy address');
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    loseNextCommitAnswer: () => (armed = true),
    answerLost,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
