/** Strings and numbers valid against a JSON Schema's scalar keywords, plausible to read. */
import { alphanumeric, intBetween, pick } from './random.js';
import { samplePattern } from './regex-sample.js';

export type SchemaObject = Record<string, unknown>;

const WORDS: readonly string[] = [
  'sample', 'simulated', 'value', 'example', 'amber', 'cedar', 'harbor', 'maple', 'orbit', 'pixel',
  'river', 'stone', 'cloud', 'meadow', 'signal', 'lantern', 'compass', 'willow', 'quartz', 'summit',
];

/** Property names that deserve a value of their kind: a `city` reads better as a city. */
const HINTS: readonly (readonly [RegExp, readonly string[]])[] = [
  [/city|location|town|place|destination/i, ['Paris', 'Lisbon', 'Tokyo', 'Nairobi', 'Lima', 'Oslo']],
  [/country/i, ['France', 'Portugal', 'Japan', 'Kenya', 'Peru', 'Norway']],
  [/^(name|full_?name|author|person|user_?name|first_?name)$/i, ['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Katherine Johnson']],
  [/lang/i, ['English', 'French', 'Japanese', 'Swahili']],
  [/colou?r/i, ['red', 'green', 'blue', 'amber']],
];

/** Patterns that fail this many samples fall back to plain words. */
const PATTERN_ATTEMPTS = 12;
/** The range used when a number has no bound on that side. */
const DEFAULT_SPAN = 100;

export const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/** JSON Schema counts a string's length in code points. */
const lengthOf = (text: string): number => [...text].length;

function two(n: number): string {
  return String(n).padStart(2, '0');
}

function sampleFormat(format: string, random: () => number, word: string): string | undefined {
  const date = `${intBetween(random, 2000, 2030)}-${two(intBetween(random, 1, 12))}-${two(intBetween(random, 1, 28))}`;
  const time = `${two(intBetween(random, 0, 23))}:${two(intBetween(random, 0, 59))}:${two(intBetween(random, 0, 59))}Z`;
  const hex = (n: number): string => Array.from({ length: n }, () => pick(random, [...'0123456789abcdef'])).join('');
  switch (format) {
    case 'date-time':
      return `${date}T${time}`;
    case 'date':
      return date;
    case 'time':
      return time;
    case 'email':
    case 'idn-email':
      return `${word}@example.com`;
    case 'uri':
    case 'url':
    case 'iri':
      return `https://example.com/${word}`;
    case 'uri-reference':
    case 'iri-reference':
      return `/${word}`;
    case 'hostname':
    case 'idn-hostname':
      return `${word}.example.com`;
    case 'uuid':
      return `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(random, ['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
    case 'ipv4':
      return `192.0.2.${intBetween(random, 1, 254)}`;
    case 'ipv6':
      return `2001:db8::${hex(4)}`;
    case 'duration':
      return `P${intBetween(random, 1, 30)}D`;
    case 'json-pointer':
      return `/${word}`;
    case 'regex':
      return '^[a-z]+$';
    default:
      return undefined;
  }
}

/** Words (or a hinted value) stretched or cut to fit [min, max] code points. */
function fitted(text: string, min: number, max: number, random: () => number): string {
  let out = text;
  while (lengthOf(out) < min) out += `${out === '' ? '' : ' '}${pick(random, WORDS)}`;
  if (lengthOf(out) > max) out = [...out].slice(0, max).join('').trimEnd();
  while (lengthOf(out) < min) out += 'x';
  return out;
}

function safeRegExp(pattern: string): RegExp | undefined {
  try {
    // Ajv compiles `pattern` with the unicode flag; so does this.
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
}

export function sampleString(schema: SchemaObject, random: () => number, name: string | undefined): string {
  const min = finite(schema.minLength) ?? 0;
  const max = finite(schema.maxLength) ?? Infinity;
  const fits = (text: string): boolean => lengthOf(text) >= min && lengthOf(text) <= max;
  const hint = name === undefined ? undefined : HINTS.find(([test]) => test.test(name))?.[1];
  const word = hint ? pick(random, hint) : pick(random, WORDS);

  if (typeof schema.pattern === 'string') {
    const regex = safeRegExp(schema.pattern);
    for (let attempt = 0; regex && attempt < PATTERN_ATTEMPTS; attempt++) {
      const sample = samplePattern(schema.pattern, random);
      if (sample === undefined) break;
      if (regex.test(sample) && fits(sample)) return sample;
    }
  }
  if (typeof schema.format === 'string') {
    const formatted = sampleFormat(schema.format, random, word.toLowerCase().replace(/[^a-z]/g, ''));
    if (formatted !== undefined && fits(formatted)) return formatted;
  }
  const text = hint ? word : Array.from({ length: intBetween(random, 1, 3) }, () => pick(random, WORDS)).join(' ');
  return fitted(text, min, max === Infinity ? Math.max(min, lengthOf(text)) : max, random);
}

/** Ajv's own test for `multipleOf` (without a precision option): the quotient is an integer. */
function isMultiple(value: number, of: number): boolean {
  const quotient = value / of;
  return quotient === Math.trunc(quotient);
}

/** A number within the schema's bounds (inclusive or exclusive, draft 4's boolean form too). */
export function sampleNumber(schema: SchemaObject, random: () => number, integer: boolean): number {
  const exclusiveMin = finite(schema.exclusiveMinimum) ?? (schema.exclusiveMinimum === true ? finite(schema.minimum) : undefined);
  const exclusiveMax = finite(schema.exclusiveMaximum) ?? (schema.exclusiveMaximum === true ? finite(schema.maximum) : undefined);
  const inclusiveMin = schema.exclusiveMinimum === true ? undefined : finite(schema.minimum);
  const inclusiveMax = schema.exclusiveMaximum === true ? undefined : finite(schema.maximum);
  let low = Math.max(inclusiveMin ?? -Infinity, exclusiveMin ?? -Infinity);
  let high = Math.min(inclusiveMax ?? Infinity, exclusiveMax ?? Infinity);
  const strictLow = exclusiveMin !== undefined && exclusiveMin >= (inclusiveMin ?? -Infinity);
  const strictHigh = exclusiveMax !== undefined && exclusiveMax <= (inclusiveMax ?? Infinity);
  if (low === -Infinity) low = high === Infinity || high > 0 ? 0 : high - DEFAULT_SPAN;
  if (high === Infinity) high = Math.max(low + DEFAULT_SPAN, DEFAULT_SPAN);
  const inside = (v: number): boolean => (strictLow ? v > low : v >= low) && (strictHigh ? v < high : v <= high);

  const step = finite(schema.multipleOf);
  if (step !== undefined && step > 0) {
    const first = Math.ceil(low / step);
    const last = Math.floor(high / step);
    for (let attempt = 0; attempt < 20 && first <= last; attempt++) {
      const value = Number((intBetween(random, first, last) * step).toPrecision(12));
      if (inside(value) && isMultiple(value, step) && (!integer || Number.isInteger(value))) return value;
    }
    return Number((first * step).toPrecision(12));
  }
  if (integer) {
    const lowest = strictLow && Number.isInteger(low) ? low + 1 : Math.ceil(low);
    const highest = strictHigh && Number.isInteger(high) ? high - 1 : Math.floor(high);
    return highest < lowest ? lowest : intBetween(random, lowest, highest);
  }
  // Two decimals read like a real measurement; the midpoint is the fallback for tight bounds.
  const value = Math.round((low + random() * (high - low)) * 100) / 100;
  return inside(value) ? value : (low + high) / 2;
}

/** A value for a schema that allows anything (`true`, `{}`): a short string. */
export function anyValue(random: () => number): string {
  return `${pick(random, WORDS)}-${alphanumeric(random, 4).toLowerCase()}`;
}
