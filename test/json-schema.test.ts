/**
 * The JSON Schema check behind tool `parameters` and response formats, at memory speed:
 * which drafts it takes, what it refuses, and that one client's schema leaves nothing
 * behind for the next (the ajv instances are shared by every request).
 */
import { describe, expect, it } from 'vitest';
import { schemaProblem } from '../src/completion/json-schema.js';

describe('schemaProblem', () => {
  it('takes 2020-12 schemas by default, and draft-07 ones that say so', () => {
    expect(schemaProblem({ type: 'object', $defs: { c: { type: 'string' } }, properties: { c: { $ref: '#/$defs/c' } } })).toBeUndefined();
    expect(schemaProblem({ type: 'object', prefixItems: [{ type: 'string' }] })).toBeUndefined();
    const tuple = { type: 'object', properties: { p: { type: 'array', items: [{ type: 'string' }] } } };
    expect(schemaProblem({ $schema: 'http://json-schema.org/draft-07/schema#', ...tuple })).toBeUndefined();
    expect(schemaProblem(tuple)).toMatch(/items must be object,boolean/);
  });

  it('ignores keywords and formats it does not know', () => {
    const schema = { type: 'object', propertyOrdering: ['a'], properties: { a: { type: 'string', format: 'made-up' } } };
    expect(schemaProblem(schema)).toBeUndefined();
  });

  it('says where the schema is wrong, and why it does not compile', () => {
    const unknownType = schemaProblem({ type: 'object', properties: { a: { type: 'strng' } } });
    expect(unknownType).toMatch(/^schema\/properties\/a\/type must be equal to one of the allowed values/);
    expect(schemaProblem({ $ref: '#/$defs/missing' })).toMatch(/can't resolve reference #\/\$defs\/missing/);
    expect(schemaProblem({ type: 'string', pattern: '(' })).toMatch(/Invalid regular expression/);
    expect(schemaProblem({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' })).toMatch(/no schema with key or ref/);
  });

  it('cuts a long reason to 300 characters', () => {
    // The place of the mistake is part of the reason, and a property's name can be long.
    const problem = schemaProblem({ type: 'object', properties: { ['p'.repeat(1_000)]: { type: 'strng' } } }) ?? '';
    expect(problem).toHaveLength(300);
    expect(problem.endsWith('…')).toBe(true);
  });

  it('answers the same for the same schema sent again (cached)', () => {
    const bad = { type: 'object', required: 'a' };
    const first = schemaProblem(bad);
    expect(first).toMatch(/required must be array/);
    expect(schemaProblem({ ...bad })).toBe(first);
    expect(schemaProblem({ type: 'object', required: ['a'] })).toBeUndefined();
    expect(schemaProblem({ type: 'object', required: ['a'] })).toBeUndefined();
  });

  it("does not let one schema's $ids resolve another's $refs", () => {
    const first = { $id: 'https://example.com/first', type: 'object', $defs: { n: { $id: 'https://example.com/n', type: 'number' } } };
    expect(schemaProblem(first)).toBeUndefined();
    const refTo = (url: string): Record<string, unknown> => ({ type: 'object', properties: { a: { $ref: url } } });
    expect(schemaProblem(refTo('https://example.com/n'))).toMatch(/can't resolve reference https:\/\/example.com\/n/);
    expect(schemaProblem(refTo('https://example.com/first'))).toMatch(/can't resolve reference/);
  });

  it('takes the same $id in schema after schema', () => {
    for (const name of ['a', 'b', 'c']) {
      const schema = { $id: 'https://example.com/args', $defs: { x: { $id: 'https://example.com/x' } }, properties: { [name]: { $ref: 'x' } } };
      expect(schemaProblem(schema)).toBeUndefined();
    }
  });

  it("keeps the meta-schemas whatever a client's $id says", () => {
    const draft07 = 'http://json-schema.org/draft-07/schema#';
    expect(schemaProblem({ $id: 'https://json-schema.org/draft/2020-12/schema', type: 'object' })).toMatch(/\$id must not be a meta-schema's id/);
    expect(schemaProblem({ $schema: draft07, $id: draft07 })).toMatch(/\$id must not be a meta-schema's id/);
    // Both drafts still work afterwards.
    expect(schemaProblem({ type: 'object', properties: { a: { type: 'string' } } })).toBeUndefined();
    expect(schemaProblem({ $schema: draft07, type: 'object', properties: { b: { type: 'string' } } })).toBeUndefined();
    expect(schemaProblem({ type: 'object', properties: { a: { type: 'strng' } } })).toMatch(/must be equal to one of the allowed values/);
  });
});
