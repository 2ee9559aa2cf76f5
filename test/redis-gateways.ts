/**
 * What the Redis outage tests read off their gateways: `gateway_redis_up`, how often a line
 * was logged, and the key's ledger rows once every gateway has written what it holds.
 */
import { CompleteDocument } from '../src/generated/operations.js';
import { graphql, type HttpResult, type TestGateway } from './helpers.js';
import { bearer, input } from './quota-cases.js';

/** A short `complete` as `key`. */
export function complete(gw: TestGateway, key: string): Promise<HttpResult<unknown>> {
  return graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 5 }) }, bearer(key));
}

export async function redisUp(gw: TestGateway): Promise<number> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  const match = /^gateway_redis_up (\d)$/m.exec(text);
  if (!match) throw new Error('no gateway_redis_up in /metrics');
  return Number(match[1]);
}

/** Log lines of `gw` that contain `text`. */
export function logged(gw: TestGateway, text: string): number {
  return gw.logs.filter((line) => line.includes(text)).length;
}

/** The key's ledger rows, read through `reader` once every one of `gateways` has flushed. */
export async function ledgerRows(keyId: string, gateways: TestGateway[], reader: TestGateway): Promise<number> {
  for (const gw of gateways) await gw.app.ledger.flush();
  const buckets = await reader.app.ledger.usage({ from: 0, to: Date.now() + 1000, groupBy: 'KEY', keyId });
  return buckets.reduce((sum, bucket) => sum + bucket.requests, 0);
}
