/**
 * The real server process for tests that need one (signals, exit codes, start-up logs):
 * `node dist/main.js` (built by test/global-setup.ts) with exactly the given environment (plus PATH and a
 * database of its own), never the test's own environment or the working tree's ./data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Running {
  child: ChildProcess;
  /** Everything written so far. */
  stdout: string;
  stderr: string;
  /** The exit code (null when killed by a signal). */
  exit: Promise<number | null>;
}

const children: ChildProcess[] = [];

// Only reached with a child still running when a test failed midway.
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export function startMain(env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      DATABASE_URL: `file:${join(mkdtempSync(join(tmpdir(), 'gw-main-')), 'gw.db')}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout?.on('data', (chunk: Buffer) => (running.stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (running.stderr += chunk.toString('utf8')));
  return running;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The complete JSON log lines written so far (a line still being written is skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const parsed: Record<string, unknown>[] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    try {
      parsed.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a JSON log line
    }
  }
  return parsed;
}
