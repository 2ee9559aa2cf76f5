/**
 * One database API over SQLite (the embedded default, a file) and PostgreSQL, chosen by
 * DATABASE_URL: `file:./data/gateway.db` or `postgres://…`. Opening migrates to the latest
 * schema, so the server and the CLI always agree on it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations.js';
import type { DatabaseSchema } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  db: Kysely<DatabaseSchema>;
  dialect: Dialect;
  close(): Promise<void>;
}

// BIGINT columns hold millisecond timestamps, well inside Number's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

/** `file:path` (relative to the working directory), `file::memory:`, or a postgres URL. */
export function parseDatabaseUrl(url: string): { dialect: Dialect; target: string } {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { dialect: 'postgres', target: url };
  if (url.startsWith('file:')) return { dialect: 'sqlite', target: url.slice('file:'.length) };
  throw new Error(`DATABASE_URL must start with file: or postgres://, got "${url}"`);
}

export async function openDatabase(url: string): Promise<Db> {
  const { dialect, target } = parseDatabaseUrl(url);
  let db: Kysely<DatabaseSchema>;
  let sqlite: Database.Database | undefined;
  if (dialect === 'sqlite') {
    if (target !== ':memory:') mkdirSync(dirname(resolve(target)), { recursive: true });
    sqlite = new Database(target);
    // Before WAL: switching the journal mode can itself meet a busy database.
    sqlite.pragma('busy_timeout = 5000');
    // WAL: readers never block the ledger's writes; NORMAL sync is durable at each checkpoint.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: sqlite }) });
  } else {
    const pool = new pg.Pool({ connectionString: target, max: 10 });
    // A pooled connection the server drops (restart, failover) must not crash the process:
    // pg discards it and the next query reconnects.
    pool.on('error', () => undefined);
    db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  }
  // Kysely has no migration lock on SQLite: a write lock around the migration keeps two
  // processes opening a new file at once (server and CLI) from both creating the tables,
  // and a crash mid-migration from leaving half a schema.
  sqlite?.exec('BEGIN IMMEDIATE');
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  sqlite?.exec(error || failed ? 'ROLLBACK' : 'COMMIT');
  if (error || failed) {
    await db.destroy();
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
  return { db, dialect, close: () => db.destroy() };
}
