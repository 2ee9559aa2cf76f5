/**
 * `npm run keys -- <command>`: create, list, revoke and limit gateway API keys, in the
 * database named by DATABASE_URL (the variable the server reads, with the same default),
 * so the CLI and a running server share one table.
 *
 * With REDIS_URL (and REDIS_KEY_PREFIX) as the gateways have them, every change is also
 * announced to the running gateways, which drop their key caches at once.
 *
 * Exit codes: 0 done, 1 the command could not be carried out (no such key, already
 * revoked, database unreachable), 2 the command line itself is wrong. Arguments are
 * checked before the database is opened: a typo must not create an empty database file.
 *
 * This is the entry point; the command line and help text are in keys-args.ts, the
 * commands in keys-commands.ts, and how they print in keys-output.ts.
 */
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_KEY_PREFIX } from '../config/index.js';
import { USAGE, UsageError, parseCommandLine, type Action } from './keys-args.js';
import { run } from './keys-commands.js';

async function main(argv: string[]): Promise<number> {
  let action: Action;
  try {
    action = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const help = argv.length === 0 ? `\n${USAGE}` : 'Run `npm run keys -- help` for usage.';
    process.stderr.write(`keys: ${error.message}\n${help}\n`);
    return 2;
  }
  if (action.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const databaseUrl = process.env['DATABASE_URL']?.trim() || DEFAULT_DATABASE_URL;
  // Loaded only now: the database drivers are most of the startup time, and help or a
  // mistyped option should answer without them.
  const [{ openDatabase }, { KeyStore }] = await Promise.all([import('../accounts/db/index.js'), import('../accounts/keys.js')]);
  const database = await openDatabase(databaseUrl);
  try {
    const output = await run(action, new KeyStore(database, undefined, await announcer()), databaseUrl);
    process.stdout.write(`${output}\n`);
    return 0;
  } finally {
    await database.close();
  }
}

/** How a change reaches the running gateways: over REDIS_URL if set, else they see it within KEY_CACHE_TTL_MS. */
async function announcer(): Promise<((keyId: string) => Promise<void>) | undefined> {
  const url = process.env['REDIS_URL']?.trim();
  if (!url) return undefined;
  const prefix = process.env['REDIS_KEY_PREFIX']?.trim() || DEFAULT_REDIS_KEY_PREFIX;
  const { announceKeyChange } = await import('../shared-state/key-events.js');
  return async (keyId) => {
    // The change is in the database either way: a warning, not a failure. (The URL may hold a password: not shown.)
    if (!(await announceKeyChange(url, prefix, keyId))) {
      process.stderr.write('keys: warning: REDIS_URL could not be reached, so running gateways see this change only within KEY_CACHE_TTL_MS\n');
    }
  };
}

// exitCode rather than process.exit(): exiting at once could cut off output still queued
// for a pipe, and closing the database is what lets the process end by itself.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keys: ${message}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
