/**
 * Several gateway instances in this process, as an operator would run them behind a load
 * balancer: each its own app on its own port, all on one ledger database (a SQLite file)
 * and one Redis (REDIS_URL, under a key prefix of the file's own), in front of one fake
 * upstream.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { sqlite } from './databases.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startGateway, type TestGateway } from './helpers.js';
import { REDIS_URL_TEST, testPrefix } from './redis.js';

export interface Instances {
  readonly fake: FakeUpstream;
  readonly gateways: TestGateway[];
  /** The environment each was started with (for a child process to share their state). */
  readonly env: Record<string, string>;
  /** Instance `i % n`: for spreading a burst round-robin. */
  at(i: number): TestGateway;
}

/** Registers hooks that start `count` instances for the file (one after another: the first migrates the database) and stop them after. */
export function useInstances(count: number, env: Record<string, string> = {}): Instances {
  let fake: FakeUpstream | undefined;
  const gateways: TestGateway[] = [];
  const shared: Record<string, string> = {};
  beforeAll(async () => {
    fake = await startFakeUpstream();
    Object.assign(shared, {
      OPENAI_API_KEY: 'sk-test-gateway-key',
      OPENAI_BASE_URL: fake.url,
      DATABASE_URL: await sqlite.create(),
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: testPrefix(),
      ...env,
    });
    for (let i = 0; i < count; i++) gateways.push(await startGateway(shared));
  });
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.stop()));
    await fake?.close();
  });
  beforeEach(() => fake?.reset());
  return {
    get fake() {
      if (!fake) throw new Error('the fake upstream starts in beforeAll');
      return fake;
    },
    gateways,
    env: shared,
    at: (i) => {
      const gw = gateways[i % gateways.length];
      if (!gw) throw new Error('the instances start in beforeAll');
      return gw;
    },
  };
}
