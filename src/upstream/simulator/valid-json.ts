/**
 * The simulator's JSON values: drawn from a schema (json-schema.ts) and checked with Ajv,
 * redrawn from the next seed when the generator's reading of the schema fell short (oneOf
 * branches that overlap, `not`, `if`), so what it sends is valid whenever a few draws can
 * make it so. And JSON text in ASCII, so every token of it decodes to whole characters.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { sampleJson } from './json-schema.js';
import { seeded } from './random.js';

/** Draws per value: each is a different seed, so the result is still a function of the key. */
const DRAWS = 16;
/** Compiled schemas kept (a client sends the same tools on every turn of a conversation). */
const CACHE_SIZE = 64;

// Lenient: a schema the client sent is the client's business (the input checks refuse what
// does not compile); unknown keywords and formats are ignored, and nothing is logged.
const OPTIONS = { strict: false, logger: false, addUsedSchema: false, validateFormats: false } as const;
type AnyAjv = Ajv | Ajv2019 | Ajv2020;
/** One instance per dialect, made on first use (each costs a few milliseconds). */
const instances = new Map<string, AnyAjv>();
const compiled = new Map<string, ValidateFunction | null>();

function ajvFor(schema: Record<string, unknown>): AnyAjv {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  const dialect = declared.includes('2020-12') ? '2020-12' : declared.includes('2019-09') ? '2019-09' : 'draft-07';
  let ajv = instances.get(dialect);
  if (!ajv) {
    ajv = dialect === '2020-12' ? new Ajv2020(OPTIONS) : dialect === '2019-09' ? new Ajv2019(OPTIONS) : new Ajv(OPTIONS);
    instances.set(dialect, ajv);
  }
  return ajv;
}

/** The schema's validator, or null when Ajv cannot compile it (then values go unchecked). */
function validator(schema: Record<string, unknown>): ValidateFunction | null {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known !== undefined) {
    // Most recently used last: the first key is the one to evict.
    compiled.delete(key);
    compiled.set(key, known);
    return known;
  }
  const ajv = ajvFor(schema);
  let validate: ValidateFunction | null;
  try {
    validate = ajv.compile(schema);
  } catch {
    validate = null;
  } finally {
    // Ajv keeps every schema object it compiled; the cache here is the bounded one.
    ajv.removeSchema(schema);
  }
  compiled.set(key, validate);
  if (compiled.size > CACHE_SIZE) compiled.delete(compiled.keys().next().value as string);
  return validate;
}

/** A value valid against `schema`, the same for the same schema and key. */
export function validJson(schema: Record<string, unknown>, key: string): unknown {
  const validate = validator(schema);
  let value: unknown = null;
  for (let draw = 0; draw < DRAWS; draw++) {
    value = sampleJson(schema, seeded(`${key}:${draw}`));
    if (!validate || validate(value)) return value;
  }
  return value;
}

/** JSON text with every non-ASCII character escaped (it can only occur inside strings). */
export function asciiJson(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
