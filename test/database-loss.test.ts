/**
 * A SQLite database deleted or replaced under a running gateway, and ledger writes that
 * fail: noticed within a flush interval, logged once, shown on /health and /metrics; the
 * ledger rows are kept in memory (never written into the deleted file, no new empty file
 * made) and written when a database is back at the path; past LEDGER_MAX_PENDING_ROWS new
 * rows are dropped and counted.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/accounts/db/index.js';
import { CompleteDocument } from '../src/generated/operations.js';
import { pgQuery, postgres, sqlite } from './databases.js';
import { eventually, graphql, startGateway, type TestGateway } from './helpers.js';

const FLUSH_MS = 100;
let gateways: TestGateway[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(gateways.map((gw) => gw.stop()));
  gateways = [];
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function gatewayOnFile(env: Record<string, string> = {}): Promise<{ gw: TestGateway; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-dbloss-'));
  dirs.push(dir);
  const path = join(dir, 'gw.db');
  const gw = await startGateway({ DATABASE_URL: `file:${path}`, LEDGER_FLUSH_MS: String(FLUSH_MS), ...env });
  gateways.push(gw);
  return { gw, path };
}

async function complete(gw: TestGateway, requestId: string): Promise<void> {
  const result = await graphql(
    gw.httpUrl,
    CompleteDocument,
    { input: { messages: [{ role: 'USER', content: 'hello' }], maxTokens: 5 } },
    { headers: { 'x-request-id': requestId } },
  );
  expect(result.errors).toBeUndefined();
}

async function health(gw: TestGateway): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.baseUrl}/health`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function metric(gw: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

async function eventuallyAsync(check: () => Promise<boolean>, message: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** The request ids of the rows in the SQLite file at `path`, read by a connection of the test's own. */
function requestIds(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT request_id FROM usage_ledger ORDER BY request_id').all() as { request_id: string }[]).map((r) => r.request_id);
  } finally {
    db.close();
  }
}

function logged(gw: TestGateway, pattern: RegExp): { level: number; msg: string; [key: string]: unknown }[] {
  return gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => pattern.test(l.msg));
}

describe('a SQLite database file deleted while running', () => {
  it('is noticed within a flush interval, keeps the rows in memory without making a file, and writes them to a database restored at the path', async () => {
    const { gw, path } = await gatewayOnFile();
    expect(await health(gw)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await metric(gw, 'gateway_database_up')).toBe(1);

    removeDatabase(path);
    await eventuallyAsync(async () => (await health(gw)).body['status'] === 'degraded', '/health to say degraded', FLUSH_MS * 3 + 4000);
    expect(await metric(gw, 'gateway_database_up')).toBe(0);

    const ids = [0, 1, 2].map((i) => `lost-${i}-${randomUUID()}`);
    for (const id of ids) await complete(gw, id);
    await gw.app.ledger.flush();
    expect(await health(gw)).toEqual({ status: 200, body: { status: 'degraded', database: 'missing', pendingLedgerRows: 3 } });
    expect(await metric(gw, 'gateway_ledger_pending_rows')).toBe(3);
    // Several flush intervals later: still no file (no new empty database), one error line.
    await new Promise((resolve) => setTimeout(resolve, FLUSH_MS * 4));
    expect(existsSync(path)).toBe(false);
    const errors = logged(gw, /deleted while running/);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 50, database: 'missing' });

    // The operator restores a database at the path (here: a new one, migrated).
    const restored = await openDatabase(`file:${path}`);
    await restored.close();
    await eventuallyAsync(async () => (await health(gw)).body['status'] === 'ok', '/health to be ok again', FLUSH_MS * 3 + 4000);
    expect(requestIds(path)).toEqual([...ids].sort());
    expect(await metric(gw, 'gateway_database_up')).toBe(1);
    expect(await metric(gw, 'gateway_ledger_pending_rows')).toBe(0);

    // And the gateway keeps writing to the restored file.
    const after = `after-${randomUUID()}`;
    await complete(gw, after);
    await gw.app.ledger.flush();
    expect(requestIds(path)).toContain(after);
  });

  it('drops rows past LEDGER_MAX_PENDING_ROWS, counts them and logs the count', async () => {
    const { gw, path } = await gatewayOnFile({ LEDGER_MAX_PENDING_ROWS: '2' });
    removeDatabase(path);
    await eventuallyAsync(async () => (await health(gw)).body['database'] === 'missing', '/health to say missing', FLUSH_MS * 3 + 4000);
    for (let i = 0; i < 5; i++) await complete(gw, `capped-${i}`);
    expect(gw.app.ledger.pending).toBe(2);
    expect(await metric(gw, 'gateway_ledger_rows_dropped_total')).toBe(3);
    // At most one line per flush interval, each with the count since the last one.
    const droppedLogged = (): number => logged(gw, /rows dropped/).reduce((sum, l) => sum + Number(l['dropped']), 0);
    await eventually(() => droppedLogged() === 3, 'log lines counting the 3 dropped rows', FLUSH_MS * 3 + 4000);
    for (const line of logged(gw, /rows dropped/)) expect(line).toMatchObject({ level: 50, maxPendingRows: 2 });
  });
});

describe('a SQLite database file replaced while running', () => {
  it('is logged, reopened (and migrated), and gets the rows', async () => {
    const { gw, path } = await gatewayOnFile();
    const before = `before-${randomUUID()}`;
    await complete(gw, before);
    await gw.app.ledger.flush();
    expect(requestIds(path)).toEqual([before]);

    // Another file moved onto the path: an empty one, not even migrated.
    const other = join(mkdtempSync(join(tmpdir(), 'gw-dbloss-other-')), 'other.db');
    dirs.push(join(other, '..'));
    new Database(other).close();
    renameSync(other, path);
    const after = `after-${randomUUID()}`;
    await complete(gw, after);
    await eventually(() => logged(gw, /replaced while running/).length === 1, 'an error line about the replaced file', FLUSH_MS * 3 + 4000);
    expect(logged(gw, /replaced while running/)[0]).toMatchObject({ level: 50, database: 'replaced' });
    await eventuallyAsync(() => Promise.resolve(requestIds(path).includes(after)), 'the row in the new file', 3000);
    expect(requestIds(path)).toEqual([after]);
    expect(await health(gw)).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('keeps the rows while the file at the path is not a database, and writes them once one is', async () => {
    const { gw, path } = await gatewayOnFile();
    removeDatabase(path);
    writeFileSync(path, 'not a database, but long enough to have a header of its own: '.repeat(4));
    const id = `garbage-${randomUUID()}`;
    await complete(gw, id);
    await eventually(() => logged(gw, /could not open the database file/).length === 1, 'an error line about the file', FLUSH_MS * 3 + 4000);
    await new Promise((resolve) => setTimeout(resolve, FLUSH_MS * 3));
    // Logged once, not at every flush.
    expect(logged(gw, /could not open the database file/)).toHaveLength(1);
    expect(await health(gw)).toEqual({ status: 200, body: { status: 'degraded', database: 'replaced', pendingLedgerRows: 1 } });
    rmSync(path);
    const restored = await openDatabase(`file:${path}`);
    await restored.close();
    await eventuallyAsync(async () => (await health(gw)).body['status'] === 'ok', '/health to be ok again', FLUSH_MS * 3 + 4000);
    expect(requestIds(path)).toEqual([id]);
  });

  it('does not open a gateway whose keys were in the replaced file (GATEWAY_REQUIRE_AUTH=false)', async () => {
    const { gw, path } = await gatewayOnFile({ KEY_CACHE_TTL_MS: '0' });
    const { key } = await gw.app.keys.create({ name: 'before' });
    const other = join(mkdtempSync(join(tmpdir(), 'gw-dbloss-other-')), 'other.db');
    dirs.push(join(other, '..'));
    new Database(other).close();
    renameSync(other, path);
    await eventually(() => logged(gw, /reopened/).length === 1, 'the new file reopened', FLUSH_MS * 3 + 4000);
    const anonymous = await graphql(gw.httpUrl, CompleteDocument, { input: { messages: [{ role: 'USER', content: 'hi' }] } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // The old key is not in the new file either.
    const withOldKey = await graphql(gw.httpUrl, CompleteDocument, { input: { messages: [{ role: 'USER', content: 'hi' }] } }, { headers: { authorization: `Bearer ${key}` } });
    expect(withOldKey.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe.each([sqlite, postgres])('ledger writes that fail on $name', (backend) => {
  if (backend.skip) {
    it.skip(backend.skip, () => undefined);
    return;
  }

  /** Renames the ledger table away (writes fail) and back, on a connection of the test's own. */
  async function renameLedger(url: string, from: string, to: string): Promise<void> {
    if (url.startsWith('file:')) {
      const admin = new Database(url.slice('file:'.length));
      try {
        admin.exec(`ALTER TABLE ${from} RENAME TO ${to}`);
      } finally {
        admin.close();
      }
    } else {
      await pgQuery(`ALTER TABLE ${from} RENAME TO ${to}`, [], url);
    }
  }

  it('show on /health and /metrics until a write succeeds, and the rows are kept', async () => {
    const url = await backend.create();
    const gw = await startGateway({ DATABASE_URL: url, LEDGER_FLUSH_MS: String(FLUSH_MS) });
    gateways.push(gw);
    const db = await openDatabase(url);
    try {
      await renameLedger(url, 'usage_ledger', 'usage_ledger_away');
      const id = `kept-${randomUUID()}`;
      await complete(gw, id);
      await eventuallyAsync(async () => (await health(gw)).body['database'] === 'unwritable', '/health to say unwritable', FLUSH_MS * 3 + 4000);
      expect(await health(gw)).toEqual({ status: 200, body: { status: 'degraded', database: 'unwritable', pendingLedgerRows: 1 } });
      expect(await metric(gw, 'gateway_database_up')).toBe(0);
      expect(logged(gw, /ledger write failed/)).toHaveLength(1);
      await renameLedger(url, 'usage_ledger_away', 'usage_ledger');
      await eventuallyAsync(async () => (await health(gw)).body['status'] === 'ok', '/health to be ok again', FLUSH_MS * 3 + 4000);
      const rows = await db.db.selectFrom('usage_ledger').select('request_id').execute();
      expect(rows.map((r) => r.request_id)).toEqual([id]);
      expect(await metric(gw, 'gateway_database_up')).toBe(1);
    } finally {
      await db.close();
    }
  });
});
