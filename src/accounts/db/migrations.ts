/**
 * Schema migrations, in code so the compiled server and the CLI carry them. Each runs once,
 * in order, recorded by Kysely's migrator in `kysely_migration`. Never edit a migration that
 * has shipped: add a new one.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_api_keys_and_ledger': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('rpm', 'integer')
        .addColumn('tpm', 'integer')
        .addColumn('max_streams', 'integer')
        .addColumn('daily_budget_usd', 'double precision')
        .addColumn('monthly_budget_usd', 'double precision')
        .execute();
      await db.schema
        .createTable('usage_ledger')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text')
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('model_requested', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
        .addColumn('completion_tokens', 'integer', (c) => c.notNull())
        .addColumn('cost_usd', 'double precision')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('time_to_first_chunk_ms', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('usage_ledger_key_time').on('usage_ledger').columns(['key_id', 'started_at']).execute();
      await db.schema.createIndex('usage_ledger_time').on('usage_ledger').column('started_at').execute();
    },
  },
  // Operations still running, written at each ledger flush, so a crash leaves what they had
  // produced: the next start (or another instance, once this one stops heartbeating) turns
  // them into `interrupted` ledger rows. The id is the ledger row's id to be.
  '0002_ledger_checkpoints': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ledger_checkpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('model_requested', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
        .addColumn('completion_tokens', 'integer', (c) => c.notNull())
        .addColumn('cost_usd', 'double precision')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('checkpoint_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ledger_checkpoints_instance').on('ledger_checkpoints').column('instance_id').execute();
      // One row per gateway process that has checkpoints, renewed at each flush with the
      // time until which it counts as alive (set by the instance itself, from its own flush
      // interval): past it, or with no row, its checkpoints are recovered.
      await db.schema
        .createTable('ledger_instances')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('alive_until', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  // Prompt tokens served from the upstream's cache (billed at the cached-input price) and
  // completion tokens spent reasoning (billed as output), both null when the upstream did not
  // say, so "not reported" stays apart from "none". One column per statement: SQLite's
  // ALTER TABLE adds one at a time.
  '0003_cached_and_reasoning_tokens': {
    async up(db: Kysely<unknown>) {
      for (const table of ['usage_ledger', 'ledger_checkpoints']) {
        for (const column of ['cached_prompt_tokens', 'reasoning_tokens']) {
          await db.schema.alterTable(table).addColumn(column, 'integer').execute();
        }
      }
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
