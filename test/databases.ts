/**
 * Fresh databases for tests that need their own: a SQLite file in a temp directory, or a
 * PostgreSQL database created on DATABASE_URL_PG's server (skipped, with the reason, when
 * none is reachable and nobody asked for it). Everything made is removed after the file.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';

export const PG_ADMIN_URL = process.env['DATABASE_URL_PG'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Backend {
  name: string;
  /** Why it cannot run here; never set when the database is reachable. */
  skip?: string;
  /** A new empty database: its DATABASE_URL. */
  create(): Promise<string>;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One statement on a PostgreSQL database (the admin database by default). */
export async function pgQuery(sql: string, params: unknown[] = [], url = PG_ADMIN_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export const sqlite: Backend = {
  name: 'SQLite',
  create() {
    const dir = mkdtempSync(join(tmpdir(), 'gw-test-db-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    return Promise.resolve(`file:${join(dir, 'gw.db')}`);
  },
};

const reachable = await pgReachable();

export const postgres: Backend = {
  name: 'PostgreSQL',
  // Only skipped on a machine without PostgreSQL when nobody asked for it; CI sets DATABASE_URL_PG.
  skip: reachable || process.env['DATABASE_URL_PG'] !== undefined ? undefined : `PostgreSQL is not reachable at ${PG_ADMIN_URL} (set DATABASE_URL_PG)`,
  async create() {
    const name = `gw_test_${Date.now()}_${randomUUID().slice(0, 8)}`;
    await pgQuery(`CREATE DATABASE "${name}"`);
    cleanups.push(async () => {
      await pgQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await pgQuery(`DROP DATABASE IF EXISTS "${name}"`);
    });
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return url.toString();
  },
};
