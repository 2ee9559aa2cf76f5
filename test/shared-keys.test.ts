/**
 * Key changes reach every instance within a second (issue #16): three gateways on one
 * database and one Redis, with KEY_CACHE_TTL_MS at a minute, so only the Redis
 * announcement can make an instance drop a key it has cached. Changes come through the
 * graph on one instance, or from the keys CLI as operators run it (a real process given
 * the same REDIS_URL).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CompleteDocument, RevokeApiKeyDocument, UpdateApiKeyLimitsDocument, type CompleteMutation } from '../src/generated/operations.js';
import { graphql, type HttpResult, type TestGateway } from './helpers.js';
import { useInstances } from './instances.js';
import { bearer, createKey, expectRateLimited, input } from './quota-cases.js';
import { redisSkip } from './redis.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function complete(gw: TestGateway, key: string): Promise<HttpResult<CompleteMutation>> {
  return graphql(gw.httpUrl, CompleteDocument, { input: input({ maxTokens: 5 }) }, bearer(key));
}

/** Polls until `gw` refuses `key` as unknown, failing once `limitMs` have passed since the change. */
async function refusedWithin(gw: TestGateway, key: string, since: number, limitMs: number): Promise<void> {
  for (;;) {
    const result = await complete(gw, key);
    if (result.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') return;
    expect(result.errors, 'served until it is refused').toBeUndefined();
    if (Date.now() - since > limitMs) throw new Error(`${gw.baseUrl} still served the revoked key ${Date.now() - since} ms after the change`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `npm run keys -- …` as a real process, with the instances' database and Redis. */
function keysCli(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/cli/keys.js', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(redisSkip !== undefined)('key changes seen by every instance', () => {
  const ctx = useInstances(3, { KEY_CACHE_TTL_MS: '60000' });

  it('refuses a key revoked through the graph on one instance on the other two within a second', async () => {
    const { key: admin } = await ctx.at(0).app.keys.create({ name: 'admin', admin: true });
    const { key, id } = await createKey(ctx.at(0), {});
    // Each instance has looked the key up, and caches it for a minute.
    for (const gw of ctx.gateways) expect((await complete(gw, key)).errors).toBeUndefined();

    const revoked = await graphql(ctx.at(0).httpUrl, RevokeApiKeyDocument, { id }, bearer(admin));
    expect(revoked.data?.revokeApiKey.revokedAt).not.toBeNull();
    const since = Date.now();
    await Promise.all([refusedWithin(ctx.at(1), key, since, 1000), refusedWithin(ctx.at(2), key, since, 1000)]);
  });

  it('applies new limits set on one instance on the others at once', async () => {
    const { key: admin } = await ctx.at(0).app.keys.create({ name: 'admin', admin: true });
    const { key, id } = await createKey(ctx.at(0), { rpm: 100 });
    expect((await complete(ctx.at(1), key)).errors).toBeUndefined();
    expect((await complete(ctx.at(2), key)).errors).toBeUndefined();

    const updated = await graphql(ctx.at(0).httpUrl, UpdateApiKeyLimitsDocument, { id, limits: { rpm: 2 } }, bearer(admin));
    expect(updated.data?.updateApiKeyLimits.limits.rpm).toBe(2);
    // Two requests are in the shared minute already: the cached limit of 100 would admit a third.
    const since = Date.now();
    for (const gw of [ctx.at(1), ctx.at(2)]) {
      for (;;) {
        const result = await complete(gw, key);
        if (result.errors !== undefined) {
          expectRateLimited(result, 'rpm');
          break;
        }
        expect(Date.now() - since, `${gw.baseUrl} still used the old limit`).toBeLessThan(1000);
      }
    }
  });

  it('refuses a key revoked with the keys CLI (given the same REDIS_URL) on every instance within a second of the command', async () => {
    const { key, id } = await createKey(ctx.at(0), {});
    for (const gw of ctx.gateways) expect((await complete(gw, key)).errors).toBeUndefined();

    const shared = Object.fromEntries(['DATABASE_URL', 'REDIS_URL', 'REDIS_KEY_PREFIX'].map((name) => [name, ctx.env[name] ?? '']));
    const run = await keysCli(shared, 'revoke', id);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const since = Date.now();
    await Promise.all(ctx.gateways.map((gw) => refusedWithin(gw, key, since, 1000)));
  });
});
