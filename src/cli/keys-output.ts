/** How the key CLI prints keys, limits, tables and the database it used. */
import { resolve } from 'node:path';
import type { ApiKey, KeyLimits } from '../accounts/keys.js';
import { LIMIT_OPTIONS, type LimitOption } from './keys-args.js';

/** Names come from whoever ran `create`: a newline or an escape sequence must not reshape the terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export function time(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

export function limitValue(limit: LimitOption, value: number | null): string {
  if (value === null) return 'none';
  return limit.kind === 'usd' ? `$${value}` : String(value);
}

/** Every limit, unset ones as "none": after a change, what is unlimited matters as much. */
export function allLimits(limits: KeyLimits): string {
  return LIMIT_OPTIONS.map((l) => `${l.label} ${limitValue(l, limits[l.field])}`).join(', ');
}

/** Only the limits that are set, to keep table rows short. */
export function setLimits(limits: KeyLimits): string {
  const set = LIMIT_OPTIONS.filter((l) => limits[l.field] !== null);
  return set.length === 0 ? 'none' : set.map((l) => `${l.label}=${limitValue(l, limits[l.field])}`).join(' ');
}

export function describeKey(key: ApiKey): string {
  return `${key.prefix} "${printable(key.name)}" (id ${key.id})`;
}

/** Which database was touched, with any password left out: the wrong DATABASE_URL is the usual surprise. */
export function describeDatabase(url: string): string {
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

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
