/**
 * Whether a JSON Schema a client sends (tool `parameters`, a response format's schema)
 * compiles, so a broken one is refused by the gateway instead of by the upstream after
 * admission, a slot and a ledger row.
 */
import { createHash } from 'node:crypto';
import { Ajv as Ajv07 } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** Either draft's compiler: both are ajv's core with another vocabulary. */
type AjvCore = Ajv07 | Ajv2020;

const DRAFT_07 = 'http://json-schema.org/draft-07/schema';

/** Longest ajv message a client gets: a schema with many mistakes lists them all. */
const MAX_MESSAGE_CHARS = 300;

/** Schemas remembered: one app sends the same few tools on every turn. */
const CACHE_ENTRIES = 500;

interface Compiler {
  ajv: AjvCore;
  /** What the instance knows of itself (its meta-schemas), by id: all it may keep between calls. */
  own: ReadonlySet<string>;
}

// `strict: false`: strict mode throws on keywords ajv does not know, and upstreams take
// their own (`propertyOrdering`, …); we ask "is it a schema?", not "is it ajv-portable?".
// `validateFormats: false`: formats only matter when validating data, which we never do
// here, and an unknown format (`"format": "uuid"` without ajv-formats) must not refuse it.
// `addUsedSchema: false`: a client's `$id` is not registered for the next client to hit.
// `logger: false`: what ajv would warn about is the client's, not the operator's.
const OPTIONS = { strict: false, validateFormats: false, addUsedSchema: false, logger: false } as const;

const compilers: { draft2020?: Compiler; draft07?: Compiler } = {};

function ready(ajv: AjvCore): Compiler {
  return { ajv, own: new Set([...Object.keys(ajv.schemas), ...Object.keys(ajv.refs)]) };
}

/**
 * 2020-12 unless the schema declares draft-07: OpenAI documents its schemas in the 2020
 * vocabulary (`$defs`), and zod-to-json-schema and many SDKs declare draft-07, whose
 * `items: [...]` tuples mean something else. Any other `$schema` is refused by the compile.
 */
function compilerFor(schema: Record<string, unknown>): Compiler {
  const declared = typeof schema['$schema'] === 'string' ? schema['$schema'].replace(/#$/, '') : '';
  if (declared === DRAFT_07) return (compilers.draft07 ??= ready(new Ajv07(OPTIONS)));
  return (compilers.draft2020 ??= ready(new Ajv2020(OPTIONS)));
}

function cut(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

/**
 * One ajv instance per draft serves every request (a new one costs ~50 ms, a compile
 * ~1 ms), so a compile must leave nothing behind: no cached validator, no `$id` of a
 * client's schema that would change how the next client's `$ref`s resolve.
 */
function forget({ ajv, own }: Compiler, schema: Record<string, unknown>): void {
  ajv.removeSchema(schema);
  for (const id of Object.keys(ajv.refs)) if (!own.has(id)) ajv.removeSchema(id);
  for (const id of Object.keys(ajv.schemas)) if (!own.has(id)) ajv.removeSchema(id);
}

function compile(schema: Record<string, unknown>): string | undefined {
  const shared = compilerFor(schema);
  const { ajv, own } = shared;
  // removeSchema drops the entry under the schema's `$id`: that must not be a meta-schema.
  if (typeof schema['$id'] === 'string' && own.has(schema['$id'].replace(/#$/, ''))) {
    return `$id must not be a meta-schema's id (${cut(schema['$id'])})`;
  }
  try {
    // Against the meta-schema first: its errors name the bad keyword's place in the schema.
    if (!ajv.validateSchema(schema)) return cut(ajv.errorsText(ajv.errors, { dataVar: 'schema' }));
    // What the meta-schema cannot see: `$ref`s that resolve nowhere, patterns that are not
    // regular expressions, a `$schema` ajv does not know (draft-04).
    ajv.compile(schema);
    return undefined;
  } catch (error) {
    return cut(error instanceof Error ? error.message : String(error));
  } finally {
    forget(shared, schema);
  }
}

/** Results by the schema's JSON hash; a Map's insertion order makes it an LRU. */
const cache = new Map<string, string | null>();

/**
 * Why `schema` is not a usable JSON Schema, or undefined when it compiles. Compiling costs
 * a millisecond or more, so results are cached (bounded, by a hash of the schema's JSON).
 */
export function schemaProblem(schema: Record<string, unknown>): string | undefined {
  const key = createHash('sha256').update(JSON.stringify(schema)).digest('base64');
  const known = cache.get(key);
  if (known !== undefined) {
    cache.delete(key);
    cache.set(key, known);
    return known ?? undefined;
  }
  const problem = compile(schema);
  cache.set(key, problem ?? null);
  if (cache.size > CACHE_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return problem;
}
