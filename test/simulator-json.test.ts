/**
 * The simulator's JSON values (tool arguments, JSON_SCHEMA answers) over a corpus of
 * schemas, each checked with Ajv: the generator alone, and the redrawing wrapper the
 * simulator uses. Memory speed: no gateway.
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { sampleJson } from '../src/upstream/simulator/json-schema.js';
import { seeded } from '../src/upstream/simulator/random.js';
import { samplePattern } from '../src/upstream/simulator/regex-sample.js';
import { asciiJson, validJson } from '../src/upstream/simulator/valid-json.js';

type Schema = Record<string, unknown>;

const str = { type: 'string' };
const int = { type: 'integer' };

const CORPUS: Record<string, Schema> = {
  weather: {
    type: 'object',
    properties: { city: str, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strictNullable: {
    type: 'object',
    properties: { note: { type: ['string', 'null'] }, score: { type: ['number', 'null'], minimum: 0, maximum: 1 } },
    required: ['note', 'score'],
    additionalProperties: false,
  },
  integerBounds: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10, multipleOf: 3 },
  narrowNumber: { type: 'number', minimum: -5.5, maximum: -5.25 },
  cents: { type: 'number', minimum: 0, maximum: 1, multipleOf: 0.01 },
  exclusiveFloat: { type: 'number', exclusiveMinimum: 0.1, exclusiveMaximum: 0.2 },
  onlyMaximum: { type: 'integer', maximum: -50 },
  lengths: { type: 'string', minLength: 30, maxLength: 32 },
  shortString: { type: 'string', maxLength: 2 },
  phone: { type: 'string', pattern: '^\\+?[1-9]\\d{1,14}$' },
  code: { type: 'string', pattern: '^[A-Z]{3}-\\d{4}$', maxLength: 8 },
  alternatives: { type: 'string', pattern: '^(red|green|blue)(-(light|dark))?$' },
  unanchored: { type: 'string', pattern: 'v\\d+\\.\\d+' },
  negatedClass: { type: 'string', pattern: '^[^\\s@]+@[^\\s@]+\\.[a-z]{2,4}$' },
  enumMixed: { enum: [1, 'two', null, { a: 1 }, [3]] },
  constObject: { const: { x: [1, 2], y: 'z' } },
  uniqueArray: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 5 }, minItems: 3, maxItems: 3, uniqueItems: true },
  tupleDraft7: { type: 'array', items: [str, int], additionalItems: false, minItems: 2 },
  tuple2020: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array', prefixItems: [{ type: 'boolean' }, { const: 'x' }], items: false },
  contains: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 100 }, contains: { const: 42 }, maxItems: 4 },
  order: {
    type: 'object',
    properties: {
      customer: { type: 'object', properties: { name: str, email: { type: 'string', format: 'email' } }, required: ['name', 'email'] },
      lines: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          properties: { sku: { type: 'string', pattern: '^SKU-[0-9]{6}$' }, quantity: { type: 'integer', minimum: 1, maximum: 99 } },
          required: ['sku', 'quantity'],
          additionalProperties: false,
        },
      },
      total: { type: 'number', minimum: 0 },
      placedAt: { type: 'string', format: 'date-time' },
    },
    required: ['customer', 'lines', 'total'],
  },
  anyOf: { anyOf: [{ type: 'string', maxLength: 3 }, { type: 'integer', minimum: 100 }] },
  discriminated: {
    oneOf: [
      { type: 'object', properties: { kind: { const: 'circle' }, radius: { type: 'number', minimum: 0 } }, required: ['kind', 'radius'], additionalProperties: false },
      { type: 'object', properties: { kind: { const: 'square' }, side: { type: 'number', minimum: 0 } }, required: ['kind', 'side'], additionalProperties: false },
    ],
  },
  parentAndBranches: {
    type: 'object',
    properties: { id: int },
    required: ['id'],
    anyOf: [{ properties: { email: { type: 'string', format: 'email' } }, required: ['email'] }, { properties: { phone: str }, required: ['phone'] }],
  },
  allOf: {
    allOf: [
      { type: 'object', properties: { a: str }, required: ['a'] },
      { properties: { b: { type: 'integer', minimum: 10 } }, required: ['b'] },
      { properties: { b: { maximum: 12 } } },
    ],
  },
  defsRef: {
    type: 'object',
    properties: { home: { $ref: '#/$defs/address' }, work: { $ref: '#/definitions/address' } },
    required: ['home', 'work'],
    $defs: { address: { type: 'object', properties: { street: str, zip: { type: 'string', pattern: '^\\d{5}$' } }, required: ['street', 'zip'] } },
    definitions: { address: { $ref: '#/$defs/address' } },
  },
  recursiveTree: {
    $defs: { node: { type: 'object', properties: { value: int, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['value', 'children'] } },
    $ref: '#/$defs/node',
  },
  linkedList: { type: 'object', properties: { value: int, next: { anyOf: [{ $ref: '#' }, { type: 'null' }] } }, required: ['value', 'next'] },
  patternOnly: { type: 'object', patternProperties: { '^x_[a-z]+$': int }, additionalProperties: false, minProperties: 2 },
  dependencies: { type: 'object', properties: { card: str }, dependencies: { card: ['billing'] }, required: ['card'] },
  maxProperties: { type: 'object', properties: { a: int, b: int, c: int, d: int }, required: ['c'], maxProperties: 2 },
  typeList: { type: ['integer', 'string'], minimum: 5, maximum: 6, minLength: 2, maxLength: 4 },
  forbidden: { type: 'object', properties: { keep: str, never: false }, additionalProperties: { type: 'boolean' }, minProperties: 3 },
  // Parsed, since a literal's __proto__ would set the prototype instead.
  awkwardNames: JSON.parse(
    '{"type":"object","properties":{"__proto__":{"type":"integer"},"constructor":{"type":"string"}},"required":["__proto__","constructor","toString"]}',
  ) as Schema,
  anything: {},
  anyItems: { type: 'array', items: true, minItems: 2 },
  untypedHints: { properties: { tags: { items: { minLength: 3 }, minItems: 1 }, count: { minimum: 2, maximum: 2 } }, required: ['tags', 'count'] },
  createEvent: {
    type: 'object',
    properties: {
      title: { type: 'string', minLength: 1, maxLength: 80 },
      start: { type: 'string', format: 'date-time' },
      durationMinutes: { type: 'integer', minimum: 15, maximum: 480, multipleOf: 15 },
      attendees: { type: 'array', items: { type: 'string', format: 'email' }, maxItems: 5, uniqueItems: true },
      location: { type: 'string' },
      reminder: { type: 'object', properties: { minutesBefore: { enum: [5, 10, 30] }, method: { enum: ['email', 'popup'] } }, required: ['minutesBefore', 'method'], additionalProperties: false },
      id: { type: 'string', format: 'uuid' },
    },
    required: ['title', 'start', 'durationMinutes', 'attendees', 'location', 'reminder', 'id'],
    additionalProperties: false,
  },
};

/** Schemas whose first draw may miss (branches that overlap): the simulator redraws for them. */
const REDRAWN: Record<string, Schema> = {
  overlappingOneOf: { oneOf: [{ type: 'number', minimum: 0, maximum: 10 }, { type: 'integer', minimum: 0, maximum: 10 }] },
  looseBranches: { oneOf: [{ type: 'object', properties: { a: int } }, { type: 'object', properties: { b: int }, required: ['b'] }] },
};

// Formats are not checked (ajv-formats is not installed); a test below checks their shape.
const draft7 = new Ajv({ strict: false, logger: false });
const draft2020 = new Ajv2020({ strict: false, logger: false });
function compile(schema: Schema): (value: unknown) => boolean {
  const ajv = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? draft2020 : draft7;
  const validate = ajv.compile(schema);
  return (value) => {
    const ok = validate(value);
    if (!ok) console.error(JSON.stringify(value), draft7.errorsText(validate.errors));
    return ok;
  };
}

const SEEDS = 25;

describe('JSON values from a schema', () => {
  it.each(Object.entries(CORPUS))('%s: every draw is valid against the schema (Ajv)', (_name, schema) => {
    const valid = compile(schema);
    for (let seed = 0; seed < SEEDS; seed++) expect(valid(sampleJson(schema, seeded(`draw-${seed}`)))).toBe(true);
  });

  it.each(Object.entries({ ...CORPUS, ...REDRAWN }))('%s: the simulator’s value is valid, and the same for the same key', (_name, schema) => {
    const valid = compile(schema);
    for (let seed = 0; seed < SEEDS; seed++) {
      const value = validJson(schema, `key-${seed}`);
      expect(valid(value)).toBe(true);
      expect(validJson(schema, `key-${seed}`)).toEqual(value);
    }
  });

  it('varies with the key', () => {
    const values = new Set(Array.from({ length: 10 }, (_, i) => JSON.stringify(validJson(CORPUS.createEvent as Schema, `vary-${i}`))));
    expect(values.size).toBe(10);
  });

  it('writes common formats in their real shape', () => {
    const value = validJson(CORPUS.createEvent as Schema, 'formats') as { start: string; id: string; attendees: string[] };
    expect(Number.isNaN(Date.parse(value.start))).toBe(false);
    expect(value.start).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(value.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const email of value.attendees) expect(email).toMatch(/^[a-z]+@example\.com$/);
  });

  it('gives readable values where a property name says what it holds', () => {
    const value = validJson({ type: 'object', properties: { city: str, country: str }, required: ['city', 'country'] }, 'hints') as Record<string, string>;
    // Capitalised single words (Paris, Japan), where plain strings are lower-case words.
    expect(value.city).toMatch(/^[A-Z][a-z]+$/);
    expect(value.country).toMatch(/^[A-Z][a-z]+$/);
  });

  it('writes properties named like Object’s own (__proto__, constructor) as properties', () => {
    // Ajv reads data.__proto__ through the prototype, so it cannot tell: the text can.
    const parsed = JSON.parse(asciiJson(validJson(CORPUS.awkwardNames as Schema, 'names'))) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(typeof parsed.constructor).toBe('string');
  });

  it('writes JSON text in ASCII that parses back to the same value', () => {
    const value = { city: 'Zürich', name: '東京', smile: '😀', quote: 'say "hi"\n' };
    const text = asciiJson(value);
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('strings from a pattern', () => {
  it.each(['^[a-z]{3,5}-\\d{2}$', '^(foo|ba[rz])+$', '[A-F0-9]{8}', '^\\w+@\\w+\\.(com|org)$', '^(?:\\d{3}-){2}\\d{4}$', '^(?<year>\\d{4})-\\d{2}$', '\\bword\\b', '^[^a-z]{4}$'])(
    '%s: the sample matches',
    (pattern) => {
      for (let seed = 0; seed < 10; seed++) {
        const sample = samplePattern(pattern, seeded(`${pattern}-${seed}`));
        expect(sample).toBeDefined();
        expect(new RegExp(pattern, 'u').test(sample ?? '')).toBe(true);
      }
    },
  );

  it('gives up on what it cannot sample (lookarounds, back-references)', () => {
    expect(samplePattern('^(?=.*\\d)[a-z\\d]{8}$', seeded('x'))).toBeUndefined();
    expect(samplePattern('^(a)\\1$', seeded('x'))).toBeUndefined();
  });
});
