/**
 * Key changes (created, revoked, new limits) reach every instance within moments: whoever
 * changes a key — an instance through the graph, or the keys CLI — publishes its id on one
 * Redis channel, and every instance drops its key cache when it hears one. A message lost
 * in an outage is made up for when Redis is back (every cache is dropped then), and
 * KEY_CACHE_TTL_MS still bounds how long a stale lookup can live.
 */
import { Redis } from 'ioredis';

export function keyChannel(prefix: string): string {
  return `${prefix}keys:changed`;
}

/**
 * For a process with no shared state of its own (the keys CLI): one connection, one
 * message, closed. Resolves false when Redis could not be told within `timeoutMs`.
 */
export async function announceKeyChange(url: string, prefix: string, keyId: string, timeoutMs = 2000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined); // the result says it
  try {
    await client.connect();
    await client.publish(keyChannel(prefix), keyId);
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
