/**
 * `npm run keys -- <command>`: create, list, revoke and limit gateway API keys, in the
 * database named by DATABASE_URL (the variable the server reads, with the same default),
 * so the CLI and a running server share one table.
 *
 * Exit codes: 0 done, 1 the command could not be carried out (no such key, already
 * revoked, database unreachable), 2 the command line itself is wrong. Arguments are
 * checked before the database is opened: a typo must not create an empty database file.
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DATABASE_URL } from '../config/index.js';
import type { KeyStore, ApiKey, KeyLimits } from '../accounts/keys.js';

const USAGE = `Usage: npm run keys -- <command> [options]

Commands:
  create --name NAME [--admin] [limits]   Create a key; its secret is printed once, only then.
  list                                    List keys (never their secrets).
  revoke <id|prefix>                      Revoke a key; servers refuse it within seconds.
  set-limits <id|prefix> [limits]         Change a key's limits; others stay as they are.
  help                                    Show this text.

Limits (each also takes "none": no limit):
  --rpm N           requests per minute (1 or more)
  --tpm N           tokens per minute, prompt + completion (1 or more)
  --streams N       streams open at once (0: no streaming)
  --daily-usd X     spend per UTC day, in USD (0: priced models refused)
  --monthly-usd X   spend per UTC month, in USD

Options:
  --json            JSON output: create { key, apiKey }, list an array, revoke and set-limits the key.
  -h, --help        Show this text.

The database is DATABASE_URL (default ${DEFAULT_DATABASE_URL}), as for the server.`;

/** The command line is wrong: exit 2. */
class UsageError extends Error {}

/** The command is well formed but cannot be carried out: exit 1. */
class CommandError extends Error {}

// PostgreSQL INTEGER columns; SQLite would take more, but a key must work on both.
const MAX_INTEGER = 2_147_483_647;

interface LimitOption {
  option: 'rpm' | 'tpm' | 'streams' | 'daily-usd' | 'monthly-usd';
  field: keyof KeyLimits;
  kind: 'integer' | 'usd';
  min: number;
  /** Short label for printed limits. */
  label: string;
}

// rpm and tpm start at 1 because 0 would refuse every request: revoking says that plainly.
// 0 streams (mutations only) and a $0 budget (unpriced models only) are real policies.
const LIMIT_OPTIONS: readonly LimitOption[] = [
  { option: 'rpm', field: 'rpm', kind: 'integer', min: 1, label: 'rpm' },
  { option: 'tpm', field: 'tpm', kind: 'integer', min: 1, label: 'tpm' },
  { option: 'streams', field: 'maxStreams', kind: 'integer', min: 0, label: 'streams' },
  { option: 'daily-usd', field: 'dailyBudgetUsd', kind: 'usd', min: 0, label: 'daily' },
  { option: 'monthly-usd', field: 'monthlyBudgetUsd', kind: 'usd', min: 0, label: 'monthly' },
];

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };
const LIMIT_ARGS: Options = Object.fromEntries(LIMIT_OPTIONS.map((l) => [l.option, { type: 'string' }]));

const COMMANDS = {
  create: { options: { ...COMMON_OPTIONS, ...LIMIT_ARGS, name: { type: 'string' }, admin: { type: 'boolean' } }, positionals: 0 },
  list: { options: COMMON_OPTIONS, positionals: 0 },
  revoke: { options: COMMON_OPTIONS, positionals: 1 },
  'set-limits': { options: { ...COMMON_OPTIONS, ...LIMIT_ARGS }, positionals: 1 },
} satisfies Record<string, { options: Options; positionals: number }>;

type CommandName = keyof typeof COMMANDS;

type Action =
  | { command: 'help' }
  | { command: 'create'; name: string; admin: boolean; limits: Partial<KeyLimits>; json: boolean }
  | { command: 'list'; json: boolean }
  | { command: 'revoke'; target: string; json: boolean }
  | { command: 'set-limits'; target: string; limits: Partial<KeyLimits>; json: boolean };

function isCommand(word: string): word is CommandName {
  return Object.hasOwn(COMMANDS, word);
}

function parseLimit(limit: LimitOption, raw: string): number | null {
  const text = raw.trim();
  if (text.toLowerCase() === 'none') return null;
  const value = Number(text);
  // Number() alone would take "", "0x10", "1e3" and "Infinity".
  const shaped = limit.kind === 'integer' ? /^\d+$/.test(text) : /^(\d+(\.\d*)?|\.\d+)$/.test(text);
  const max = limit.kind === 'integer' ? MAX_INTEGER : Number.MAX_VALUE;
  if (!shaped || !Number.isFinite(value) || value < limit.min || value > max) {
    const wanted =
      limit.kind === 'integer'
        ? `a whole number from ${limit.min} to ${MAX_INTEGER}`
        : `an amount in USD of ${limit.min} or more (such as 5 or 2.50)`;
    throw new UsageError(`--${limit.option} must be ${wanted}, or none; got "${raw}"`);
  }
  return value;
}

/**
 * parseArgs refuses `--rpm -5` as ambiguous (the value looks like an option) before this
 * CLI can say what is wrong with -5; joining it to `--rpm=-5` lets the number check answer.
 */
function joinNegativeValues(args: string[]): string[] {
  const valued = new Set(LIMIT_OPTIONS.map((l) => `--${l.option}`));
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const next = args[i + 1];
    if (valued.has(arg) && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function parseCommandLine(argv: string[]): Action {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('no command given');
  if (command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"`);

  const spec = COMMANDS[command];
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinNegativeValues(rest), options: spec.options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // Node's advice for unknown options (about positionals after `--`) misleads here.
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `${command} has no option ${unknown[1]}` : `${command}: ${message}`);
  }
  const { values, positionals } = parsed;
  if (values['help'] === true) return { command: 'help' };
  const json = values['json'] === true;

  if (positionals.length !== spec.positionals) {
    if (spec.positionals === 0) {
      throw new UsageError(`${command} takes options only, got "${positionals.join(' ')}"${command === 'create' ? ' (the name goes in --name)' : ''}`);
    }
    throw new UsageError(`${command} needs exactly one key id or prefix, got ${positionals.length}`);
  }

  const limits: Partial<KeyLimits> = {};
  for (const limit of LIMIT_OPTIONS) {
    const raw = values[limit.option];
    if (typeof raw === 'string') limits[limit.field] = parseLimit(limit, raw);
  }

  switch (command) {
    case 'create': {
      const name = typeof values['name'] === 'string' ? values['name'].trim() : '';
      if (!name) throw new UsageError('create needs --name NAME, to tell the key apart in lists');
      return { command, name, admin: values['admin'] === true, limits, json };
    }
    case 'list':
      return { command, json };
    case 'revoke':
      return { command, target: positionals[0] ?? '', json };
    case 'set-limits':
      if (Object.keys(limits).length === 0) {
        throw new UsageError(`set-limits needs at least one of ${LIMIT_OPTIONS.map((l) => `--${l.option}`).join(', ')}`);
      }
      return { command, target: positionals[0] ?? '', limits, json };
  }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/** Names come from whoever ran `create`: a newline or an escape sequence must not reshape the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function time(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

function limitValue(limit: LimitOption, value: number | null): string {
  if (value === null) return 'none';
  return limit.kind === 'usd' ? `$${value}` : String(value);
}

/** Every limit, unset ones as "none": after a change, what is unlimited matters as much. */
function allLimits(limits: KeyLimits): string {
  return LIMIT_OPTIONS.map((l) => `${l.label} ${limitValue(l, limits[l.field])}`).join(', ');
}

/** Only the limits that are set, to keep table rows short. */
function setLimits(limits: KeyLimits): string {
  const set = LIMIT_OPTIONS.filter((l) => limits[l.field] !== null);
  return set.length === 0 ? 'none' : set.map((l) => `${l.label}=${limitValue(l, limits[l.field])}`).join(' ');
}

function describeKey(key: ApiKey): string {
  return `${key.prefix} "${printable(key.name)}" (id ${key.id})`;
}

/** Which database was touched, with any password left out: the wrong DATABASE_URL is the usual surprise. */
function describeDatabase(url: string): string {
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length);
    return path === ':memory:' ? 'in memory (nothing kept)' : resolve(path);
  }
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres';
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

async function findKey(store: KeyStore, target: string): Promise<ApiKey> {
  const found = await store.find(target);
  if (found) return found;
  // A whole key pasted here would otherwise end up in an error message (and in logs).
  if (target.startsWith('gk_') && target.length > 20) {
    throw new CommandError('that looks like a whole key: give its id or its prefix (the first characters, as `list` shows)');
  }
  const sharing = (await store.list()).filter((key) => key.prefix === target).length;
  if (sharing > 1) throw new CommandError(`${sharing} keys have the prefix "${printable(target)}": give the id instead (see \`list\`)`);
  throw new CommandError(`no key has the id or prefix "${printable(target)}" (see \`list\`)`);
}

async function run(action: Exclude<Action, { command: 'help' }>, store: KeyStore, databaseUrl: string): Promise<string> {
  switch (action.command) {
    case 'create': {
      const created = await store.create({ name: action.name, admin: action.admin, limits: action.limits });
      if (action.json) return json(created);
      const { key, apiKey } = created;
      return [
        `Created key ${describeKey(apiKey)}`,
        `  id        ${apiKey.id}`,
        `  prefix    ${apiKey.prefix}`,
        `  admin     ${apiKey.admin ? 'yes' : 'no'}`,
        `  limits    ${allLimits(apiKey.limits)}`,
        `  database  ${describeDatabase(databaseUrl)}`,
        '',
        'The key, to send as "Authorization: Bearer <key>":',
        '',
        `  ${key}`,
        '',
        'This is the only time it is shown: it will not be shown again, only its hash is stored. Keep it now.',
      ].join('\n');
    }
    case 'list': {
      const keys = await store.list();
      if (action.json) return json(keys);
      if (keys.length === 0) return `No keys in ${describeDatabase(databaseUrl)}. Create one with: npm run keys -- create --name NAME`;
      const rows = keys.map((key) => [
        key.id,
        printable(key.name),
        key.prefix,
        key.admin ? 'yes' : 'no',
        time(key.createdAt),
        key.revokedAt === null ? '-' : time(key.revokedAt),
        setLimits(key.limits),
      ]);
      return `${table([['ID', 'NAME', 'PREFIX', 'ADMIN', 'CREATED', 'REVOKED', 'LIMITS'], ...rows])}\n\n${keys.length} key(s) in ${describeDatabase(databaseUrl)}`;
    }
    case 'revoke': {
      const key = await findKey(store, action.target);
      if (key.revokedAt !== null) throw new CommandError(`key ${describeKey(key)} was already revoked at ${time(key.revokedAt)}`);
      const revoked = await store.revoke(key.id);
      if (!revoked) throw new CommandError(`key ${describeKey(key)} was revoked by someone else meanwhile`);
      if (action.json) return json(revoked);
      // Servers cache lookups for KEY_CACHE_TTL_MS, so the refusal is not instant there.
      return `Revoked key ${describeKey(revoked)}. Running servers refuse it within KEY_CACHE_TTL_MS (2 s by default).`;
    }
    case 'set-limits': {
      const key = await findKey(store, action.target);
      const updated = await store.setLimits(key.id, action.limits);
      if (!updated) throw new CommandError(`key ${describeKey(key)} disappeared while its limits were set`);
      if (action.json) return json(updated);
      const lines = [`Limits of key ${describeKey(updated)} are now:`];
      for (const limit of LIMIT_OPTIONS) lines.push(`  ${limit.label.padEnd(8)}  ${limitValue(limit, updated.limits[limit.field])}`);
      if (updated.revokedAt !== null) lines.push(`(This key is revoked: its limits apply to nothing.)`);
      return lines.join('\n');
    }
  }
}

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
    const output = await run(action, new KeyStore(database), databaseUrl);
    process.stdout.write(`${output}\n`);
    return 0;
  } finally {
    await database.close();
  }
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
