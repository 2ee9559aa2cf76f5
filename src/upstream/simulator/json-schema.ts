/**
 * A value valid against a JSON Schema, for the simulator's tool arguments and structured
 * output: types (one picked from a list, `null` only when nothing else is allowed), `const`,
 * `enum`, numeric bounds and `multipleOf`, string lengths, simple `pattern`s and common
 * `format`s, arrays (`minItems`, `maxItems`, tuples, `uniqueItems`, `contains`), objects
 * (declared properties in order, `required`, `additionalProperties`, `patternProperties`,
 * min/max properties, dependent required), `allOf` (merged), `anyOf`/`oneOf` (one branch
 * picked) and `$ref` within the schema (recursion is cut short past a few levels).
 * `not` and `if`/`then`/`else` are not followed; `valid-json.ts` checks every value.
 */
import { anyValue, finite, sampleNumber, sampleString, type SchemaObject } from './json-scalars.js';
import { intBetween, pick } from './random.js';
import { samplePattern } from './regex-sample.js';

/** From this depth on a value is kept small: required properties, minItems, a null if allowed. */
const SHALLOW_DEPTH = 5;
/** Past this, nothing: a schema that requires itself for ever has no finite value. */
const MAX_DEPTH = 24;

const isObject = (value: unknown): value is SchemaObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const typesOf = (value: unknown): string[] => (typeof value === 'string' ? [value] : strings(value));
/** A schema's own entry (names such as `constructor` are data here, not the prototype's). */
const own = (map: SchemaObject, key: string): unknown => (Object.hasOwn(map, key) ? map[key] : undefined);

const LOWER_BOUNDS = new Set(['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties', 'minContains']);
const UPPER_BOUNDS = new Set(['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties', 'maxContains']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'dependentSchemas']);

/** Both schemas at once (as far as this generator reads them): for `allOf` and picked branches. */
function merge(a: SchemaObject, b: SchemaObject): SchemaObject {
  const out: SchemaObject = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const mine = out[key];
    if (mine === undefined) out[key] = value;
    else if (SCHEMA_MAPS.has(key) && isObject(mine) && isObject(value)) {
      const map: SchemaObject = { ...mine };
      for (const [name, schema] of Object.entries(value)) map[name] = map[name] === undefined ? schema : { allOf: [map[name], schema] };
      out[key] = map;
    } else if (key === 'required') out[key] = [...new Set([...strings(mine), ...strings(value)])];
    else if (key === 'type') {
      // Integers are numbers: the two meet at integer.
      const right = typesOf(value);
      const common = typesOf(mine).flatMap((t) =>
        right.includes(t) ? [t] : (t === 'number' && right.includes('integer')) || (t === 'integer' && right.includes('number')) ? ['integer'] : [],
      );
      out[key] = common.length > 0 ? [...new Set(common)] : value;
    } else if (key === 'enum' && Array.isArray(mine) && Array.isArray(value)) {
      const allowed = new Set(value.map((v) => JSON.stringify(v)));
      const common = mine.filter((v) => allowed.has(JSON.stringify(v)));
      out[key] = common.length > 0 ? common : value;
    } else if (LOWER_BOUNDS.has(key) && typeof mine === 'number' && typeof value === 'number') out[key] = Math.max(mine, value);
    else if (UPPER_BOUNDS.has(key) && typeof mine === 'number' && typeof value === 'number') out[key] = Math.min(mine, value);
    else if ((key === 'additionalProperties' || key === 'items') && (mine === false || value === false)) out[key] = false;
    else if ((key === 'additionalProperties' || key === 'items') && isObject(mine) && isObject(value)) out[key] = { allOf: [mine, value] };
    else out[key] = value;
  }
  return out;
}

function inferredTypes(s: SchemaObject): string[] {
  const has = (...keys: string[]): boolean => keys.some((k) => s[k] !== undefined);
  if (has('properties', 'required', 'additionalProperties', 'patternProperties', 'minProperties', 'maxProperties')) return ['object'];
  if (has('items', 'prefixItems', 'minItems', 'maxItems', 'contains', 'uniqueItems')) return ['array'];
  if (has('minLength', 'maxLength', 'pattern', 'format')) return ['string'];
  if (has('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf')) return ['number'];
  return [];
}

class Generator {
  constructor(
    private readonly root: unknown,
    private readonly random: () => number,
  ) {}

  value(schema: unknown, depth: number, name?: string): unknown {
    if (depth > MAX_DEPTH) return null;
    const s = this.flatten(schema, depth, 0);
    if (s === false) return null;
    if ('const' in s) return s.const;
    if (Array.isArray(s.enum) && s.enum.length > 0) return pick(this.random, s.enum);
    switch (this.type(s, depth)) {
      case 'null':
        return null;
      case 'boolean':
        return this.random() < 0.5;
      case 'integer':
        return sampleNumber(s, this.random, true);
      case 'number':
        return sampleNumber(s, this.random, false);
      case 'string':
        return sampleString(s, this.random, name);
      case 'array':
        return this.array(s, depth, name);
      case 'object':
        return this.object(s, depth);
      default:
        return anyValue(this.random);
    }
  }

  /** The schema with its `$ref` followed, `allOf` merged and one branch of each `anyOf`/`oneOf` merged in. */
  private flatten(schema: unknown, depth: number, hops: number): SchemaObject | false {
    if (schema === false) return false;
    if (!isObject(schema) || hops > MAX_DEPTH) return {};
    let flat: SchemaObject = { ...schema };
    if (typeof flat.$ref === 'string') {
      const target = this.flatten(this.resolve(flat.$ref), depth, hops + 1);
      if (target === false) return false;
      delete flat.$ref;
      flat = merge(target, flat);
    }
    const parts: unknown[] = Array.isArray(flat.allOf) ? [...(flat.allOf as unknown[])] : [];
    for (const key of ['anyOf', 'oneOf'] as const) {
      const branches = flat[key];
      if (Array.isArray(branches) && branches.length > 0) parts.push(this.branch(branches, depth));
    }
    delete flat.allOf;
    delete flat.anyOf;
    delete flat.oneOf;
    for (const part of parts) {
      const piece = this.flatten(part, depth, hops + 1);
      if (piece === false) return false;
      flat = merge(flat, piece);
    }
    return flat;
  }

  /** A random branch; deep down, the smallest one without references, which is the least likely to recurse. */
  private branch(branches: readonly unknown[], depth: number): unknown {
    if (depth < SHALLOW_DEPTH) return pick(this.random, branches);
    const size = (b: unknown): number => {
      const text = JSON.stringify(b) ?? '';
      return text.length + 10_000 * (text.split('"$ref"').length - 1);
    };
    return branches.reduce((best, b) => (size(b) < size(best) ? b : best));
  }

  /** A `#…` reference within the schema (a JSON pointer); anything else allows any value. */
  private resolve(ref: string): unknown {
    if (!ref.startsWith('#')) return true;
    let pointer: string;
    try {
      pointer = decodeURIComponent(ref.slice(1));
    } catch {
      return true;
    }
    if (pointer === '') return this.root;
    if (!pointer.startsWith('/')) return true;
    let node: unknown = this.root;
    for (const token of pointer.slice(1).split('/')) {
      const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
      node = isObject(node) ? own(node, key) : Array.isArray(node) ? (node as unknown[])[Number(key)] : undefined;
      if (node === undefined) return true;
    }
    return node;
  }

  private type(s: SchemaObject, depth: number): string {
    const declared = s.type === undefined ? inferredTypes(s) : typesOf(s.type);
    const solid = declared.filter((t) => t !== 'null');
    if (solid.length === 0) return declared.length > 0 ? 'null' : 'any';
    if (depth >= SHALLOW_DEPTH && declared.includes('null')) return 'null';
    return pick(this.random, solid);
  }

  private array(s: SchemaObject, depth: number, name: string | undefined): unknown[] {
    // Tuples: 2020-12's prefixItems (then items for the rest), or draft 7's items array (then additionalItems).
    const prefix: unknown[] = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : [];
    const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
    const min = finite(s.minItems) ?? 0;
    const max = finite(s.maxItems) ?? Infinity;
    const contains = s.contains === undefined ? 0 : (finite(s.minContains) ?? 1);
    let count = depth >= SHALLOW_DEPTH ? min : intBetween(this.random, Math.max(min, 1), Math.max(min, 3));
    count = Math.max(count, prefix.length, contains);
    if (rest === false) count = Math.min(count, prefix.length);
    count = Math.min(count, max);

    const items: unknown[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const own = i < prefix.length ? prefix[i] : (rest ?? true);
      // The last slots hold the values `contains` asks for; they must fit `items` too.
      const schema = i >= count - contains ? { allOf: [own, s.contains] } : own;
      let item = this.value(schema, depth + 1, name);
      for (let attempt = 0; s.uniqueItems === true && seen.has(JSON.stringify(item)) && attempt < 10; attempt++) {
        item = this.value(schema, depth + 1, name);
      }
      if (s.uniqueItems === true && seen.has(JSON.stringify(item)) && items.length >= min) continue;
      seen.add(JSON.stringify(item));
      items.push(item);
    }
    return items;
  }

  private object(s: SchemaObject, depth: number): Record<string, unknown> {
    const properties = isObject(s.properties) ? s.properties : {};
    const patterns = isObject(s.patternProperties) ? Object.entries(s.patternProperties) : [];
    const required = strings(s.required);
    const max = finite(s.maxProperties) ?? Infinity;
    const min = finite(s.minProperties) ?? 0;
    const shallow = depth >= SHALLOW_DEPTH;

    // Declared order first (a real model writes them so), then required names declared nowhere.
    const optionalRoom = Math.max(0, max - required.length);
    // `false` forbids a property: it is one to leave out.
    const optional = Object.keys(properties)
      .filter((k) => !required.includes(k) && !shallow && properties[k] !== false)
      .slice(0, optionalRoom);
    const keys = Object.keys(properties).filter((k) => required.includes(k) || optional.includes(k));
    for (const key of required) if (!keys.includes(key)) keys.push(key);
    for (const key of [...keys]) {
      const dependents = isObject(s.dependentRequired) ? own(s.dependentRequired, key) : isObject(s.dependencies) ? own(s.dependencies, key) : undefined;
      for (const dependent of strings(dependents)) if (!keys.includes(dependent)) keys.push(dependent);
    }
    const spare = Object.keys(properties).filter((k) => !keys.includes(k) && properties[k] !== false);
    for (let extra = 0; keys.length < min && extra < min * 4; extra++) {
      const key = spare.shift() ?? extraKey(s, patterns, extra, this.random);
      if (!keys.includes(key)) keys.push(key);
    }

    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const applicable = [
        ...(own(properties, key) === undefined ? [] : [own(properties, key)]),
        ...patterns.filter(([pattern]) => matches(pattern, key)).map(([, schema]) => schema),
      ];
      if (applicable.length === 0) applicable.push(isObject(s.additionalProperties) ? s.additionalProperties : true);
      const value = this.value(applicable.length === 1 ? applicable[0] : { allOf: applicable }, depth + 1, key);
      // Defined, not assigned: a property named __proto__ is a property like any other.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}

/** A name for a property beyond the declared ones: one a `patternProperties` pattern allows, when only those are. */
function extraKey(s: SchemaObject, patterns: readonly [string, unknown][], n: number, random: () => number): string {
  if (s.additionalProperties === false && patterns.length > 0) {
    const [pattern] = patterns[n % patterns.length] ?? ['', true];
    const key = samplePattern(pattern, random);
    if (key !== undefined && matches(pattern, key)) return key;
  }
  return `extra_${n}`;
}

function matches(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    return false;
  }
}

/** A value for `schema` (a JSON Schema object or boolean), drawn with `random`. */
export function sampleJson(schema: unknown, random: () => number): unknown {
  return new Generator(schema, random).value(schema, 0);
}
