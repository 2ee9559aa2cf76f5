/**
 * nginx for tests: the committed deploy/nginx.conf, rendered for loopback and run as a
 * foreground process of the test (its own prefix, pid file, logs and temp directories in
 * a temp directory; never the system service, never port 80).
 *
 * Rendering rewrites only what a deployment edits (the `server` lines of every upstream
 * block, keeping their parameters, and the `listen` line) plus the paths an unprivileged
 * run needs (the access log, the temp directories). Each rewrite must match exactly what
 * it expects, so a change to the conf's shape fails here loudly instead of testing less.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { eventually } from './helpers.js';

export const NGINX_CONF = fileURLToPath(new URL('../deploy/nginx.conf', import.meta.url));

/** The nginx binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export const NGINX_BINARY: string | undefined = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  .filter(Boolean)
  .map((dir) => join(dir, 'nginx'))
  .find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** One gateway instance as an upstream `server` line: its address, and whether it is taken out (`down`). */
export interface Upstream {
  address: string;
  down?: boolean;
}

function replaceExactly(text: string, pattern: RegExp, count: number, replace: (match: string, ...groups: string[]) => string): string {
  const found = text.match(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`))?.length ?? 0;
  if (found !== count) throw new Error(`deploy/nginx.conf: expected ${count} match(es) of ${pattern}, found ${found}`);
  return text.replace(pattern, replace as (substring: string, ...args: unknown[]) => string);
}

/** deploy/nginx.conf with `upstreams` in every upstream block, listening on 127.0.0.1:`port`, files under `dir`. */
export function renderNginxConf(source: string, options: { upstreams: readonly Upstream[]; port: number; dir: string }): string {
  const { upstreams, port, dir } = options;
  // Every upstream block: its committed `server` lines become one per test instance, with
  // the committed parameters (max_fails, fail_timeout) of the first line.
  let conf = replaceExactly(source, /^(\s*upstream\s+\S+\s*\{\n)([\s\S]*?)^(\s*\})/gm, 2, (_match, open, body, close) => {
    const lines = body.split('\n');
    const serverLine = /^(\s*)server\s+\S+([^;]*);/;
    const first = lines.findIndex((line) => serverLine.test(line));
    const [, indent, parameters] = serverLine.exec(lines[first] ?? '') ?? [];
    if (first === -1 || indent === undefined) throw new Error('deploy/nginx.conf: an upstream block without server lines');
    const servers = upstreams.map((u) => `${indent}server ${u.address}${parameters ?? ''}${u.down ? ' down' : ''};`);
    const kept = lines.filter((line) => !serverLine.test(line));
    kept.splice(first, 0, ...servers);
    return `${open}${kept.join('\n')}${close}`;
  });
  conf = replaceExactly(conf, /^(\s*)listen\s+[^;]+;/m, 1, (_match, indent) => `${indent}listen 127.0.0.1:${port};`);
  conf = replaceExactly(conf, /^(\s*access_log\s+)\S+(\s+gateway;)/m, 1, (_match, before, after) => `${before}${join(dir, 'access.log')}${after}`);
  // Debian's compiled-in temp directories are under /var/lib/nginx (root's).
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(dir, kind)};`).join('\n');
  return replaceExactly(conf, /^http \{\n/m, 1, (open) => `${open}${temp}\n`);
}

export interface RunningNginx {
  /** http://127.0.0.1:PORT */
  url: string;
  child: ChildProcess;
  /** nginx's own log (notice level and up). */
  readonly stderr: string;
  /** The access log so far (the conf's `gateway` format). */
  accessLog(): string;
  /** Renders the conf again with `upstreams` and reloads (SIGHUP); resolves once the old workers stopped accepting. */
  reload(upstreams: readonly Upstream[]): Promise<void>;
  /** Stops nginx (SIGTERM, its fast shutdown) and removes its directory. */
  stop(): Promise<void>;
}

const running: ChildProcess[] = [];
afterAll(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

export async function startNginx(binary: string, upstreams: readonly Upstream[], port: number): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-nginx-'));
  // As root, nginx's workers run as the conf's `user`, which must reach the temp directories.
  chmodSync(dir, 0o755);
  const confPath = join(dir, 'nginx.conf');
  const source = readFileSync(NGINX_CONF, 'utf8');
  writeFileSync(confPath, renderNginxConf(source, { upstreams, port, dir }));
  const child = spawn(binary, ['-e', 'stderr', '-p', dir, '-c', confPath, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr notice;`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  // Workers are up once nginx answers on its own (/metrics is refused by nginx itself).
  let ready = false;
  const deadline = Date.now() + 10_000;
  while (!ready) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start:\n${stderr}`);
    ready = await fetch(`${url}/metrics`).then(
      (response) => response.status === 404,
      () => false,
    );
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    child,
    get stderr() {
      return stderr;
    },
    accessLog: () => readFileSync(join(dir, 'access.log'), 'utf8'),
    async reload(next) {
      writeFileSync(confPath, renderNginxConf(source, { upstreams: next, port, dir }));
      const stopping = count(stderr, 'gracefully shutting down');
      const workers = count(stderr, 'start worker process ') - stopping;
      child.kill('SIGHUP');
      // The old workers log this as they close their listening sockets: from then on only
      // the new ones (with the new conf) accept connections.
      await eventually(
        () => count(stderr, 'gracefully shutting down') >= stopping + workers,
        `nginx to reload (its ${workers} old workers to stop accepting)`,
        10_000,
      );
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exit;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
