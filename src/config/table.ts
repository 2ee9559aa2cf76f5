/**
 * Every environment variable the gateway reads, declared once: its type and range, its
 * default, the README table it is documented in, and that documentation. `loadConfig`
 * parses by it, the `Config` type is derived from it, and `npm run config-docs` writes the
 * README's tables from it, so a default or a range cannot drift between the three.
 *
 * The entries themselves are in `<group>.ts` next to this file (one file per README table),
 * made of what `variable.ts` declares; this module joins them and says how each one is parsed.
 */
import { parsePrices, type Price } from '../accounts/pricing.js';
import { ADVANCED } from './advanced.js';
import { CACHE } from './cache.js';
import { GENERAL } from './general.js';
import { KEYS } from './keys.js';
import { LIMITS } from './limits.js';
import { RESILIENCE } from './resilience.js';
import { SHARED_STATE } from './shared-state.js';
import type { DefaultContext, Derived, Variable } from './variable.js';

export { GROUPS, type DefaultContext, type Group, type Variable } from './variable.js';

export const TABLE = [...GENERAL, ...LIMITS, ...RESILIENCE, ...ADVANCED, ...KEYS, ...SHARED_STATE, ...CACHE] as const;
export type TableEntry = (typeof TABLE)[number];
export type VariableName = TableEntry['env'];

/** The parsed type of one entry. */
export type ValueOf<E> = E extends { type: 'integer' }
  ? number
  : E extends { type: 'boolean' }
    ? boolean
    : E extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : E extends { type: 'list' }
        ? string[]
        : E extends { type: 'prices' }
          ? Record<string, Price>
          : E extends { default: Derived<string> }
            ? string
            : string | undefined;

type Placed = Extract<TableEntry, { field: string }>;
/** The `Config` fields that are not in a section, by the table's `field`. */
export type TopLevelFields = {
  [E in Placed as E['field'] extends `${string}.${string}` ? never : E['field']]: ValueOf<E>;
};
/** The fields of one `Config` section (`limits`, `websocket`, `fallback`). */
export type SectionFields<S extends string> = {
  [E in Placed as E['field'] extends `${S}.${infer F}` ? F : never]: ValueOf<E>;
};

/** A set variable's text: blank counts as unset, so `PORT=` in a .env file means "the default". */
export function present(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  return value ? value : undefined;
}

/** The default of a variable (undefined: none), with derived ones worked out. */
export function defaultOf(variable: Variable, context: DefaultContext): unknown {
  const value = 'default' in variable ? variable.default : undefined;
  return typeof value === 'function' ? value(context) : value;
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/**
 * Parses one variable. A bad value adds its problem and yields the default: `loadConfig`
 * keeps going so that one ConfigError lists every bad variable, then throws.
 */
export function parseVariable(variable: Variable, raw: string | undefined, context: DefaultContext, problems: string[]): unknown {
  const name = variable.env;
  const text = present(raw);
  if (text === undefined) {
    if (variable.type === 'list') return [];
    if (variable.type === 'prices') return {};
    return defaultOf(variable, context);
  }
  switch (variable.type) {
    case 'integer': {
      const value = Number(text);
      if (/^-?\d+$/.test(text) && value >= variable.min && value <= variable.max) return value;
      problems.push(`${name} must be an integer from ${variable.min} to ${variable.max}, got "${text}"`);
      return variable.default;
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE.includes(lower)) return true;
      if (FALSE.includes(lower)) return false;
      problems.push(`${name} must be true or false, got "${lower}"`);
      return defaultOf(variable, context);
    }
    case 'string':
      if (variable.pattern !== undefined && !variable.pattern.test(text)) {
        const expected = variable.expected ?? `like ${String(variable.pattern)}`;
        problems.push(variable.secret ? `${name} must be ${expected} (its value is not shown)` : `${name} must be ${expected}, got "${text}"`);
      }
      return text;
    case 'url':
      if (!isHttpUrl(text)) problems.push(`${name} must be an http(s) URL such as http://localhost:11434/v1, got "${text}"`);
      return text;
    case 'enum': {
      const value = variable.ignoreCase ? text.toLowerCase() : text;
      if (variable.values.includes(value)) return value;
      problems.push(`${name} must be one of ${variable.values.join(', ')}, got "${value}"`);
      return variable.default;
    }
    case 'list':
      return text
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
    case 'prices':
      try {
        return parsePrices(text);
      } catch (error) {
        problems.push(`${name} ${error instanceof Error ? error.message : String(error)}`);
        return {};
      }
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
