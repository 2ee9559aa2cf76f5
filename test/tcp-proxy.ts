/**
 * A TCP proxy on loopback in front of a real server (the machine's Redis), which a test
 * can cut and restore: a Redis outage as a gateway sees it, without touching the server
 * other tests use. `cut()` closes every connection and refuses new ones; `mute()` keeps
 * accepting but forwards nothing either way (a Redis that stopped answering); `restore()`
 * forwards again, on the same port.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll } from 'vitest';

export interface TcpProxy {
  port: number;
  /** The target URL with the proxy's host and port instead. */
  url: string;
  cut(): Promise<void>;
  mute(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

const proxies: TcpProxy[] = [];
afterAll(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
});

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 6379);
  const sockets = new Set<Socket>();
  let muted = false;

  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (muted) return; // accepted, never answered
    const upstream = createConnection({ host: target.hostname, port: targetPort });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk) => {
      if (!muted) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!muted) client.write(chunk);
    });
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const { port } = address;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const stop = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const proxy: TcpProxy = {
    port,
    url: url.toString(),
    cut: stop,
    mute() {
      muted = true;
    },
    async restore() {
      muted = false;
      // Connections accepted while muted forwarded nothing: they go, as a real outage's would.
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server.listening) await listen(port);
    },
    close: stop,
  };
  proxies.push(proxy);
  return proxy;
}
