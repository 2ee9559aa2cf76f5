/**
 * The key CLI's command line: the help text, and the parsing and checking of a command and
 * its options into an Action. Nothing here touches the database, so a wrong command line is
 * refused (exit 2) before one is opened.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DATABASE_URL } from '../config/index.js';
import type { KeyLimits } from '../accounts/keys.js';

export const USAGE = `Usage: npm run keys -- <command> [options]

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
export class UsageError extends Error {}

// PostgreSQL INTEGER columns; SQLite would take more, but a key must work on both.
const MAX_INTEGER = 2_147_483_647;

export interface LimitOption {
  option: 'rpm' | 'tpm' | 'streams' | 'daily-usd' | 'monthly-usd';
  field: keyof KeyLimits;
  kind: 'integer' | 'usd';
  min: number;
  /** Short label for printed limits. */
  label: string;
}

// rpm and tpm start at 1 because 0 would refuse every request: revoking says that plainly.
// 0 streams (mutations only) and a $0 budget (unpriced models only) are real policies.
export const LIMIT_OPTIONS: readonly LimitOption[] = [
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

export type Action =
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

export function parseCommandLine(argv: string[]): Action {
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
