/**
 * The key CLI as operators run it: a real process (`node dist/cli/keys.js`, as `npm run keys`)
 * against a real database, SQLite in a temp dir and, when a server answers, PostgreSQL in
 * a database made for this run. The test process opens the same database with
 * `openDatabase` + `KeyStore`, as the server would, to prove both sides see one table.
 *
 * Each CLI process costs a fraction of a second of CPU (Node starting up), so keys that a test does not
 * need to create through the CLI are created in-process, and independent tests run
 * concurrently against one pre-migrated database per dialect.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { hashKey, KeyStore, type ApiKey } from '../src/accounts/keys.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = /gk_[A-Za-z0-9_-]{20,}/g;
const STACK_FRAME = /^\s+at /m;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(databaseUrl: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/cli/keys.js', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    // A CLI that never exits (an open pool, say) is a failure, not a hung test run.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keys ${args.join(' ')} did not exit within 20 s\n${stderr}`));
    }, 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The bytes of every file in `dir` whose name starts with `prefix`, read by a child process. */
function readInChild(dir: string, prefix: string): Promise<Buffer> {
  const script =
    "const fs = require('node:fs'); const path = require('node:path'); const [dir, prefix] = process.argv.slice(1);" +
    'for (const name of fs.readdirSync(dir).filter((n) => n.startsWith(prefix))) process.stdout.write(fs.readFileSync(path.join(dir, name)));';
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, dir, prefix], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => {
      if (error) reject(new Error(`reading ${prefix}* in ${dir} failed`, { cause: error }));
      else resolve(stdout);
    });
  });
}

/** Runs the CLI and insists on success, showing its stderr otherwise. */
async function ok(databaseUrl: string, ...args: string[]): Promise<string> {
  const run = await cli(databaseUrl, ...args);
  expect(run.code, `keys ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

function onlyKey(text: string): string {
  const found = text.match(KEY) ?? [];
  expect(found).toHaveLength(1);
  return found[0] ?? '';
}

interface Target {
  url: string;
  store: KeyStore;
  /** Everything the database holds for the key tables, to search for secrets in. */
  contents: () => Promise<Buffer>;
}

/** The create / list / revoke / set-limits flow, the same for every dialect. */
function keyLifecycle(target: () => Target): void {
  it('create prints the key once, readable by the server side; list shows it without the key or its hash', async () => {
    const { url, store, contents } = target();
    const created = await cli(url, 'create', '--name', 'alpha', '--rpm', '60', '--daily-usd', '2.5');
    expect(created.code, created.stderr).toBe(0);
    const key = onlyKey(created.stdout + created.stderr);
    expect(created.stdout).toMatch(/will not be shown again/);
    const prefix = key.slice(0, 9);
    expect(created.stdout).toContain(prefix);

    // The server side finds the key the CLI made, limits included.
    const found = await store.authenticate(key);
    expect(found).toMatchObject({ name: 'alpha', prefix, admin: false, revokedAt: null });
    expect(found?.limits).toEqual({ rpm: 60, tpm: null, maxStreams: null, dailyBudgetUsd: 2.5, monthlyBudgetUsd: null });
    expect(created.stdout).toContain(found?.id);

    const [asJson, asTable] = await Promise.all([cli(url, 'list', '--json'), cli(url, 'list')]);
    for (const run of [asJson, asTable]) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(key);
      expect(run.stdout + run.stderr).not.toContain(hashKey(key));
      expect(run.stdout + run.stderr).not.toMatch(KEY);
    }
    const listed = (JSON.parse(asJson.stdout) as ApiKey[]).find((k) => k.id === found?.id);
    expect(listed).toEqual(found);
    expect(Object.keys(listed ?? {}).sort()).toEqual(['admin', 'createdAt', 'id', 'limits', 'name', 'prefix', 'revokedAt']);
    expect(asTable.stdout).toMatch(/ID\s+NAME\s+PREFIX\s+ADMIN\s+CREATED\s+REVOKED\s+LIMITS/);
    expect(asTable.stdout).toMatch(new RegExp(`${found?.id}\\s+alpha\\s+${prefix}\\s+no\\s.*rpm=60 daily=\\$2\\.5`));

    // At rest: the hash, never the key.
    const stored = await contents();
    expect(stored.includes(hashKey(key))).toBe(true);
    expect(stored.includes(key)).toBe(false);
  });

  it('revoke by id and by prefix; the server side then refuses both; twice or unknown is exit 1', async () => {
    const { url, store } = target();
    const byId = await store.create({ name: 'revoke-by-id' });
    const byPrefix = await store.create({ name: 'revoke-by-prefix' });
    // Cached as live on purpose: invalidate() below must be what makes the revocation visible.
    expect(await store.authenticate(byId.key)).not.toBeNull();
    expect(await store.authenticate(byPrefix.key)).not.toBeNull();

    const [first, second] = await Promise.all([cli(url, 'revoke', byId.apiKey.id), cli(url, 'revoke', byPrefix.apiKey.prefix)]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`Revoked key ${byId.apiKey.prefix} "revoke-by-id"`));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`Revoked key ${byPrefix.apiKey.prefix} "revoke-by-prefix"`));

    store.invalidate();
    expect(await store.authenticate(byId.key)).toBeNull();
    expect(await store.authenticate(byPrefix.key)).toBeNull();
    expect((await store.get(byId.apiKey.id))?.revokedAt).toEqual(expect.any(Number));
    expect((await store.get(byPrefix.apiKey.id))?.revokedAt).toEqual(expect.any(Number));

    const [again, unknown] = await Promise.all([cli(url, 'revoke', byPrefix.apiKey.prefix), cli(url, 'revoke', 'no-such-key')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`${byPrefix.apiKey.prefix} "revoke-by-prefix" .*was already revoked`));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no key has the id or prefix "no-such-key"/);
    for (const run of [again, unknown]) {
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toMatch(STACK_FRAME);
    }
  });

  it('set-limits changes the options given, "none" clears one, the rest stay', async () => {
    const { url, store } = target();
    const created = JSON.parse(
      await ok(url, 'create', '--name', 'limits', '--admin', '--rpm', '10', '--tpm', '1000', '--streams', '2', '--json'),
    ) as { key: string; apiKey: ApiKey };
    expect(created.key).toMatch(/^gk_/);
    expect(created.apiKey).toMatchObject({ name: 'limits', admin: true, prefix: created.key.slice(0, 9) });
    expect(created.apiKey.limits).toEqual({ rpm: 10, tpm: 1000, maxStreams: 2, dailyBudgetUsd: null, monthlyBudgetUsd: null });

    const printed = await ok(url, 'set-limits', created.apiKey.prefix, '--rpm', '20', '--streams', 'none', '--daily-usd', '1.5');
    expect(printed).toMatch(/rpm\s+20\n\s+tpm\s+1000\n\s+streams\s+none\n\s+daily\s+\$1\.5\n\s+monthly\s+none/);

    const cleared = JSON.parse(await ok(url, 'set-limits', created.apiKey.id, '--tpm', 'none', '--monthly-usd', '0', '--json')) as ApiKey;
    const expected = { rpm: 20, tpm: null, maxStreams: null, dailyBudgetUsd: 1.5, monthlyBudgetUsd: 0 };
    expect(cleared.limits).toEqual(expected);
    expect((await store.get(created.apiKey.id))?.limits).toEqual(expected);
  });
}

// ---------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------

const tempRoot = mkdtempSync(join(tmpdir(), 'gw-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));

describe('keys CLI on SQLite', { concurrent: true, timeout: 60_000 }, () => {
  const dir = join(tempRoot, 'sqlite');
  const url = `file:${join(dir, 'gateway.db')}`;
  let database: Db | undefined;
  let store: KeyStore;

  // Opening here migrates once, before CLI processes race to open a fresh file.
  beforeAll(async () => {
    database = await openDatabase(url);
    store = new KeyStore(database);
  });
  afterAll(() => database?.close());

  keyLifecycle(() => ({
    url,
    store,
    // The file and its WAL: while this process holds the database open, the CLI's
    // writes may sit in the WAL rather than the main file. Read by another process:
    // opening and closing these files here would drop this process's POSIX locks on
    // them (SQLite's "how to corrupt" list), and the next CLI to exit would then reset
    // the WAL under this process's open connection, which stops seeing later writes.
    contents: () => readInChild(dir, 'gateway.db'),
  }));

  it('bad numbers exit 2 naming the option, before any database is opened', async () => {
    const untouched = `file:${join(tempRoot, 'never', 'gateway.db')}`;
    const cases: [string[], RegExp][] = [
      [['create', '--name', 'x', '--rpm', '0'], /--rpm must be a whole number from 1 .* got "0"/],
      [['create', '--name', 'x', '--tpm', '-5'], /--tpm must be .* got "-5"/],
      [['set-limits', 'some-id', '--streams', '1.5'], /--streams must be a whole number .* got "1\.5"/],
      [['set-limits', 'some-id', '--daily-usd', 'lots'], /--daily-usd must be an amount in USD .* got "lots"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(untouched, ...args)));
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(cases[i]?.[1] ?? /never/);
      expect(run.stderr).not.toMatch(STACK_FRAME);
      expect(run.stdout).toBe('');
    });
    expect(existsSync(join(tempRoot, 'never'))).toBe(false);
  });

  it('usage: help exits 0, a missing or unknown command 2, a bad DATABASE_URL 1, never with a stack trace', async () => {
    const untouched = `file:${join(tempRoot, 'never-either', 'gateway.db')}`;
    const [help, missing, unknown, badUrl] = await Promise.all([
      cli(untouched, 'help'),
      cli(untouched),
      cli(untouched, 'frobnicate'),
      cli('mysql://somewhere/db', 'list'),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run keys -- <command>/);
    expect(help.stdout).toMatch(/set-limits <id\|prefix>/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no command given[\s\S]*Usage:/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toMatch(/DATABASE_URL must start with file: or postgres:\/\//);
    for (const run of [help, missing, unknown, badUrl]) expect(run.stderr).not.toMatch(STACK_FRAME);
    expect(existsSync(join(tempRoot, 'never-either'))).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

const LOCAL_PG = 'postgres://postgres@127.0.0.1:5432/postgres';

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
  } catch {
    return false;
  }
  await client.end();
  return true;
}

// DATABASE_URL_PG, when set, must work (a failure fails the run); the local server is used
// whenever it answers, so a machine with PostgreSQL never skips this part.
const pgAdminUrl = process.env['DATABASE_URL_PG'] ?? ((await answers(LOCAL_PG)) ? LOCAL_PG : undefined);

describe.skipIf(pgAdminUrl === undefined)(
  `keys CLI on PostgreSQL (${pgAdminUrl === undefined ? `skipped: nothing at ${LOCAL_PG} and DATABASE_URL_PG unset` : 'a database made for this run'})`,
  { concurrent: true, timeout: 60_000 },
  () => {
    const name = `gw_cli_${randomBytes(6).toString('hex')}`;
    let url = '';
    let admin: pg.Client | undefined;
    let database: Db | undefined;
    let store: KeyStore;

    beforeAll(async () => {
      admin = new pg.Client({ connectionString: pgAdminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`);
      const parsed = new URL(pgAdminUrl ?? LOCAL_PG);
      parsed.pathname = `/${name}`;
      url = parsed.toString();
      database = await openDatabase(url);
      store = new KeyStore(database);
    });

    afterAll(async () => {
      // Our own pool first: a pooled connection killed under it would be an unhandled error.
      await database?.close();
      if (!admin) return;
      try {
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
      } finally {
        await admin.end();
      }
    });

    keyLifecycle(() => ({
      url,
      store,
      // Every column of every key, as the server would read them.
      contents: async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const { rows } = await client.query<{ row: string }>('SELECT row_to_json(k)::text AS row FROM api_keys k');
          return Buffer.from(rows.map((r) => r.row).join('\n'));
        } finally {
          await client.end();
        }
      },
    }));
  },
);
