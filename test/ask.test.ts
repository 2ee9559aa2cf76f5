import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs the terminal client (`npm run ask -- …`) as a user would, and collects its output. */
function ask(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ask.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.stop();
});

describe.concurrent('npm run ask', () => {
  it('prints the streamed answer, then the usage', async ({ expect }) => {
    const { code, stdout } = await ask(['--url', gw.wsUrl, '--temperature', '0', 'how are you']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Simulated reply to "how are you"\./);
    expect(stdout).toMatch(/\n\n\[simulator\] finish: stop, tokens: \d+ prompt \+ \d+ completion = \d+\n$/);
  });

  it('prints the error code and exits 1 when the gateway refuses the request', async ({ expect }) => {
    const { code, stderr } = await ask(['--url', gw.wsUrl, '--temperature', '7', 'hi']);
    expect(code).toBe(1);
    expect(stderr).toContain('BAD_USER_INPUT: temperature');
  });

  it('says it cannot reach a gateway that is not there', async ({ expect }) => {
    const { code, stderr } = await ask(['--url', 'ws://127.0.0.1:9/graphql', 'hi']);
    expect(code).toBe(1);
    expect(stderr).toContain('could not reach the gateway at ws://127.0.0.1:9/graphql');
  });
});

it('needs a question', async () => {
  const { code, stderr } = await ask([]);
  expect(code).toBe(2);
  expect(stderr).toContain('usage: npm run ask');
});
