/**
 * METRICS_TOKEN: when set, GET /metrics needs `Authorization: Bearer <token>` (401 and no
 * metrics otherwise); the token shows in no answer and no log line. Unset: open as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './helpers.js';

let gateways: TestGateway[] = [];

afterEach(async () => {
  await Promise.all(gateways.map((gw) => gw.stop()));
  gateways = [];
});

async function gateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const gw = await startGateway(env);
  gateways.push(gw);
  return gw;
}

describe('METRICS_TOKEN', () => {
  const TOKEN = 'metrics-token-0123456789-abcdef';

  it('when set, /metrics needs the bearer token: none or a wrong one gets 401 and no metrics', async () => {
    const gw = await gateway({ METRICS_TOKEN: TOKEN });
    const url = `${gw.baseUrl}/metrics`;
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: `Bearer ${TOKEN}x` },
      // The bare token, without the Bearer scheme.
      { authorization: TOKEN },
    ];
    for (const headers of refused) {
      const response = await fetch(url, { headers });
      const body = await response.text();
      expect(response.status, JSON.stringify(headers)).toBe(401);
      expect(body).not.toContain('gateway_');
      expect(body).not.toContain(TOKEN);
    }
    const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('gateway_operations_total');
    expect(gw.logs.join('\n')).not.toContain(TOKEN);
  });

  it('unset, /metrics is open as before', async () => {
    const gw = await gateway();
    const response = await fetch(`${gw.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('gateway_operations_total');
  });
});
