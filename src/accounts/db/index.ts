/**
 * One database API over SQLite (the embedded default, a file) and PostgreSQL, chosen by
 * DATABASE_URL: `file:./data/gateway.db` or `postgres://…`. Opening migrates to the latest
 * schema, so the server and the CLI always agree on it.
 *
 * `Db.db` is read through a getter on every query, so a SQLite file that was deleted or
 * replaced while running can be reopened in this one place and every user (keys, ledger,
 * quotas, resolvers) moves to the new connection without knowing.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations.js';
import type { DatabaseSchema } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** Whether the file at a SQLite database's path is still the one this process has open. */
export type FileState = 'same' | 'missing' | 'replaced';

/** A SQLite database in a file: what a watcher needs to notice it was deleted or replaced. */
export interface DatabaseFile {
  readonly path: string;
  /** Compares the path's device and inode with those of the file opened (one `stat`). */
  check(): FileState;
  /**
   * Closes the current connection and opens (and migrates) the file now at the path; every
   * later `Db.db` read gets the new connection. Throws if nothing usable is there.
   */
  reopen(): Promise<void>;
}

export interface Db {
  /** The current connection (a getter: it changes when `file.reopen()` runs). */
  readonly db: Kysely<DatabaseSchema>;
  readonly dialect: Dialect;
  /** Set for a SQLite file (not `:memory:`, not PostgreSQL). */
  readonly file: DatabaseFile | undefined;
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

/** Migrates to the latest schema; `sqlite` is given to hold a write lock around it. */
async function migrate(db: Kysely<DatabaseSchema>, sqlite: Database.Database | undefined): Promise<void> {
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
}

/** Opens and migrates a SQLite database; `create: false` refuses to make a new file. */
async function openSqlite(target: string, create: boolean): Promise<Kysely<DatabaseSchema>> {
  if (target !== ':memory:' && create) mkdirSync(dirname(resolve(target)), { recursive: true });
  const sqlite = new Database(target, { fileMustExist: !create });
  try {
    // Before WAL: switching the journal mode can itself meet a busy database.
    sqlite.pragma('busy_timeout = 5000');
    // WAL: readers never block the ledger's writes; NORMAL sync is durable at each checkpoint.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
  } catch (error) {
    // Not a database (a file put at the path by mistake): no handle left open on it.
    sqlite.close();
    throw error;
  }
  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db, sqlite);
  return db;
}

function identity(path: string): { dev: number; ino: number } | undefined {
  try {
    const { dev, ino } = statSync(path);
    return { dev, ino };
  } catch {
    return undefined;
  }
}

export async function openDatabase(url: string): Promise<Db> {
  const { dialect, target } = parseDatabaseUrl(url);
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ connectionString: target, max: 10 });
    // A pooled connection the server drops (restart, failover) must not crash the process:
    // pg discards it and the next query reconnects.
    pool.on('error', () => undefined);
    // The same for a connection dropped while checked out (mid-transaction): pg also emits
    // it on the client, which has no pool listener then, and an unheard 'error' would end
    // the process. The query in progress fails by itself, and the pool discards the client.
    pool.on('connect', (client) => client.on('error', () => undefined));
    const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
    await migrate(db, undefined);
    return { db, dialect, file: undefined, close: () => db.destroy() };
  }
  let db = await openSqlite(target, true);
  if (target === ':memory:') return { db, dialect, file: undefined, close: () => db.destroy() };
  const path = resolve(target);
  let opened = identity(path);
  /** Set between closing the old connection and opening the new one (which may fail). */
  let closed = false;
  const file: DatabaseFile = {
    path,
    check() {
      const now = identity(path);
      if (!now) return 'missing';
      // While the file is open its inode cannot be reused; once closed (a failed reopen), a
      // new file may get the same number, so anything at the path is then a new file.
      return !closed && opened && now.dev === opened.dev && now.ino === opened.ino ? 'same' : 'replaced';
    },
    async reopen() {
      // The old connection closes first: closing a WAL connection checkpoints and unlinks
      // `<path>-wal` by name, which must not be the new file's log.
      if (!closed) await db.destroy();
      closed = true;
      const before = identity(path);
      db = await openSqlite(target, false);
      closed = false;
      opened = before;
    },
  };
  return {
    get db() {
      return db;
    },
    dialect,
    file,
    close: () => (closed ? Promise.resolve() : db.destroy()),
  };
}
